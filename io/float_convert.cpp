#include "io/float_convert.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "io/endian.h"

namespace ckpt::io {
namespace {

// Parameters of a small float format: sign bit, `e` exponent bits, `m`
// mantissa bits, exponent bias, and how it spells infinity and NaN.
struct MiniFloat {
  int e, m, bias;
  bool has_sign;
  bool has_inf;       // IEEE-style: all-ones exponent with zero mantissa
  bool ieee_nan;      // all-ones exponent with nonzero mantissa is NaN
  bool fn_nan;        // only all-ones exponent and mantissa is NaN (E4M3FN)
  bool fnuz;          // the bit pattern of negative zero is the only NaN
};

constexpr MiniFloat kE4M3{4, 3, 7, true, false, false, true, false};
constexpr MiniFloat kE5M2{5, 2, 15, true, true, true, false, false};
constexpr MiniFloat kE4M3FNUZ{4, 3, 8, true, false, false, false, true};
constexpr MiniFloat kE5M2FNUZ{5, 2, 16, true, false, false, false, true};
constexpr MiniFloat kE2M3{2, 3, 1, true, false, false, false, false};
constexpr MiniFloat kE3M2{3, 2, 3, true, false, false, false, false};
constexpr MiniFloat kE2M1{2, 1, 1, true, false, false, false, false};

float decode(const MiniFloat& f, std::uint32_t bits) noexcept {
  const int width = (f.has_sign ? 1 : 0) + f.e + f.m;
  const bool neg = f.has_sign && ((bits >> (width - 1)) & 1u);
  const std::uint32_t exp = (bits >> f.m) & ((1u << f.e) - 1);
  const std::uint32_t man = bits & ((1u << f.m) - 1);
  const std::uint32_t exp_max = (1u << f.e) - 1;
  if (f.fnuz && neg && exp == 0 && man == 0) return std::numeric_limits<float>::quiet_NaN();
  if (exp == exp_max) {
    if (f.has_inf && man == 0) return neg ? -INFINITY : INFINITY;
    if (f.ieee_nan) return std::numeric_limits<float>::quiet_NaN();
    if (f.fn_nan && man == (1u << f.m) - 1) return std::numeric_limits<float>::quiet_NaN();
  }
  float v;
  if (exp == 0)
    v = std::ldexp(static_cast<float>(man), 1 - f.bias - f.m);
  else
    v = std::ldexp(static_cast<float>(man + (1u << f.m)), static_cast<int>(exp) - f.bias - f.m);
  return neg ? -v : v;
}

float max_finite(const MiniFloat& f) noexcept {
  std::uint32_t exp_max = (1u << f.e) - 1;
  std::uint32_t man_max = (1u << f.m) - 1;
  if (f.has_inf || f.ieee_nan) exp_max -= 1;          // top exponent is inf/NaN
  else if (f.fn_nan) man_max -= 1;                     // S.1111.111 is NaN
  return std::ldexp(static_cast<float>(man_max + (1u << f.m)), static_cast<int>(exp_max) - f.bias - f.m);
}

std::uint32_t nan_bits(const MiniFloat& f) noexcept {
  const int width = 1 + f.e + f.m;
  if (f.fnuz) return 1u << (width - 1);
  return (1u << (width - 1)) - 1;  // positive, all exponent and mantissa bits set
}

std::uint32_t encode(const MiniFloat& f, float x) noexcept {
  const int width = 1 + f.e + f.m;
  if (std::isnan(x)) return nan_bits(f);
  const bool neg = std::signbit(x);
  const std::uint32_t sign = neg ? (1u << (width - 1)) : 0u;
  double a = std::fabs(static_cast<double>(x));
  const double maxv = max_finite(f);
  if (std::isinf(a)) return f.has_inf ? (sign | (((1u << f.e) - 1) << f.m)) : nan_bits(f);
  int exp;
  std::frexp(a, &exp);
  exp -= 1;  // a = 1.xxx * 2^exp
  const int min_exp = 1 - f.bias;
  const int q_exp = (exp < min_exp ? min_exp : exp) - f.m;
  double q = std::nearbyint(std::ldexp(a, -q_exp));  // ties to even
  double r = std::ldexp(q, q_exp);
  if (r > maxv) return f.has_inf ? (sign | (((1u << f.e) - 1) << f.m)) : nan_bits(f);
  if (r == 0) return f.fnuz ? 0u : sign;
  std::frexp(r, &exp);
  exp -= 1;
  std::uint32_t bits;
  if (exp < min_exp) {
    bits = static_cast<std::uint32_t>(std::ldexp(r, f.bias - 1 + f.m));
  } else {
    auto man = static_cast<std::uint32_t>(std::ldexp(r, f.m - exp)) - (1u << f.m);
    bits = (static_cast<std::uint32_t>(exp + f.bias) << f.m) | man;
  }
  return sign | bits;
}

const MiniFloat* minifloat_of(DType t) noexcept {
  switch (t) {
    case DType::F8_E4M3: return &kE4M3;
    case DType::F8_E5M2: return &kE5M2;
    case DType::F8_E4M3FNUZ: return &kE4M3FNUZ;
    case DType::F8_E5M2FNUZ: return &kE5M2FNUZ;
    case DType::F6_E2M3: return &kE2M3;
    case DType::F6_E3M2: return &kE3M2;
    case DType::F4_E2M1: return &kE2M1;
    default: return nullptr;
  }
}

}  // namespace

float f16_to_f32(std::uint16_t h) noexcept {
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
    int shift = std::countl_zero(man) - 21;  // bring the leading one to bit 10
    man = (man << shift) & 0x3FFu;
    bits = sign | (static_cast<std::uint32_t>(113 - shift) << 23) | (man << 13);
  }
  return std::bit_cast<float>(bits);
}

std::uint16_t f32_to_f16(float f) noexcept {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t exp = (x >> 23) & 0xFFu;
  std::uint32_t man = x & 0x7FFFFFu;
  if (exp == 0xFF) {  // inf or NaN (NaN keeps a set quiet bit)
    return static_cast<std::uint16_t>(sign | 0x7C00u | (man ? 0x200u | (man >> 13) : 0u));
  }
  const int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 0x1F) return static_cast<std::uint16_t>(sign | 0x7C00u);
  if (e <= 0) {
    if (e < -10) return sign;  // rounds to zero (ties at exactly half of the smallest go to even = 0)
    man |= 0x800000u;
    const int shift = 14 - e;
    std::uint32_t half = man >> shift;
    const std::uint32_t rem = man & ((1u << shift) - 1);
    const std::uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  std::uint32_t half = (static_cast<std::uint32_t>(e) << 10) | (man >> 13);
  const std::uint32_t rem = man & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into inf: correct
  return static_cast<std::uint16_t>(sign | half);
}

float bf16_to_f32(std::uint16_t b) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

std::uint16_t f32_to_bf16(float f) noexcept {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  x += 0x7FFFu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>(x >> 16);
}

float f8_to_f32(DType t, std::uint8_t bits) noexcept {
  if (t == DType::F8_E8M0) {
    if (bits == 0xFF) return std::numeric_limits<float>::quiet_NaN();
    return std::ldexp(1.0f, static_cast<int>(bits) - 127);
  }
  const MiniFloat* f = minifloat_of(t);
  return f ? decode(*f, bits) : std::numeric_limits<float>::quiet_NaN();
}

std::uint8_t f32_to_f8(DType t, float x) noexcept {
  if (t == DType::F8_E8M0) {
    // A power-of-two scale: round the exponent of |x| to nearest, as OCP MX does for scales.
    if (std::isnan(x) || x <= 0 || std::isinf(x)) return 0xFF;
    int e = static_cast<int>(std::lround(std::log2(static_cast<double>(x))));
    if (e < -127) e = -127;
    if (e > 127) return 0xFF;
    return static_cast<std::uint8_t>(e + 127);
  }
  const MiniFloat* f = minifloat_of(t);
  return f ? static_cast<std::uint8_t>(encode(*f, x)) : 0;
}

float subbyte_to_f32(DType t, const std::byte* packed, std::uint64_t index) noexcept {
  const MiniFloat* f = minifloat_of(t);
  if (!f) return std::numeric_limits<float>::quiet_NaN();
  const unsigned width = static_cast<unsigned>(1 + f->e + f->m);
  const std::uint64_t bit = index * width;
  std::uint32_t word = std::to_integer<std::uint32_t>(packed[bit / 8]);
  if ((bit % 8) + width > 8) word |= std::to_integer<std::uint32_t>(packed[bit / 8 + 1]) << 8;
  const std::uint32_t bits = (word >> (bit % 8)) & ((1u << width) - 1);
  return decode(*f, bits);
}

double element_to_double(DType t, const std::byte* p) noexcept {
  switch (t) {
    case DType::Bool: return std::to_integer<std::uint8_t>(p[0]) != 0 ? 1.0 : 0.0;
    case DType::U8: return std::to_integer<std::uint8_t>(p[0]);
    case DType::I8: return static_cast<std::int8_t>(std::to_integer<std::uint8_t>(p[0]));
    case DType::U16: return load_le<std::uint16_t>(p);
    case DType::I16: return load_le<std::int16_t>(p);
    case DType::U32: return load_le<std::uint32_t>(p);
    case DType::I32: return load_le<std::int32_t>(p);
    case DType::U64: return static_cast<double>(load_le<std::uint64_t>(p));
    case DType::I64: return static_cast<double>(load_le<std::int64_t>(p));
    case DType::F16: return f16_to_f32(load_le<std::uint16_t>(p));
    case DType::BF16: return bf16_to_f32(load_le<std::uint16_t>(p));
    case DType::F32: return std::bit_cast<float>(load_le<std::uint32_t>(p));
    case DType::F64: return std::bit_cast<double>(load_le<std::uint64_t>(p));
    case DType::C64: return std::bit_cast<float>(load_le<std::uint32_t>(p));
    case DType::C128: return std::bit_cast<double>(load_le<std::uint64_t>(p));
    case DType::F8_E4M3:
    case DType::F8_E5M2:
    case DType::F8_E8M0:
    case DType::F8_E4M3FNUZ:
    case DType::F8_E5M2FNUZ: return f8_to_f32(t, std::to_integer<std::uint8_t>(p[0]));
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

double element_imag(DType t, const std::byte* p) noexcept {
  if (t == DType::C64) return std::bit_cast<float>(load_le<std::uint32_t>(p + 4));
  if (t == DType::C128) return std::bit_cast<double>(load_le<std::uint64_t>(p + 8));
  return 0.0;
}

void convert_to_f32(DType from, const std::byte* src, float* dst, std::size_t count) {
  if (count == 0) return;  // empty tensors may come with null buffers
  switch (from) {
    case DType::F32:
      std::memcpy(dst, src, count * 4);
      return;
    case DType::F16:
      for (std::size_t i = 0; i < count; ++i) dst[i] = f16_to_f32(load_le<std::uint16_t>(src + 2 * i));
      return;
    case DType::BF16:
      for (std::size_t i = 0; i < count; ++i) dst[i] = bf16_to_f32(load_le<std::uint16_t>(src + 2 * i));
      return;
    case DType::F6_E2M3:
    case DType::F6_E3M2:
    case DType::F4_E2M1:
      for (std::size_t i = 0; i < count; ++i) dst[i] = subbyte_to_f32(from, src, i);
      return;
    default: {
      const std::size_t step = item_size(from);
      for (std::size_t i = 0; i < count; ++i)
        dst[i] = static_cast<float>(element_to_double(from, src + step * i));
    }
  }
}

void convert_from_f32(DType to, const float* src, std::byte* dst, std::size_t count) {
  if (count == 0) return;  // empty tensors may come with null buffers
  switch (to) {
    case DType::F32:
      std::memcpy(dst, src, count * 4);
      return;
    case DType::F64:
      for (std::size_t i = 0; i < count; ++i) {
        double d = src[i];
        std::memcpy(dst + 8 * i, &d, 8);
      }
      return;
    case DType::F16:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t h = f32_to_f16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case DType::BF16:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t h = f32_to_bf16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    default:
      for (std::size_t i = 0; i < count; ++i) dst[i] = std::byte{f32_to_f8(to, src[i])};
  }
}

}  // namespace ckpt::io
