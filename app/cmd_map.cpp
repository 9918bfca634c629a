// `ckpt map`: suggest, invert, presets, show — name maps from the command line.
#include <fmt/format.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "app/commands.h"
#include "io/error.h"
#include "io/open.h"
#include "model/module_spec.h"
#include "model/name_map.h"
#include "model/transforms.h"

namespace ckpt::app {

namespace {

struct MapArgs {
  std::string file, spec, map, output;
  bool json = false;
};

std::string shape_text(const io::Shape& s) {
  std::string out = "[";
  for (std::size_t k = 0; k < s.size(); ++k) out += (k ? ", " : "") + std::to_string(s[k]);
  return out + "]";
}

void write_text(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    fmt::print("{}", text);
    return;
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw io::Error(path, io::kNoOffset, "cannot write the name map here");
  f << text;
  if (!f) throw io::Error(path, io::kNoOffset, "writing the name map failed");
}

int run_suggest(const MapArgs& a) {
  const auto ck = io::open_checkpoint(a.file);
  const auto spec = model::load_spec(a.spec);
  const auto map = model::suggest_map(ck.tensors, spec);
  if (a.json || !a.output.empty()) {
    write_text(a.output, model::to_json(map));
    if (!a.output.empty()) fmt::print(stderr, "wrote {} ({} rules)\n", a.output, map.rules.size());
    return 0;
  }
  if (map.rules.empty()) fmt::print("no rules needed: the names already match the spec\n");
  for (std::size_t i = 0; i < map.rules.size(); ++i) {
    const auto& r = map.rules[i];
    std::string what = r.drop ? "drop" : "→ " + (r.replace.empty() ? std::string("(prefix removed)") : r.replace);
    for (const auto& t : r.transforms) what += "  " + model::describe(t);
    fmt::print("{:3}  {:<6} {}  {}{}\n", i, r.match == model::Rule::Match::Exact ? "exact" : r.match == model::Rule::Match::Prefix ? "prefix" : "regex",
               r.pattern, what, r.note.empty() ? "" : "   # " + r.note);
  }
  return 0;
}

int run_invert(const MapArgs& a) {
  const auto map = model::load_map(a.map);
  std::string why;
  const auto inv = model::invert(map, &why);
  if (!inv) throw io::Error(a.map, io::kNoOffset, "this map has no inverse: " + why);
  write_text(a.output, model::to_json(*inv));
  return 0;
}

int run_presets() {
  for (const auto& n : model::preset_names()) fmt::print("{}\n  {}\n", n, model::preset_description(n));
  return 0;
}

int run_show(const MapArgs& a) {
  const auto map = model::load_map(a.map);
  const auto ck = io::open_checkpoint(a.file);
  const auto rep = model::plan_map(map, ck.tensors);
  if (a.json) {
    nlohmann::json j;
    j["ok"] = rep.ok();
    j["entries"] = nlohmann::json::array();
    for (const auto& e : rep.entries) {
      nlohmann::json o{{"source", e.source}, {"rule", e.rule}, {"dropped", e.dropped}, {"source_shape", e.source_shape},
                       {"source_dtype", std::string(io::name(e.source_dtype))}};
      if (!e.dropped) {
        o["target"] = e.target;
        o["target_shape"] = e.target_shape;
        o["target_dtype"] = std::string(io::name(e.target_dtype));
      }
      o["transforms"] = nlohmann::json::array();
      for (const auto& t : e.transforms) o["transforms"].push_back(model::describe(t));
      j["entries"].push_back(o);
    }
    j["conflicts"] = nlohmann::json::array();
    for (const auto& [target, sources] : rep.conflicts) j["conflicts"].push_back({{"target", target}, {"sources", sources}});
    j["unused_rules"] = rep.unused_rules;
    j["errors"] = rep.errors;
    j["notes"] = rep.notes;
    fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    for (const auto& e : rep.entries) {
      std::string rule = e.rule >= 0 ? fmt::format("rule {}", e.rule) : "unmapped";
      if (e.dropped) {
        fmt::print("{}  dropped ({})\n", e.source, rule);
        continue;
      }
      std::string tr;
      for (const auto& t : e.transforms) tr += "  " + model::describe(t);
      const bool same = e.target == e.source && e.transforms.empty();
      if (same) fmt::print("{}  {} {}  ({})\n", e.source, shape_text(e.source_shape), io::name(e.source_dtype), rule);
      else
        fmt::print("{} → {}  {} {}{}  ({})\n", e.source, e.target, shape_text(e.target_shape), io::name(e.target_dtype), tr, rule);
    }
    for (const auto& [target, sources] : rep.conflicts) {
      std::string s;
      for (const auto& x : sources) s += (s.empty() ? "" : ", ") + x;
      fmt::print("conflict: '{}' ← {}\n", target, s);
    }
    for (int i : rep.unused_rules) fmt::print("unused: rule {} ({}) matched nothing\n", i, map.rules[static_cast<std::size_t>(i)].pattern);
    for (const auto& e : rep.errors) fmt::print("error: {}\n", e);
    for (const auto& n : rep.notes) fmt::print("note: {}\n", n);
    std::size_t dropped = 0;
    for (const auto& e : rep.entries) dropped += e.dropped ? 1 : 0;
    fmt::print("{} tensors: {} kept, {} dropped; {} conflicts, {} unused rules, {} errors\n", rep.entries.size(),
               rep.entries.size() - dropped, dropped, rep.conflicts.size(), rep.unused_rules.size(), rep.errors.size());
  }
  return rep.ok() ? 0 : 1;
}

}  // namespace

void add_map(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("map", "Name maps: rename, drop and re-lay-out tensors (PyTorch → MLX)");
  cmd->require_subcommand(1);

  auto s = std::make_shared<MapArgs>();
  auto* sug = cmd->add_subcommand("suggest", "Propose a map that makes FILE's names and shapes match a spec");
  sug->add_option("file", s->file, "Checkpoint")->required();
  sug->add_option("--spec", s->spec, "Spec JSON or any checkpoint with the expected names")->required();
  sug->add_flag("--json", s->json, "Print the map as JSON");
  sug->add_option("-o,--output", s->output, "Write the map JSON here");
  sug->callback([s, &ctx] { ctx.exit_code = run_suggest(*s); });

  auto i = std::make_shared<MapArgs>();
  auto* inv = cmd->add_subcommand("invert", "Write the inverse of a map (renames and permutations only)");
  inv->add_option("map", i->map, "Map JSON file or preset name")->required();
  inv->add_option("-o,--output", i->output, "Write the inverse here (default: stdout)");
  inv->callback([i, &ctx] { ctx.exit_code = run_invert(*i); });

  auto* pre = cmd->add_subcommand("presets", "List the built-in maps");
  pre->callback([&ctx] { ctx.exit_code = run_presets(); });

  auto w = std::make_shared<MapArgs>();
  auto* show = cmd->add_subcommand("show", "What a map does to FILE: each source → target, conflicts, unused rules (exit 1 on conflicts/errors)");
  show->add_option("map", w->map, "Map JSON file or preset name")->required();
  show->add_option("file", w->file, "Checkpoint")->required();
  show->add_flag("--json", w->json, "Print the report as JSON");
  show->callback([w, &ctx] { ctx.exit_code = run_show(*w); });
}

}  // namespace ckpt::app
