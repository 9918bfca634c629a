// Inputs the pickle and torch fuzz harnesses (tests/fuzz/fuzz_pickle.cpp,
// fuzz_torch.cpp) found crashing, hanging or exhausting memory, replayed
// through the same path: every file under tests/fuzz/regressions/{pickle,torch}/
// must end in success or a clean io::Error. Each fix also has a named test
// below that says what was wrong and what the input now gives.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <unordered_set>
#include <vector>

#include "io/error.h"
#include "io/formats/pickle.h"
#include "io/formats/pytorch.h"
#include "model/tensor_stats.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using namespace ckpt::io::pickle;
using namespace std::string_literals;
namespace fs = std::filesystem;

namespace {

fs::path regressions(const std::string& harness) { return fs::path(CKPT_SOURCE_DIR) / "tests/fuzz/regressions" / harness; }

std::vector<fs::path> inputs(const std::string& harness) {
  std::vector<fs::path> out;
  if (fs::is_directory(regressions(harness)))
    for (const auto& e : fs::directory_iterator(regressions(harness)))
      if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> b(s.size());
  if (!s.empty()) std::memcpy(b.data(), s.data(), s.size());
  return b;
}

// What fuzz_pickle answers for a persistent id.
ValuePtr storage_for(const ValuePtr& pid) {
  if (!pid || pid->kind != Kind::Tuple || pid->items.size() < 5) return nullptr;
  const auto& it = pid->items;
  if ((it[0]->kind != Kind::String && it[0]->kind != Kind::Bytes) || it[0]->text != "storage") return nullptr;
  if (it[1]->kind != Kind::StorageType || it[4]->kind != Kind::Int || it[4]->integer < 0) return nullptr;
  auto v = std::make_shared<Value>();
  v->kind = Kind::Storage;
  v->dtype = it[1]->dtype;
  v->storage_numel = static_cast<std::uint64_t>(it[4]->integer);
  return v;
}

// Every edge goes from a taller value to a shorter one (no cycles, and the
// root's height bounds any walk).
void expect_sound(const ValuePtr& root, std::size_t max_depth) {
  ASSERT_TRUE(root);
  EXPECT_LE(root->height, max_depth);
  std::unordered_set<const Value*> seen{root.get()};
  std::vector<const Value*> todo{root.get()};
  while (!todo.empty()) {
    const Value* v = todo.back();
    todo.pop_back();
    auto edge = [&](const ValuePtr& child) {
      ASSERT_TRUE(child);
      ASSERT_LT(child->height, v->height);
      if (seen.insert(child.get()).second) todo.push_back(child.get());
    };
    for (const auto& i : v->items) edge(i);
    for (const auto& [k, x] : v->entries) edge(k), edge(x);
    for (const auto& [n, x] : v->attrs) edge(x);
    if (v->storage) edge(v->storage);
  }
}

// fuzz_pickle's path: up to eight pickles back to back, each walked.
void replay_pickle(std::span<const std::byte> all) {
  Options opt;
  opt.persistent_load = storage_for;
  std::size_t pos = 0;
  for (int n = 0; n < 8 && pos < all.size(); ++n) {
    try {
      std::size_t used = 0;
      const ValuePtr v = load(all.subspan(pos), "fuzz-input", pos, opt, &used);
      ASSERT_GT(used, 0u);
      ASSERT_LE(used, all.size() - pos);
      expect_sound(v, opt.limits.max_depth);
      pos += used;
    } catch (const Error& e) {
      EXPECT_GE(e.offset(), pos);
      EXPECT_LE(e.offset(), all.size());
      break;
    }
  }
}

// fuzz_torch's path: open as a .pt, then read every tensor (the inputs are small).
void replay_torch(std::vector<std::byte> bytes) {
  Checkpoint ck;
  try {
    ck = pytorch::describe(std::make_shared<MemorySource>(std::move(bytes), "fuzz-input.pt"));
  } catch (const Error&) {
    return;
  }
  for (const auto& t : ck.tensors) {
    if (!t.data) continue;
    try {
      std::uint64_t got = 0;
      t.data->stream([&](std::span<const std::byte> b) { got += b.size(); });
      EXPECT_EQ(got, t.nbytes) << t.name;
      ckpt::model::StatsOptions so;
      so.threads = 1;
      (void)ckpt::model::compute_stats(t, so);
    } catch (const Error&) {
    }
  }
}

ValuePtr load_text(std::string_view s, const Options& opt = {}) {
  const auto b = bytes_of(s);
  return load(b, "test.pkl", 0, opt);
}

}  // namespace

TEST(FuzzRegressionsPickle, EverySavedInputEndsCleanly) {
  const auto files = inputs("pickle");
  ASSERT_FALSE(files.empty()) << regressions("pickle");
  for (const auto& f : files) {
    SCOPED_TRACE(f.filename().string());
    replay_pickle(ckpt::test::read_file_bytes(f.string()));
  }
}

TEST(FuzzRegressionsTorch, EverySavedInputEndsCleanly) {
  for (const auto& f : inputs("torch")) {
    SCOPED_TRACE(f.filename().string());
    replay_torch(ckpt::test::read_file_bytes(f.string()));
  }
}

// Dict keys that are floats are compared as Python hashes them (1.0 == 1), by
// converting whole floats to int64 — which was done before checking that the
// float fits, undefined for infinities, NaN and anything past 2^63
// (regressions/pickle/float-key-infinity.pkl: }(Finf\n]u).
TEST(FuzzRegressionsPickle, FloatDictKeysOutsideInt64) {
  const auto v = load_text("}(Finf\n]Fnan\n]F1e300\n]F-1e19\n]F1.0\n]I1\nNu."s);
  ASSERT_EQ(v->kind, Kind::Dict);
  // inf, nan, 1e300 and -1e19 stay distinct keys; 1.0 and 1 are one key (the last value wins).
  ASSERT_EQ(v->entries.size(), 5u);
  EXPECT_EQ(v->entries[4].first->kind, Kind::Float);
  EXPECT_EQ(v->entries[4].second->kind, Kind::None);
}
