// Writes the seed corpora of the container-format harnesses with our own
// writers: `make_corpus OUTDIR` fills OUTDIR/{npy,npz,safetensors,
// safetensors_index,gguf}/. Seeds are small (a few KiB) so the fuzzer spends
// its time on structure, not on data bytes, but cover every dtype, 0-d and
// empty tensors, metadata of every GGUF value type, stored and deflated npz
// members, non-default GGUF alignment and sharded safetensors.
//
// The committed corpus (tests/fuzz/corpus/) is this program's output plus
// small files copied from ../shared/fixtures (written by NumPy, MLX, gguf-py),
// which cover what our writers never produce: Fortran order, big-endian and
// v2 .npy headers, zip64 extras, MLX's safetensors and GGUF layouts.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/open.h"
#include "tests/fuzz/support/index_shards.h"

namespace {

namespace fs = std::filesystem;
using ckpt::io::DType;
using ckpt::io::MetaType;
using ckpt::io::MetaValue;

std::uint32_t g_seed = 12345;
std::byte next_byte() {
  g_seed = g_seed * 1664525u + 1013904223u;
  return static_cast<std::byte>(g_seed >> 24);
}

// Deterministic bytes; float types get small finite values (every byte of a
// value below 0x40 keeps the exponent small) so statistics see numbers.
ckpt::io::TensorInfo tensor(std::string name, DType dtype, ckpt::io::Shape shape) {
  ckpt::io::TensorInfo t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  std::int64_t n = 1;
  for (auto d : t.shape) n *= d;
  t.nbytes = ckpt::io::byte_size(dtype, n).value();
  std::vector<std::byte> bytes(static_cast<std::size_t>(t.nbytes));
  for (auto& b : bytes) b = next_byte() & std::byte{0x3F};
  if (dtype == DType::Bool)
    for (auto& b : bytes) b &= std::byte{1};
  t.data = ckpt::io::make_memory_data(std::move(bytes));
  return t;
}

ckpt::io::WriteOptions options() {
  ckpt::io::WriteOptions o;
  o.sync = false;
  return o;
}

void write(const fs::path& path, ckpt::io::Format format, const std::vector<ckpt::io::TensorInfo>& tensors,
           const ckpt::io::Metadata& meta = {}, ckpt::io::WriteOptions opt = options()) {
  ckpt::io::write_checkpoint(path.string(), format, tensors, meta, opt);
}

const DType kPlain[] = {DType::Bool, DType::U8,  DType::U16, DType::U32,  DType::U64, DType::I8,  DType::I16,
                        DType::I32,  DType::I64, DType::F16, DType::BF16, DType::F32, DType::F64, DType::C64,
                        DType::C128};

void npy(const fs::path& dir) {
  for (DType d : kPlain) {
    const std::string n(ckpt::io::name(d));
    write(dir / (n + "_2x3.npy"), ckpt::io::Format::Npy, {tensor("", d, {2, 3})});
  }
  write(dir / "f32_scalar.npy", ckpt::io::Format::Npy, {tensor("", DType::F32, {})});
  write(dir / "f16_empty_3x0.npy", ckpt::io::Format::Npy, {tensor("", DType::F16, {3, 0})});
  write(dir / "i8_2x2x2x2.npy", ckpt::io::Format::Npy, {tensor("", DType::I8, {2, 2, 2, 2})});
  write(dir / "f64_100.npy", ckpt::io::Format::Npy, {tensor("", DType::F64, {100})});
}

std::vector<ckpt::io::TensorInfo> mixed() {
  return {tensor("embed.weight", DType::F32, {4, 8}), tensor("layers.0.norm", DType::BF16, {16}),
          tensor("layers.0.bias", DType::F16, {2, 3}), tensor("layers.1.ids", DType::I64, {3}),
          tensor("layers.1.mask", DType::Bool, {5}),   tensor("head.empty", DType::U8, {0}),
          tensor("scalar", DType::F64, {})};
}

void npz(const fs::path& dir) {
  write(dir / "stored.npz", ckpt::io::Format::Npz, mixed());
  auto deflated = options();
  deflated.compress = true;
  write(dir / "deflated.npz", ckpt::io::Format::Npz, mixed(), {}, deflated);
  deflated.compression_level = 9;
  write(dir / "deflated_big.npz", ckpt::io::Format::Npz, {tensor("zeros_like", DType::U8, {4096})}, {}, deflated);
  write(dir / "one_member.npz", ckpt::io::Format::Npz, {tensor("x", DType::C64, {2, 2})});
}

void safetensors(const fs::path& dir) {
  const ckpt::io::Metadata meta = {{"format", MetaValue::string("pt")}, {"note", MetaValue::string("fuzz seed")}};
  write(dir / "mixed_meta.safetensors", ckpt::io::Format::Safetensors, mixed(), meta);
  auto mlx = options();
  mlx.safetensors_tag = ckpt::io::SafetensorsTag::Mlx;
  write(dir / "mixed_mlx.safetensors", ckpt::io::Format::Safetensors, mixed(), {}, mlx);
  auto none = options();
  none.safetensors_tag = ckpt::io::SafetensorsTag::None;
  std::vector<ckpt::io::TensorInfo> all;
  for (DType d : kPlain)
    if (d != DType::C128) all.push_back(tensor(std::string(ckpt::io::name(d)), d, {2, 2}));
  for (DType d : {DType::F8_E4M3, DType::F8_E5M2, DType::F8_E8M0, DType::F4_E2M1, DType::F6_E2M3, DType::F6_E3M2})
    all.push_back(tensor(std::string(ckpt::io::name(d)), d, {4, 4}));
  write(dir / "every_dtype.safetensors", ckpt::io::Format::Safetensors, all, {}, none);
  write(dir / "empty.safetensors", ckpt::io::Format::Safetensors, {}, {}, none);
}

ckpt::io::Metadata gguf_meta() {
  using ckpt::io::MetaEntry;
  ckpt::io::Metadata m;
  m.push_back({"general.architecture", MetaValue::string("llama")});
  m.push_back({"general.name", MetaValue::string("fuzz seed")});
  m.push_back({"u8", MetaValue::unsigned_int(MetaType::U8, 7)});
  m.push_back({"i8", MetaValue::signed_int(MetaType::I8, -7)});
  m.push_back({"u16", MetaValue::unsigned_int(MetaType::U16, 700)});
  m.push_back({"i16", MetaValue::signed_int(MetaType::I16, -700)});
  m.push_back({"llama.context_length", MetaValue::unsigned_int(MetaType::U32, 4096)});
  m.push_back({"i32", MetaValue::signed_int(MetaType::I32, -70000)});
  m.push_back({"llama.rope.freq_base", MetaValue::floating(MetaType::F32, 10000.0)});
  m.push_back({"flag", MetaValue::boolean(true)});
  m.push_back({"u64", MetaValue::unsigned_int(MetaType::U64, 1ull << 40)});
  m.push_back({"i64", MetaValue::signed_int(MetaType::I64, -(1ll << 40))});
  m.push_back({"f64", MetaValue::floating(MetaType::F64, 0.125)});
  m.push_back({"tokenizer.ggml.tokens",
               MetaValue::array(MetaType::String, {MetaValue::string("<s>"), MetaValue::string("</s>"), MetaValue::string("a")})});
  m.push_back({"tokenizer.ggml.scores", MetaValue::array(MetaType::F32, {MetaValue::floating(MetaType::F32, 0.5),
                                                                           MetaValue::floating(MetaType::F32, -1)})});
  m.push_back({"nested", MetaValue::array(MetaType::Array, {MetaValue::array(MetaType::I32, {MetaValue::signed_int(MetaType::I32, 1)}),
                                                              MetaValue::array(MetaType::I32, {})})});
  return m;
}

void gguf(const fs::path& dir) {
  std::vector<ckpt::io::TensorInfo> plain = {tensor("token_embd.weight", DType::F32, {4, 8}),
                                             tensor("blk.0.attn_norm.weight", DType::F16, {8}),
                                             tensor("blk.0.ffn_up.weight", DType::BF16, {2, 8}),
                                             tensor("ids", DType::I32, {3}), tensor("scalar", DType::F32, {})};
  write(dir / "plain_meta.gguf", ckpt::io::Format::Gguf, plain, gguf_meta());
  std::vector<ckpt::io::TensorInfo> quant;
  for (DType d : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                  DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K, DType::IQ4_NL, DType::IQ4_XS, DType::IQ2_XXS,
                  DType::IQ3_S, DType::IQ1_M, DType::TQ1_0, DType::TQ2_0, DType::MXFP4}) {
    const auto& i = ckpt::io::info(d);
    quant.push_back(tensor(std::string(i.name), d, {1, static_cast<std::int64_t>(i.block_elems)}));
  }
  write(dir / "quant_types.gguf", ckpt::io::Format::Gguf, quant, {{"general.architecture", MetaValue::string("llama")}});
  auto aligned = options();
  aligned.gguf_alignment = 64;
  write(dir / "align64.gguf", ckpt::io::Format::Gguf, {tensor("a", DType::Q8_0, {2, 32}), tensor("b", DType::F32, {3})},
        {}, aligned);
  write(dir / "no_tensors.gguf", ckpt::io::Format::Gguf, {}, gguf_meta());
}

void index(const fs::path& dir) {
  const fs::path scratch = fs::temp_directory_path() / "ckpt-make-corpus-shards";
  fs::remove_all(scratch);
  const std::string text = ckpt::fuzz::make_index_shards(scratch);
  fs::remove_all(scratch);
  std::ofstream(dir / "writer.index.json", std::ios::binary) << text;
  // The other shards the harness provides, so the fuzzer sees their names.
  std::ofstream(dir / "subfolder.index.json", std::ios::binary)
      << R"({"metadata": {"total_size": 8}, "weight_map": {"other.weight": "sub/other.safetensors"}})";
  std::ofstream(dir / "damaged_shard.index.json", std::ios::binary)
      << R"({"metadata": {}, "weight_map": {"bad.weight": "bad.safetensors", "x": "notes.txt"}})";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  try {
    for (const char* h : {"npy", "npz", "safetensors", "safetensors_index", "gguf"}) fs::create_directories(out / h);
    npy(out / "npy");
    npz(out / "npz");
    safetensors(out / "safetensors");
    gguf(out / "gguf");
    index(out / "safetensors_index");
  } catch (const ckpt::io::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
