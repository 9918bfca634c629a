// ckpt diff: a checkpoint against a module spec or a second checkpoint,
// answering "would model.load_weights(strict=True) succeed?".
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "io/error.h"
#include "io/open.h"
#include "model/module_spec.h"
#include "model/name_map.h"
#include "model/spec_diff.h"

namespace ckpt::app {
namespace {

using model::Category;

struct DiffArgs {
  std::string a, b, spec, map, root;
  bool values = false;
  bool json = false;
  double tolerance = 0;
  std::string only;  // a string, not a vector: a vector option would swallow a following B
};

// Problems first, in the order a user fixes them; matches last.
constexpr Category kOrder[] = {Category::Missing, Category::Unexpected, Category::ShapeMismatch,
                               Category::LayoutMismatch, Category::DtypeDiffers, Category::Match};

const char* heading(Category c) {
  switch (c) {
    case Category::Match: return "match";
    case Category::Missing: return "missing (in the spec, not in the checkpoint)";
    case Category::Unexpected: return "unexpected (in the checkpoint, not in the spec)";
    case Category::ShapeMismatch: return "shape mismatch";
    case Category::LayoutMismatch: return "layout mismatch (a permutation of axes fits)";
    case Category::DtypeDiffers: return "dtype differs (loads; values are cast)";
  }
  return "?";
}

const char* colour(Category c) {
  switch (c) {
    case Category::Match: return "\033[32m";
    case Category::Missing: return "\033[31m";
    case Category::Unexpected: return "\033[33m";
    case Category::ShapeMismatch: return "\033[31m";
    case Category::LayoutMismatch: return "\033[35m";
    case Category::DtypeDiffers: return "\033[36m";
  }
  return "";
}

std::string shape_text(const io::Shape& s) {
  std::string out = "[";
  for (std::size_t k = 0; k < s.size(); ++k) out += (k ? ", " : "") + std::to_string(s[k]);
  return out + "]";
}

std::string perm_text(const std::vector<int>& p) {
  std::string out = "(";
  for (std::size_t k = 0; k < p.size(); ++k) out += (k ? ", " : "") + std::to_string(p[k]);
  return out + ")";
}

std::string side_text(const std::optional<io::Shape>& s, const std::optional<io::DType>& d) {
  if (!s) return "-";
  std::string out = shape_text(*s);
  if (d) out += " " + std::string(io::name(*d));
  return out;
}

bool within(const model::Agreement& g, double tolerance) { return g.identical || g.max_abs_diff <= tolerance; }

std::optional<Category> parse_category(const std::string& s) {
  for (auto c : kOrder)
    if (s == model::category_name(c)) return c;
  if (s == "matched") return Category::Match;
  return std::nullopt;
}

nlohmann::ordered_json row_json(const model::DiffRow& r) {
  nlohmann::ordered_json j;
  j["name"] = r.name;
  j["category"] = model::category_name(r.category);
  j["have_shape"] = r.have_shape ? nlohmann::ordered_json(*r.have_shape) : nlohmann::ordered_json();
  j["want_shape"] = r.want_shape ? nlohmann::ordered_json(*r.want_shape) : nlohmann::ordered_json();
  j["have_dtype"] = r.have_dtype ? nlohmann::ordered_json(std::string(io::name(*r.have_dtype))) : nlohmann::ordered_json();
  j["want_dtype"] = r.want_dtype ? nlohmann::ordered_json(std::string(io::name(*r.want_dtype))) : nlohmann::ordered_json();
  if (!r.permutation.empty()) j["permutation"] = r.permutation;
  if (r.agreement) {
    // JSON has no infinity; nlohmann writes null for it (documented).
    j["agreement"] = {{"max_abs_diff", r.agreement->max_abs_diff},
                      {"max_rel_error", r.agreement->max_rel_error},
                      {"cosine", r.agreement->cosine},
                      {"identical", r.agreement->identical}};
  }
  return j;
}

int run_diff(const DiffArgs& a) {
  if (a.b.empty() == a.spec.empty())
    throw std::invalid_argument("give either a second checkpoint B or --spec SPEC (not both)");
  if (a.values && !a.spec.empty())
    throw std::invalid_argument("--values compares the data of two checkpoints; pass the second one as B instead of --spec");
  std::vector<Category> only;
  for (std::size_t start = 0; start <= a.only.size() && !a.only.empty();) {
    // Repeated --only values arrive joined by newlines.
    const std::size_t end = std::min(a.only.find_first_of(",\n", start), a.only.size());
    const std::string s = a.only.substr(start, end - start);
    start = end + 1;
    if (s.empty()) continue;
    const auto c = parse_category(s);
    if (!c) throw std::invalid_argument("unknown category '" + s + "' for --only; use match, missing, unexpected, shape, layout or dtype");
    only.push_back(*c);
  }

  const auto ck = io::open_checkpoint(a.a, {a.root});
  std::vector<io::TensorInfo> have = ck.tensors;
  if (!a.map.empty()) {
    model::MapReport report;
    have = model::apply_map(model::load_map(a.map), ck.tensors, &report);
  }

  model::SpecDiff d;
  std::string want_label;
  if (!a.spec.empty()) {
    const auto spec = model::load_spec(a.spec);
    want_label = fmt::format("{} ({} parameters)", a.spec, spec.params.size());
    d = model::diff(have, spec);
  } else {
    const auto other = io::open_checkpoint(a.b);
    want_label = fmt::format("{} ({}, {} tensors)", a.b, io::format_name(other.format), other.tensors.size());
    d = model::diff_checkpoints(have, other.tensors, a.values);
  }

  std::size_t compared = 0, identical = 0, off = 0;
  double worst = 0;
  for (const auto& r : d.rows) {
    if (!r.agreement) continue;
    ++compared;
    identical += r.agreement->identical;
    if (!within(*r.agreement, a.tolerance)) ++off;
    worst = std::max(worst, r.agreement->max_abs_diff);
  }
  const bool ok = d.strict_load_ok() && off == 0;
  auto shown = [&](Category c) { return only.empty() || std::find(only.begin(), only.end(), c) != only.end(); };

  if (a.json) {
    nlohmann::ordered_json j;
    j["verdict"] = d.verdict();
    j["strict_load_ok"] = d.strict_load_ok();
    auto& counts = j["counts"] = nlohmann::ordered_json::object();
    for (auto c : {Category::Match, Category::Missing, Category::Unexpected, Category::ShapeMismatch,
                   Category::LayoutMismatch, Category::DtypeDiffers})
      counts[model::category_name(c)] = d.count(c);
    if (a.values) {
      j["values"] = {{"compared", compared}, {"identical", identical}, {"beyond_tolerance", off},
                     {"tolerance", a.tolerance}, {"max_abs_diff", worst}};
    }
    auto& rows = j["rows"] = nlohmann::ordered_json::array();
    for (const auto& r : d.rows)
      if (shown(r.category)) rows.push_back(row_json(r));
    fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    return ok ? 0 : 1;
  }

  const bool tty = ::isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;
  const char* reset = tty ? "\033[0m" : "";
  const char* bold = tty ? "\033[1m" : "";
  fmt::print("{}{}{}\n", bold, d.verdict(), reset);
  if (a.values) {
    fmt::print("values: {} compared, {} identical, {} beyond tolerance {:g} (max |a-b| {:.3g})\n", compared, identical, off,
               a.tolerance, worst);
  }
  fmt::print("have: {} ({}, {} tensors{})\n", a.a, io::format_name(ck.format), ck.tensors.size(),
             a.map.empty() ? "" : ", mapped by " + a.map);
  fmt::print("want: {}\n", want_label);

  std::size_t width = 0;
  for (const auto& r : d.rows) width = std::max(width, r.name.size());
  width = std::min<std::size_t>(width, 60);
  for (auto c : kOrder) {
    const std::size_t n = d.count(c);
    if (n == 0 || !shown(c)) continue;
    // Matches are the bulk and rarely interesting; listed when asked for or when values were compared.
    const bool list = c != Category::Match || !only.empty() || a.values;
    fmt::print("\n{}{} ({}){}\n", tty ? colour(c) : "", heading(c), n, reset);
    if (!list) {
      fmt::print("  (list them with --only match)\n");
      continue;
    }
    for (const auto& r : d.rows) {
      if (r.category != c) continue;
      std::string line = fmt::format("  {:<{}}", r.name, width);
      switch (c) {
        case Category::Missing: line += "  want " + side_text(r.want_shape, r.want_dtype); break;
        case Category::Unexpected: line += "  have " + side_text(r.have_shape, r.have_dtype); break;
        case Category::LayoutMismatch:
          line += "  have " + side_text(r.have_shape, r.have_dtype) + "  want " + side_text(r.want_shape, r.want_dtype) +
                  "  permute " + perm_text(r.permutation);
          break;
        case Category::ShapeMismatch:
        case Category::DtypeDiffers:
          line += "  have " + side_text(r.have_shape, r.have_dtype) + "  want " + side_text(r.want_shape, r.want_dtype);
          break;
        case Category::Match: line += "  " + side_text(r.have_shape, r.have_dtype); break;
      }
      if (r.agreement) {
        const auto& g = *r.agreement;
        line += g.identical ? "  identical"
                            : fmt::format("  max|a-b| {:.3g}  rel {:.3g}  cos {:.6f}{}", g.max_abs_diff, g.max_rel_error,
                                          g.cosine, within(g, a.tolerance) ? "" : "  DIFFERS");
      }
      fmt::print("{}\n", line);
    }
  }
  return ok ? 0 : 1;
}

}  // namespace

void add_diff(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<DiffArgs>();
  auto* cmd = app.add_subcommand(
      "diff", "Check a checkpoint against a module spec or a second checkpoint: would load_weights(strict=True) succeed?");
  cmd->add_option("a", a->a, "Checkpoint to check")->required();
  cmd->add_option("b", a->b, "Second checkpoint (plays the spec's part: its names, shapes and dtypes are wanted)");
  cmd->add_option("--spec", a->spec, "Module spec: JSON (see docs/spec_format.md) or any checkpoint");
  cmd->add_option("--map", a->map, "Rename A's tensors first: a name-map JSON file or a preset (pytorch-to-mlx)");
  cmd->add_option("--root", a->root, "Only what lies under this dotted path of A, with the path stripped (e.g. model)");
  cmd->add_flag("--values", a->values, "Also compare values of tensors present in both checkpoints with equal shapes");
  cmd->add_option("--tolerance", a->tolerance, "With --values: largest |a-b| still counted as agreeing (default 0: identical)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", a->json, "Print one JSON object: verdict, strict_load_ok, counts, rows");
  cmd->add_option("--only", a->only, "Show only these categories (comma-separated or repeated): match, missing, unexpected, shape, layout, dtype")
      ->multi_option_policy(CLI::MultiOptionPolicy::Join);
  cmd->callback([a, &ctx] { ctx.exit_code = run_diff(*a); });
}

}  // namespace ckpt::app
