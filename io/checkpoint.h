#pragma once
// A checkpoint: a list of tensors plus format metadata, read from one or more files.
#include <memory>
#include <string>
#include <vector>

#include "io/byte_source.h"
#include "io/metadata.h"
#include "io/tensor.h"

namespace ckpt::io {

enum class Format : std::uint8_t { Npy, Npz, Safetensors, Gguf, PyTorch };

[[nodiscard]] const char* format_name(Format f) noexcept;  // "npy", "npz", "safetensors", "gguf", "pytorch"

struct Checkpoint {
  std::string path;
  Format format = Format::Npy;
  std::string format_detail;  // "npz (deflated members)", "safetensors (sharded, 4 files)", "GGUF v3", …
  std::vector<TensorInfo> tensors;
  Metadata metadata;
  std::vector<std::shared_ptr<const ByteSource>> files;  // every file the tensors read from

  [[nodiscard]] std::uint64_t total_bytes() const;
  [[nodiscard]] std::uint64_t total_parameters() const;
};

}  // namespace ckpt::io
