#pragma once
// Converting a checkpoint to another format: optional dtype cast of floating
// tensors (dequantizing block types), a check that the target can hold every
// tensor, and a streamed write.
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/write_options.h"

namespace ckpt::io {

// Whether `format` can store tensors of `dtype` as they are.
[[nodiscard]] bool format_can_store(Format format, DType dtype);

// Dtypes --dtype accepts as a cast target.
[[nodiscard]] bool is_cast_target(DType t);

// A tensor whose data are `t`'s values converted to `to` while streaming
// (floats round to nearest-even; block types are dequantized). `t` must be a
// floating or block-quantized tensor with readable data. The conversion of
// each buffer is split across `threads` threads of the shared pool (0: all of
// them); the bytes are the same whatever the count.
[[nodiscard]] TensorInfo cast_tensor(const TensorInfo& t, DType to, unsigned threads = 0);

// The tensors to write: `cast` applied to every floating and quantized
// tensor, then each checked against the target. Throws Error naming the first
// tensor the target cannot store, with a hint.
[[nodiscard]] std::vector<TensorInfo> prepare_tensors(const Checkpoint& src, Format target,
                                                      std::optional<DType> cast);
// The same tensors and checks without copies where nothing is cast: a view
// of src.tensors then, else of `copies`, which prepare_tensors fills.
[[nodiscard]] std::span<const TensorInfo> tensors_to_write(const Checkpoint& src, Format target,
                                                           std::optional<DType> cast, std::vector<TensorInfo>& copies);

// Metadata carried to the target: GGUF typed values stay typed for GGUF and
// become strings elsewhere; .npy/.npz carry none.
[[nodiscard]] Metadata prepare_metadata(const Checkpoint& src, Format target);

struct ConvertResult {
  std::size_t tensors = 0;
  std::uint64_t bytes = 0;
  std::vector<std::string> notes;  // what the user should know (bf16 in .npy, dropped metadata, …)
};

ConvertResult convert(const Checkpoint& src, const std::string& out_path, Format target,
                      std::optional<DType> cast, const WriteOptions& opt);

// Reads `written` back and compares every tensor's bytes with `expected`
// (prepared tensors); returns a list of differences (empty when identical).
[[nodiscard]] std::vector<std::string> verify_written(std::span<const TensorInfo> expected, const Checkpoint& written);

}  // namespace ckpt::io
