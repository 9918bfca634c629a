#pragma once
// Decoding of ggml block-quantized tensors to float32.
#include <cstddef>
#include <cstdint>

#include "io/dtype.h"

namespace ckpt::io {

// True when dequantize() can decode this type.
[[nodiscard]] bool can_dequantize(DType t) noexcept;
// Decodes `n` elements (a multiple of the type's block size) from `blocks` into `out`.
void dequantize(DType t, const std::byte* blocks, float* out, std::int64_t n);

}  // namespace ckpt::io
