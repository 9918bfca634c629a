#pragma once
// Opening and writing checkpoints of any supported format.
#include <optional>
#include <span>
#include <string>

#include "io/checkpoint.h"
#include "io/write_options.h"

namespace ckpt::io {

// By magic bytes first, then by extension; nullopt when neither says.
[[nodiscard]] std::optional<Format> detect_format(const std::string& path);
[[nodiscard]] std::optional<Format> format_from_extension(const std::string& path);
// Opens any supported checkpoint, reading headers only. Throws Error naming
// the supported formats when the file is none of them.
[[nodiscard]] Checkpoint open_checkpoint(const std::string& path);
void write_checkpoint(const std::string& path, Format format, std::span<const TensorInfo> tensors,
                      const Metadata& meta, const WriteOptions& opt);

}  // namespace ckpt::io
