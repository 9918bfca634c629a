#pragma once
// Options every writer accepts; each format reads the ones that concern it.
#include <cstdint>
#include <functional>
#include <string>

namespace ckpt::io {

// What a safetensors writer puts in __metadata__["format"].
enum class SafetensorsTag : std::uint8_t { Pt, Mlx, None };

struct Progress {
  std::uint64_t bytes_done = 0;
  std::uint64_t bytes_total = 0;
  std::size_t tensor_index = 0;
  std::size_t tensor_count = 0;
  std::string tensor_name;
};

struct WriteOptions {
  SafetensorsTag safetensors_tag = SafetensorsTag::Pt;
  // safetensors: split into shards of at most this many data bytes plus an index (0: one file).
  std::uint64_t max_shard_bytes = 0;
  // npz: deflate members (savez_compressed) instead of storing them (savez).
  bool compress = false;
  int compression_level = 6;
  // gguf: general.alignment for the data section.
  std::uint32_t gguf_alignment = 32;
  // Flush the finished file to disk (fsync) before renaming it into place,
  // so a crash never leaves a renamed but incomplete file. Off only for
  // scratch output (tmpfs, files that are re-creatable anyway).
  bool sync = true;
  // The destination may be a file the tensors are read from. Writing is safe
  // even then (the new file is a temporary renamed over it at the end, and
  // readers keep the old inode), but a conversion onto its own input is
  // nearly always a slip, so only an in-place metadata save sets this.
  bool replace_input = false;
  // Permission bits of the written file (set on the temporary, before the
  // rename, so the file never exists with others). A metadata save over a
  // file keeps that file's.
  std::uint32_t file_mode = 0644;
  // Called after each chunk written; return value of `cancelled` stops the write.
  std::function<void(const Progress&)> on_progress;
  std::function<bool()> cancelled;
};

}  // namespace ckpt::io
