// .npy reader and writer: shared fixtures, round trips, interop with Debian's
// NumPy, byte-exact headers, and hand-built corrupt files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/endian.h"
#include "io/error.h"
#include "io/formats/npy.h"
#include "tests/support/sha256.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

const DType kNpyTypes[] = {DType::Bool, DType::U8,  DType::U16, DType::U32, DType::U64, DType::I8,  DType::I16,
                           DType::I32,  DType::I64, DType::F16, DType::BF16, DType::F32, DType::F64, DType::C64,
                           DType::C128};

std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}



// A v1.0 image with the given dict text (padded to 64) and data bytes.
std::vector<std::byte> npy_image(const std::string& dict, std::size_t data_bytes, int major = 1) {
  std::string h = dict;
  const std::size_t pre = major == 1 ? 10 : 12;
  while ((pre + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  char len[4];
  store_le<std::uint32_t>(len, static_cast<std::uint32_t>(h.size()));
  out.append(len, major == 1 ? 2 : 4);
  out += h;
  out.append(data_bytes, '\x01');
  return bytes_of(out);
}

Checkpoint from_memory(std::vector<std::byte> b) {
  return npy::describe(std::make_shared<MemorySource>(std::move(b), "mem.npy"));
}

std::string describe_error(std::vector<std::byte> b) {
  try {
    (void)from_memory(std::move(b));
  } catch (const Error& e) {
    return e.sentence();
  }
  return "(no error)";
}

std::string sha_of(const TensorInfo& t) { return ckpt::test::sha256_hex(read_all(t)); }

}  // namespace

// ---- fixtures ----

TEST(NpyFixtures, EveryFixtureMatchesItsManifest) {
  if (!ckpt::test::fixtures_dir()) GTEST_SKIP() << "shared fixtures not found at ../shared/fixtures";
  int seen = 0;
  for (const char* sub : {"numpy", "mlx"}) {
    for (const auto& f : ckpt::test::fixture_files(sub, ".npy")) {
      SCOPED_TRACE(f.string());
      const auto manifest = ckpt::test::load_manifest(f);
      const Checkpoint ck = npy::open(f.string());
      EXPECT_EQ(ck.format, Format::Npy);
      ckpt::test::expect_matches_manifest(ck, manifest);
      ++seen;
      if (!manifest.contains("npy_header")) continue;
      const auto& mh = manifest["npy_header"];
      auto src = MappedFile::open(f.string());
      const npy::Header h = npy::parse_header(*src, 0, src->size());
      EXPECT_EQ(h.major, mh["version"][0].get<int>());
      EXPECT_EQ(h.minor, mh["version"][1].get<int>());
      EXPECT_EQ(h.header_len, mh["header_len"].get<std::uint64_t>());
      EXPECT_EQ(h.data_offset, mh["data_offset"].get<std::uint64_t>());
      EXPECT_EQ(h.descr, mh["descr"].get<std::string>());
      EXPECT_EQ(h.fortran_order, mh["fortran_order"].get<bool>());
      EXPECT_EQ(h.shape, mh["shape"].get<Shape>());
    }
  }
  EXPECT_GT(seen, 0);
}

// ---- header parsing ----

TEST(NpyHeader, TokenizesAnyKeyOrderSpacingAndTrailingCommas) {
  const std::string dicts[] = {
      "{'shape': (2, 3), 'fortran_order': False, 'descr': '<i4'}",
      "{ \"descr\" : \"<i4\" ,\n 'fortran_order':False,'shape':( 2 ,3 , ) , }",
      "{'descr': '<i4', 'fortran_order': False, 'shape': (2L, 3L), }",
  };
  for (const auto& d : dicts) {
    SCOPED_TRACE(d);
    const auto ck = from_memory(npy_image(d, 24));
    ASSERT_EQ(ck.tensors.size(), 1u);
    EXPECT_EQ(ck.tensors[0].dtype, DType::I32);
    EXPECT_EQ(ck.tensors[0].shape, (Shape{2, 3}));
  }
  // MLX's "(5, )" spacing, a 1-tuple, 0-d and empty shapes, fortran True.
  EXPECT_EQ(from_memory(npy_image("{'descr': '|u1', 'fortran_order': True, 'shape': (5, )}", 5)).tensors[0].shape, Shape{5});
  EXPECT_EQ(from_memory(npy_image("{'descr': '<f8', 'fortran_order': False, 'shape': ()}", 8)).tensors[0].shape, Shape{});
  EXPECT_EQ(from_memory(npy_image("{'descr': '<f8', 'fortran_order': True, 'shape': (3, 0, 2)}", 0)).tensors[0].shape,
            (Shape{3, 0, 2}));
}

// Headers in NumPy's own layout take a short road past the literal parser;
// the same dict written any other way takes the parser. Both must agree, on
// good headers and on the errors of bad ones.
TEST(NpyHeader, NumpysLayoutReadsLikeAnyOther) {
  struct Case { std::string descr, fortran, shape; };
  const Case cases[] = {{"<f4", "False", "(2, 3)"},      {">f8", "True", "(5,)"},       {"|b1", "False", "()"},
                        {"<V2", "False", "(3, 0, 2)"},   {"<i8", "True", "(1, 1, 1, 1, 1, 1, 1, 1)"},
                        {"<f4", "False", "(2, -3)"},     {"<f4", "False", "(4294967296, 4294967296)"},
                        {"<f4", "False", "(99999999999999999999,)"}, {"<f4", "False", "(123456789012345678,)"},
                        {"<f4", "False", "(3)"},         {"<U5", "False", "(1,)"},      {"<f\\x34", "False", "(1,)"},
                        {"<f4", "0", "(1,)"},            {"", "False", "(1,)"},         {"<f4", "False", "(1, 2,)"}};
  const auto outcome = [](const std::string& dict) {
    try {
      const auto h = npy::parse_header_bytes(npy_image(dict, 0), "mem", 0);
      std::string s = h.descr + (h.fortran_order ? " F" : " C");
      for (auto d : h.shape) s += " " + std::to_string(d);
      return s;
    } catch (const Error& e) {
      return "error: " + e.sentence();
    }
  };
  for (const auto& c : cases) {
    const std::string numpy = "{'descr': '" + c.descr + "', 'fortran_order': " + c.fortran + ", 'shape': " + c.shape + ", }";
    const std::string other = "{'shape': " + c.shape + ", 'descr': '" + c.descr + "', 'fortran_order': " + c.fortran + "}";
    SCOPED_TRACE(numpy);
    const std::string a = outcome(numpy), b = outcome(other);
    EXPECT_EQ(a, b);
    EXPECT_FALSE(a.empty());
  }
  // Text after the dict is refused on either road.
  EXPECT_THAT(describe_error(npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x", 16)),
              HasSubstr("unexpected text after"));
}

TEST(NpyHeader, DescrByteOrdersAndKinds) {
  struct Case { const char* descr; DType dt; bool big; };
  const Case cases[] = {{"<f4", DType::F32, false}, {">f4", DType::F32, true},  {"=f4", DType::F32, false},
                        {"|b1", DType::Bool, false}, {"|u1", DType::U8, false}, {">u1", DType::U8, false},
                        {"<c16", DType::C128, false}, {">c8", DType::C64, true}, {"<V2", DType::BF16, false},
                        {"|i1", DType::I8, false},  {">i8", DType::I64, true},  {"<f2", DType::F16, false}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.descr);
    const auto img = npy_image(std::string("{'descr': '") + c.descr + "', 'fortran_order': False, 'shape': (1,)}", 16);
    const auto h = npy::parse_header_bytes(img, "mem", 0);
    EXPECT_EQ(h.dtype, c.dt);
    EXPECT_EQ(h.big_endian, c.big);
    EXPECT_EQ(h.data_offset, img.size() - 16);
  }
}

TEST(NpyHeader, BigEndianAndFortranReadAsCanonical) {
  // >i4 (2, 3) in Fortran order: element (i, j) stored at j*2+i.
  auto img = npy_image("{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }", 0);
  for (std::int32_t col = 0; col < 3; ++col)
    for (std::int32_t row = 0; row < 2; ++row) {
      const std::int32_t v = row * 3 + col;  // row-major value
      const std::uint8_t be[4] = {0, 0, 0, static_cast<std::uint8_t>(v)};
      for (auto x : be) img.push_back(std::byte(x));
    }
  const auto ck = from_memory(img);
  const auto got = read_all(ck.tensors[0]);
  for (std::int32_t k = 0; k < 6; ++k) EXPECT_EQ(load_le<std::int32_t>(got.data() + 4 * k), k);
  EXPECT_THAT(ck.tensors[0].layout_note, HasSubstr("fortran"));
  EXPECT_THAT(ck.tensors[0].layout_note, HasSubstr("big-endian"));
}

TEST(NpyHeader, DataMayStartAtAnyOffset) {
  // MLX pads to 16; an unusual writer may pad to nothing at all.
  std::string h = "{'descr': '<u2', 'fortran_order': False, 'shape': (3,)}\n";
  std::string img = std::string("\x93NUMPY\x01\x00", 8);
  char len[2];
  store_le<std::uint16_t>(len, static_cast<std::uint16_t>(h.size()));
  img.append(len, 2);
  img += h;
  img += std::string("\x01\x00\x02\x00\x03\x00", 6);
  const auto ck = from_memory(bytes_of(img));
  EXPECT_EQ(ck.tensors[0].offset, 10 + h.size());
  const auto got = read_all(ck.tensors[0]);
  EXPECT_EQ(load_le<std::uint16_t>(got.data() + 4), 3);
}

// ---- negative tests ----

TEST(NpyErrors, BadMagic) {
  auto img = npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4);
  img[1] = std::byte('X');
  EXPECT_THAT(describe_error(img), HasSubstr("bad magic"));
  EXPECT_THAT(describe_error(bytes_of("PK\x03\x04 not an npy")), HasSubstr("bad magic"));
}

TEST(NpyErrors, BadVersion) {
  auto img = npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4);
  img[6] = std::byte(4);
  EXPECT_THAT(describe_error(img), HasSubstr("unsupported .npy version 4.0"));
}

TEST(NpyErrors, TruncatedAtEveryPoint) {
  const auto img = npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 16);
  const std::size_t data_at = img.size() - 16;
  ASSERT_EQ(data_at % 64, 0u);
  for (std::size_t cut = 0; cut < img.size(); ++cut) {
    SCOPED_TRACE(cut);
    const std::string e = describe_error({img.begin(), img.begin() + static_cast<std::ptrdiff_t>(cut)});
    if (cut < 8) {
      EXPECT_THAT(e, HasSubstr("ends inside the .npy magic"));
    } else if (cut < 10) {
      EXPECT_THAT(e, HasSubstr("ends inside the .npy header length"));
    } else if (cut < data_at) {
      EXPECT_THAT(e, HasSubstr("the file ends after"));
    } else {
      EXPECT_THAT(e, HasSubstr("the file is truncated"));
    }
  }
  EXPECT_EQ(describe_error(img), "(no error)");
}

TEST(NpyErrors, BadHeaderDicts) {
  struct Case { std::string dict; const char* error; };
  const Case cases[] = {
      {"{'descr': '<f4', 'shape': (1,)}", "no 'fortran_order' key"},
      {"{'fortran_order': False, 'shape': (1,)}", "no 'descr' key"},
      {"{'descr': '<f4', 'fortran_order': False}", "no 'shape' key"},
      {"{'descr': '<U5', 'fortran_order': False, 'shape': (1,)}", "array dtype '<U5' is not supported"},
      {"{'descr': '|O', 'fortran_order': False, 'shape': (1,)}", "array dtype '|O' is not supported"},
      {"{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (1,)}", "array dtype '<M8[ns]' is not supported"},
      {"{'descr': '<f16', 'fortran_order': False, 'shape': (1,)}", "array dtype '<f16' is not supported"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", "structured array dtypes"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", "negative dimension -3"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", "more elements than can be addressed"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,)}", "more elements than can be addressed"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "too large"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "'fortran_order' is an integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", "'shape' is a list, not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "unexpected key 'extra'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "expected ',' or '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", "unexpected text after"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", "expected ',' or '}'"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}", "expected ':' after the key 'descr'"},
      {"{'descr': os.system('x'), 'fortran_order': False, 'shape': (1,)}", "unexpected name 'os'"},
      {"['descr']", "not a dict"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dict);
    EXPECT_THAT(describe_error(npy_image(c.dict, 16)), HasSubstr(c.error));
  }
}

TEST(NpyErrors, HugeHeaderLengthRefused) {
  auto img = npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4, 2);
  store_le<std::uint32_t>(img.data() + 8, 0xFFFFFFF0u);
  EXPECT_THAT(describe_error(img), HasSubstr("over the 1048576-byte limit"));
}

TEST(NpyErrors, ReaderStillWorksAfterThrowing) {
  EXPECT_THAT(describe_error(bytes_of("garbage")), HasSubstr("bad magic"));
  const auto ck = from_memory(npy_image("{'descr': '<i2', 'fortran_order': False, 'shape': (3,)}", 6));
  EXPECT_EQ(read_all(ck.tensors[0]).size(), 6u);
}

// ---- writer ----

TEST(NpyWriter, CanonicalHeaderText) {
  const std::string h = npy::make_header(DType::F32, {3, 4});
  EXPECT_EQ(h.size() % 64, 0u);
  EXPECT_EQ(h.substr(10, 59), "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }");
  EXPECT_EQ(h.back(), '\n');
  EXPECT_THAT(npy::make_header(DType::I64, {5}), HasSubstr("'shape': (5,), }"));
  EXPECT_THAT(npy::make_header(DType::U8, {}), HasSubstr("{'descr': '|u1', 'fortran_order': False, 'shape': (), }"));
  EXPECT_THAT(npy::make_header(DType::BF16, {2}), HasSubstr("'descr': '<V2'"));
  EXPECT_THAT(npy::make_header(DType::Bool, {2}), HasSubstr("'descr': '|b1'"));
}

TEST(NpyWriter, LongHeaderSwitchesToVersion2) {
  Shape shape(25000, 1);  // more than 65535 header bytes
  const std::string h = npy::make_header(DType::F32, shape);
  EXPECT_EQ(h[6], '\x02');
  EXPECT_EQ(h.size() % 64, 0u);
  const auto parsed = npy::parse_header_bytes(bytes_of(h), "mem", 0);
  EXPECT_EQ(parsed.major, 2);
  EXPECT_EQ(parsed.shape, shape);
  EXPECT_EQ(parsed.data_offset, h.size());
}

TEST(NpyWriter, RoundTripEveryDtypeAndShape) {
  TempDir dir;
  const Shape shapes[] = {{}, {7}, {2, 3, 1, 4}, {3, 0, 2}, {1000, 1000}};
  for (DType dt : kNpyTypes) {
    for (const auto& shape : shapes) {
      SCOPED_TRACE(std::string(name(dt)) + " rank " + std::to_string(shape.size()));
      const TensorInfo t = ckpt::test::random_tensor("x", dt, shape, 3);
      const std::string path = dir.file("t.npy");
      npy::write(path, std::span(&t, 1), {}, {});
      const Checkpoint ck = npy::open(path);
      ASSERT_EQ(ck.tensors.size(), 1u);
      EXPECT_EQ(ck.tensors[0].dtype, dt);
      EXPECT_EQ(ck.tensors[0].shape, shape);
      EXPECT_EQ(ck.tensors[0].offset % 64, 0u);
      EXPECT_EQ(read_all(ck.tensors[0]), read_all(t));
    }
  }
}

TEST(NpyWriter, RefusesWhatNpyCannotHold) {
  TempDir dir;
  const TensorInfo f8 = ckpt::test::random_tensor("w", DType::F8_E4M3, {4}, 1);
  try {
    npy::write(dir.file("a.npy"), std::span(&f8, 1), {}, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.sentence(), "tensor 'w' has dtype float8_e4m3fn, which .npy cannot store");
  }
  const TensorInfo q = ckpt::test::random_tensor("q", DType::Q4_0, {64}, 1);
  try {
    npy::write(dir.file("a.npy"), std::span(&q, 1), {}, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.sentence(), "tensor 'q' has dtype q4_0, which .npy cannot store");
  }
  const TensorInfo two[] = {ckpt::test::random_tensor("a", DType::F32, {2}), ckpt::test::random_tensor("b", DType::F32, {2})};
  try {
    npy::write(dir.file("a.npy"), two, {}, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.sentence(), HasSubstr("exactly one array, but 2 tensors"));
  }
  EXPECT_FALSE(fs::exists(dir.file("a.npy")));
}

namespace {
// Streams one chunk, then fails: a source file vanishing mid-write.
class FailingData final : public TensorData {
 public:
  void stream(const ByteSink& sink) const override {
    std::vector<std::byte> b(16);
    sink(b);
    throw Error("src", 16, "the source went away");
  }
};
}  // namespace

TEST(NpyWriter, FailedWriteLeavesNoTempFileAndKeepsDestination) {
  TempDir dir;
  const std::string path = dir.file("keep.npy");
  ckpt::test::write_file_bytes(path, bytes_of("original"));
  TensorInfo t;
  t.name = "x";
  t.dtype = DType::F32;
  t.shape = {64};
  t.nbytes = 256;
  t.data = std::make_shared<FailingData>();
  EXPECT_THROW(npy::write(path, std::span(&t, 1), {}, {}), Error);
  EXPECT_EQ(ckpt::test::read_file_bytes(path), bytes_of("original"));
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(NpyWriter, ReportsProgress) {
  TempDir dir;
  const TensorInfo t = ckpt::test::random_tensor("x", DType::F32, {1000, 1000});
  WriteOptions opt;
  std::uint64_t last = 0;
  opt.on_progress = [&](const Progress& p) { last = p.bytes_done; };
  npy::write(dir.file("p.npy"), std::span(&t, 1), {}, opt);
  EXPECT_EQ(last, t.nbytes);
}

// ---- interop with Debian's NumPy ----

TEST(NpyInterop, OurFilesAreByteIdenticalToNpSave) {
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  TempDir dir;
  const std::pair<DType, Shape> cases[] = {
      {DType::F32, {3, 4}}, {DType::F64, {5}},       {DType::I64, {}},         {DType::U8, {2, 3, 4, 5}},
      {DType::Bool, {7}},   {DType::C64, {2, 2}},    {DType::C128, {3}},       {DType::F16, {3, 0, 2}},
      {DType::I8, {1}},     {DType::U64, {10, 1}},   {DType::I16, {12345678}}, {DType::U32, {100000, 10}},
      {DType::I32, {0}},    {DType::U16, {1, 1, 1, 1, 1, 1, 1, 1, 1}}};
  int k = 0;
  for (const auto& [dt, shape] : cases) {
    const TensorInfo t = ckpt::test::random_tensor("x", dt, shape, 5);
    npy::write(dir.file("ours" + std::to_string(k++) + ".npy"), std::span(&t, 1), {}, {});
  }
  const std::string script = R"(
import sys, glob, numpy as np
for f in sorted(glob.glob(sys.argv[1] + "/ours*.npy")):
    a = np.load(f)
    np.save(f.replace("ours", "ref"), a)
)";
  std::string out;
  ASSERT_EQ(ckpt::test::run_python(script, {dir.path().string()}, &out), 0) << out;
  for (int i = 0; i < k; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(ckpt::test::read_file_bytes(dir.file("ours" + std::to_string(i) + ".npy")), ckpt::test::read_file_bytes(dir.file("ref" + std::to_string(i) + ".npy")));
  }
}

TEST(NpyInterop, NumpyFilesReadIdentically) {
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  TempDir dir;
  // Each file is written by NumPy; the hash is of its values in C order, little-endian.
  const std::string script = R"(
import sys, hashlib, numpy as np
from numpy.lib import format as F
d = sys.argv[1]
rng = np.random.default_rng(7)
arrays = {
  "f4": rng.standard_normal((3, 4)).astype("<f4"),
  "be_f8": rng.standard_normal((5, 2)).astype(">f8"),
  "be_c8": (rng.standard_normal((2, 2)) + 1j).astype(">c8"),
  "be_u2": np.arange(7, dtype=">u2"),
  "fortran_i4": np.asfortranarray(np.arange(24, dtype="<i4").reshape(2, 3, 4)),
  "fortran_be_i8": np.asfortranarray(np.arange(6, dtype=">i8").reshape(3, 2)),
  "zero_d": np.array(3.5, dtype="<f8"),
  "empty": np.zeros((3, 0, 2), dtype="<f2"),
  "bool": rng.integers(0, 2, (4, 4)).astype(bool),
  "c16": rng.standard_normal(3) + 2j,
  "i1": np.arange(-5, 5, dtype="i1"),
  "u8": np.arange(4, dtype="<u8") * 2**60,
}
for name, a in arrays.items():
    np.save(f"{d}/{name}.npy", a)
for ver in [(2, 0), (3, 0)]:
    a = rng.standard_normal((2, 3)).astype("<f4")
    with open(f"{d}/v{ver[0]}.npy", "wb") as fp:
        F.write_array(fp, a, version=ver)
    arrays[f"v{ver[0]}"] = a
for name, a in arrays.items():
    c = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    print(name, c.dtype.str, list(c.shape), hashlib.sha256(c.tobytes()).hexdigest())
)";
  std::string out;
  ASSERT_EQ(ckpt::test::run_python(script, {dir.path().string()}, &out), 0) << out;
  std::istringstream lines(out);
  std::string name, descr, shape_text, hash;
  int n = 0;
  while (lines >> name >> descr) {
    std::getline(lines >> std::ws, shape_text, ']');
    lines >> hash;
    SCOPED_TRACE(name);
    const Checkpoint ck = npy::open(dir.file(name + ".npy"));
    ASSERT_EQ(ck.tensors.size(), 1u);
    EXPECT_EQ(sha_of(ck.tensors[0]), hash);
    EXPECT_EQ(std::string(info(ck.tensors[0].dtype).npy_descr), descr.substr(1));
    ++n;
  }
  EXPECT_EQ(n, 14) << out;
  const auto v3 = MappedFile::open(dir.file("v3.npy"));
  EXPECT_EQ(npy::parse_header(*v3, 0, v3->size()).major, 3);
}

TEST(NpyInterop, NumpyLoadsOurFilesWithIdenticalValues) {
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  TempDir dir;
  std::string expect;
  int k = 0;
  for (DType dt : kNpyTypes) {
    if (dt == DType::BF16) continue;  // NumPy has no bfloat16 (it reads '<V2' as raw void)
    const TensorInfo t = ckpt::test::random_tensor("x", dt, {3, 5}, 11);
    npy::write(dir.file("f" + std::to_string(k) + ".npy"), std::span(&t, 1), {}, {});
    expect += "f" + std::to_string(k) + " " + sha_of(t) + "\n";
    ++k;
  }
  const std::string script = R"(
import sys, glob, hashlib, os, numpy as np
for f in sorted(glob.glob(sys.argv[1] + "/f*.npy"), key=lambda p: int(os.path.basename(p)[1:-4])):
    a = np.load(f)
    print(os.path.basename(f)[:-4], hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest())
)";
  std::string out;
  ASSERT_EQ(ckpt::test::run_python(script, {dir.path().string()}, &out), 0) << out;
  EXPECT_EQ(out, expect);
}
