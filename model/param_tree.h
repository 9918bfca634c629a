#pragma once
// Tensor names as a tree, by MLX tree_flatten conventions: '.' separates
// levels, numeric segments are list indices and sort numerically (layers.2
// before layers.10). Every node sums its subtree.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/tensor.h"

namespace ckpt::model {

struct TreeNode {
  std::string segment;                  // "layers", "3", "weight"; empty for the root
  std::string path;                     // "model.layers.3"; empty for the root
  std::optional<std::size_t> parent;    // index into ParamTree nodes
  std::vector<std::size_t> children;    // ordered: numeric segments numerically, then by name
  std::optional<std::size_t> tensor;    // index into the tensor list when a tensor has this exact name
  std::uint64_t tensor_count = 0;       // tensors in the subtree
  std::uint64_t parameters = 0;         // elements in the subtree
  std::uint64_t bytes = 0;
  std::vector<io::DType> dtypes;        // distinct dtypes in the subtree, in first-seen order
  bool is_list = false;                 // every child segment is a number
};

class ParamTree {
 public:
  [[nodiscard]] static ParamTree build(std::span<const io::TensorInfo> tensors);
  [[nodiscard]] const TreeNode& root() const { return nodes_.front(); }
  [[nodiscard]] const TreeNode& node(std::size_t index) const { return nodes_[index]; }
  [[nodiscard]] std::size_t size() const { return nodes_.size(); }
  [[nodiscard]] std::optional<std::size_t> find(std::string_view path) const;

 private:
  std::vector<TreeNode> nodes_;
};

}  // namespace ckpt::model
