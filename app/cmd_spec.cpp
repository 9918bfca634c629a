// ckpt spec: a module spec (names, shapes, dtypes) written from a checkpoint.
#include <fmt/format.h>

#include <fstream>
#include <memory>

#include "app/commands.h"
#include "io/error.h"
#include "io/open.h"
#include "model/module_spec.h"

namespace ckpt::app {
namespace {

struct SpecArgs {
  std::string path;
  std::string root;
  std::string output;
};

int run_spec(const SpecArgs& a) {
  model::ModuleSpec spec;
  if (a.root.empty()) {
    // load_spec also takes a JSON spec, so `ckpt spec` doubles as a normaliser.
    spec = model::load_spec(a.path);
  } else {
    const auto ck = io::open_checkpoint(a.path, {a.root});
    spec = model::spec_from_tensors(ck.tensors, a.path);
  }
  const std::string text = model::to_json(spec);
  if (a.output.empty() || a.output == "-") {
    fmt::print("{}", text);
    return 0;
  }
  std::ofstream out(a.output, std::ios::binary | std::ios::trunc);
  if (!out) throw io::Error(a.output, io::kNoOffset, "cannot create the spec file");
  out << text;
  out.close();
  if (!out) throw io::Error(a.output, io::kNoOffset, "cannot write the spec file");
  fmt::print(stderr, "wrote {} parameters to {}\n", spec.params.size(), a.output);
  return 0;
}

}  // namespace

void add_spec(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<SpecArgs>();
  auto* cmd = app.add_subcommand("spec", "Write a module spec (parameter names, shapes, dtypes) from a checkpoint, for `ckpt diff --spec`");
  cmd->add_option("file", a->path, "Checkpoint (any supported format) or a JSON spec to normalise")->required();
  cmd->add_option("--root", a->root, "Only what lies under this dotted path, with the path stripped (e.g. model)");
  cmd->add_option("-o,--output", a->output, "Write the spec here instead of standard output");
  cmd->callback([a, &ctx] { ctx.exit_code = run_spec(*a); });
}

}  // namespace ckpt::app
