// libFuzzer harness: module-spec JSON (model::parse_spec) and what a spec
// drives — diff against the small fixed checkpoint of model_fixture.h (layout
// permutations searched up to rank 8), the verdict, suggest_map and the
// suggested map applied, and a value comparison of the mapped tensors against
// the originals (diff_checkpoints, which reads permuted layouts in place).
//
// A parsed spec written back with to_json must parse to the same spec.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/error.h"
#include "model/module_spec.h"
#include "model/name_map.h"
#include "model/spec_diff.h"
#include "tests/fuzz/model_fixture.h"
#include "tests/fuzz/support/fuzz_support.h"

namespace {

using ckpt::fuzz::invariant_failed;
using namespace ckpt::model;

void check_round_trip(const ModuleSpec& s) {
  const std::string text = to_json(s);
  ModuleSpec again;
  try {
    again = parse_spec(text, "round-trip.json");
  } catch (const ckpt::io::Error& e) {
    invariant_failed(std::string("a spec written by to_json does not parse: ") + e.what() + "\n" + text);
  }
  bool same = again.source == s.source && again.params.size() == s.params.size();
  for (std::size_t i = 0; same && i < s.params.size(); ++i)
    same = again.params[i].name == s.params[i].name && again.params[i].shape == s.params[i].shape &&
           again.params[i].dtype == s.params[i].dtype;
  if (!same) invariant_failed("a spec changes when written by to_json and parsed again:\n" + text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ModuleSpec spec;
  try {
    spec = parse_spec(std::string(reinterpret_cast<const char*>(data), size), "fuzz-spec.json");
  } catch (const ckpt::io::Error&) {
    return 0;
  }
  check_round_trip(spec);
  const auto& tensors = ckpt::fuzz::fixture_checkpoint();
  const SpecDiff d = diff(tensors, spec);
  (void)d.verdict();
  (void)d.strict_load_ok();
  for (const auto& row : d.rows) {
    (void)category_name(row.category);
    if (row.category == Category::LayoutMismatch) {
      if (!row.have_shape || !row.want_shape || row.permutation.size() != row.want_shape->size())
        invariant_failed("a layout mismatch row for '" + row.name + "' has no fitting permutation");
      for (std::size_t k = 0; k < row.permutation.size(); ++k)
        if ((*row.have_shape)[static_cast<std::size_t>(row.permutation[k])] != (*row.want_shape)[k])
          invariant_failed("the permutation of layout mismatch '" + row.name + "' does not give the wanted shape");
    }
  }
  try {
    const NameMap m = suggest_map(tensors, spec);
    (void)to_json(m);
    const auto mapped = apply_map(m, tensors);
    for (const auto& t : mapped) ckpt::fuzz::touch_tensor(t);
    (void)diff_checkpoints(mapped, tensors, true);
  } catch (const ckpt::io::Error&) {
  }
  return 0;
}
