// The fast state_dict scan (io/formats/torch_state_dict.h) against the
// general pickle interpreter: on every file either may meet — the shared
// fixtures, files torch itself writes (state_dict with _metadata, plain
// dicts of every dtype, views sharing a storage, one tensor saved under two
// names, protocol 4, parameters, nested checkpoints), our own writer's — and
// on every one-byte corruption of a pickle, describe() and describe_general()
// must give the same tensors, metadata and data, or the same error. The scan
// must also actually be taken where torch's plain shape is, and refused where
// it is not.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <optional>

#include "io/byte_source.h"
#include "io/error.h"
#include "io/formats/pytorch.h"
#include "io/formats/torch_state_dict.h"
#include "io/formats/zip.h"
#include "io/metadata.h"
#include "io/write_options.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;

namespace {

struct Outcome {
  std::optional<Checkpoint> ck;
  std::string error;
};

template <class Fn>
Outcome run(Fn fn, const std::shared_ptr<const ByteSource>& src) {
  try {
    return {fn(src), ""};
  } catch (const Error& e) {
    return {std::nullopt, e.what()};
  }
}

void expect_same(const Outcome& fast, const Outcome& general, const std::string& what) {
  ASSERT_EQ(fast.ck.has_value(), general.ck.has_value())
      << what << ": fast: " << (fast.ck ? "read" : fast.error) << "; general: " << (general.ck ? "read" : general.error);
  if (!fast.ck) {
    EXPECT_EQ(fast.error, general.error) << what;
    return;
  }
  const Checkpoint& a = *fast.ck;
  const Checkpoint& b = *general.ck;
  EXPECT_EQ(a.format_detail, b.format_detail) << what;
  ASSERT_EQ(a.tensors.size(), b.tensors.size()) << what;
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& x = a.tensors[i];
    const auto& y = b.tensors[i];
    EXPECT_EQ(x.name, y.name) << what;
    EXPECT_EQ(x.dtype, y.dtype) << what << " " << x.name;
    EXPECT_EQ(x.shape, y.shape) << what << " " << x.name;
    EXPECT_EQ(x.nbytes, y.nbytes) << what << " " << x.name;
    EXPECT_EQ(x.file, y.file) << what << " " << x.name;
    EXPECT_EQ(x.offset, y.offset) << what << " " << x.name;
    EXPECT_EQ(x.layout_note, y.layout_note) << what << " " << x.name;
    ASSERT_EQ(x.data == nullptr, y.data == nullptr) << what << " " << x.name;
    if (x.data && x.nbytes <= (1u << 20)) {
      // Reading may fail (a storage too small for a view): then alike.
      std::string ex, ey;
      std::vector<std::byte> dx, dy;
      try { dx = read_all(x); } catch (const Error& e) { ex = e.what(); }
      try { dy = read_all(y); } catch (const Error& e) { ey = e.what(); }
      EXPECT_EQ(ex, ey) << what << " " << x.name;
      EXPECT_TRUE(dx == dy) << what << " " << x.name << ": data differs";
    }
  }
  ASSERT_EQ(a.metadata.size(), b.metadata.size()) << what;
  for (std::size_t i = 0; i < a.metadata.size(); ++i) {
    EXPECT_EQ(a.metadata[i].key, b.metadata[i].key) << what;
    EXPECT_EQ(to_json(a.metadata[i].value).dump(), to_json(b.metadata[i].value).dump()) << what;
  }
}

void expect_same(const std::shared_ptr<const ByteSource>& src, const std::string& what) {
  expect_same(run(pytorch::describe, src), run(pytorch::describe_general, src), what);
}

// The archive's data.pkl, as stored (torch stores it uncompressed).
std::span<const std::byte> pickle_of(const ByteSource& src) {
  const zip::Archive a = zip::read_archive(src);
  for (const auto& m : a.members)
    if (m.name.size() >= 9 && m.name.compare(m.name.size() - 9, 9, "/data.pkl") == 0 && m.method == zip::kStored)
      return zip::member_bytes(src, m);
  ADD_FAILURE() << "no stored data.pkl";
  return {};
}

bool scanned(const ByteSource& src) { return torch_state_dict::scan(pickle_of(src)).has_value(); }

// Every byte of the pickle changed a few ways, each archive read both ways.
void expect_same_under_corruption(const std::string& path) {
  const auto original = ckpt::test::read_file_bytes(path);
  const auto src = std::make_shared<MemorySource>(original, path);
  const auto pkl = pickle_of(*src);
  const auto at = static_cast<std::size_t>(pkl.data() - src->all().data());
  int differing = 0, scanned_and_read = 0, scanned_and_refused = 0, left = 0;
  for (std::size_t i = 0; i < pkl.size(); ++i)
    for (std::uint8_t x : {0x01, 0x02, 0x10, 0x80, 0xff}) {
      auto bytes = original;
      bytes[at + i] ^= std::byte{x};
      const auto mutated = std::make_shared<MemorySource>(std::move(bytes), path);
      const Outcome fast = run(pytorch::describe, mutated);
      const Outcome general = run(pytorch::describe_general, mutated);
      expect_same(fast, general, path + " with byte " + std::to_string(i) + " ^ " + std::to_string(x));
      if (::testing::Test::HasFailure() && ++differing > 5) return;  // enough to see the pattern
      if (!scanned(*mutated)) ++left;
      else if (fast.ck) ++scanned_and_read;
      else ++scanned_and_refused;  // a storage the archive lacks, a dtype torch has not…
    }
  // Each road taken: scanned corruptions that still read (a changed size or
  // name), ones the later checks refuse, and ones left to the interpreter.
  EXPECT_GT(scanned_and_read, 0) << path;
  EXPECT_GT(scanned_and_refused, 0) << path;
  EXPECT_GT(left, 0) << path;
}

// torch's own files: the shapes the scan is for, and some it must leave alone.
const char* kPyMake = R"PY(
import sys, torch
from torch import nn
d = sys.argv[1]
torch.manual_seed(0)
m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2, bias=False))
torch.save(m.state_dict(), d + "/state_dict.pt")
torch.save(m.state_dict(), d + "/protocol4.pt", pickle_protocol=4)
plain = {
  "f32": torch.randn(3, 4), "f16": torch.randn(5).half(), "bf16": torch.randn(2, 2).bfloat16(),
  "f64": torch.randn(3).double(), "c64": torch.randn(2, dtype=torch.complex64),
  "i8": torch.tensor([-1, 2], dtype=torch.int8), "u8": torch.tensor([1, 250], dtype=torch.uint8),
  "i16": torch.tensor([-300], dtype=torch.int16), "i32": torch.tensor([7, 8, 9], dtype=torch.int32),
  "i64": torch.tensor([1 << 40]), "bool": torch.tensor([True, False]),
  "scalar": torch.tensor(3.5), "empty": torch.zeros(0, 3), "big_dim": torch.zeros(70000, 1),
}
torch.save(plain, d + "/plain.pt")
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
torch.save({"base": base, "row": base[1], "col": base[:, 2], "t": base.t(), "window": base[1:3, 2:5]}, d + "/views.pt")
w = torch.randn(3, 3)
torch.save({"embed.weight": w, "lm_head.weight": w}, d + "/tied.pt")
torch.save({"p": nn.Parameter(torch.randn(2))}, d + "/parameter.pt")
torch.save({"model": m.state_dict(), "epoch": 3}, d + "/nested.pt")
)PY";

bool have_torch() {
  static const bool ok = ckpt::test::run_python("import torch", {}) == 0;
  return ok;
}

class TorchStateDictScan : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_torch()) return;
    dir_ = new TempDir;
    status_ = ckpt::test::run_python(kPyMake, {dir_->path().string()}, &log_);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!have_torch())
      GTEST_SKIP() << "/usr/bin/python3 cannot import torch (Debian python3-torch): torch-written files not tested";
    ASSERT_EQ(status_, 0) << log_;
  }
  static std::shared_ptr<const ByteSource> open(const std::string& name) { return MappedFile::open(dir_->file(name)); }
  static TempDir* dir_;
  static int status_;
  static std::string log_;
};
TempDir* TorchStateDictScan::dir_ = nullptr;
int TorchStateDictScan::status_ = -1;
std::string TorchStateDictScan::log_;

TEST_F(TorchStateDictScan, TakesTorchsPlainShapesAndReadsThemAlike) {
  for (const char* name : {"state_dict.pt", "protocol4.pt", "plain.pt", "views.pt", "tied.pt"}) {
    const auto src = open(name);
    EXPECT_TRUE(scanned(*src)) << name << " should be read by the scan";
    expect_same(src, name);
  }
  // What the shapes turn into, beyond agreeing: the tied weight shares its
  // storage, the views keep their offsets and strides.
  const auto tied = pytorch::describe(open("tied.pt"));
  ASSERT_EQ(tied.tensors.size(), 2u);
  EXPECT_EQ(tied.tensors[1].layout_note, "shares storage with 'embed.weight'");
  const auto views = pytorch::describe(open("views.pt"));
  ASSERT_EQ(views.tensors.size(), 5u);
  EXPECT_EQ(views.tensors[2].name, "col");
  EXPECT_EQ(views.tensors[2].layout_note, "shares storage with 'base', strided view, storage offset 2");
  const auto col = read_all(views.tensors[2]);
  std::vector<float> v(4);
  std::memcpy(v.data(), col.data(), 16);
  EXPECT_EQ(v, (std::vector<float>{2, 8, 14, 20}));
}

TEST_F(TorchStateDictScan, LeavesOtherShapesToTheInterpreter) {
  for (const char* name : {"parameter.pt", "nested.pt"}) {
    const auto src = open(name);
    EXPECT_FALSE(scanned(*src)) << name << " is not a plain state_dict";
    expect_same(src, name);
  }
  const auto nested = pytorch::describe(open("nested.pt"));
  ASSERT_FALSE(nested.metadata.empty());
  EXPECT_EQ(nested.metadata[0].key, "epoch");
}

TEST_F(TorchStateDictScan, ARepeatedKeyIsLeftToTheInterpreterWhichKeepsTheLastValue) {
  // "f16" renamed "f32" in the pickle: a dict keeps the first place and the last value.
  auto bytes = ckpt::test::read_file_bytes(dir_->file("plain.pt"));
  const auto src0 = std::make_shared<MemorySource>(bytes, "plain.pt");
  const auto pkl = pickle_of(*src0);
  const auto at = static_cast<std::size_t>(pkl.data() - src0->all().data());
  const std::string_view text(reinterpret_cast<const char*>(pkl.data()), pkl.size());
  const auto k = text.find("f16");
  ASSERT_NE(k, std::string_view::npos);
  std::memcpy(&bytes[at + k], "f32", 3);
  const auto src = std::make_shared<MemorySource>(std::move(bytes), "plain.pt");
  EXPECT_FALSE(scanned(*src));
  expect_same(src, "repeated key");
  const auto ck = pytorch::describe(src);
  EXPECT_EQ(ck.tensors[0].name, "f32");
  EXPECT_EQ(ck.tensors[0].dtype, DType::F16);
}

TEST_F(TorchStateDictScan, EveryOneByteCorruptionReadsOrFailsAlike) {
  expect_same_under_corruption(dir_->file("state_dict.pt"));
  expect_same_under_corruption(dir_->file("views.pt"));
}

TEST(TorchStateDictScanOwn, OurWritersFilesAreScannedAndReadAlike) {
  TempDir dir;
  std::vector<TensorInfo> tensors;
  unsigned seed = 1;
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I8, DType::U8, DType::I16, DType::I32,
                  DType::I64, DType::Bool, DType::C64})
    tensors.push_back(ckpt::test::random_tensor("layer." + std::string(name(t)), t, {2, 3}, seed++));
  tensors.push_back(ckpt::test::random_tensor("scalar", DType::F32, {}, seed++));
  tensors.push_back(ckpt::test::random_tensor("empty", DType::F32, {0, 4}, seed++));
  const std::string path = dir.file("ours.pt");
  pytorch::write(path, tensors, {}, WriteOptions{});
  const auto src = MappedFile::open(path);
  EXPECT_TRUE(scanned(*src));
  expect_same(src, path);
  expect_same_under_corruption(path);
}

// The fuzzer's seeds (torch-written files of every kind) and its findings.
TEST(TorchStateDictScanFuzzInputs, SeedsAndRegressionsReadAlike) {
  int files = 0, scanned_files = 0;
  for (const char* sub : {"corpus/torch", "regressions/torch"})
    for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(CKPT_SOURCE_DIR) / "tests/fuzz" / sub)) {
      const auto src = MappedFile::open(e.path().string());
      ++files;
      const bool zip = src->all().size() >= 2 && src->all()[0] == std::byte{'P'} && src->all()[1] == std::byte{'K'};
      if (zip && scanned(*src)) {
        ++scanned_files;
        if (pickle_of(*src).size() <= 4096) expect_same_under_corruption(e.path().string());
      }
      expect_same(src, e.path().string());
    }
  EXPECT_GE(files, 20);
  EXPECT_GE(scanned_files, 3);
}

TEST(TorchStateDictScanFixtures, SharedFixturesReadAlike) {
  const auto files = ckpt::test::fixture_files("torch", ".pt");
  if (files.empty()) GTEST_SKIP() << "../shared/fixtures/torch is absent: fixtures not compared";
  int scanned_files = 0;
  for (const auto& f : files) {
    const auto src = MappedFile::open(f.string());
    if (src->all().size() >= 2 && src->all()[0] == std::byte{'P'}) scanned_files += scanned(*src);
    expect_same(src, f.string());
  }
  EXPECT_GE(scanned_files, 1) << "no fixture took the scan";
}

}  // namespace
