// Micro-benchmarks of the element kernels: dtype casts, dequantization of
// every block type, byte swaps and axis permutations. Buffers are tens of MB
// so the numbers include memory traffic, as in a real conversion. Bytes
// processed are always the *input* bytes (the source tensor's size), which is
// how the whole-process benchmarks count too. Linked into ckpt_micro_bench.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "io/endian.h"
#include "io/float_convert.h"
#include "io/formats/ggml_quants.h"
#include "io/tensor.h"
#include "model/transforms.h"

namespace {

using ckpt::io::DType;

constexpr std::size_t kElems = std::size_t{8} << 20;  // 8 Mi elements: 32 MB as f32

// Finite values in a typical weight range, so no lane hits an inf/NaN/denormal slow path.
std::vector<float> weights(std::size_t n) {
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.0f, 0.05f);
  std::vector<float> v(n);
  for (auto& x : v) x = g(rng);
  return v;
}

void BM_CastToF32(benchmark::State& s, DType from) {
  const auto src = weights(kElems);
  const std::size_t item = ckpt::io::item_size(from);
  std::vector<std::byte> in(kElems * item);
  ckpt::io::convert_from_f32(from, src.data(), in.data(), kElems);
  std::vector<float> out(kElems);
  for (auto _ : s) {
    ckpt::io::convert_to_f32(from, in.data(), out.data(), kElems);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * in.size()));
  s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations() * kElems));
}

void BM_CastFromF32(benchmark::State& s, DType to) {
  const auto in = weights(kElems);
  std::vector<std::byte> out(kElems * ckpt::io::item_size(to));
  for (auto _ : s) {
    ckpt::io::convert_from_f32(to, in.data(), out.data(), kElems);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * kElems * 4));
  s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations() * kElems));
}

// Where each block type keeps its half-precision scales (d, and dmin/m/s where
// it has one): they get sane values, every other byte is random.
std::vector<std::size_t> half_fields(DType t) {
  switch (t) {
    case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: case DType::IQ4_NL: return {0};
    case DType::Q4_1: case DType::Q5_1: case DType::Q8_1: case DType::Q4_K: case DType::Q5_K: return {0, 2};
    case DType::Q2_K: return {80, 82};
    case DType::Q3_K: return {108};
    case DType::Q6_K: return {208};
    default: return {};
  }
}

std::vector<std::byte> random_blocks(DType t, std::size_t blocks) {
  const auto& ti = ckpt::io::info(t);
  std::vector<std::byte> b(blocks * ti.block_bytes);
  std::mt19937 rng(3);
  for (auto& x : b) x = std::byte(static_cast<unsigned char>(rng()));
  const auto fields = half_fields(t);
  for (std::size_t k = 0; k < blocks; ++k) {
    std::byte* blk = b.data() + k * ti.block_bytes;
    for (std::size_t off : fields) {
      const std::uint16_t h = ckpt::io::f32_to_f16(1e-3f * static_cast<float>(1 + rng() % 100));
      std::memcpy(blk + off, &h, 2);
    }
    if (t == DType::MXFP4) blk[0] = std::byte(static_cast<unsigned char>(120 + rng() % 8));
  }
  return b;
}

void BM_Dequantize(benchmark::State& s, DType t) {
  const auto& ti = ckpt::io::info(t);
  const std::size_t n = (std::size_t{4} << 20) / ti.block_elems * ti.block_elems;  // 16 MB of f32 out
  const auto in = random_blocks(t, n / ti.block_elems);
  std::vector<float> out(n);
  for (auto _ : s) {
    ckpt::io::dequantize(t, in.data(), out.data(), static_cast<std::int64_t>(n));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * in.size()));
  s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations() * n));
}

void BM_ByteSwap(benchmark::State& s) {
  const auto item = static_cast<std::size_t>(s.range(0));
  std::vector<std::byte> buf(std::size_t{32} << 20);
  std::mt19937 rng(5);
  for (auto& x : buf) x = std::byte(static_cast<unsigned char>(rng()));
  for (auto _ : s) {
    ckpt::io::swap_elements_inplace(buf.data(), buf.size() / item, item);
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * buf.size()));
}
BENCHMARK(BM_ByteSwap)->Arg(2)->Arg(4)->Arg(8);

// A permuted tensor streamed into a sink that only looks at the bytes, as
// a conversion's writer would (minus the write).
void BM_Permute(benchmark::State& s, DType dt, ckpt::io::Shape shape, std::vector<int> perm) {
  ckpt::io::TensorInfo t;
  t.name = "bench";
  t.dtype = dt;
  t.shape = shape;
  t.nbytes = static_cast<std::uint64_t>(t.numel()) * ckpt::io::item_size(dt);
  std::vector<std::byte> bytes(t.nbytes);
  std::mt19937 rng(9);
  for (auto& x : bytes) x = std::byte(static_cast<unsigned char>(rng()));
  t.data = ckpt::io::make_memory_data(std::move(bytes));
  const auto p = ckpt::model::permute_tensor(t, perm);
  for (auto _ : s) {
    std::uint64_t seen = 0;
    p.data->stream([&](std::span<const std::byte> b) {
      seen += b.size();
      benchmark::DoNotOptimize(b.data());
    });
    benchmark::DoNotOptimize(seen);
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * t.nbytes));
}
BENCHMARK_CAPTURE(BM_Permute, conv2d_oihw_ohwi_f32, DType::F32, ckpt::io::Shape{1024, 1024, 3, 3}, std::vector<int>{0, 2, 3, 1})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Permute, conv2d_oihw_ohwi_f16, DType::F16, ckpt::io::Shape{1024, 1024, 3, 3}, std::vector<int>{0, 2, 3, 1})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Permute, conv1d_oiw_owi_f32, DType::F32, ckpt::io::Shape{1024, 1024, 9}, std::vector<int>{0, 2, 1})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Permute, convT_iohw_ohwi_f32, DType::F32, ckpt::io::Shape{1024, 1024, 3, 3}, std::vector<int>{1, 2, 3, 0})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Permute, nhwc_nchw_f32, DType::F32, ckpt::io::Shape{16, 128, 128, 64}, std::vector<int>{0, 3, 1, 2})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Permute, transpose2d_f32, DType::F32, ckpt::io::Shape{4096, 4096}, std::vector<int>{1, 0})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Permute, transpose2d_f16, DType::F16, ckpt::io::Shape{4096, 4096}, std::vector<int>{1, 0})
    ->Unit(benchmark::kMillisecond);

// One benchmark per cast direction and per block type that dequantize()
// accepts, so a type added to the decoder is measured without editing this file.
[[maybe_unused]] const bool kRegistered = [] {
  const DType narrow[] = {DType::F16, DType::BF16, DType::F8_E4M3, DType::F8_E5M2,
                          DType::F8_E8M0, DType::F8_E4M3FNUZ, DType::F8_E5M2FNUZ};
  for (DType t : narrow) {
    const std::string n(ckpt::io::name(t));
    benchmark::RegisterBenchmark(("BM_CastToF32/" + n).c_str(), BM_CastToF32, t);
  }
  for (DType t : narrow) {
    const std::string n(ckpt::io::name(t));
    benchmark::RegisterBenchmark(("BM_CastFromF32/" + n).c_str(), BM_CastFromF32, t);
  }
  for (int k = 0; k < ckpt::io::kDTypeCount; ++k) {
    const auto t = static_cast<DType>(k);
    if (!ckpt::io::is_quantized(t) || !ckpt::io::can_dequantize(t)) continue;
    benchmark::RegisterBenchmark(("BM_Dequantize/" + std::string(ckpt::io::name(t))).c_str(), BM_Dequantize, t);
  }
  return true;
}();

}  // namespace
