#include "tests/fuzz/support/index_shards.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "io/error.h"
#include "io/formats/safetensors.h"
#include "io/tensor.h"

namespace ckpt::fuzz {
namespace {

io::TensorInfo tensor(std::string name, io::DType dtype, io::Shape shape) {
  io::TensorInfo t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  std::int64_t n = 1;
  for (auto d : t.shape) n *= d;
  t.nbytes = io::byte_size(dtype, n).value_or(0);
  std::vector<std::byte> bytes(static_cast<std::size_t>(t.nbytes));
  // Small distinct values: bytes 0..63 are finite in every float type.
  for (std::size_t k = 0; k < bytes.size(); ++k) bytes[k] = static_cast<std::byte>((k * 7) % 64);
  t.data = io::make_memory_data(std::move(bytes));
  return t;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

std::string make_index_shards(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir / "sub");
  const std::vector<io::TensorInfo> tensors = {
      tensor("embed.weight", io::DType::F32, {4, 4}),       tensor("layers.0.norm", io::DType::BF16, {8}),
      tensor("layers.0.bias", io::DType::F16, {2, 3}),      tensor("layers.1.ids", io::DType::I64, {3}),
      tensor("layers.1.mask", io::DType::Bool, {5}),        tensor("head.empty", io::DType::U8, {0}),
      tensor("head.weight", io::DType::F8_E4M3, {4, 2}),
  };
  const io::Metadata meta = {{"format", io::MetaValue::string("pt")}};
  io::WriteOptions opt;
  opt.sync = false;
  opt.max_shard_bytes = 40;  // several shards, some holding more than one tensor
  const fs::path base = dir / "model.safetensors";
  io::safetensors::write(base.string(), tensors, meta, opt);
  const fs::path index = dir / kIndexFileName;
  std::string text = slurp(index);
  fs::remove(index);

  io::WriteOptions single;
  single.sync = false;
  io::safetensors::write((dir / "sub" / "other.safetensors").string(),
                         std::vector<io::TensorInfo>{tensor("other.weight", io::DType::F32, {2})}, meta, single);
  const fs::path bad = dir / "bad.safetensors";
  io::safetensors::write(bad.string(), std::vector<io::TensorInfo>{tensor("bad.weight", io::DType::F32, {4})}, meta,
                         single);
  fs::resize_file(bad, fs::file_size(bad) - 3);
  std::ofstream(dir / "notes.txt") << "not a checkpoint\n";
  return text;
}

}  // namespace ckpt::fuzz
