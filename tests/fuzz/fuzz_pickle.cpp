// libFuzzer harness: the safe pickle interpreter alone (io/formats/pickle.*).
//
// Persistent ids are answered as the torch loader answers them (a Storage for
// a ('storage', class, key, location, numel[, view]) tuple), so the calls that
// rebuild tensors and parameters are reached too. Several pickles are read
// back to back, as the legacy torch format stores them. Every result is walked
// whole, checking the interpreter's promises: the nesting it reports bounds
// the real nesting (destroying or walking a result never recurses deeper than
// Limits::max_depth) and no value contains itself.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "io/error.h"
#include "io/formats/pickle.h"
#include "tests/fuzz/pickle_mutator.h"
#include "tests/fuzz/support/fuzz_support.h"

namespace {

using ckpt::fuzz::invariant_failed;
using ckpt::io::pickle::Kind;
using ckpt::io::pickle::Value;
using ckpt::io::pickle::ValuePtr;

ValuePtr storage_for(const ValuePtr& pid) {
  if (!pid || pid->kind != Kind::Tuple || pid->items.size() < 5) return nullptr;
  const auto& it = pid->items;
  if ((it[0]->kind != Kind::String && it[0]->kind != Kind::Bytes) || it[0]->text != "storage") return nullptr;
  if (it[1]->kind != Kind::StorageType || it[4]->kind != Kind::Int || it[4]->integer < 0) return nullptr;
  return ckpt::io::pickle::make_storage(it[1]->dtype, it[2]->kind == Kind::Int ? std::to_string(it[2]->integer) : it[2]->text,
                                       it[3]->text, static_cast<std::uint64_t>(it[4]->integer));
}

// Every edge goes from a taller value to a shorter one, so the values form a
// DAG whose longest chain is the root's height.
void walk(const ValuePtr& root, std::size_t max_depth) {
  if (!root) invariant_failed("load returned no value");
  if (root->height > max_depth)
    invariant_failed("a result nests " + std::to_string(root->height) + " deep, past the limit of " + std::to_string(max_depth));
  std::unordered_set<const Value*> seen;
  std::vector<const Value*> todo{root.get()};
  auto edge = [&](const Value* parent, const ValuePtr& child) {
    if (!child) invariant_failed("a container holds a null value");
    if (child->height >= parent->height)
      invariant_failed("a value of height " + std::to_string(parent->height) + " holds one of height " +
                       std::to_string(child->height));
    if (seen.insert(child.get()).second) todo.push_back(child.get());
  };
  seen.insert(root.get());
  while (!todo.empty()) {
    const Value* v = todo.back();
    todo.pop_back();
    for (const auto& i : v->items) edge(v, i);
    for (const auto& [k, x] : v->entries) edge(v, k), edge(v, x);
    if (v->attrs)
      for (const auto& [name, x] : *v->attrs) edge(v, x);
    if (v->torch && v->torch->storage) edge(v, v->torch->storage);
    if (v->kind == Kind::Tensor && !v->torch) invariant_failed("a tensor has no torch parts");
    if (v->kind == Kind::Tensor && v->torch->size.size() != v->torch->stride.size())
      invariant_failed("a tensor has " + std::to_string(v->torch->size.size()) + " sizes and " +
                       std::to_string(v->torch->stride.size()) + " strides");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ckpt::io;
  const std::span<const std::byte> all(reinterpret_cast<const std::byte*>(data), size);
  pickle::Options opt;
  opt.persistent_load = storage_for;
  std::size_t pos = 0;
  for (int n = 0; n < 8 && pos < size; ++n) {
    try {
      std::size_t used = 0;
      const ValuePtr v = pickle::load(all.subspan(pos), "fuzz-input", pos, opt, &used);
      if (used == 0 || used > size - pos)
        invariant_failed("load consumed " + std::to_string(used) + " of " + std::to_string(size - pos) + " bytes");
      walk(v, opt.limits.max_depth);
      pos += used;
    } catch (const Error& e) {
      if (e.offset() < pos || e.offset() > size)
        invariant_failed("an error at byte " + std::to_string(e.offset()) + " of a " + std::to_string(size) + "-byte input");
      break;
    }
  }
  return 0;
}

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size, unsigned int seed) {
  return ckpt::fuzz::pickle_mutator::mutate(data, size, max_size, seed);
}

extern "C" std::size_t LLVMFuzzerCustomCrossOver(const std::uint8_t* a, std::size_t a_size, const std::uint8_t* b,
                                                 std::size_t b_size, std::uint8_t* out, std::size_t max_out,
                                                 unsigned int seed) {
  return ckpt::fuzz::pickle_mutator::cross_over(a, a_size, b, b_size, out, max_out, seed);
}
