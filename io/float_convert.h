#pragma once
// Conversions between float32 and the narrow float formats (IEEE half,
// bfloat16, the OCP/FNUZ 8-bit floats, the 6- and 4-bit MX floats), rounding
// to nearest-even as NumPy and PyTorch do.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "io/dtype.h"

namespace ckpt::io {

// Inline because the block decoders call it once per block scale.
[[nodiscard]] inline float f16_to_f32(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t man = h & 0x3FFu;
  std::uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {
    // Subnormal half: every one is a normal float.
    const int shift = std::countl_zero(man) - 21;  // bring the leading one to bit 10
    man = (man << shift) & 0x3FFu;
    bits = sign | (static_cast<std::uint32_t>(113 - shift) << 23) | (man << 13);
  }
  return std::bit_cast<float>(bits);
}
[[nodiscard]] std::uint16_t f32_to_f16(float f) noexcept;
[[nodiscard]] float bf16_to_f32(std::uint16_t b) noexcept;
[[nodiscard]] std::uint16_t f32_to_bf16(float f) noexcept;

// 8-bit floats: F8_E4M3, F8_E5M2, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ.
[[nodiscard]] float f8_to_f32(DType t, std::uint8_t bits) noexcept;
// Out-of-range values become NaN where the format has no infinity (as PyTorch does).
[[nodiscard]] std::uint8_t f32_to_f8(DType t, float f) noexcept;

// Element `index` of a packed sub-byte float array (F6_E2M3, F6_E3M2, F4_E2M1).
// Elements are packed little-endian by bit: element i starts at bit i*width.
[[nodiscard]] float subbyte_to_f32(DType t, const std::byte* packed, std::uint64_t index) noexcept;

// Value of one element of an elementwise dtype stored little-endian at `p`,
// as float64 (complex: the real part; see element_imag).
[[nodiscard]] double element_to_double(DType t, const std::byte* p) noexcept;
[[nodiscard]] double element_imag(DType t, const std::byte* p) noexcept;

// Convert `count` elements of `src` (canonical little-endian bytes of type `from`)
// into float32. Works for every Float, Signed, Unsigned and Bool type.
// f16, bf16 and f32→f16 use AVX2/F16C where the CPU has them (chosen at run
// time), f8 a lookup table or integer rounding; every path gives the same
// bits as the element functions above.
void convert_to_f32(DType from, const std::byte* src, float* dst, std::size_t count);
// Convert float32 into `to` (a Float type with whole-byte elements).
void convert_from_f32(DType to, const float* src, std::byte* dst, std::size_t count);

namespace detail {
// The element-at-a-time loops over the functions above: what the fast paths
// must equal bit for bit (the tests compare them), and the fallback's meaning.
void convert_to_f32_reference(DType from, const std::byte* src, float* dst, std::size_t count);
void convert_from_f32_reference(DType to, const float* src, std::byte* dst, std::size_t count);
// Whether this process uses the AVX2 kernels (x86-64 CPUs with AVX2 and F16C)
// for casts, dequantization and statistics.
[[nodiscard]] bool uses_avx2() noexcept;
// Lets tests run the portable kernels on an AVX2 machine (process-wide).
// The environment variable CKPT_NO_AVX2=1 does it for a whole run, whatever this says.
void allow_avx2(bool allowed) noexcept;
}  // namespace detail

}  // namespace ckpt::io
