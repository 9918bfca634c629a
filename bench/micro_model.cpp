// Micro-benchmarks of the model layer: building the name tree of a large
// checkpoint, and tensor statistics throughput on 1 GB tensors.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "io/float_convert.h"
#include "model/param_tree.h"
#include "model/tensor_stats.h"

namespace {

using ckpt::io::DType;

ckpt::io::TensorInfo memory_tensor(DType dt, std::int64_t numel, std::vector<std::byte> bytes) {
  ckpt::io::TensorInfo t;
  t.name = "bench";
  t.dtype = dt;
  t.shape = {numel};
  t.nbytes = bytes.size();
  t.data = ckpt::io::make_memory_data(std::move(bytes));
  return t;
}

constexpr std::size_t kGB = std::size_t{1} << 30;

// Built once and shared by the 1- and 2-thread runs (1 GiB each).
const ckpt::io::TensorInfo& f32_tensor() {
  static const auto t = [] {
    const std::size_t n = kGB / 4;
    std::vector<std::byte> b(kGB);
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1, 1);
    for (std::size_t i = 0; i < n; ++i) {
      const float f = u(rng);
      std::memcpy(b.data() + 4 * i, &f, 4);
    }
    return memory_tensor(DType::F32, static_cast<std::int64_t>(n), std::move(b));
  }();
  return t;
}

const ckpt::io::TensorInfo& q4_0_tensor() {
  static const auto t = [] {
    const std::size_t blocks = kGB / 18;
    std::vector<std::byte> b(blocks * 18);
    std::mt19937 rng(2);
    for (std::size_t k = 0; k < blocks; ++k) {
      const std::uint16_t d = ckpt::io::f32_to_f16(0.01f + static_cast<float>(rng() % 100) * 1e-4f);
      std::memcpy(b.data() + 18 * k, &d, 2);
      for (int j = 0; j < 16; ++j) b[18 * k + 2 + static_cast<std::size_t>(j)] = std::byte(static_cast<unsigned char>(rng()));
    }
    return memory_tensor(DType::Q4_0, static_cast<std::int64_t>(blocks * 32), std::move(b));
  }();
  return t;
}

const ckpt::io::TensorInfo& f16_tensor() {
  static const auto t = [] {
    const std::size_t n = kGB / 2;
    std::vector<std::byte> b(kGB);
    std::mt19937 rng(1);
    std::normal_distribution<float> g(0.0f, 0.05f);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint16_t h = ckpt::io::f32_to_f16(g(rng));
      std::memcpy(b.data() + 2 * i, &h, 2);
    }
    return memory_tensor(DType::F16, static_cast<std::int64_t>(n), std::move(b));
  }();
  return t;
}

void run_stats(benchmark::State& s, const ckpt::io::TensorInfo& t) {
  ckpt::model::StatsOptions opt;
  opt.threads = static_cast<unsigned>(s.range(0));
  for (auto _ : s) {
    auto r = ckpt::model::compute_stats(t, opt);
    benchmark::DoNotOptimize(r.mean);
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * t.nbytes));
}

void BM_StatsF32_1GB(benchmark::State& s) { run_stats(s, f32_tensor()); }
BENCHMARK(BM_StatsF32_1GB)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_StatsF16_1GB(benchmark::State& s) { run_stats(s, f16_tensor()); }
BENCHMARK(BM_StatsF16_1GB)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_StatsQ4_0_1GB(benchmark::State& s) { run_stats(s, q4_0_tensor()); }
BENCHMARK(BM_StatsQ4_0_1GB)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ParamTreeBuild100k(benchmark::State& s) {
  // A 2,000-layer model with 50 tensors per layer: 100,000 names.
  std::vector<ckpt::io::TensorInfo> ts;
  ts.reserve(100'000);
  for (int l = 0; l < 2000; ++l)
    for (int k = 0; k < 50; ++k) {
      ckpt::io::TensorInfo t;
      t.name = "model.layers." + std::to_string(l) + ".block" + std::to_string(k / 10) + ".proj" + std::to_string(k % 10) + ".weight";
      t.dtype = k % 2 ? DType::F16 : DType::BF16;
      t.shape = {64, 64};
      t.nbytes = 64 * 64 * 2;
      ts.push_back(std::move(t));
    }
  for (auto _ : s) {
    auto tree = ckpt::model::ParamTree::build(ts);
    benchmark::DoNotOptimize(tree.size());
  }
  s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations() * ts.size()));
}
BENCHMARK(BM_ParamTreeBuild100k)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
