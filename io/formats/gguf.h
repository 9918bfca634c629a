#pragma once
// GGUF (llama.cpp / ggml), v1–v3, little- and big-endian; split models
// (NAME-00001-of-0000N.gguf) open as one checkpoint.
#include <memory>
#include <span>
#include <string>

#include "io/checkpoint.h"
#include "io/write_options.h"

namespace ckpt::io::gguf {

[[nodiscard]] Checkpoint describe(std::shared_ptr<const ByteSource> src);
[[nodiscard]] Checkpoint open(const std::string& path);
// Writes GGUF v3, little-endian: metadata as typed KVs (general.alignment from
// opt.gguf_alignment), tensors in the given order with ne = shape reversed.
void write(const std::string& path, std::span<const TensorInfo> tensors, const Metadata& meta, const WriteOptions& opt);

}  // namespace ckpt::io::gguf
