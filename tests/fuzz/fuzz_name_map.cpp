// libFuzzer harness: name-map JSON (model::parse_map) and everything a map
// does to a checkpoint — plan_map, apply_map with its lazy transforms
// (permutations, casts, dequantization; every mapped tensor streamed and its
// statistics computed), invert — over the small fixed checkpoint of
// model_fixture.h.
//
// Beyond "no crash", two promises are checked: a parsed map written back
// with to_json parses to the same map, and the inverse of a map, when
// invert() offers one, is itself a map that parses.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/error.h"
#include "model/name_map.h"
#include "tests/fuzz/model_fixture.h"
#include "tests/fuzz/support/fuzz_support.h"

namespace {

using ckpt::fuzz::invariant_failed;
using namespace ckpt::model;

bool same_rule(const Rule& a, const Rule& b) {
  return a.match == b.match && a.pattern == b.pattern && a.replace == b.replace && a.drop == b.drop && a.rank == b.rank &&
         a.transforms == b.transforms && a.note == b.note;
}

void check_round_trip(const NameMap& m, const char* what) {
  const std::string text = to_json(m);
  NameMap again;
  try {
    again = parse_map(text, "round-trip.json");
  } catch (const ckpt::io::Error& e) {
    invariant_failed(std::string(what) + " written by to_json does not parse: " + e.what() + "\n" + text);
  }
  bool same = again.unmapped == m.unmapped && again.rules.size() == m.rules.size();
  for (std::size_t i = 0; same && i < m.rules.size(); ++i) same = same_rule(m.rules[i], again.rules[i]);
  if (!same) invariant_failed(std::string(what) + " changes when written by to_json and parsed again:\n" + text);
}

void use(const NameMap& m) {
  const auto& tensors = ckpt::fuzz::fixture_checkpoint();
  const MapReport rep = plan_map(m, tensors);
  if (rep.entries.size() != tensors.size()) invariant_failed("plan_map reports a different number of tensors");
  try {
    for (const auto& t : apply_map(m, tensors)) ckpt::fuzz::touch_tensor(t);
  } catch (const ckpt::io::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  NameMap m;
  try {
    m = parse_map(std::string(reinterpret_cast<const char*>(data), size), "fuzz-map.json");
  } catch (const ckpt::io::Error&) {
    return 0;
  }
  check_round_trip(m, "a parsed map");
  try {
    use(m);
  } catch (const ckpt::io::Error&) {
  }
  if (const auto inv = invert(m)) {
    check_round_trip(*inv, "an inverted map");
    try {
      use(*inv);
    } catch (const ckpt::io::Error&) {
    }
  }
  return 0;
}
