// Inputs the pickle and torch fuzz harnesses (tests/fuzz/fuzz_pickle.cpp,
// fuzz_torch.cpp) found crashing, hanging or exhausting memory, replayed
// through the same path: every file under tests/fuzz/regressions/{pickle,torch}/
// must end in success or a clean io::Error. Each fix also has a named test
// below that says what was wrong and what the input now gives.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <unordered_set>
#include <vector>

#include "io/error.h"
#include "io/formats/pickle.h"
#include "io/atomic_file.h"
#include "io/formats/pytorch.h"
#include "io/formats/zip.h"
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
  return make_storage(it[1]->dtype, "", "", static_cast<std::uint64_t>(it[4]->integer));
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
    if (v->attrs)
      for (const auto& [n, x] : *v->attrs) edge(x);
    if (v->torch && v->torch->storage) edge(v->torch->storage);
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

namespace {

std::vector<std::byte> repeat(std::string_view head, std::string_view unit, std::size_t n, std::string_view tail) {
  std::string s(head);
  s.reserve(head.size() + unit.size() * n + tail.size());
  for (std::size_t i = 0; i < n; ++i) s += unit;
  s += tail;
  return bytes_of(s);
}

std::string load_error(std::span<const std::byte> b) {
  try {
    (void)load(b, "test.pkl", 0, {});
  } catch (const Error& e) {
    return e.sentence();
  }
  return "";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

// list(x), bytes(x), torch.Size(x), a tensor rebuild… copy what a 2-byte memo
// fetch names: a 60 KB pickle calling list() 6,000 times on one 30,000-item
// list asked for 2.9 GB (found by review, confirmed OOM in fuzz_pickle). Now
// what load() builds is bounded per input byte (Limits::max_built_*).
TEST(FuzzRegressionsPickle, CopyingCallsAreBoundedByTheInputSize) {
  // cbuiltins.list as memo 0, a list of 30,000 Nones wrapped as (L,) in memo 1,
  // then BINGET 0, BINGET 1, REDUCE over and over.
  std::string head = "\x80\x02" "cbuiltins\nlist\nq\x00](N"s + std::string(29'999, '2') + "e\x85q\x01"s;
  const auto copies = repeat(head, "h\x00h\x01R"s, 6000, ".");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_NE(load_error(copies).find("makes or copies far more values than its size explains"), std::string::npos) << load_error(copies);
  EXPECT_LT(seconds_since(t0), 30.0);
  // bytes(b) on one 60,000-byte object, 1,000 times: the copied text counts too.
  std::string big = "\x80\x03" "cbuiltins\nbytes\nq\x00" "B\x60\xea\x00\x00"s + std::string(60'000, 'x') + "\x85q\x01"s;
  EXPECT_NE(load_error(repeat(big, "h\x00h\x01R"s, 1000, ".")).find("far more values than its size explains"), std::string::npos);
  // Ordinary use stays well inside: list() of the list once.
  const auto once = repeat(head, "h\x00h\x01R"s, 1, ".");
  const auto v = load(once, "test.pkl", 0, {});
  EXPECT_EQ(v->kind, Kind::List);
  EXPECT_EQ(v->items.size(), 30'000u);
}

// BUILD looked each attribute name up by a linear search of the attributes
// set so far: a state dict of n names cost n²/2 string comparisons (13,000
// names in a 91 KB pickle took 18 s under the sanitizers). Found by review,
// confirmed as a libFuzzer timeout; attributes are now indexed.
TEST(FuzzRegressionsPickle, BuildWithManyAttributeNamesIsLinear) {
  constexpr std::size_t n = 150'000;
  std::string s = "\x80\x02" "ccollections\nOrderedDict\n)R}("s;
  char name[6];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(name, sizeof name, "%05zx", i);
    s += "\x8c\x05"s + name + "N";
  }
  s += "\x8c\x05" "00000K\x07" "ub.";  // the first name again, last: it replaces
  const auto t0 = std::chrono::steady_clock::now();
  const auto v = load(bytes_of(s), "test.pkl", 0, {});
  EXPECT_LT(seconds_since(t0), 30.0);  // quadratic: ~10^10 comparisons, minutes
  ASSERT_EQ(v->kind, Kind::Dict);
  ASSERT_TRUE(v->attrs);
  ASSERT_EQ(v->attrs->size(), n);
  EXPECT_EQ(v->attrs->front().first, "00000");
  EXPECT_EQ(v->attrs->front().second->integer, 7);
}

// A list holding one shared list twice per level, 26 levels deep, is 2^26
// leaves to flatten from a 429-byte file (regressions/torch/shared-list-dag-2to26.pt):
// it ran out of memory making metadata entries. Flattening is now bounded
// per byte of the pickle.
TEST(FuzzRegressionsTorch, SharedContainersCannotExpandWithoutBound) {
  const auto path = regressions("torch") / "shared-list-dag-2to26.pt";
  const auto t0 = std::chrono::steady_clock::now();
  try {
    (void)pytorch::describe(std::make_shared<MemorySource>(ckpt::test::read_file_bytes(path.string()), "dag.pt"));
    ADD_FAILURE() << "the DAG opened";
  } catch (const Error& e) {
    EXPECT_NE(e.sentence().find("refers to the same containers or strings over and over"), std::string::npos) << e.what();
  }
  EXPECT_LT(seconds_since(t0), 30.0);
}

// A dict key that is a tuple holding one tuple twice per level, 30 levels
// deep, was rendered in full as the metadata key: 2^30 elements of text
// (regressions/torch/tuple-key-dag-2to30.pt). Renderings are now cut at 4 KiB.
TEST(FuzzRegressionsTorch, TupleKeysRenderBounded) {
  const auto path = regressions("torch") / "tuple-key-dag-2to30.pt";
  const auto ck = pytorch::describe(std::make_shared<MemorySource>(ckpt::test::read_file_bytes(path.string()), "key.pt"));
  ASSERT_EQ(ck.metadata.size(), 1u);
  const std::string& key = ck.metadata[0].key;
  EXPECT_LE(key.size(), 4096u + 3);
  EXPECT_EQ(key.substr(0, 8), "[[[[[[[[");
  EXPECT_EQ(key.substr(key.size() - 3), "...");
}

// pytorch_model.bin.index.json was parsed as ordered_json, whose objects copy
// their members recursively as they grow: a value nested 200,000 deep before
// "weight_map" overflowed the stack (found by review, the same failure as in
// module specs). The index is now parsed as plain json.
TEST(FuzzRegressionsTorch, DeeplyNestedIndexJson) {
  ckpt::test::TempDir dir;
  const std::string deep = std::string(200'000, '[') + std::string(200'000, ']');
  const std::string text = R"({"metadata": )" + deep + R"(, "weight_map": {}})";
  ckpt::test::write_file_bytes(dir.file("pytorch_model.bin.index.json"), bytes_of(text));
  const auto ck = pytorch::open(dir.file("pytorch_model.bin.index.json"));
  EXPECT_TRUE(ck.tensors.empty());
}

namespace {

// A zip-format .pt holding only `pickle` as its data.pkl.
std::string torch_zip(const ckpt::test::TempDir& dir, std::string_view pickle_bytes) {
  const std::string path = dir.file("object.pt");
  AtomicFile out(path, false);
  zip::Writer zw(out);
  zw.begin_member("archive/data.pkl", zip::kStored);
  zw.write(bytes_of(pickle_bytes));
  zw.end_member();
  zw.finish();
  out.commit();
  return path;
}

}  // namespace

// Names are paths through the saved object; a key string the pickle stores
// once (memo) can be repeated at every level for two bytes each, so a 22 KB
// file could name a tensor with megabytes. Names over 64 KiB (io::kMaxNameBytes,
// as the other readers) are refused.
TEST(FuzzRegressionsTorch, NamesOver64KiBAreRefused) {
  ckpt::test::TempDir dir;
  const std::string key(22'000, 'k');
  auto nest = [&](int levels) {
    // {K: {K: … {K: 1}}}: K stored once (memo 0), fetched at every other level.
    std::string p = "\x80\x02}X"s;
    p += std::string{static_cast<char>(key.size() & 0xff), static_cast<char>(key.size() >> 8), 0, 0} + key + "q\x00"s;
    for (int i = 1; i < levels; ++i) p += "}h\x00"s;
    p += "K\x01";
    for (int i = 0; i < levels; ++i) p += "s";
    return p + ".";
  };
  EXPECT_EQ(pytorch::open(torch_zip(dir, nest(2))).metadata.at(0).key.size(), 2 * key.size() + 1);
  try {
    (void)pytorch::open(torch_zip(dir, nest(3)));
    ADD_FAILURE() << "opened";
  } catch (const Error& e) {
    EXPECT_NE(e.sentence().find("has a name longer than 65536 bytes"), std::string::npos) << e.what();
  }
}
