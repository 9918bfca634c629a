#pragma once
// Data transforms a name map applies while streaming: axis permutations
// (cache-blocked batched transposes for the common cases), casts and
// dequantization (io::cast_tensor).
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/tensor.h"
#include "model/name_map.h"

namespace ckpt::model {

// Whether `perm` holds each of 0..rank-1 exactly once.
[[nodiscard]] bool is_permutation(std::span<const int> perm);
[[nodiscard]] std::vector<int> inverse_permutation(std::span<const int> perm);
// The permutation a Transpose transform stands for: all axes reversed (NumPy `.T`),
// which for rank 2 is the usual swap of rows and columns.
[[nodiscard]] std::vector<int> transpose_permutation(std::size_t rank);
// "(0, 2, 3, 1)"
[[nodiscard]] std::string perm_text(std::span<const int> perm);
[[nodiscard]] io::Shape permute_shape(const io::Shape& shape, std::span<const int> perm);

// A tensor whose data is `t` with its axes permuted: output axis k is input axis
// perm[k]. Streams the output in ~1 MiB chunks in output order, reading the
// source through contiguous() (zero-copy from a mapping) or, when the source
// cannot be addressed directly (deflated, byte-swapped, strided), from one
// tensor-sized copy made when streaming starts. Throws io::Error for
// block-quantized dtypes and permutations that do not fit the rank.
[[nodiscard]] io::TensorInfo permute_tensor(const io::TensorInfo& t, std::span<const int> perm);

// The shape and dtype after `tr`, or an error sentence (for reports).
struct TransformResult {
  io::Shape shape;
  io::DType dtype = io::DType::F32;
  std::string error;
};
[[nodiscard]] TransformResult plan_transform(const Transform& tr, const std::string& name, const io::Shape& shape,
                                             io::DType dtype);
// Applies `tr` lazily; throws io::Error when it cannot be applied.
[[nodiscard]] io::TensorInfo apply_transform(const Transform& tr, const io::TensorInfo& t);
// "permute (0, 2, 3, 1)", "cast float16", …
[[nodiscard]] std::string describe(const Transform& tr);

}  // namespace ckpt::model
