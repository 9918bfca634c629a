#pragma once
// PyTorch checkpoints (torch.save): the zip format (default since 1.6) and
// the legacy format, read without running any pickle code; Hugging Face
// pytorch_model.bin.index.json shards open as one checkpoint. Writes the zip
// format as current torch does.
#include <memory>
#include <span>
#include <string>

#include "io/checkpoint.h"
#include "io/write_options.h"

namespace ckpt::io::pytorch {

// One file (zip or legacy). Tensors are named by their path through nested
// containers joined with '.' (model.layers.0.weight, optimizer.state.0.exp_avg);
// non-tensor leaves (ints, floats, strings, bools, None, lists of them) become
// metadata under their paths.
[[nodiscard]] Checkpoint describe(std::shared_ptr<const ByteSource> src);
// describe() without the fast reading of plain state_dicts
// (torch_state_dict.h): every pickle through the general interpreter. For
// tests and benchmarks, which check that the two agree.
[[nodiscard]] Checkpoint describe_general(std::shared_ptr<const ByteSource> src);
// A .pt/.pth/.bin/.ckpt file, or a *.bin.index.json opening every shard it lists.
[[nodiscard]] Checkpoint open(const std::string& path);
// A zip-format state_dict (collections.OrderedDict of name → tensor) that
// torch.load(weights_only=True) accepts; metadata is not written.
void write(const std::string& path, std::span<const TensorInfo> tensors, const Metadata& meta, const WriteOptions& opt);

}  // namespace ckpt::io::pytorch
