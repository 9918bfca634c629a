#pragma once
// GGUF (llama.cpp / ggml), v1–v3, little- and big-endian; split models
// (NAME-00001-of-0000N.gguf) open as one checkpoint.
//
// Reading: tensors in file (info) order with shape = ne reversed, ggml_ne and
// ggml_type kept; a 0-dim info (n_dims 0) is a scalar, shape []. Up to 8 dims
// are accepted (ggml itself writes at most 4). A ggml type id this build does
// not know is listed as GgmlUnknown with no data and nbytes running up to the
// next tensor (or the end of the file). Big-endian files: plain tensor types
// are swapped on access; block types are handed out as stored.
// Writing: a 0-d tensor is written with n_dims 0 (as gguf-py does), so it
// reads back as shape []. general.alignment is overridden in place when the
// metadata has it, and appended only when opt.gguf_alignment is not the
// default 32, so GGUF → GGUF copies keep their metadata exactly.
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
