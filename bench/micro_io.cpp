// Micro-benchmarks of the core's hot loops (Google Benchmark); whole-process
// numbers come from run_foundation.sh.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "io/deflate.h"
#include "io/endian.h"
#include "io/float_convert.h"

namespace {

std::vector<std::byte> random_bytes(std::size_t n) {
  std::mt19937 rng(1);
  std::vector<std::byte> b(n);
  for (auto& x : b) x = std::byte(static_cast<unsigned char>(rng() & 0x3F));  // finite halfs / bf16s
  return b;
}

void BM_F16ToF32(benchmark::State& s) {
  const std::size_t n = 1 << 20;
  auto in = random_bytes(2 * n);
  std::vector<float> out(n);
  for (auto _ : s) {
    ckpt::io::convert_to_f32(ckpt::io::DType::F16, in.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * 2 * n));
}
BENCHMARK(BM_F16ToF32);

void BM_BF16ToF32(benchmark::State& s) {
  const std::size_t n = 1 << 20;
  auto in = random_bytes(2 * n);
  std::vector<float> out(n);
  for (auto _ : s) {
    ckpt::io::convert_to_f32(ckpt::io::DType::BF16, in.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * 2 * n));
}
BENCHMARK(BM_BF16ToF32);

void BM_F32ToF16(benchmark::State& s) {
  const std::size_t n = 1 << 20;
  std::vector<float> in(n);
  for (std::size_t k = 0; k < n; ++k) in[k] = static_cast<float>(k) * 1e-3f;
  std::vector<std::byte> out(2 * n);
  for (auto _ : s) {
    ckpt::io::convert_from_f32(ckpt::io::DType::F16, in.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * 4 * n));
}
BENCHMARK(BM_F32ToF16);

void BM_Crc32(benchmark::State& s) {
  auto in = random_bytes(8 << 20);
  for (auto _ : s) benchmark::DoNotOptimize(ckpt::io::crc32_update(0, in));
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * in.size()));
}
BENCHMARK(BM_Crc32);

void BM_ByteSwap4(benchmark::State& s) {
  auto in = random_bytes(8 << 20);
  for (auto _ : s) {
    ckpt::io::swap_elements_inplace(in.data(), in.size() / 4, 4);
    benchmark::DoNotOptimize(in.data());
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * in.size()));
}
BENCHMARK(BM_ByteSwap4);

}  // namespace

BENCHMARK_MAIN();
