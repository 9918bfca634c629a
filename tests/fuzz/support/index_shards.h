#pragma once
// The shard files a fuzzed *.safetensors.index.json refers to. The index
// harness writes them once per process and then only varies the index; the
// seed corpus (make_corpus) and the regression test build the same set, so an
// index saved by the fuzzer finds the same shards when it is replayed.
#include <filesystem>
#include <string>

namespace ckpt::fuzz {

// The file name the fuzzed index is written under, beside the shards.
inline constexpr const char* kIndexFileName = "model.safetensors.index.json";

// Writes into `dir` (created if missing) with our own safetensors writer:
// model-0000k-of-0000n.safetensors (several shards of a small mixed-dtype
// checkpoint), sub/other.safetensors (a single file in a subfolder), bad.safetensors
// (a shard cut short) and notes.txt (not a checkpoint). Returns the index JSON
// the writer produced for those shards.
std::string make_index_shards(const std::filesystem::path& dir);

}  // namespace ckpt::fuzz
