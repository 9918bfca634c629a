// Micro-benchmarks of the core's hot loops (Google Benchmark); whole-process
// numbers come from run_foundation.sh.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "io/deflate.h"
#include "io/endian.h"
#include "io/float_convert.h"
#include "io/open.h"

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

// Opening (headers only) a checkpoint of many small tensors, as the desktop
// app does before it shows the tree; plus GGUF's typical 150,000-token
// vocabulary. The files are written once per process into the temp folder.
class BenchFiles {
 public:
  ~BenchFiles() {
    for (const auto& [key, path] : paths_) std::filesystem::remove(path);
  }
  const std::string& get(ckpt::io::Format format, const std::string& ext, int tensors, int vocabulary) {
    const std::string key = ext + "-" + std::to_string(tensors) + "-" + std::to_string(vocabulary);
    auto it = paths_.find(key);
    if (it != paths_.end()) return it->second;
    const std::string path =
        (std::filesystem::temp_directory_path() / ("ckpt_micro_" + std::to_string(::getpid()) + "_" + key + ext)).string();
    static const char* const kParts[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                         "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                         "mlp.down_proj",    "input_layernorm",  "post_attention_layernorm"};
    std::vector<ckpt::io::TensorInfo> ts(static_cast<std::size_t>(tensors));
    for (int k = 0; k < tensors; ++k) {
      auto& t = ts[static_cast<std::size_t>(k)];
      t.name = "model.layers." + std::to_string(k / 9) + "." + kParts[k % 9] + ".weight";
      t.dtype = ckpt::io::DType::F32;
      t.shape = {1, 4};
      t.nbytes = 16;
      t.data = ckpt::io::make_memory_data(std::vector<std::byte>(16));
    }
    ckpt::io::Metadata meta;
    if (vocabulary > 0) {
      std::vector<ckpt::io::MetaValue> tokens, scores;
      for (int k = 0; k < vocabulary; ++k) {
        tokens.push_back(ckpt::io::MetaValue::string(k % 4 ? "tok" + std::to_string(k) : "a longer merged token " + std::to_string(k)));
        scores.push_back(ckpt::io::MetaValue::floating(ckpt::io::MetaType::F32, -k));
      }
      meta.push_back({"tokenizer.ggml.tokens", ckpt::io::MetaValue::array(ckpt::io::MetaType::String, std::move(tokens))});
      meta.push_back({"tokenizer.ggml.scores", ckpt::io::MetaValue::array(ckpt::io::MetaType::F32, std::move(scores))});
    }
    ckpt::io::WriteOptions opt;
    opt.sync = false;
    ckpt::io::write_checkpoint(path, format, ts, meta, opt);
    return paths_.emplace(key, path).first->second;
  }

 private:
  std::map<std::string, std::string> paths_;
};
BenchFiles& bench_files() {
  static BenchFiles files;
  return files;
}

// Times the open only; freeing the checkpoint is left out.
void open_repeatedly(benchmark::State& s, const std::string& path) {
  for (auto _ : s) {
    auto ck = ckpt::io::open_checkpoint(path);
    benchmark::DoNotOptimize(ck.tensors.data());
    s.PauseTiming();
    ck = {};
    s.ResumeTiming();
  }
}

void BM_OpenManyTensors(benchmark::State& s, ckpt::io::Format format, std::string ext) {
  open_repeatedly(s, bench_files().get(format, ext, static_cast<int>(s.range(0)), 0));
  s.SetItemsProcessed(s.iterations() * s.range(0));
}
BENCHMARK_CAPTURE(BM_OpenManyTensors, gguf, ckpt::io::Format::Gguf, std::string(".gguf"))
    ->Arg(50000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_OpenManyTensors, safetensors, ckpt::io::Format::Safetensors, std::string(".safetensors"))
    ->Arg(50000)->Arg(100000)->Unit(benchmark::kMillisecond);

void BM_OpenGgufVocabulary(benchmark::State& s) {
  open_repeatedly(s, bench_files().get(ckpt::io::Format::Gguf, ".gguf", 100, static_cast<int>(s.range(0))));
}
BENCHMARK(BM_OpenGgufVocabulary)->Arg(150000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
