#pragma once
// safetensors, single files and Hugging Face sharded checkpoints
// (*.safetensors.index.json).
#include <memory>
#include <span>
#include <string>

#include "io/checkpoint.h"
#include "io/write_options.h"

namespace ckpt::io::safetensors {

inline constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

[[nodiscard]] Checkpoint describe(std::shared_ptr<const ByteSource> src);
// A .safetensors file, or a *.safetensors.index.json opening every shard it lists.
[[nodiscard]] Checkpoint open(const std::string& path);
// Metadata values are written as strings; opt.safetensors_tag sets "format".
// With opt.max_shard_bytes > 0 and more data than that, writes
// NAME-0000k-of-0000n.safetensors shards plus NAME.safetensors.index.json
// (where `path` is NAME.safetensors).
void write(const std::string& path, std::span<const TensorInfo> tensors, const Metadata& meta, const WriteOptions& opt);

}  // namespace ckpt::io::safetensors
