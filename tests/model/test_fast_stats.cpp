// Statistics on the AVX2 kernels and on the portable ones are the same bits:
// both accumulate in the same lanes in the same order.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "io/float_convert.h"
#include "io/tensor.h"
#include "model/tensor_stats.h"

namespace {

using ckpt::io::DType;
namespace io = ckpt::io;

io::TensorInfo memory_tensor(DType dt, std::int64_t numel, std::vector<std::byte> bytes) {
  io::TensorInfo t;
  t.name = "x";
  t.dtype = dt;
  t.shape = {numel};
  t.nbytes = bytes.size();
  t.data = io::make_memory_data(std::move(bytes));
  return t;
}

void expect_identical(const ckpt::model::TensorStats& a, const ckpt::model::TensorStats& b) {
  EXPECT_EQ(a.count, b.count);
  EXPECT_EQ(a.nan, b.nan);
  EXPECT_EQ(a.inf, b.inf);
  EXPECT_EQ(a.zeros, b.zeros);
  EXPECT_EQ(std::memcmp(&a.min, &b.min, 8), 0);
  EXPECT_EQ(std::memcmp(&a.max, &b.max, 8), 0);
  EXPECT_EQ(std::memcmp(&a.mean, &b.mean, 8), 0) << a.mean << " vs " << b.mean;
  EXPECT_EQ(std::memcmp(&a.std, &b.std, 8), 0) << a.std << " vs " << b.std;
  EXPECT_EQ(a.histogram, b.histogram);
}

ckpt::model::TensorStats stats(const io::TensorInfo& t, bool avx2, unsigned threads, int bins) {
  io::detail::allow_avx2(avx2);
  ckpt::model::StatsOptions opt;
  opt.threads = threads;
  opt.bins = bins;
  auto s = ckpt::model::compute_stats(t, opt);
  io::detail::allow_avx2(true);
  return s;
}

TEST(FastStats, SameBitsOnEveryPathAndThreadCount) {
  // Odd length (a group of four and a scalar tail after the last eight), with
  // NaNs, infinities and zeros sprinkled in, over several 4 MiB chunks.
  const std::size_t n = (std::size_t{3} << 20) + 7;
  std::mt19937 rng(4);
  std::normal_distribution<float> g(0.0f, 0.05f);
  std::vector<std::byte> f32(4 * n);
  for (std::size_t i = 0; i < n; ++i) {
    float v = g(rng);
    if (i % 1001 == 0) v = std::numeric_limits<float>::quiet_NaN();
    if (i % 2003 == 0) v = -std::numeric_limits<float>::infinity();
    if (i % 307 == 0) v = 0;
    std::memcpy(f32.data() + 4 * i, &v, 4);
  }
  const auto t = memory_tensor(DType::F32, static_cast<std::int64_t>(n), f32);
  for (int bins : {64, 100000}) {  // the second counts into one histogram copy
    const auto ref = stats(t, false, 1, bins);
    expect_identical(ref, stats(t, true, 1, bins));
    expect_identical(ref, stats(t, true, 2, bins));
    expect_identical(ref, stats(t, false, 3, bins));
  }
  // Q4_0, whose values repeat within each block.
  std::vector<std::byte> q(18 * 40000);
  for (auto& b : q) b = std::byte(static_cast<unsigned char>(rng()));
  for (std::size_t k = 0; k < 40000; ++k) {
    const std::uint16_t d = io::f32_to_f16(0.01f);
    std::memcpy(q.data() + 18 * k, &d, 2);
  }
  const auto tq = memory_tensor(DType::Q4_0, 40000 * 32, q);
  expect_identical(stats(tq, false, 1, 64), stats(tq, true, 2, 64));
}

}  // namespace
