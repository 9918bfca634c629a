#pragma once
// Synthetic checkpoints for the sample file and the benchmarks: tensor data
// generated on the fly while streaming, so files of any size are written
// with constant memory.
#include <cstdint>
#include <string>
#include <vector>

#include "io/tensor.h"

namespace ckpt::tools {

// A float tensor whose values are a deterministic function of (seed, index);
// float dtypes get finite values in ±[0.5, 1) × scale, integers small values.
[[nodiscard]] io::TensorInfo synthetic_tensor(std::string name, io::DType dtype, io::Shape shape, std::uint64_t seed,
                                              float scale = 0.05f);

// `count` tensors named layers.K.weight splitting `total_bytes` of `dtype` evenly (rows of 1024 elements or less).
// With `conv`, the tensors are Conv2d weights [out, in, 3, 3] (PyTorch layout).
[[nodiscard]] std::vector<io::TensorInfo> synthetic_checkpoint(std::size_t count, std::uint64_t total_bytes, io::DType dtype,
                                                               bool conv = false);

// The k-th name of a Llama-style decoder, nine tensors per layer
// ("model.layers.3.self_attn.q_proj.weight"), so a synthetic file has the
// nesting a real one has (for the desktop app's tree benchmarks).
[[nodiscard]] std::string transformer_name(std::size_t k);

}  // namespace ckpt::tools
