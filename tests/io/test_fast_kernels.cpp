// The fast cast and dequantization kernels against the element-at-a-time
// reference code they replace: every output bit must match, for every input
// where that is cheap to enumerate and many random ones elsewhere.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <random>
#include <vector>

#include "io/convert.h"
#include "io/dtype.h"
#include "io/endian.h"
#include "io/float_convert.h"
#include "io/formats/ggml_quants.h"
#include "io/thread_pool.h"

namespace {

using ckpt::io::DType;
namespace io = ckpt::io;

const DType kF8[] = {DType::F8_E4M3, DType::F8_E5M2, DType::F8_E8M0, DType::F8_E4M3FNUZ, DType::F8_E5M2FNUZ};

std::vector<std::uint32_t> as_bits(const std::vector<float>& v) {
  std::vector<std::uint32_t> b(v.size());
  std::memcpy(b.data(), v.data(), v.size() * 4);
  return b;
}

// Compares bits (NaN == NaN with the same payload) and reports the first mismatch's input.
void expect_same_to_f32(DType from, const std::vector<std::byte>& in, std::size_t n) {
  std::vector<float> fast(n), ref(n);
  io::convert_to_f32(from, in.data(), fast.data(), n);
  io::detail::convert_to_f32_reference(from, in.data(), ref.data(), n);
  const auto a = as_bits(fast), b = as_bits(ref);
  for (std::size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) {
      ADD_FAILURE() << io::name(from) << " element " << i << ": fast " << std::hex << a[i] << " reference " << b[i];
      return;
    }
}

void expect_same_from_f32(DType to, const std::vector<float>& in) {
  const std::size_t item = io::item_size(to);
  std::vector<std::byte> fast(in.size() * item), ref(in.size() * item);
  io::convert_from_f32(to, in.data(), fast.data(), in.size());
  io::detail::convert_from_f32_reference(to, in.data(), ref.data(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i)
    if (std::memcmp(fast.data() + i * item, ref.data() + i * item, item) != 0) {
      ADD_FAILURE() << io::name(to) << " input bits " << std::hex << std::bit_cast<std::uint32_t>(in[i]) << " differ";
      return;
    }
}

TEST(FastKernels, ReportsIsa) {
  std::printf("AVX2 kernels: %s\n", io::detail::uses_avx2() ? "yes" : "no (portable path)");
}

TEST(FastKernels, F16AndBf16ToF32Exhaustive) {
  // Every 16-bit pattern, plus 3 more so the vector loop's scalar tail runs too.
  const std::size_t n = 65536 + 3;
  std::vector<std::byte> in(2 * n);
  for (std::size_t i = 0; i < n; ++i) io::store_le(in.data() + 2 * i, static_cast<std::uint16_t>(i * 40503u));
  for (std::size_t i = 0; i < 65536; ++i) io::store_le(in.data() + 2 * i, static_cast<std::uint16_t>(i));
  expect_same_to_f32(DType::F16, in, n);
  expect_same_to_f32(DType::BF16, in, n);
  // Unaligned source and odd lengths.
  expect_same_to_f32(DType::F16, std::vector<std::byte>(in.begin() + 2, in.begin() + 2 + 2 * 1001), 1001);
}

TEST(FastKernels, F8ToF32Exhaustive) {
  std::vector<std::byte> in(256 + 5);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = std::byte(static_cast<unsigned char>(i));
  for (DType t : kF8) expect_same_to_f32(t, in, in.size());
}

// Edge cases for encoding: zeros, infinities, NaN payloads (quiet and
// signalling, both signs), f32 subnormals, the largest finite values and
// their overflow thresholds, and values exactly halfway between neighbours
// of each target (ties) with their one-ulp neighbours.
std::vector<float> edge_values() {
  std::vector<std::uint32_t> bits = {0, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u,
                                     0x7F800001u, 0xFF800001u, 0x7FBFFFFFu, 0x7FFFFFFFu, 0x7FA02000u, 0x7FC01FFFu,
                                     0x00000001u, 0x807FFFFFu, 0x00400000u, 0x7F7FFFFFu, 0xFF7FFFFFu};
  // Every exponent with mantissas around each rounding position of f16, bf16 and the f8s.
  for (std::uint32_t e = 0; e < 256; ++e)
    for (int pos = 0; pos <= 23; ++pos) {
      const std::uint32_t half = pos ? 1u << (pos - 1) : 0;
      for (std::uint32_t lsb : {0u, 1u << pos})
        for (std::int32_t d : {-1, 0, 1}) {
          const std::uint32_t man = ((lsb | half) + static_cast<std::uint32_t>(d)) & 0x7FFFFFu;
          bits.push_back((e << 23) | man);
          bits.push_back(0x80000000u | (e << 23) | man);
        }
    }
  std::vector<float> v;
  for (auto b : bits) v.push_back(std::bit_cast<float>(b));
  for (float f : {65504.0f, 65519.99f, 65520.0f, 65536.0f, 448.0f, 464.0f, 480.0f, 57344.0f, 61440.0f, 240.0f, 248.0f,
                  5.96046448e-8f, 2.98023224e-8f, 2.98023259e-8f, 1.41421354f, 1.41421366f})
    for (float s : {1.0f, -1.0f}) v.push_back(f * s);
  return v;
}

std::vector<float> random_floats(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<float> v(n);
  for (auto& f : v) f = std::bit_cast<float>(static_cast<std::uint32_t>(rng()));
  return v;
}

TEST(FastKernels, FromF32EdgesAndRandom) {
  auto v = edge_values();
  const auto r = random_floats(1 << 20, 11);
  v.insert(v.end(), r.begin(), r.end());
  // Weight-like values too, where nearly all of them are normal finite numbers.
  std::mt19937 rng(12);
  std::normal_distribution<float> g(0.0f, 0.05f);
  for (int k = 0; k < (1 << 18); ++k) v.push_back(g(rng));
  for (DType t : {DType::F16, DType::BF16}) expect_same_from_f32(t, v);
  for (DType t : kF8) expect_same_from_f32(t, v);
}

// For the 8-bit targets every rounding boundary lies on the bf16 grid, so
// all 2^16 upper halves with a few lower halves cover every decision.
TEST(FastKernels, F32ToF8AllUpperHalves) {
  std::vector<float> v;
  for (std::uint32_t hi = 0; hi < 65536; ++hi)
    for (std::uint32_t lo : {0u, 1u, 0x7FFFu, 0x8000u, 0x8001u, 0xFFFFu}) v.push_back(std::bit_cast<float>((hi << 16) | lo));
  for (DType t : kF8) expect_same_from_f32(t, v);
  expect_same_from_f32(DType::F16, v);
  expect_same_from_f32(DType::BF16, v);
}

// Every block type the decoder accepts: random bytes everywhere (scales
// included, so NaN, inf and subnormal scales are covered), 1 to 67 blocks so
// short runs and odd counts are exercised.
TEST(FastKernels, DequantizeMatchesReference) {
  std::mt19937 rng(5);
  for (int k = 0; k < io::kDTypeCount; ++k) {
    const auto t = static_cast<DType>(k);
    if (!io::is_quantized(t) || !io::can_dequantize(t)) continue;
    const auto& ti = io::info(t);
    for (std::size_t blocks : {1u, 2u, 3u, 7u, 67u}) {
      std::vector<std::byte> in(blocks * ti.block_bytes);
      for (auto& b : in) b = std::byte(static_cast<unsigned char>(rng()));
      const auto n = static_cast<std::int64_t>(blocks * ti.block_elems);
      std::vector<float> fast(static_cast<std::size_t>(n)), ref(static_cast<std::size_t>(n));
      io::dequantize(t, in.data(), fast.data(), n);
      io::detail::dequantize_reference(t, in.data(), ref.data(), n);
      const auto a = as_bits(fast), b = as_bits(ref);
      std::size_t bad = 0;
      while (bad < a.size() && a[bad] == b[bad]) ++bad;
      EXPECT_EQ(bad, a.size()) << io::name(t) << " with " << blocks << " blocks differs at element " << bad;
    }
  }
}

}  // namespace
