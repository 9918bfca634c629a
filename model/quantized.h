#pragma once
// MLX affine quantization: a `weight` of packed uint32 codes with sibling
// `scales` and `biases` (one per group of `group_size` inputs); value =
// scale · code + bias. Codes are a little-endian bit stream per row: code i
// of a row sits at bit i·bits (for 3 and 6 bits too, where MLX packs 8 or 4
// codes into 3 bytes). GGUF Q4_0/Q4_1/Q8_0 map onto this losslessly, as MLX's
// own GGUF loader does it.
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/tensor.h"

namespace ckpt::model {

struct QuantParams {
  int bits = 4;
  int group_size = 64;
  bool operator==(const QuantParams&) const = default;
};

struct QuantizedTriple {
  std::string prefix;                 // "layers.0.q_proj"
  std::size_t weight = 0, scales = 0, biases = 0;  // indices into the tensor list
  QuantParams params;                 // the preferred reading of the shapes
  std::vector<QuantParams> candidates;  // every (bits, group) the shapes allow; >1 means ambiguous
  std::int64_t in_features = 0;       // unpacked last dimension
};

// Every (bits ∈ {2,3,4,6,8}, group ∈ {32,64,128}) consistent with a packed
// weight of `packed_cols` uint32 and `groups` scales per row, preferred first:
// 4 bits, then 8, 2, 6, 3; group 64, then 32, 128 (MLX's defaults first).
[[nodiscard]] std::vector<QuantParams> quant_candidates(std::int64_t packed_cols, std::int64_t groups);

// `X.weight` (uint32) + `X.scales` + `X.biases` (same float dtype) with
// consistent shapes, in the order of the weights.
[[nodiscard]] std::vector<QuantizedTriple> find_quantized_triples(std::span<const io::TensorInfo> tensors);

// The dense tensor (float16 or float32), streamed row by row. The result is
// named like `weight`. Throws io::Error when the shapes do not fit `p`.
[[nodiscard]] io::TensorInfo dequantize_triple(const io::TensorInfo& weight, const io::TensorInfo& scales,
                                               const io::TensorInfo& biases, QuantParams p, io::DType to);

struct MlxQuantized {
  io::TensorInfo weight, scales, biases;
  QuantParams params;
};
// A GGUF Q4_0, Q4_1 or Q8_0 tensor as MLX loads it: weight uint32 [.., n·bits/32],
// scales and biases float16 [.., n/32]; names X.weight, X.scales, X.biases
// (X = the name without ".weight"). Streams from the blocks; throws io::Error
// for other types.
[[nodiscard]] MlxQuantized ggml_to_mlx_quantized(const io::TensorInfo& t);

}  // namespace ckpt::model
