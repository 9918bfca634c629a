#pragma once
// Decoding of ggml block-quantized tensors to float32.
#include <cstddef>
#include <cstdint>

#include "io/dtype.h"

namespace ckpt::io {

// True when dequantize() can decode this type.
[[nodiscard]] bool can_dequantize(DType t) noexcept;
// Decodes `n` elements (a multiple of the type's block size) from `blocks` into `out`.
// Uses the AVX2 build of the decoders where the CPU has it (chosen at run time).
void dequantize(DType t, const std::byte* blocks, float* out, std::int64_t n);

namespace detail {
// The block-at-a-time decoders the fast ones were written from; the tests
// hold dequantize() to their output bit for bit.
void dequantize_reference(DType t, const std::byte* blocks, float* out, std::int64_t n);
}  // namespace detail

}  // namespace ckpt::io
