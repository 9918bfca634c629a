// ckpt stats: count, NaN/Inf/zeros, min/max/mean/std and a histogram per tensor.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/cli_commands.h"
#include "app/cli_exit.h"
#include "app/commands.h"
#include "io/error.h"
#include "io/open.h"
#include "model/tensor_stats.h"

namespace ckpt::app {

// Shared with cmd_show.cpp: the tensor called `name`, or an Error listing
// the names a typo most likely meant.
const io::TensorInfo& find_tensor(const io::Checkpoint& ck, const std::string& name);

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

const io::TensorInfo& find_tensor(const io::Checkpoint& ck, const std::string& name) {
  for (const auto& t : ck.tensors)
    if (t.name == name) return t;
  std::vector<std::pair<std::size_t, std::string>> near;
  for (const auto& t : ck.tensors) {
    const bool contains = !name.empty() && (t.name.find(name) != std::string::npos);
    const std::size_t d = contains ? 0 : edit_distance(name, t.name);
    if (contains || d <= std::max<std::size_t>(2, name.size() / 4)) near.emplace_back(d, t.name);
  }
  std::sort(near.begin(), near.end());
  std::string msg = "no tensor named '" + name + "'";
  if (near.empty()) {
    msg += " (the file has " + std::to_string(ck.tensors.size()) + " tensors; `ckpt info` lists them)";
  } else {
    msg += "; did you mean ";
    for (std::size_t k = 0; k < std::min<std::size_t>(near.size(), 5); ++k) msg += (k ? ", " : "") + near[k].second;
    msg += "?";
  }
  throw io::Error(ck.path, io::kNoOffset, msg);
}

namespace {

struct StatsArgs {
  std::string path;
  std::vector<std::string> names;
  std::string root;
  int bins = 64;
  bool bins_given = false;
  unsigned threads = 0;
  bool json = false;
};

std::string shape_text(const io::Shape& s) {
  std::string out = "[";
  for (std::size_t k = 0; k < s.size(); ++k) out += (k ? ", " : "") + std::to_string(s[k]);
  return out + "]";
}

// A histogram in one line of block characters, tallest bin full height.
std::string sparkline(const std::vector<std::uint64_t>& h) {
  static const char* bars[] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  const std::uint64_t top = h.empty() ? 0 : *std::max_element(h.begin(), h.end());
  std::string out;
  for (auto v : h) {
    const auto level = top ? static_cast<std::size_t>((v * 8 + top - 1) / top) : 0;
    out += bars[std::min<std::size_t>(level, 8)];
  }
  return out;
}

nlohmann::ordered_json to_json(const io::TensorInfo& t, const model::TensorStats& s) {
  nlohmann::ordered_json o;
  o["name"] = t.name;
  o["dtype"] = io::name(t.dtype);
  o["shape"] = t.shape;
  o["count"] = s.count;
  o["nan"] = s.nan;
  o["inf"] = s.inf;
  o["zeros"] = s.zeros;
  o["min"] = s.min;
  o["max"] = s.max;
  o["mean"] = s.mean;
  o["std"] = s.std;
  o["histogram"] = s.histogram;
  return o;
}

int run_stats(const StatsArgs& a) {
  const auto& ck = keep_until_exit(io::open_for_tensors(a.path, a.names, {a.root}));
  std::vector<const io::TensorInfo*> chosen;
  for (const auto& n : a.names) chosen.push_back(&find_tensor(ck, n));
  const bool all = a.names.empty();
  if (all)
    for (const auto& t : ck.tensors) chosen.push_back(&t);

  model::StatsOptions opt;
  opt.bins = a.bins;
  opt.threads = a.threads;
  auto out = nlohmann::ordered_json::array();
  std::size_t wn = 4;
  for (const auto* t : chosen) wn = std::max(wn, t->name.size());
  wn = std::min<std::size_t>(wn, 60);
  for (const auto* t : chosen) {
    model::TensorStats s;
    try {
      s = model::compute_stats(*t, opt);
    } catch (const io::Error& e) {
      // Asked for by name: a real error. Listing everything: note it and go on,
      // so one undecodable GGUF type does not hide the rest.
      if (!all) throw;
      if (a.json) out.push_back({{"name", t->name}, {"dtype", io::name(t->dtype)}, {"shape", t->shape}, {"error", e.sentence()}});
      else fmt::print("{:<{}}  {:<8} {}  ({})\n", t->name, wn, io::name(t->dtype), shape_text(t->shape), e.sentence());
      continue;
    }
    if (a.json) {
      out.push_back(to_json(*t, s));
      continue;
    }
    const double zeros_pct = s.count ? 100.0 * static_cast<double>(s.zeros) / static_cast<double>(s.count) : 0.0;
    fmt::print("{:<{}}  {:<8} {:<16} min {:<11.5g} max {:<11.5g} mean {:<11.4g} std {:<11.4g} nan {} inf {} zeros {:.2f}%\n",
               t->name, wn, io::name(t->dtype), shape_text(t->shape), s.min, s.max, s.mean, s.std, s.nan, s.inf,
               zeros_pct);
    if (a.bins_given) fmt::print("{:<{}}  |{}|\n", "", wn, sparkline(s.histogram));
  }
  if (a.json) fmt::print("{}\n", out.dump(1, ' ', false, nlohmann::json::error_handler_t::replace));
  return 0;
}

}  // namespace

void add_stats(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<StatsArgs>();
  auto* cmd = app.add_subcommand("stats", "Statistics of tensor values: NaN/Inf/zeros, min, max, mean, std, histogram");
  cmd->add_option("file", a->path, "Checkpoint file")->required();
  cmd->add_option("names", a->names, "Tensor names (all tensors when none)");
  auto* bins = cmd->add_option("--bins", a->bins, "Histogram bins between min and max (text: shown as a bar line)")
                   ->default_val(64)
                   ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--threads", a->threads, "Worker threads (0: every core)")->default_val(0);
  cmd->add_option("--root", a->root, "Only what lies under this dotted path, with the path stripped");
  cmd->add_flag("--json", a->json, "Print a JSON array, one object per tensor");
  cmd->callback([a, bins, &ctx] {
    a->bins_given = bins->count() > 0;
    ctx.exit_code = run_stats(*a);
  });
}

}  // namespace ckpt::app
