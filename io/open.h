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
struct OpenOptions {
  // Keep only what lies under this dotted path and strip it from the names,
  // e.g. "model" for a training checkpoint {"model": …, "optimizer": …}.
  std::string root;
};

// Opens any supported checkpoint, reading headers only. Throws Error naming
// the supported formats when the file is none of them.
[[nodiscard]] Checkpoint open_checkpoint(const std::string& path, const OpenOptions& options = {});

// Like open_checkpoint, for a caller that needs only the tensors `names`
// (ckpt stats and show): from an .npz, without a root, only those members
// are read (see npz::describe_named). The result holds at least those
// tensors when the file has them; otherwise, and for any other format, it
// is open_checkpoint's, so a name not found is reported as from there.
[[nodiscard]] Checkpoint open_for_tensors(const std::string& path, std::span<const std::string> names,
                                          const OpenOptions& options = {});

// The part of `ck` under `root` (see OpenOptions::root); throws when nothing is there.
[[nodiscard]] Checkpoint select_root(Checkpoint ck, const std::string& root);
void write_checkpoint(const std::string& path, Format format, std::span<const TensorInfo> tensors,
                      const Metadata& meta, const WriteOptions& opt);

}  // namespace ckpt::io
