// The fast cast and dequantization kernels against the element-at-a-time
// reference code they replace: every output bit must match, for every input
// where that is cheap to enumerate and many random ones elsewhere.
#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <random>
#include <vector>

#include "io/convert.h"
#include "io/dtype.h"
#include "io/endian.h"
#include "io/float_convert.h"
#include "io/formats/ggml_quants.h"
#include "io/tensor.h"
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
// Runs `body` on the AVX2 kernels (where the CPU has them) and on the portable ones.
template <class F>
void on_both_paths(F body) {
  for (bool avx2 : {true, false}) {
    SCOPED_TRACE(avx2 ? "AVX2 allowed" : "portable kernels");
    io::detail::allow_avx2(avx2);
    body();
  }
  io::detail::allow_avx2(true);
}

TEST(FastKernels, PortablePathMatchesReference) {
  on_both_paths([] {
    std::vector<std::byte> in(2 * 65536);
    for (std::size_t i = 0; i < 65536; ++i) io::store_le(in.data() + 2 * i, static_cast<std::uint16_t>(i));
    expect_same_to_f32(DType::F16, in, 65536);
    expect_same_to_f32(DType::BF16, in, 65536);
    const auto v = edge_values();
    expect_same_from_f32(DType::F16, v);
    expect_same_from_f32(DType::BF16, v);
  });
}

TEST(FastKernels, DequantizeMatchesReference) {
  on_both_paths([] {
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
  });
}

std::vector<std::byte> cast_bytes(const io::TensorInfo& t, DType to, unsigned threads) {
  return io::read_all(io::cast_tensor(t, to, threads));
}

io::TensorInfo memory_tensor(DType dt, std::int64_t numel, std::vector<std::byte> bytes) {
  io::TensorInfo t;
  t.name = "x";
  t.dtype = dt;
  t.shape = {numel};
  t.nbytes = bytes.size();
  t.data = io::make_memory_data(std::move(bytes));
  return t;
}

// The cast's batches are split into per-thread ranges; the output must not
// depend on how many, and must be the reference conversion of each element.
TEST(FastKernels, CastIsIndependentOfThreadCount) {
  const std::size_t n = (std::size_t{3} << 20) + 13;  // several batches and a ragged end
  const auto f = random_floats(n, 21);
  std::vector<std::byte> f32(4 * n);
  std::memcpy(f32.data(), f.data(), f32.size());
  const auto t = memory_tensor(DType::F32, static_cast<std::int64_t>(n), f32);
  for (DType to : {DType::F16, DType::BF16, DType::F64}) {
    const auto one = cast_bytes(t, to, 1);
    EXPECT_EQ(one, cast_bytes(t, to, 2)) << io::name(to);
    EXPECT_EQ(one, cast_bytes(t, to, 7)) << io::name(to);
    EXPECT_EQ(one, cast_bytes(t, to, 0)) << io::name(to);
    if (to != DType::F64) {
      std::vector<std::byte> ref(n * io::item_size(to));
      io::detail::convert_from_f32_reference(to, f.data(), ref.data(), n);
      EXPECT_EQ(one, ref) << io::name(to);
    }
  }
  // Dequantizing casts, from blocks.
  std::mt19937 rng(22);
  for (DType from : {DType::Q4_0, DType::Q6_K}) {
    const auto& ti = io::info(from);
    const std::size_t blocks = (std::size_t{5} << 20) / ti.block_bytes + 3;
    std::vector<std::byte> raw(blocks * ti.block_bytes);
    for (auto& b : raw) b = std::byte(static_cast<unsigned char>(rng()));
    const auto q = memory_tensor(from, static_cast<std::int64_t>(blocks * ti.block_elems), raw);
    const auto one = cast_bytes(q, DType::F16, 1);
    EXPECT_EQ(one, cast_bytes(q, DType::F16, 3)) << io::name(from);
    std::vector<float> deq(blocks * ti.block_elems);
    io::detail::dequantize_reference(from, raw.data(), deq.data(), static_cast<std::int64_t>(deq.size()));
    std::vector<std::byte> ref(deq.size() * 2);
    io::detail::convert_from_f32_reference(DType::F16, deq.data(), ref.data(), deq.size());
    EXPECT_EQ(one, ref) << io::name(from);
    const auto as_f32 = cast_bytes(q, DType::F32, 2);
    ASSERT_EQ(as_f32.size(), deq.size() * 4);
    EXPECT_EQ(std::memcmp(as_f32.data(), deq.data(), as_f32.size()), 0) << io::name(from);
  }
}

TEST(FastKernels, ThreadPoolRunsEveryTaskOnceAndRethrows) {
  io::ThreadPool pool(3);
  std::vector<int> hits(1000);
  pool.parallel_for(hits.size(), [&](std::size_t k) { ++hits[k]; });
  for (int h : hits) ASSERT_EQ(h, 1);
  EXPECT_THROW(pool.parallel_for(10, [](std::size_t k) { if (k == 7) throw std::runtime_error("task 7"); }),
               std::runtime_error);
  // Still usable afterwards, from two callers at once.
  std::atomic<int> total{0};
  std::thread other([&] { pool.parallel_for(500, [&](std::size_t) { ++total; }); });
  pool.parallel_for(500, [&](std::size_t) { ++total; });
  other.join();
  EXPECT_EQ(total.load(), 1000);
}

}  // namespace
