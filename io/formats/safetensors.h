#pragma once
// safetensors, single files and Hugging Face sharded checkpoints
// (*.safetensors.index.json).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/limits.h"
#include "io/write_options.h"

namespace ckpt::io::safetensors {

inline constexpr std::uint64_t kMaxHeaderBytes = kMaxSafetensorsHeaderBytes;

// One tensor as the JSON header describes it; offsets are relative to the
// data section (which starts at 8 + header length).
struct HeaderTensor {
  std::string name;
  DType dtype = DType::U8;
  Shape shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

// A validated header: what `describe` builds its Checkpoint from, exposed for
// `ckpt info` and tests that compare header details with fixture manifests.
struct Header {
  std::uint64_t length = 0;            // N, the JSON byte count after the u64 prefix
  std::vector<HeaderTensor> tensors;   // in header order
  Metadata metadata;                   // __metadata__ strings, in header order
  bool has_metadata_key = false;       // "__metadata__" present (even as null)
};

// Parses and validates the header and the tiling of the data section.
[[nodiscard]] Header read_header(const ByteSource& src);

[[nodiscard]] Checkpoint describe(std::shared_ptr<const ByteSource> src);
// A .safetensors file, or a *.safetensors.index.json opening every shard it lists.
[[nodiscard]] Checkpoint open(const std::string& path);
// Metadata values are written as strings; opt.safetensors_tag sets "format".
// With opt.max_shard_bytes > 0 and more data than that, writes
// NAME-0000k-of-0000n.safetensors shards plus NAME.safetensors.index.json
// (where `path` is NAME.safetensors).
void write(const std::string& path, std::span<const TensorInfo> tensors, const Metadata& meta, const WriteOptions& opt);

}  // namespace ckpt::io::safetensors
