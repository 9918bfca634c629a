// libFuzzer harness: a sharded safetensors checkpoint's index
// (NAME.safetensors.index.json). The input is written as the index beside a
// fixed set of shards made once at start-up by our writer (see
// support/index_shards.h: good shards, one in a subfolder, one cut short, a
// text file), then opened through io::safetensors::open like a user's path:
// the JSON, the weight map, shard names that try to leave the folder, missing
// and damaged shards, tensors the index and the shards disagree about; then
// every tensor of the merged checkpoint is touched.
#include <cstddef>
#include <cstdint>
#include <span>

#include "io/error.h"
#include "io/formats/safetensors.h"
#include "tests/fuzz/support/fuzz_support.h"
#include "tests/fuzz/support/index_shards.h"

namespace {
const std::filesystem::path& shard_dir() {
  static const std::filesystem::path dir = [] {
    const auto d = ckpt::fuzz::scratch_dir() / "index";
    (void)ckpt::fuzz::make_index_shards(d);
    return d;
  }();
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)shard_dir();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = ckpt::fuzz::write_scratch_file(
      (shard_dir().filename() / ckpt::fuzz::kIndexFileName).string(), std::span<const std::uint8_t>(data, size));
  try {
    const auto ck = ckpt::io::safetensors::open(path);
    ckpt::fuzz::touch_checkpoint(ck);
  } catch (const ckpt::io::Error&) {
  }
  return 0;
}
