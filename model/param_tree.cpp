#include "model/param_tree.h"

#include <algorithm>
#include <charconv>
#include <unordered_map>

namespace ckpt::model {
namespace {

bool is_number(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Numeric segments first, in numeric order (layers.2 before layers.10), then names.
bool segment_less(std::string_view a, std::string_view b) {
  const bool na = is_number(a), nb = is_number(b);
  if (na != nb) return na;
  if (na) {
    const auto ta = a.find_first_not_of('0'), tb = b.find_first_not_of('0');
    const auto da = ta == std::string_view::npos ? std::string_view() : a.substr(ta);
    const auto db = tb == std::string_view::npos ? std::string_view() : b.substr(tb);
    if (da.size() != db.size()) return da.size() < db.size();
    if (da != db) return da < db;
    return a.size() < b.size();
  }
  return a < b;
}

}  // namespace

ParamTree ParamTree::build(std::span<const io::TensorInfo> tensors) {
  ParamTree tree;
  // Typical checkpoints have about one group node per eight tensors
  // (layers.N.attn.*): reserving that avoids the doubling reallocation that
  // briefly held two copies of a 100,000-tensor tree.
  const std::size_t expected = tensors.size() + tensors.size() / 8 + 16;
  tree.nodes_.reserve(expected);
  tree.nodes_.emplace_back();
  // Children of each node by segment, while building; sorted once at the end.
  std::vector<std::unordered_map<std::string_view, std::size_t>> index(1);
  index.reserve(expected);
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    const std::string& name = tensors[t].name;
    std::size_t node = 0;
    std::size_t start = 0;
    while (true) {
      const std::size_t dot = name.find('.', start);
      const std::string_view seg = std::string_view(name).substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      auto it = index[node].find(seg);
      std::size_t child;
      if (it == index[node].end()) {
        child = tree.nodes_.size();
        TreeNode n;
        n.segment = std::string(seg);
        n.path = name.substr(0, dot == std::string::npos ? name.size() : dot);
        n.parent = node;
        tree.nodes_.push_back(std::move(n));
        index.emplace_back();
        // Keys view the tensor names (which outlive the build), never the
        // nodes' own strings, which move as nodes_ grows.
        index[node].emplace(std::string_view(name).substr(start, seg.size()), child);
        tree.nodes_[node].children.push_back(child);
      } else {
        child = it->second;
      }
      node = child;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    tree.nodes_[node].tensor = t;
  }
  // Sums, bottom-up: children always have larger indexes than their parents.
  for (std::size_t k = tree.nodes_.size(); k-- > 0;) {
    TreeNode& n = tree.nodes_[k];
    if (n.tensor) {
      const auto& t = tensors[*n.tensor];
      n.tensor_count += 1;
      n.parameters += static_cast<std::uint64_t>(t.numel());
      n.bytes += t.nbytes;
      if (std::find(n.dtypes.begin(), n.dtypes.end(), t.dtype) == n.dtypes.end()) n.dtypes.push_back(t.dtype);
    }
    if (n.parent) {
      TreeNode& p = tree.nodes_[*n.parent];
      p.tensor_count += n.tensor_count;
      p.parameters += n.parameters;
      p.bytes += n.bytes;
      for (auto d : n.dtypes)
        if (std::find(p.dtypes.begin(), p.dtypes.end(), d) == p.dtypes.end()) p.dtypes.push_back(d);
    }
  }
  for (auto& n : tree.nodes_) {
    std::sort(n.children.begin(), n.children.end(), [&](std::size_t a, std::size_t b) {
      return segment_less(tree.nodes_[a].segment, tree.nodes_[b].segment);
    });
    n.is_list = !n.children.empty() && std::all_of(n.children.begin(), n.children.end(),
                                                   [&](std::size_t c) { return is_number(tree.nodes_[c].segment); });
  }
  return tree;
}

std::optional<std::size_t> ParamTree::find(std::string_view path) const {
  std::size_t node = 0;
  if (path.empty()) return node;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = path.find('.', start);
    const std::string_view seg = path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    const auto& kids = nodes_[node].children;
    auto it = std::find_if(kids.begin(), kids.end(), [&](std::size_t c) { return nodes_[c].segment == seg; });
    if (it == kids.end()) return std::nullopt;
    node = *it;
    if (dot == std::string_view::npos) return node;
    start = dot + 1;
  }
}

}  // namespace ckpt::model
