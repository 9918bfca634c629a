// ckpt tree: the names of a checkpoint as a tree with per-subtree sums.
#include <fmt/format.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "app/cli_commands.h"
#include "app/cli_exit.h"
#include "app/commands.h"
#include "io/open.h"
#include "model/param_tree.h"

namespace ckpt::app {
namespace {

struct TreeArgs {
  std::string path;
  std::string root;
  int depth = 0;
  bool json = false;
  bool no_fold = false;
};

std::string shape_text(const io::Shape& s) {
  std::string out = "[";
  for (std::size_t k = 0; k < s.size(); ++k) out += (k ? ", " : "") + std::to_string(s[k]);
  return out + "]";
}

std::string dtype_mix(const model::TreeNode& n) {
  if (n.dtypes.empty()) return "-";
  return n.dtypes.size() == 1 ? std::string(io::name(n.dtypes[0])) : "mixed";
}

class Printer {
 public:
  Printer(const model::ParamTree& tree, const io::Checkpoint& ck, const TreeArgs& a) : tree_(tree), ck_(ck), a_(a) {}

  void text() {
    const auto& r = tree_.root();
    fmt::print("{}  ({})\n", ck_.path, summary(r));
    for (auto c : r.children) text_node(c, 1, "");
  }

  nlohmann::ordered_json json(std::size_t index, int level) {
    const auto& n = tree_.node(index);
    nlohmann::ordered_json o;
    o["name"] = n.segment;
    o["path"] = n.path;
    o["tensors"] = n.tensor_count;
    o["parameters"] = n.parameters;
    o["nbytes"] = n.bytes;
    auto dts = nlohmann::ordered_json::array();
    for (auto d : n.dtypes) dts.push_back(io::name(d));
    o["dtypes"] = dts;
    if (n.tensor) {
      const auto& t = ck_.tensors[*n.tensor];
      o["shape"] = t.shape;
      o["dtype"] = io::name(t.dtype);
    }
    if (!n.children.empty()) {
      o["is_list"] = n.is_list;
      if (a_.depth <= 0 || level < a_.depth) {
        auto kids = nlohmann::ordered_json::array();
        for (auto c : n.children) kids.push_back(json(c, level + 1));
        o["children"] = std::move(kids);
      }
    }
    return o;
  }

 private:
  static std::string summary(const model::TreeNode& n) {
    return fmt::format("{} tensor{} · {} params · {} · {}", n.tensor_count, n.tensor_count == 1 ? "" : "s",
                       human_count(n.parameters), human_bytes(n.bytes), dtype_mix(n));
  }

  // Two subtrees have the same structure when their relative names, shapes
  // and dtypes agree; kept per node so folding costs one walk.
  const std::string& signature(std::size_t index) {
    auto it = sig_.find(index);
    if (it != sig_.end()) return it->second;
    const auto& n = tree_.node(index);
    std::string s;
    if (n.tensor) {
      const auto& t = ck_.tensors[*n.tensor];
      s += shape_text(t.shape) + std::string(io::name(t.dtype));
    }
    for (auto c : n.children) s += "(" + tree_.node(c).segment + ":" + signature(c) + ")";
    return sig_.emplace(index, std::move(s)).first->second;
  }

  bool foldable(const model::TreeNode& n) {
    if (a_.no_fold || !n.is_list || n.children.size() < 2 || n.tensor) return false;
    const auto& first = signature(n.children.front());
    for (auto c : n.children)
      if (signature(c) != first) return false;
    return true;
  }

  void text_node(std::size_t index, int level, const std::string& prefix) {
    const auto& n = tree_.node(index);
    const std::string indent(static_cast<std::size_t>(level - 1) * 2, ' ');
    const std::string label = prefix + n.segment;
    if (n.tensor && n.children.empty()) {
      const auto& t = ck_.tensors[*n.tensor];
      fmt::print("{}{}  {} {}  {}\n", indent, label, shape_text(t.shape), io::name(t.dtype), human_bytes(t.nbytes));
      return;
    }
    if (n.tensor) {
      const auto& t = ck_.tensors[*n.tensor];
      fmt::print("{}{}  {} {}  {}\n", indent, label, shape_text(t.shape), io::name(t.dtype), human_bytes(t.nbytes));
    }
    const bool deeper = a_.depth <= 0 || level < a_.depth;
    if (foldable(n)) {
      // layers.0…31 (32 ×): the sums are the whole list's; the children shown are one item's.
      const auto& first = tree_.node(n.children.front());
      const auto& last = tree_.node(n.children.back());
      fmt::print("{}{}.{}…{} ({} ×)  ({})\n", indent, label, first.segment, last.segment, n.children.size(),
                 summary(n));
      if (deeper)
        for (auto c : first.children) text_node(c, level + 1, "");
      return;
    }
    fmt::print("{}{}  ({})\n", indent, label, summary(n));
    if (deeper)
      for (auto c : n.children) text_node(c, level + 1, "");
  }

  const model::ParamTree& tree_;
  const io::Checkpoint& ck_;
  const TreeArgs& a_;
  std::map<std::size_t, std::string> sig_;
};

int run_tree(const TreeArgs& a) {
  const auto& ck = keep_until_exit(io::open_checkpoint(a.path, {a.root}));
  const auto tree = model::ParamTree::build(ck.tensors);
  Printer p(tree, ck, a);
  if (a.json) {
    auto j = p.json(0, 0);
    j["path"] = ck.path;  // the file, for the root object
    fmt::print("{}\n", j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    p.text();
  }
  return 0;
}

}  // namespace

void add_tree(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<TreeArgs>();
  auto* cmd = app.add_subcommand("tree", "Show tensor names as a tree with tensor counts, parameters, bytes and dtypes per subtree");
  cmd->add_option("file", a->path, "Checkpoint file")->required();
  cmd->add_option("--depth", a->depth, "Levels shown below the root (0: all)")->default_val(0)->check(CLI::NonNegativeNumber);
  cmd->add_option("--root", a->root, "Only what lies under this dotted path, with the path stripped");
  cmd->add_flag("--json", a->json, "Print the tree as nested JSON objects");
  cmd->add_flag("--no-fold", a->no_fold, "Print every item of lists whose items all have the same structure");
  cmd->callback([a, &ctx] { ctx.exit_code = run_tree(*a); });
}

}  // namespace ckpt::app
