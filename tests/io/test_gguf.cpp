#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/endian.h"
#include "io/error.h"
#include "io/float_convert.h"
#include "io/formats/gguf.h"
#include "tests/support/support.h"

using namespace ckpt::io;
namespace fs = std::filesystem;
using ckpt::test::TempDir;

namespace {

// Hand-built GGUF bytes in either byte order and any version.
class Builder {
 public:
  explicit Builder(std::uint32_t version = 3, bool big = false) : version_(version), big_(big) {}
  std::vector<std::byte> b;

  template <class T>
  Builder& put(T v) {
    using U = std::conditional_t<sizeof(T) == 1, std::uint8_t,
                                 std::conditional_t<sizeof(T) == 2, std::uint16_t,
                                                    std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>>;
    U u = std::bit_cast<U>(v);
    if (big_) u = byteswap(u);
    std::byte raw[sizeof(U)];
    std::memcpy(raw, &u, sizeof u);
    b.insert(b.end(), raw, raw + sizeof u);
    return *this;
  }
  Builder& count(std::uint64_t n) {
    if (version_ == 1) return put(static_cast<std::uint32_t>(n));
    return put(n);
  }
  Builder& str(std::string_view s) {
    count(s.size());
    for (char c : s) b.push_back(static_cast<std::byte>(c));
    return *this;
  }
  Builder& header(std::uint64_t tensors, std::uint64_t kvs) {
    for (char c : std::string_view("GGUF")) b.push_back(static_cast<std::byte>(c));
    put(version_);
    count(tensors);
    return count(kvs);
  }
  Builder& kv_u32(std::string_view key, std::uint32_t v) {
    str(key);
    put<std::uint32_t>(4);
    return put(v);
  }
  Builder& kv_str(std::string_view key, std::string_view v) {
    str(key);
    put<std::uint32_t>(8);
    return str(v);
  }
  Builder& tensor(std::string_view name, std::vector<std::uint64_t> ne, std::uint32_t type, std::uint64_t offset) {
    str(name);
    put(static_cast<std::uint32_t>(ne.size()));
    for (auto d : ne) {
      if (version_ == 1) put(static_cast<std::uint32_t>(d));
      else put(d);
    }
    put(type);
    return put(offset);
  }
  Builder& pad(std::size_t align = 32) {
    while (b.size() % align) b.push_back(std::byte{0});
    return *this;
  }
  Builder& bytes(std::size_t n, std::uint8_t start = 1) {
    for (std::size_t k = 0; k < n; ++k) b.push_back(static_cast<std::byte>(start + k));
    return *this;
  }

 private:
  std::uint32_t version_;
  bool big_;
};

Checkpoint describe_bytes(std::vector<std::byte> bytes, std::string label = "mem.gguf") {
  return gguf::describe(std::make_shared<MemorySource>(std::move(bytes), std::move(label)));
}

// Asserts that reading `bytes` fails with a sentence containing `text`.
void expect_error(std::vector<std::byte> bytes, const std::string& text) {
  try {
    (void)describe_bytes(std::move(bytes));
    ADD_FAILURE() << "expected an error containing \"" << text << "\"";
  } catch (const Error& e) {
    EXPECT_NE(e.sentence().find(text), std::string::npos) << "got: " << e.what();
  }
}

std::vector<float> as_floats(const std::vector<std::byte>& b) {
  std::vector<float> f(b.size() / 4);
  std::memcpy(f.data(), b.data(), b.size());
  return f;
}

// A small valid v3 file: one KV, an F32 [2,3] tensor and an I16 [4] tensor.
std::vector<std::byte> small_file(std::uint32_t version = 3, bool big = false) {
  Builder g(version, big);
  g.header(2, 2).kv_str("general.name", "tiny").kv_u32("answer", 42);
  g.tensor("w", {3, 2}, 0, 0).tensor("idx", {4}, 25, 32).pad();
  for (int k = 0; k < 6; ++k) g.put(static_cast<float>(k) + 0.5f);
  g.pad();
  for (int k = 0; k < 4; ++k) g.put(static_cast<std::int16_t>(-k * 1000));
  return g.b;
}

void check_small(const Checkpoint& ck) {
  ASSERT_EQ(ck.tensors.size(), 2u);
  EXPECT_EQ(ck.tensors[0].name, "w");
  EXPECT_EQ(ck.tensors[0].dtype, DType::F32);
  EXPECT_EQ(ck.tensors[0].shape, (Shape{2, 3}));
  EXPECT_EQ(ck.tensors[0].ggml_ne, (std::vector<std::uint64_t>{3, 2}));
  EXPECT_EQ(as_floats(read_all(ck.tensors[0])), (std::vector<float>{0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f}));
  const auto idx = read_all(ck.tensors[1]);
  ASSERT_EQ(idx.size(), 8u);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(load_le<std::int16_t>(idx.data() + 2 * k), -k * 1000);
  ASSERT_EQ(ck.metadata.size(), 2u);
  EXPECT_EQ(ck.metadata[0].value, MetaValue::string("tiny"));
  EXPECT_EQ(ck.metadata[1].value, MetaValue::unsigned_int(MetaType::U32, 42));
}

}  // namespace

// ---------------------------------------------------------------- fixtures

TEST(Gguf, FixturesMatchManifests) {
  if (!ckpt::test::fixtures_dir()) GTEST_SKIP() << "shared fixtures not found at ../shared/fixtures";
  std::vector<fs::path> files = ckpt::test::fixture_files("gguf-py", ".gguf");
  for (const auto& f : ckpt::test::fixture_files("mlx", ".gguf")) files.push_back(f);
  ASSERT_FALSE(files.empty());
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    const Checkpoint ck = gguf::open(f.string());
    const auto m = ckpt::test::load_manifest(f);
    ckpt::test::expect_matches_manifest(ck, m);
    const auto& h = m["gguf_header"];
    EXPECT_EQ(ck.format, Format::Gguf);
    EXPECT_EQ(ck.format_detail, "GGUF v" + std::to_string(h["version"].get<int>()) + " (little-endian)");
    EXPECT_EQ(ck.tensors.size(), h["tensor_count"].get<std::size_t>());
    EXPECT_EQ(ck.metadata.size(), h["kv_count"].get<std::size_t>());
    const MetaValue* a = find(ck.metadata, "general.alignment");
    EXPECT_EQ(a ? a->u : 32u, h["alignment"].get<std::uint64_t>());
    const auto data_offset = h["data_offset"].get<std::uint64_t>();
    for (std::size_t k = 0; k < ck.tensors.size(); ++k) {
      const auto& mt = m["tensors"][k];
      EXPECT_EQ(ck.tensors[k].offset, data_offset + mt["offset"].get<std::uint64_t>()) << ck.tensors[k].name;
      if (mt.contains("file_offset")) { EXPECT_EQ(ck.tensors[k].offset, mt["file_offset"].get<std::uint64_t>()); }
      EXPECT_EQ(ck.tensors[k].file, f.string());
    }
  }
}

TEST(Gguf, FixturesRewriteIdentically) {
  // Our writer lays a GGUF file out as gguf-py and MLX do (v3, alignment 32,
  // tensors packed in order), so a copy reproduces the file byte for byte.
  if (!ckpt::test::fixtures_dir()) GTEST_SKIP() << "shared fixtures not found at ../shared/fixtures";
  TempDir tmp;
  std::vector<fs::path> files = ckpt::test::fixture_files("gguf-py", ".gguf");
  for (const auto& f : ckpt::test::fixture_files("mlx", ".gguf")) files.push_back(f);
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    const Checkpoint ck = gguf::open(f.string());
    const std::string out = tmp.file("copy.gguf");
    gguf::write(out, ck.tensors, ck.metadata, WriteOptions{});
    const Checkpoint back = gguf::open(out);
    ckpt::test::expect_matches_manifest(back, ckpt::test::load_manifest(f));
    auto slurp = [](const fs::path& p) {
      std::ifstream in(p, std::ios::binary);
      return std::string(std::istreambuf_iterator<char>(in), {});
    };
    EXPECT_TRUE(slurp(f) == slurp(out)) << "rewritten file differs from the original";
  }
}

// ---------------------------------------------------------------- versions, byte order

TEST(Gguf, ReadsV1V2V3AndBigEndian) {
  for (std::uint32_t v : {1u, 2u, 3u}) {
    for (bool big : {false, true}) {
      SCOPED_TRACE("version " + std::to_string(v) + (big ? " big-endian" : " little-endian"));
      const Checkpoint ck = describe_bytes(small_file(v, big));
      check_small(ck);
      EXPECT_EQ(ck.format_detail, "GGUF v" + std::to_string(v) + (big ? " (big-endian)" : " (little-endian)"));
    }
  }
}

TEST(Gguf, BigEndianMetadataOfEveryType) {
  Builder g(3, true);
  g.header(0, 4);
  g.str("f64").put<std::uint32_t>(12).put(-2.5);
  g.str("i16").put<std::uint32_t>(3).put<std::int16_t>(-300);
  g.str("arr").put<std::uint32_t>(9).put<std::uint32_t>(5).put<std::uint64_t>(2).put<std::int32_t>(-7).put<std::int32_t>(70000);
  g.str("strs").put<std::uint32_t>(9).put<std::uint32_t>(8).put<std::uint64_t>(2).str("ab").str("");
  const Checkpoint ck = describe_bytes(g.b);
  ASSERT_EQ(ck.metadata.size(), 4u);
  EXPECT_EQ(ck.metadata[0].value, MetaValue::floating(MetaType::F64, -2.5));
  EXPECT_EQ(ck.metadata[1].value, MetaValue::signed_int(MetaType::I16, -300));
  EXPECT_EQ(ck.metadata[2].value, MetaValue::array(MetaType::I32, {MetaValue::signed_int(MetaType::I32, -7),
                                                                    MetaValue::signed_int(MetaType::I32, 70000)}));
  EXPECT_EQ(ck.metadata[3].value, MetaValue::array(MetaType::String, {MetaValue::string("ab"), MetaValue::string("")}));
}

TEST(Gguf, UnknownTypeIsListedWithSizeFromNextOffset) {
  Builder g;
  g.header(3, 0);
  g.tensor("a", {8}, 0, 0).tensor("mystery", {64, 2}, 99, 32).tensor("tail", {5}, 99, 96).pad();
  g.bytes(32).bytes(64).bytes(7);
  const Checkpoint ck = describe_bytes(g.b);
  ASSERT_EQ(ck.tensors.size(), 3u);
  EXPECT_EQ(ck.tensors[1].dtype, DType::GgmlUnknown);
  EXPECT_EQ(ck.tensors[1].ggml_type, 99u);
  EXPECT_EQ(ck.tensors[1].shape, (Shape{2, 64}));
  EXPECT_EQ(ck.tensors[1].nbytes, 64u);
  EXPECT_EQ(ck.tensors[1].data, nullptr);
  EXPECT_EQ(ck.tensors[2].nbytes, 7u);  // the last one runs to the end of the file
  EXPECT_EQ(read_all(ck.tensors[0]).size(), 32u);
}

TEST(Gguf, ZeroDimAndEmptyTensors) {
  // n_dims 0 is a scalar (ggml fills unused ne with 1); a 0 in ne is an empty tensor.
  Builder g;
  g.header(2, 0).tensor("s", {}, 0, 0).tensor("e", {0, 3}, 1, 32).pad();
  g.put(1.25f).pad();
  const Checkpoint ck = describe_bytes(g.b);
  EXPECT_EQ(ck.tensors[0].shape, Shape{});
  EXPECT_EQ(as_floats(read_all(ck.tensors[0])), std::vector<float>{1.25f});
  EXPECT_EQ(ck.tensors[1].shape, (Shape{3, 0}));
  EXPECT_EQ(ck.tensors[1].nbytes, 0u);
  EXPECT_TRUE(read_all(ck.tensors[1]).empty());
}

// ---------------------------------------------------------------- writer round trips

namespace {

const std::vector<DType> kPlain = {DType::F32, DType::F16, DType::BF16, DType::F64,
                                   DType::I8,  DType::I16, DType::I32,  DType::I64};

Metadata every_kind_of_metadata() {
  Metadata m;
  m.push_back({"general.name", MetaValue::string("round trip ✓")});
  m.push_back({"u8", MetaValue::unsigned_int(MetaType::U8, 255)});
  m.push_back({"i8", MetaValue::signed_int(MetaType::I8, -128)});
  m.push_back({"u16", MetaValue::unsigned_int(MetaType::U16, 65535)});
  m.push_back({"i16", MetaValue::signed_int(MetaType::I16, -32768)});
  m.push_back({"u32", MetaValue::unsigned_int(MetaType::U32, 4294967295u)});
  m.push_back({"i32", MetaValue::signed_int(MetaType::I32, -2147483647 - 1)});
  m.push_back({"f32", MetaValue::floating(MetaType::F32, 0.1f)});
  m.push_back({"bool", MetaValue::boolean(true)});
  m.push_back({"empty", MetaValue::string("")});
  m.push_back({"u64", MetaValue::unsigned_int(MetaType::U64, ~std::uint64_t{0})});
  m.push_back({"i64", MetaValue::signed_int(MetaType::I64, INT64_MIN)});
  m.push_back({"f64", MetaValue::floating(MetaType::F64, -6.02214076e23)});
  m.push_back({"strings", MetaValue::array(MetaType::String, {MetaValue::string("a"), MetaValue::string(""),
                                                              MetaValue::string("末尾")})});
  m.push_back({"bools", MetaValue::array(MetaType::Bool, {MetaValue::boolean(false), MetaValue::boolean(true)})});
  m.push_back({"empty_array", MetaValue::array(MetaType::F32, {})});
  m.push_back({"nested", MetaValue::array(MetaType::Array,
                                          {MetaValue::array(MetaType::I16, {MetaValue::signed_int(MetaType::I16, -1)}),
                                           MetaValue::array(MetaType::String, {MetaValue::string("x")}),
                                           MetaValue::array(MetaType::Array, {MetaValue::array(MetaType::U64, {})})})});
  return m;
}

}  // namespace

TEST(Gguf, RoundTripEveryDtypeAndShape) {
  TempDir tmp;
  std::vector<TensorInfo> tensors;
  unsigned seed = 1;
  const std::vector<Shape> shapes = {{}, {7}, {2, 3, 4, 5}, {3, 0, 2}};
  for (DType t : kPlain)
    for (const auto& s : shapes)
      tensors.push_back(ckpt::test::random_tensor(std::string(name(t)) + "." + std::to_string(tensors.size()), t, s, seed++));
  tensors.push_back(ckpt::test::random_tensor("large.f32", DType::F32, {1000, 1000}, seed++));
  tensors.push_back(ckpt::test::random_tensor("large.i8", DType::I8, {1000000}, seed++));
  for (int k = 0; k < kDTypeCount; ++k) {
    const DType t = static_cast<DType>(k);
    if (!is_quantized(t)) continue;
    const std::int64_t blk = info(t).block_elems;
    tensors.push_back(ckpt::test::random_tensor(std::string(name(t)), t, {3, 2 * blk}, seed++));
    tensors.push_back(ckpt::test::random_tensor(std::string(name(t)) + ".1d", t, {blk}, seed++));
  }
  const Metadata meta = every_kind_of_metadata();
  const std::string path = tmp.file("rt.gguf");
  std::uint64_t last_progress = 0;
  WriteOptions opt;
  opt.on_progress = [&](const Progress& p) { last_progress = p.bytes_done; };
  gguf::write(path, tensors, meta, opt);

  const Checkpoint ck = gguf::open(path);
  EXPECT_EQ(ck.format_detail, "GGUF v3 (little-endian)");
  EXPECT_EQ(ck.metadata, meta);  // alignment 32 is the default: not added
  ASSERT_EQ(ck.tensors.size(), tensors.size());
  std::uint64_t total = 0;
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    SCOPED_TRACE(tensors[k].name);
    const auto& t = ck.tensors[k];
    EXPECT_EQ(t.name, tensors[k].name);
    EXPECT_EQ(t.dtype, tensors[k].dtype);
    EXPECT_EQ(t.shape, tensors[k].shape);
    EXPECT_EQ(t.ggml_type, static_cast<std::uint32_t>(info(t.dtype).ggml_id));
    EXPECT_EQ(t.offset % 32, 0u);
    EXPECT_TRUE(read_all(t) == read_all(tensors[k]));
    total += t.nbytes;
  }
  EXPECT_EQ(last_progress, total);
}

TEST(Gguf, AlignmentOptionIsHonoured) {
  TempDir tmp;
  std::vector<TensorInfo> tensors = {ckpt::test::random_tensor("a", DType::F32, {3}, 1),
                                     ckpt::test::random_tensor("b", DType::Q8_0, {32}, 2),
                                     ckpt::test::random_tensor("c", DType::I8, {5}, 3)};
  for (std::uint32_t align : {1u, 8u, 256u, 4096u}) {
    SCOPED_TRACE(align);
    WriteOptions opt;
    opt.gguf_alignment = align;
    const std::string path = tmp.file("a.gguf");
    gguf::write(path, tensors, {{"general.alignment", MetaValue::unsigned_int(MetaType::U32, 7)}}, opt);
    const Checkpoint ck = gguf::open(path);
    ASSERT_EQ(ck.metadata.size(), 1u);
    EXPECT_EQ(ck.metadata[0].value, MetaValue::unsigned_int(MetaType::U32, align));
    for (const auto& t : ck.tensors) {
      EXPECT_EQ(t.offset % align, 0u) << t.name;
      EXPECT_TRUE(read_all(t) == read_all(tensors[&t - ck.tensors.data()]));
    }
    // Without it in the metadata, a non-default alignment is added at the end.
    gguf::write(path, tensors, {{"k", MetaValue::string("v")}}, opt);
    const Checkpoint ck2 = gguf::open(path);
    if (align == 32) {
      EXPECT_EQ(ck2.metadata.size(), 1u);
    } else {
      ASSERT_EQ(ck2.metadata.size(), 2u);
      EXPECT_EQ(ck2.metadata[1].key, "general.alignment");
    }
  }
  WriteOptions bad;
  bad.gguf_alignment = 48;
  EXPECT_THROW(gguf::write(tmp.file("bad.gguf"), tensors, {}, bad), Error);
}

TEST(Gguf, WriterRejectsWhatGgufCannotStore) {
  TempDir tmp;
  auto expect_write_error = [&](const TensorInfo& t, const std::string& text) {
    try {
      gguf::write(tmp.file("x.gguf"), std::span<const TensorInfo>(&t, 1), {}, WriteOptions{});
      ADD_FAILURE() << "expected an error for " << t.name;
    } catch (const Error& e) {
      EXPECT_NE(e.sentence().find(text), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(tmp.file("x.gguf")));
  };
  for (DType t : {DType::Bool, DType::U8, DType::U16, DType::U32, DType::U64, DType::C64, DType::C128,
                  DType::F8_E4M3, DType::F8_E5M2, DType::F6_E2M3, DType::F4_E2M1}) {
    const auto ti = ckpt::test::random_tensor("bad", t, {4}, 1);
    expect_write_error(ti, "tensor 'bad' has dtype " + std::string(name(t)) + ", which .gguf cannot store");
  }
  expect_write_error(ckpt::test::random_tensor("q", DType::Q4_0, {32, 2}, 1), "multiple of 32");
  auto q = ckpt::test::random_tensor("q", DType::Q4_0, {64}, 1);
  q.shape = {2, 32, 1};  // 64 elements, but the rows are 1 long
  expect_write_error(q, "multiple of 32");
}

TEST(Gguf, FailedWriteLeavesNoTraceAndKeepsDestination) {
  class Failing final : public TensorData {
   public:
    void stream(const ByteSink& sink) const override {
      std::vector<std::byte> half(200, std::byte{1});
      sink(half);
      throw std::runtime_error("source went away");
    }
  };
  TempDir tmp;
  const std::string dest = tmp.file("keep.gguf");
  {
    std::ofstream(dest) << "precious";
  }
  std::vector<TensorInfo> tensors = {ckpt::test::random_tensor("ok", DType::F32, {10}, 1)};
  TensorInfo bad;
  bad.name = "bad";
  bad.dtype = DType::F32;
  bad.shape = {100};
  bad.nbytes = 400;
  bad.data = std::make_shared<Failing>();
  tensors.push_back(bad);
  EXPECT_THROW(gguf::write(dest, tensors, {}, WriteOptions{}), std::runtime_error);
  std::ifstream in(dest);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "precious");
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp.path())) ++n;
  EXPECT_EQ(n, 1u) << "a temporary file was left behind";
}

// ---------------------------------------------------------------- split models

TEST(Gguf, SplitModelOpensAsOne) {
  TempDir tmp;
  std::vector<TensorInfo> all;
  for (int k = 0; k < 5; ++k) all.push_back(ckpt::test::random_tensor("t" + std::to_string(k), DType::F16, {2, k + 1}, k + 1u));
  const int parts[3][2] = {{0, 2}, {2, 4}, {4, 5}};
  for (int p = 0; p < 3; ++p) {
    Metadata m;
    if (p == 0) m.push_back({"general.name", MetaValue::string("split")});
    m.push_back({"split.no", MetaValue::unsigned_int(MetaType::U16, static_cast<std::uint64_t>(p))});
    m.push_back({"split.count", MetaValue::unsigned_int(MetaType::U16, 3)});
    m.push_back({"split.tensors.count", MetaValue::signed_int(MetaType::I32, 5)});
    char name[64];
    std::snprintf(name, sizeof name, "model-%05d-of-00003.gguf", p + 1);
    gguf::write(tmp.file(name), std::span<const TensorInfo>(all).subspan(parts[p][0], parts[p][1] - parts[p][0]), m, {});
  }
  for (const char* which : {"model-00001-of-00003.gguf", "model-00003-of-00003.gguf"}) {
    const Checkpoint ck = gguf::open(tmp.file(which));
    EXPECT_EQ(ck.format_detail, "GGUF v3, split into 3 files");
    EXPECT_EQ(ck.files.size(), 3u);
    ASSERT_EQ(ck.tensors.size(), 5u);
    for (int k = 0; k < 5; ++k) {
      EXPECT_EQ(ck.tensors[k].name, all[k].name);
      EXPECT_TRUE(read_all(ck.tensors[k]) == read_all(all[k]));
    }
    EXPECT_EQ(ck.metadata[0].value, MetaValue::string("split"));
  }
  fs::remove(tmp.file("model-00002-of-00003.gguf"));
  EXPECT_THROW((void)gguf::open(tmp.file("model-00001-of-00003.gguf")), Error);
}

// ---------------------------------------------------------------- corrupt files

TEST(Gguf, RejectsBadHeaders) {
  auto f = small_file();
  f[0] = std::byte{'X'};
  expect_error(f, "GGUF magic");
  for (std::uint32_t v : {0u, 4u, 1000u}) {
    Builder g(3);
    g.header(0, 0);
    std::memcpy(g.b.data() + 4, &v, 4);
    expect_error(g.b, "GGUF version " + std::to_string(v) + " is not supported");
  }
  expect_error(Builder().header(std::uint64_t{1} << 62, 0).b, "tensors, more than the file can hold");
  expect_error(Builder().header(0, std::uint64_t{1} << 62).b, "key/value pairs, more than the file can hold");
  expect_error(Builder(1).header(0xFFFFFFFFu, 0).b, "more than the file can hold");
}

TEST(Gguf, RejectsBadKeyValues) {
  {
    Builder g;
    g.header(0, 1).str("a").put<std::uint32_t>(9).put<std::uint32_t>(0).put<std::uint64_t>(std::uint64_t{1} << 62);
    expect_error(g.b, "claims 4611686018427387904 elements");
  }
  {
    Builder g;
    g.header(0, 1).str("a").put<std::uint32_t>(9).put<std::uint32_t>(8).put<std::uint64_t>(std::uint64_t{1} << 62);
    expect_error(g.b, "more than the file can hold");
  }
  {
    Builder g;
    g.header(0, 1).str("a").put<std::uint32_t>(8).put<std::uint64_t>(1000).bytes(10);
    expect_error(g.b, "claims 1000 bytes");
  }
  {
    Builder g;
    g.header(0, 1).put<std::uint64_t>(~std::uint64_t{0}).bytes(20);
    expect_error(g.b, "more than the");
  }
  {
    Builder g;
    g.header(0, 1).str("a").put<std::uint32_t>(13).put<std::uint32_t>(0);
    expect_error(g.b, "13, not a GGUF value type");
  }
  {
    Builder g;
    g.header(0, 1).str("a").put<std::uint32_t>(9).put<std::uint32_t>(77).put<std::uint64_t>(0);
    expect_error(g.b, "77, not a GGUF value type");
  }
  {
    Builder g;
    g.header(0, 2).kv_u32("k", 1).kv_str("k", "again");
    expect_error(g.b, "the key 'k' appears twice");
  }
  {
    // Arrays nested beyond the bound.
    Builder g;
    g.header(0, 1).str("deep");
    g.put<std::uint32_t>(9);
    for (int k = 0; k < 40; ++k) g.put<std::uint32_t>(9).put<std::uint64_t>(1);
    g.put<std::uint32_t>(0).put<std::uint64_t>(0);
    expect_error(g.b, "nests arrays more than");
  }
  for (std::uint32_t a : {0u, 3u, 48u}) {
    Builder g;
    g.header(0, 1).kv_u32("general.alignment", a);
    expect_error(g.b, "not a nonzero power of two");
  }
  {
    Builder g;
    g.header(0, 1).kv_str("general.alignment", "32");
    expect_error(g.b, "not uint32");
  }
}

TEST(Gguf, RejectsBadTensorInfos) {
  {
    Builder g;
    g.header(1, 0).tensor("t", {1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, 0).pad().bytes(4);
    expect_error(g.b, "has 9 dimensions");
  }
  {
    Builder g;
    g.header(1, 0).tensor("t", {std::uint64_t{1} << 40, std::uint64_t{1} << 40}, 0, 0).pad().bytes(4);
    expect_error(g.b, "more elements than fit");
  }
  {
    Builder g;
    g.header(1, 0).tensor("t", {~std::uint64_t{0}}, 0, 0).pad().bytes(4);
    expect_error(g.b, "negative dimension");
  }
  {
    Builder g;
    g.header(1, 0).tensor("t", {2}, 0, 16).pad().bytes(64);
    expect_error(g.b, "not a multiple of the alignment");
  }
  {
    Builder g;
    g.header(1, 0).tensor("t", {100}, 0, 0).pad().bytes(64);
    expect_error(g.b, "past the end of the file");
  }
  {
    Builder g;
    g.header(1, 0).tensor("t", {1}, 0, 1024).pad().bytes(64);
    expect_error(g.b, "past the end of the file");
  }
  {
    Builder g;
    g.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {4}, 0, 32).pad().bytes(96);
    expect_error(g.b, "tensor 'b' overlaps tensor 'a'");
  }
  {
    Builder g;
    g.header(2, 0).tensor("a", {4}, 0, 0).tensor("a", {4}, 0, 32).pad().bytes(64);
    expect_error(g.b, "the tensor name 'a' appears twice");
  }
  {
    Builder g;
    g.header(1, 0).tensor("q", {16}, 2, 0).pad().bytes(64);
    expect_error(g.b, "not a multiple of the 32-element blocks of q4_0");
  }
}

TEST(Gguf, TruncatedAnywhereThrowsAndReaderStillWorks) {
  TempDir tmp;
  std::vector<TensorInfo> tensors = {ckpt::test::random_tensor("a", DType::F32, {2, 3}, 1),
                                     ckpt::test::random_tensor("q", DType::Q4_K, {256}, 2),
                                     ckpt::test::random_tensor("z", DType::I8, {40}, 3)};
  gguf::write(tmp.file("full.gguf"), tensors, every_kind_of_metadata(), {});
  std::ifstream in(tmp.file("full.gguf"), std::ios::binary);
  std::vector<std::byte> full;
  for (char c; in.get(c);) full.push_back(static_cast<std::byte>(c));
  const Checkpoint ok = describe_bytes(full);
  const auto& last = ok.tensors.back();
  const std::uint64_t needed = last.offset + last.nbytes;  // the writer's trailing padding is optional
  for (std::uint64_t cut = 0; cut < needed; ++cut) {
    std::vector<std::byte> part(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut));
    EXPECT_THROW((void)describe_bytes(std::move(part)), Error) << "cut at " << cut;
  }
  // After all those failures the reader is unaffected.
  const Checkpoint again = describe_bytes(full);
  EXPECT_EQ(again.metadata, every_kind_of_metadata());
  EXPECT_TRUE(read_all(again.tensors[1]) == read_all(tensors[1]));
  check_small(describe_bytes(small_file()));
}

TEST(Gguf, OurFilesReadByIndependentNumpyParser) {
  // A minimal GGUF parser in NumPy (standing in for gguf-py / MLX) reads the
  // types MLX writes and prints each tensor's row-major shape and sum.
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  TempDir tmp;
  std::vector<TensorInfo> tensors = {ckpt::test::random_tensor("f32", DType::F32, {3, 4}, 1),
                                     ckpt::test::random_tensor("f16", DType::F16, {5}, 2),
                                     ckpt::test::random_tensor("i8", DType::I8, {2, 2, 2}, 3),
                                     ckpt::test::random_tensor("i16", DType::I16, {7}, 4),
                                     ckpt::test::random_tensor("i32", DType::I32, {1, 9}, 5)};
  const std::string path = tmp.file("np.gguf");
  gguf::write(path, tensors, {{"general.name", MetaValue::string("np")}, {"x", MetaValue::floating(MetaType::F64, 1.5)}}, {});
  const std::string script = R"(
import sys, struct, numpy as np
b = open(sys.argv[1], 'rb').read()
assert b[:4] == b'GGUF'
ver, nt, nkv = struct.unpack_from('<IQQ', b, 4)
assert ver == 3
p = 24
def s(p):
    n, = struct.unpack_from('<Q', b, p); return b[p+8:p+8+n].decode(), p + 8 + n
sizes = {0:4,1:1,2:2,3:2,4:4,5:4,6:4,7:1,10:8,11:8,12:8}
for _ in range(nkv):
    k, p = s(p); t, = struct.unpack_from('<I', b, p); p += 4
    if t == 8: _, p = s(p)
    else: p += sizes[t]
infos = []
for _ in range(nt):
    name, p = s(p); nd, = struct.unpack_from('<I', b, p); p += 4
    ne = struct.unpack_from('<%dQ' % nd, b, p); p += 8 * nd
    ty, off = struct.unpack_from('<IQ', b, p); p += 12
    infos.append((name, ne, ty, off))
data = (p + 31) // 32 * 32
dt = {0: np.float32, 1: np.float16, 24: np.int8, 25: np.int16, 26: np.int32}
for name, ne, ty, off in infos:
    shape = tuple(reversed(ne))
    n = int(np.prod(shape))
    a = np.frombuffer(b, dtype=dt[ty], count=n, offset=data + off).reshape(shape)
    print(name, list(shape), repr(float(a.astype(np.float64).sum())))
)";
  std::string out;
  ASSERT_EQ(ckpt::test::run_python(script, {path}, &out), 0) << out;
  std::istringstream lines(out);
  for (const auto& t : tensors) {
    std::string name, shape;
    double sum = 0;
    lines >> name;
    std::getline(lines, shape, ']');
    lines >> sum;
    EXPECT_EQ(name, t.name);
    const auto bytes = read_all(t);
    double want = 0;
    for (std::int64_t k = 0; k < t.numel(); ++k) want += element_to_double(t.dtype, bytes.data() + k * item_size(t.dtype));
    EXPECT_NEAR(sum, want, 1e-4) << t.name;
  }
}

TEST(Gguf, LargeVocabularyArray) {
  // Tokenizer arrays hold 10^5 strings; reading them must stay cheap.
  TempDir tmp;
  std::vector<MetaValue> tokens;
  for (int k = 0; k < 200000; ++k) tokens.push_back(MetaValue::string("tok" + std::to_string(k)));
  const Metadata meta = {{"tokenizer.ggml.tokens", MetaValue::array(MetaType::String, tokens)}};
  gguf::write(tmp.file("v.gguf"), {}, meta, {});
  const Checkpoint ck = gguf::open(tmp.file("v.gguf"));
  ASSERT_EQ(ck.metadata.size(), 1u);
  EXPECT_EQ(ck.metadata[0].value.items.size(), 200000u);
  EXPECT_EQ(ck.metadata[0].value.items[199999].s, "tok199999");
}

TEST(Gguf, SplitModelInconsistenciesAreErrors) {
  TempDir tmp;
  const auto t = ckpt::test::random_tensor("t", DType::F32, {2}, 1);
  auto write_part = [&](int file_no, std::uint64_t split_no, std::uint64_t count, std::int64_t total, const std::string& name) {
    Metadata m = {{"split.no", MetaValue::unsigned_int(MetaType::U16, split_no)},
                  {"split.count", MetaValue::unsigned_int(MetaType::U16, count)},
                  {"split.tensors.count", MetaValue::signed_int(MetaType::I32, total)}};
    TensorInfo copy = t;
    copy.name = name;
    char file[64];
    std::snprintf(file, sizeof file, "m-%05d-of-00002.gguf", file_no);
    gguf::write(tmp.file(file), std::span<const TensorInfo>(&copy, 1), m, {});
  };
  auto expect_open_error = [&](const std::string& text) {
    try {
      (void)gguf::open(tmp.file("m-00001-of-00002.gguf"));
      ADD_FAILURE() << "expected an error containing " << text;
    } catch (const Error& e) {
      EXPECT_NE(e.sentence().find(text), std::string::npos) << e.what();
    }
  };
  write_part(1, 0, 2, 2, "a");
  write_part(2, 0, 2, 2, "b");
  expect_open_error("split.no should be 1");
  write_part(2, 1, 2, 2, "a");
  expect_open_error("the tensor name 'a' appears in more than one part");
  write_part(1, 0, 2, 3, "a");
  write_part(2, 1, 2, 3, "b");
  expect_open_error("split.tensors.count is 3 but the parts hold 2");
  write_part(1, 0, 2, 2, "a");
  EXPECT_EQ(gguf::open(tmp.file("m-00002-of-00002.gguf")).tensors.size(), 2u);
}
