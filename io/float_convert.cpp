#include "io/float_convert.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "io/endian.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

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

void detail::convert_to_f32_reference(DType from, const std::byte* src, float* dst, std::size_t count) {
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

void detail::convert_from_f32_reference(DType to, const float* src, std::byte* dst, std::size_t count) {
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

// ---- bulk conversions ---------------------------------------------------------
//
// GCC 12 at -O2 (vect-cost-model=very-cheap: no run-time alias checks, no
// scalar remainders) vectorises none of the element loops of the reference
// path (-fopt-info-vec-missed: byte-pointer aliasing, branches, calls). The hot casts get explicit
// AVX2 kernels instead, compiled for that ISA alone through target attributes
// and chosen once at run time, so the binary still runs on any x86-64 (and
// anything else builds the portable path). f8 needs no SIMD: a table for
// decoding, integer rounding for encoding.

namespace {

bool cpu_has_avx2() noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // clang 14's __builtin_cpu_supports does not know "f16c": CPUID leaf 1,
  // ECX bit 29 says it for both compilers.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
  return __builtin_cpu_supports("avx2") && f16c;
#else
  return false;
#endif
}

// The CPU's answer and the environment's, read once.
bool avx2_available() noexcept {
  static const bool ok = cpu_has_avx2() && std::getenv("CKPT_NO_AVX2") == nullptr;
  return ok;
}

std::atomic<bool> g_allow_avx2{true};

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CKPT_X86_KERNELS 1

// f16 → f32 in integer arithmetic rather than with VCVTPH2PS, which quiets
// signalling NaNs (the reference keeps their payload bits as NumPy does).
// Normal halves are a shift and an exponent rebias, subnormals are their
// mantissa as an integer times 2^-24 (exact), and all-ones exponents become
// f32 inf/NaN with the payload shifted up.
__attribute__((target("avx2"))) void f16_to_f32_avx2(const std::byte* src, float* dst, std::size_t n) {
  const __m256i sign_mask = _mm256_set1_epi32(0x8000), abs_mask = _mm256_set1_epi32(0x7FFF);
  const __m256i rebias = _mm256_set1_epi32(0x38000000), f32_inf = _mm256_set1_epi32(0x7F800000);
  const __m256i min_normal = _mm256_set1_epi32(0x03FF), max_finite = _mm256_set1_epi32(0x7BFF);
  const __m256 subnormal_scale = _mm256_set1_ps(0x1p-24f);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i)));
    const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(h, sign_mask), 16);
    const __m256i em = _mm256_and_si256(h, abs_mask);
    const __m256i shifted = _mm256_slli_epi32(em, 13);
    const __m256i normal = _mm256_add_epi32(shifted, rebias);
    const __m256i special = _mm256_or_si256(shifted, f32_inf);
    const __m256i sub = _mm256_castps_si256(_mm256_mul_ps(_mm256_cvtepi32_ps(em), subnormal_scale));
    __m256i r = _mm256_blendv_epi8(normal, special, _mm256_cmpgt_epi32(em, max_finite));
    r = _mm256_blendv_epi8(sub, r, _mm256_cmpgt_epi32(em, min_normal));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_or_si256(r, sign));
  }
  for (; i < n; ++i) dst[i] = f16_to_f32(load_le<std::uint16_t>(src + 2 * i));
}

// VCVTPS2PH with an explicit round-to-nearest-even immediate: it ignores
// MXCSR's rounding mode, and overflow, subnormal results and NaN payloads
// (quiet bit set, top ten payload bits kept) come out as f32_to_f16 makes them.
__attribute__((target("avx2,f16c"))) void f32_to_f16_avx2(const float* src, std::byte* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i a = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m128i b = _mm256_cvtps_ph(_mm256_loadu_ps(src + i + 8), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), a);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i + 16), b);
  }
  for (; i < n; ++i) store_le(dst + 2 * i, f32_to_f16(src[i]));
}

__attribute__((target("avx2"))) void bf16_to_f32_avx2(const std::byte* src, float* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_slli_epi32(h, 16));
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(load_le<std::uint16_t>(src + 2 * i));
}

// Round to nearest even by adding 0x7FFF plus the lowest kept bit; NaNs are
// truncated with the quiet bit forced, as f32_to_bf16 does.
__attribute__((target("avx2"))) __m256i f32_to_bf16_8(__m256i x) {
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(x, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF))), 16);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7FFFFFFF)), _mm256_set1_epi32(0x7F800000));
  const __m256i quieted = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
  return _mm256_blendv_epi8(rounded, quieted, nan);
}

__attribute__((target("avx2"))) void f32_to_bf16_avx2(const float* src, std::byte* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i a = f32_to_bf16_8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)));
    const __m256i b = f32_to_bf16_8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 8)));
    // Both halves are below 2^16, so the saturating pack is a plain narrowing;
    // it interleaves 128-bit lanes, which the permute puts back in order.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 2 * i), packed);
  }
  for (; i < n; ++i) store_le(dst + 2 * i, f32_to_bf16(src[i]));
}
#endif

// ---- 8-bit floats ----

// Decoding: 256 values per type, filled once from f8_to_f32.
struct F8Tables {
  float v[5][256];
  F8Tables() {
    const DType types[5] = {DType::F8_E4M3, DType::F8_E5M2, DType::F8_E8M0, DType::F8_E4M3FNUZ, DType::F8_E5M2FNUZ};
    for (int t = 0; t < 5; ++t)
      for (int b = 0; b < 256; ++b) v[t][b] = f8_to_f32(types[t], static_cast<std::uint8_t>(b));
  }
};

const float* f8_table(DType t) {
  static const F8Tables tables;
  switch (t) {
    case DType::F8_E4M3: return tables.v[0];
    case DType::F8_E5M2: return tables.v[1];
    case DType::F8_E8M0: return tables.v[2];
    case DType::F8_E4M3FNUZ: return tables.v[3];
    case DType::F8_E5M2FNUZ: return tables.v[4];
    default: return nullptr;
  }
}

// Encoding, in integers on the f32 bits instead of the reference's frexp and
// ldexp in double: the 24-bit significand is shifted right to the target's
// quantum (fixed for its subnormals) and rounded to nearest even; the
// encoding of a normal result is (exponent << m) + q − 2^m, which carries
// into the exponent when rounding overflows the mantissa.
std::uint8_t f32_to_minifloat_fast(const MiniFloat& f, float x) noexcept {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  const std::uint32_t a = u & 0x7FFFFFFFu;
  const std::uint32_t sign = (u >> 31) << 7;
  if (a > 0x7F800000u) return static_cast<std::uint8_t>(nan_bits(f));
  const std::uint32_t exp_max = (1u << f.e) - 1;
  const std::uint32_t inf = sign | (exp_max << f.m);
  if (a == 0x7F800000u) return static_cast<std::uint8_t>(f.has_inf ? inf : nan_bits(f));
  const int biased = static_cast<int>(a >> 23);
  std::uint32_t q = 0;
  int e = 0;
  if (biased != 0) {  // f32 subnormals are far below every f8 quantum
    e = biased - 127;
    const int min_exp = 1 - f.bias;
    const int shift = 23 - f.m + (e < min_exp ? min_exp - e : 0);
    const std::uint32_t sig = (a & 0x7FFFFFu) | 0x800000u;
    if (shift <= 24) {
      q = sig >> shift;
      const std::uint32_t rem = sig & ((1u << shift) - 1), half = 1u << (shift - 1);
      if (rem > half || (rem == half && (q & 1u))) ++q;
    }
    if (q != 0 && e >= min_exp) q = (static_cast<std::uint32_t>(e + f.bias) << f.m) + q - (1u << f.m);
  }
  if (q == 0) return static_cast<std::uint8_t>(f.fnuz ? 0u : sign);
  std::uint32_t man_max = (1u << f.m) - 1, top = exp_max;
  if (f.has_inf || f.ieee_nan) top -= 1;
  else if (f.fn_nan) man_max -= 1;
  if (q > ((top << f.m) | man_max)) return static_cast<std::uint8_t>(f.has_inf ? inf : nan_bits(f));
  return static_cast<std::uint8_t>(sign | q);
}

// E8M0 holds 2^(b−127): the reference rounds log2|x| to the nearest integer,
// which moves up exactly when the significand reaches √2 (0x3504F4 is the
// first f32 mantissa above it; √2·2^k is never a float, so no ties).
std::uint8_t f32_to_e8m0_fast(float x) noexcept {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  if (u == 0 || u >= 0x7F800000u) return 0xFF;  // zero, negatives, inf, NaN
  const int biased = static_cast<int>(u >> 23);
  const std::uint32_t man = u & 0x7FFFFFu;
  if (biased == 0) return man >= 0x5A827Au ? 1 : 0;  // subnormal: 2^-126.5 = 0x5A827A·2^-149 rounded up
  const int e = biased - 127 + (man >= 0x3504F4u ? 1 : 0);
  return e > 127 ? std::uint8_t{0xFF} : static_cast<std::uint8_t>(e + 127);
}

void f32_to_f8_bulk(DType to, const float* src, std::byte* dst, std::size_t n) {
  if (to == DType::F8_E8M0) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = std::byte{f32_to_e8m0_fast(src[i])};
    return;
  }
  const MiniFloat& f = *minifloat_of(to);
  for (std::size_t i = 0; i < n; ++i) dst[i] = std::byte{f32_to_minifloat_fast(f, src[i])};
}

}  // namespace

bool detail::uses_avx2() noexcept { return g_allow_avx2.load(std::memory_order_relaxed) && avx2_available(); }
void detail::allow_avx2(bool allowed) noexcept { g_allow_avx2.store(allowed, std::memory_order_relaxed); }

void convert_to_f32(DType from, const std::byte* src, float* dst, std::size_t count) {
  if (count == 0) return;
  switch (from) {
#ifdef CKPT_X86_KERNELS
    case DType::F16:
      if (detail::uses_avx2()) return f16_to_f32_avx2(src, dst, count);
      break;
    case DType::BF16:
      if (detail::uses_avx2()) return bf16_to_f32_avx2(src, dst, count);
      break;
#endif
    case DType::F8_E4M3:
    case DType::F8_E5M2:
    case DType::F8_E8M0:
    case DType::F8_E4M3FNUZ:
    case DType::F8_E5M2FNUZ: {
      const float* table = f8_table(from);
      const auto* b = reinterpret_cast<const std::uint8_t*>(src);
      for (std::size_t i = 0; i < count; ++i) dst[i] = table[b[i]];
      return;
    }
    default: break;
  }
  detail::convert_to_f32_reference(from, src, dst, count);
}

void convert_from_f32(DType to, const float* src, std::byte* dst, std::size_t count) {
  if (count == 0) return;
  switch (to) {
#ifdef CKPT_X86_KERNELS
    case DType::F16:
      if (detail::uses_avx2()) return f32_to_f16_avx2(src, dst, count);
      break;
    case DType::BF16:
      if (detail::uses_avx2()) return f32_to_bf16_avx2(src, dst, count);
      break;
#endif
    case DType::F8_E4M3:
    case DType::F8_E5M2:
    case DType::F8_E8M0:
    case DType::F8_E4M3FNUZ:
    case DType::F8_E5M2FNUZ: return f32_to_f8_bulk(to, src, dst, count);
    default: break;
  }
  detail::convert_from_f32_reference(to, src, dst, count);
}

}  // namespace ckpt::io
