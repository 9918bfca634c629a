// GGUF files with many tensors and large metadata arrays: the reader's fast
// paths (names checked as views into the file, messages built only on
// failure, arrays filled in place, placement checked on compact records)
// must give exactly what was written, and exactly the old error sentences
// and offsets when something is wrong.
#include <gtest/gtest.h>

#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "io/checked.h"
#include "io/endian.h"
#include "io/error.h"
#include "io/formats/gguf.h"
#include "io/open.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;

namespace {

// GGUF bytes written field by field, in either byte order, v1 or v2+ counts.
class Bytes {
 public:
  explicit Bytes(std::uint32_t version = 3, bool big_endian = false) : version_(version), big_(big_endian) {}
  std::vector<std::byte> b;

  template <class T>
  Bytes& num(T v) {
    static_assert(std::is_integral_v<T>);
    if (big_) v = byteswap(v);
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    b.insert(b.end(), p, p + sizeof v);
    return *this;
  }
  Bytes& f32(float v) { return num(std::bit_cast<std::uint32_t>(v)); }
  Bytes& f64(double v) { return num(std::bit_cast<std::uint64_t>(v)); }
  Bytes& count(std::uint64_t n) { return version_ == 1 ? num(static_cast<std::uint32_t>(n)) : num(n); }
  Bytes& str(std::string_view s) {
    count(s.size());
    for (char c : s) b.push_back(static_cast<std::byte>(c));
    return *this;
  }
  Bytes& header(std::uint64_t tensors, std::uint64_t kvs) {
    str_raw("GGUF");
    num(version_);
    count(tensors);
    return count(kvs);
  }
  Bytes& kv_type(std::string_view key, MetaType t) {
    str(key);
    return num(static_cast<std::uint32_t>(t));
  }
  Bytes& array_head(std::string_view key, MetaType element, std::uint64_t n) {
    kv_type(key, MetaType::Array);
    num(static_cast<std::uint32_t>(element));
    return count(n);
  }
  Bytes& info(std::string_view name, const std::vector<std::uint64_t>& ne, std::uint32_t type, std::uint64_t offset) {
    str(name);
    num(static_cast<std::uint32_t>(ne.size()));
    for (auto d : ne) count(d);
    num(type);
    return num(offset);
  }
  Bytes& pad_to(std::size_t align) {
    while (b.size() % align) b.push_back(std::byte{0});
    return *this;
  }
  Bytes& zeros(std::size_t n) {
    b.resize(b.size() + n, std::byte{0});
    return *this;
  }
  [[nodiscard]] std::uint64_t pos() const { return b.size(); }

 private:
  void str_raw(std::string_view s) {
    for (char c : s) b.push_back(static_cast<std::byte>(c));
  }
  std::uint32_t version_;
  bool big_;
};

Checkpoint describe_bytes(std::vector<std::byte> bytes, std::string label = "many.gguf") {
  return gguf::describe(std::make_shared<MemorySource>(std::move(bytes), std::move(label)));
}

// The whole Error (sentence, offset, file), so a changed word or offset shows.
struct Failure {
  std::string sentence;
  std::uint64_t offset = 0;
  std::string file;
};
Failure failure_of(std::vector<std::byte> bytes) {
  try {
    (void)describe_bytes(std::move(bytes));
  } catch (const Error& e) {
    return {e.sentence(), e.offset(), e.file()};
  }
  ADD_FAILURE() << "expected the file to be rejected";
  return {};
}
void expect_failure(std::vector<std::byte> bytes, const std::string& sentence, std::uint64_t offset) {
  const Failure f = failure_of(std::move(bytes));
  EXPECT_EQ(f.sentence, sentence);
  EXPECT_EQ(f.offset, offset);
  EXPECT_EQ(f.file, "many.gguf");
}

std::uint64_t align_up(std::uint64_t n, std::uint64_t a) { return (n + a - 1) / a * a; }

// A vocabulary like llama.cpp's: short pieces, byte tokens, long merges,
// the empty string and multi-byte UTF-8.
std::string token(int k) {
  switch (k % 5) {
    case 0: return "▁t" + std::to_string(k);
    case 1: {
      char hex[8];
      std::snprintf(hex, sizeof hex, "<0x%02X>", k & 0xFF);
      return hex;
    }
    case 2: return k % 7 == 0 ? std::string() : "tok" + std::to_string(k);
    case 3: return "a fairly long merged token #" + std::to_string(k);
    default: return "末尾" + std::to_string(k % 100);
  }
}

Metadata big_metadata() {
  constexpr int kVocab = 150000;
  std::vector<MetaValue> tokens, scores, types, flags;
  tokens.reserve(kVocab);
  for (int k = 0; k < kVocab; ++k) {
    tokens.push_back(MetaValue::string(token(k)));
    scores.push_back(MetaValue::floating(MetaType::F32, static_cast<float>(-k) * 0.25f));
    types.push_back(MetaValue::signed_int(MetaType::I32, k % 6 - 1));
    flags.push_back(MetaValue::boolean(k % 3 == 0));
  }
  Metadata m;
  m.push_back({"general.architecture", MetaValue::string("llama")});
  m.push_back({"general.name", MetaValue::string("a model with many tensors")});
  m.push_back({"llama.block_count", MetaValue::unsigned_int(MetaType::U32, 4000)});
  m.push_back({"u8", MetaValue::unsigned_int(MetaType::U8, 250)});
  m.push_back({"i8", MetaValue::signed_int(MetaType::I8, -100)});
  m.push_back({"u16", MetaValue::unsigned_int(MetaType::U16, 65000)});
  m.push_back({"i16", MetaValue::signed_int(MetaType::I16, -30000)});
  m.push_back({"i64", MetaValue::signed_int(MetaType::I64, -(std::int64_t{1} << 50))});
  m.push_back({"u64", MetaValue::unsigned_int(MetaType::U64, ~std::uint64_t{0} - 5)});
  m.push_back({"f64", MetaValue::floating(MetaType::F64, 3.0e-300)});
  m.push_back({"tokenizer.ggml.tokens", MetaValue::array(MetaType::String, std::move(tokens))});
  m.push_back({"tokenizer.ggml.scores", MetaValue::array(MetaType::F32, std::move(scores))});
  m.push_back({"tokenizer.ggml.token_type", MetaValue::array(MetaType::I32, std::move(types))});
  m.push_back({"flags", MetaValue::array(MetaType::Bool, std::move(flags))});
  m.push_back({"u8s", MetaValue::array(MetaType::U8, {MetaValue::unsigned_int(MetaType::U8, 0),
                                                      MetaValue::unsigned_int(MetaType::U8, 255)})});
  m.push_back({"nested", MetaValue::array(MetaType::Array,
                                          {MetaValue::array(MetaType::String, {MetaValue::string("x"), MetaValue::string("")}),
                                           MetaValue::array(MetaType::U64, {}),
                                           MetaValue::array(MetaType::I16, {MetaValue::signed_int(MetaType::I16, -2)})})});
  return m;
}

// Tensors named like a decoder's, in a few dtypes and shapes (scalars,
// empty tensors and ggml blocks among them), each with distinct bytes.
std::vector<TensorInfo> many_tensors(int n) {
  static const char* const kParts[] = {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "mlp.up_proj.weight",
                                       "input_layernorm.weight", "b", "mlp.down_proj.scale", "mlp.experts.gate.q8"};
  std::vector<TensorInfo> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int k = 0; k < n; ++k) {
    const int part = k % 7;
    const std::string name = part == 4 ? "b" + std::to_string(k) : "model.layers." + std::to_string(k / 7) + "." + kParts[part];
    DType dt = DType::F32;
    Shape shape;
    switch (part) {
      case 0: shape = {2, k % 5 + 1}; break;
      case 1: dt = DType::F16; shape = {3}; break;
      case 2: dt = DType::I8; shape = {k % 3 + 1, 1, 2}; break;
      case 3: shape = {}; break;  // n_dims 0
      case 4: dt = DType::I32; shape = {0, 4}; break;  // empty
      case 5: dt = DType::F64; shape = {1}; break;
      default: dt = DType::Q8_0; shape = {1, 32}; break;
    }
    const auto numel = checked_numel(shape).value_or(0);
    const std::uint64_t nbytes = byte_size(dt, numel).value_or(0);
    std::vector<std::byte> bytes(static_cast<std::size_t>(nbytes));
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>((k * 31 + static_cast<int>(i)) & 0xFF);
    out.push_back(ckpt::test::memory_tensor(name, dt, shape, std::move(bytes)));
  }
  return out;
}

void expect_same_tensors(const Checkpoint& ck, const std::vector<TensorInfo>& want, const std::string& file,
                         std::uint64_t data_start, std::uint64_t align) {
  ASSERT_EQ(ck.tensors.size(), want.size());
  std::uint64_t rel = 0;
  for (std::size_t k = 0; k < want.size(); ++k) {
    const auto& t = ck.tensors[k];
    const auto& w = want[k];
    SCOPED_TRACE(w.name);
    ASSERT_EQ(t.name, w.name);
    EXPECT_EQ(t.dtype, w.dtype);
    EXPECT_EQ(t.shape, w.shape);
    EXPECT_EQ(t.nbytes, w.nbytes);
    EXPECT_EQ(t.ggml_ne, std::vector<std::uint64_t>(w.shape.rbegin(), w.shape.rend()));
    EXPECT_EQ(t.ggml_type, static_cast<std::uint32_t>(info(w.dtype).ggml_id));
    EXPECT_EQ(t.file, file);
    EXPECT_EQ(t.offset, data_start + rel);
    EXPECT_EQ(t.layout_note, "");
    ASSERT_NE(t.data, nullptr);
    EXPECT_TRUE(read_all(t) == read_all(w));
    rel += align_up(w.nbytes, align);
  }
}

}  // namespace

TEST(GgufManyTensors, WrittenFileReadsBackExactly) {
  TempDir tmp;
  const auto tensors = many_tensors(30000);
  const Metadata meta = big_metadata();
  const std::string path = tmp.file("many.gguf");
  WriteOptions opt;
  opt.gguf_alignment = 64;
  opt.sync = false;
  gguf::write(path, tensors, meta, opt);

  // The writer pads every tensor, the last one included, so the data
  // section is the file's tail.
  std::uint64_t data_bytes = 0;
  for (const auto& t : tensors) data_bytes += align_up(t.nbytes, 64);
  const std::uint64_t size = std::filesystem::file_size(path);
  ASSERT_GT(size, data_bytes);
  const std::uint64_t data_start = size - data_bytes;
  EXPECT_EQ(data_start % 64, 0u);

  Metadata want_meta = meta;
  want_meta.push_back({"general.alignment", MetaValue::unsigned_int(MetaType::U32, 64)});

  const Checkpoint ck = open_checkpoint(path);
  EXPECT_EQ(ck.format, Format::Gguf);
  EXPECT_EQ(ck.format_detail, "GGUF v3 (little-endian)");
  EXPECT_EQ(ck.path, path);
  ASSERT_EQ(ck.files.size(), 1u);
  EXPECT_TRUE(ck.metadata == want_meta);
  ASSERT_EQ(ck.metadata[10].value.items.size(), 150000u);
  EXPECT_EQ(ck.metadata[10].value.items[149999].s, token(149999));
  EXPECT_EQ(ck.metadata[10].value.items[7].s, "");
  expect_same_tensors(ck, tensors, path, data_start, 64);

  // The same bytes from memory: the source's label is every tensor's file.
  const Checkpoint mem = describe_bytes(ckpt::test::read_file_bytes(path), "in-memory copy");
  EXPECT_TRUE(mem.metadata == want_meta);
  expect_same_tensors(mem, tensors, "in-memory copy", data_start, 64);
}

TEST(GgufManyTensors, SplitModelKeepsEveryPartsTensorsInOrder) {
  TempDir tmp;
  const auto tensors = many_tensors(9000);
  constexpr int kParts = 3;
  for (int p = 0; p < kParts; ++p) {
    const Metadata m = {{"split.no", MetaValue::unsigned_int(MetaType::U16, static_cast<std::uint64_t>(p))},
                        {"split.count", MetaValue::unsigned_int(MetaType::U16, kParts)},
                        {"split.tensors.count", MetaValue::signed_int(MetaType::I32, 9000)}};
    char file[64];
    std::snprintf(file, sizeof file, "m-%05d-of-%05d.gguf", p + 1, kParts);
    WriteOptions opt;
    opt.sync = false;
    gguf::write(tmp.file(file), std::span<const TensorInfo>(tensors).subspan(static_cast<std::size_t>(p) * 3000, 3000), m, opt);
  }
  const Checkpoint ck = gguf::open(tmp.file("m-00002-of-00003.gguf"));
  EXPECT_EQ(ck.format_detail, "GGUF v3, split into 3 files");
  EXPECT_EQ(ck.files.size(), 3u);
  ASSERT_EQ(ck.tensors.size(), tensors.size());
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    ASSERT_EQ(ck.tensors[k].name, tensors[k].name);
    char file[64];
    std::snprintf(file, sizeof file, "m-%05zu-of-%05d.gguf", k / 3000 + 1, kParts);
    EXPECT_EQ(ck.tensors[k].file, tmp.file(file));
  }
  EXPECT_TRUE(read_all(ck.tensors[8999]) == read_all(tensors[8999]));
  EXPECT_TRUE(read_all(ck.tensors[3000]) == read_all(tensors[3000]));
}

TEST(GgufManyTensors, ArraysOfEveryElementTypeInBothByteOrders) {
  for (bool big : {false, true}) {
    SCOPED_TRACE(big ? "big-endian" : "little-endian");
    Bytes g(3, big);
    g.header(0, 12);
    g.array_head("u8", MetaType::U8, 3).num<std::uint8_t>(0).num<std::uint8_t>(7).num<std::uint8_t>(255);
    g.array_head("i8", MetaType::I8, 2).num<std::int8_t>(-128).num<std::int8_t>(127);
    g.array_head("u16", MetaType::U16, 2).num<std::uint16_t>(1).num<std::uint16_t>(0xBEEF);
    g.array_head("i16", MetaType::I16, 1).num<std::int16_t>(-2);
    g.array_head("u32", MetaType::U32, 2).num<std::uint32_t>(0xDEADBEEF).num<std::uint32_t>(3);
    g.array_head("i32", MetaType::I32, 2).num<std::int32_t>(INT32_MIN).num<std::int32_t>(70000);
    g.array_head("u64", MetaType::U64, 1).num<std::uint64_t>(0x0102030405060708u);
    g.array_head("i64", MetaType::I64, 1).num<std::int64_t>(-5);
    g.array_head("f32", MetaType::F32, 2).f32(1.5f).f32(-0.1f);
    g.array_head("f64", MetaType::F64, 1).f64(-6.02214076e23);
    g.array_head("bool", MetaType::Bool, 3).num<std::uint8_t>(0).num<std::uint8_t>(1).num<std::uint8_t>(9);
    g.array_head("str", MetaType::String, 3).str("ab").str("").str("a string longer than fifteen bytes");
    const Checkpoint ck = describe_bytes(g.b);
    auto u = [](MetaType t, std::uint64_t v) { return MetaValue::unsigned_int(t, v); };
    auto i = [](MetaType t, std::int64_t v) { return MetaValue::signed_int(t, v); };
    const Metadata want = {
        {"u8", MetaValue::array(MetaType::U8, {u(MetaType::U8, 0), u(MetaType::U8, 7), u(MetaType::U8, 255)})},
        {"i8", MetaValue::array(MetaType::I8, {i(MetaType::I8, -128), i(MetaType::I8, 127)})},
        {"u16", MetaValue::array(MetaType::U16, {u(MetaType::U16, 1), u(MetaType::U16, 0xBEEF)})},
        {"i16", MetaValue::array(MetaType::I16, {i(MetaType::I16, -2)})},
        {"u32", MetaValue::array(MetaType::U32, {u(MetaType::U32, 0xDEADBEEF), u(MetaType::U32, 3)})},
        {"i32", MetaValue::array(MetaType::I32, {i(MetaType::I32, INT32_MIN), i(MetaType::I32, 70000)})},
        {"u64", MetaValue::array(MetaType::U64, {u(MetaType::U64, 0x0102030405060708u)})},
        {"i64", MetaValue::array(MetaType::I64, {i(MetaType::I64, -5)})},
        {"f32", MetaValue::array(MetaType::F32, {MetaValue::floating(MetaType::F32, 1.5f),
                                                 MetaValue::floating(MetaType::F32, -0.1f)})},
        {"f64", MetaValue::array(MetaType::F64, {MetaValue::floating(MetaType::F64, -6.02214076e23)})},
        {"bool", MetaValue::array(MetaType::Bool, {MetaValue::boolean(false), MetaValue::boolean(true), MetaValue::boolean(true)})},
        {"str", MetaValue::array(MetaType::String, {MetaValue::string("ab"), MetaValue::string(""),
                                                    MetaValue::string("a string longer than fifteen bytes")})},
    };
    EXPECT_TRUE(ck.metadata == want);
  }
}

TEST(GgufManyTensors, UnsortedOffsetsAndUnknownTypesAcrossManyTensors) {
  // Tensor k sits in slot n-1-k (slots are 64 bytes); every third one has a
  // ggml type this build does not know and gets the room up to the next
  // larger offset. Some empty tensors move to the previous tensor's slot,
  // leaving their own slot free, so an unknown one may get two slots.
  constexpr std::uint64_t kN = 3000;
  constexpr std::uint64_t kTail = 10;
  Bytes g;
  g.header(kN, 0);
  std::vector<std::uint64_t> rel(kN);
  std::set<std::uint64_t> offsets;
  for (std::uint64_t k = 0; k < kN; ++k) {
    const bool unknown = k % 3 == 0;
    const bool empty = !unknown && k % 5 == 4;
    rel[k] = (empty ? kN - k : kN - 1 - k) * 64;
    offsets.insert(rel[k]);
    if (unknown) g.info("u" + std::to_string(k), {4}, 99, rel[k]);
    else g.info("t" + std::to_string(k), {empty ? 0u : 16u}, 0, rel[k]);
  }
  g.pad_to(32);
  const std::uint64_t data_start = g.pos();
  const std::uint64_t data_bytes = kN * 64 + kTail;
  g.zeros(data_bytes);
  const Checkpoint ck = describe_bytes(g.b);
  ASSERT_EQ(ck.tensors.size(), kN);
  std::size_t wider = 0;
  for (std::uint64_t k = 0; k < kN; ++k) {
    const auto& t = ck.tensors[k];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.offset, data_start + rel[k]);
    if (k % 3 == 0) {
      const auto next = offsets.upper_bound(rel[k]);
      const std::uint64_t want = (next == offsets.end() ? data_bytes : *next) - rel[k];
      EXPECT_EQ(t.nbytes, want);
      wider += want == 128 ? 1 : 0;
      EXPECT_EQ(t.data, nullptr);
      EXPECT_EQ(t.layout_note, "unknown ggml type 99; size inferred from the next tensor");
    } else {
      EXPECT_EQ(t.nbytes, k % 5 == 4 ? 0u : 64u);
      EXPECT_NE(t.data, nullptr);
    }
  }
  EXPECT_EQ(ck.tensors[0].nbytes, 64 + kTail);  // the last slot runs to the end of the file
  EXPECT_GT(wider, 0u);
}

TEST(GgufManyTensors, DuplicateNamesFarDownTheListKeepTheirSentences) {
  {
    constexpr std::uint64_t kN = 50000;
    Bytes g;
    g.header(kN, 0);
    std::uint64_t dup_at = 0;
    for (std::uint64_t k = 0; k < kN; ++k) {
      if (k == 40000) dup_at = g.pos();
      g.info(k == 40000 ? "blk.123.attn_q.weight" : "blk." + std::to_string(k) + ".attn_q.weight", {8}, 0, k * 32);
    }
    g.pad_to(32).zeros(kN * 32);
    expect_failure(g.b, "the tensor name 'blk.123.attn_q.weight' appears twice", dup_at);
  }
  {
    // Names equal up to an embedded NUL or a prefix are different names.
    Bytes g;
    g.header(4, 0);
    g.info("a", {1}, 0, 0).info(std::string_view("a\0", 2), {1}, 0, 32).info("ab", {1}, 0, 64).info("", {1}, 0, 96);
    g.pad_to(32).zeros(128);
    const Checkpoint ck = describe_bytes(g.b);
    ASSERT_EQ(ck.tensors.size(), 4u);
    EXPECT_EQ(ck.tensors[1].name, std::string("a\0", 2));
    EXPECT_EQ(ck.tensors[3].name, "");
  }
  {
    Bytes g;
    g.header(0, 1000);
    std::uint64_t dup_at = 0;
    for (int k = 0; k < 1000; ++k) {
      if (k == 999) dup_at = g.pos();
      g.kv_type(k == 999 ? "key.17" : "key." + std::to_string(k), MetaType::U32).num<std::uint32_t>(1);
    }
    expect_failure(g.b, "the key 'key.17' appears twice", dup_at);
  }
}

TEST(GgufManyTensors, BadCountsAndTruncationsKeepTheirSentences) {
  expect_failure(Bytes().header(std::uint64_t{1} << 62, 0).b,
                 "the header claims 4611686018427387904 tensors, more than the file can hold", 8);
  expect_failure(Bytes().header(0, std::uint64_t{1} << 62).b,
                 "the header claims 4611686018427387904 key/value pairs, more than the file can hold", 16);
  expect_failure(Bytes(1).header(0xFFFFFFFFu, 0).b, "the header claims 4294967295 tensors, more than the file can hold", 8);
  expect_failure(Bytes(1).header(0, 0xFFFFFFFFu).b, "the header claims 4294967295 key/value pairs, more than the file can hold", 12);
  {
    Bytes g;
    g.header(0, 1).array_head("tokenizer.ggml.tokens", MetaType::String, 100);
    const std::uint64_t at = g.pos() - 8;
    g.str("a").str("b");
    expect_failure(g.b, "the array 'tokenizer.ggml.tokens' claims 100 elements, more than the file can hold", at);
  }
  {
    // A 150,000-token array whose last string claims more bytes than are left.
    Bytes g;
    g.header(0, 1).array_head("tokenizer.ggml.tokens", MetaType::String, 150000);
    for (int k = 0; k < 149999; ++k) g.str(token(k));
    const std::uint64_t at = g.pos();
    g.count(1000).zeros(5);
    expect_failure(g.b, "value of 'tokenizer.ggml.tokens' claims 1000 bytes, more than the 5 left in the file", at);
  }
  {
    // Fixed-size elements are checked against the bytes left before reading.
    Bytes g;
    g.header(0, 1).array_head("scores", MetaType::F32, 2);
    const std::uint64_t at = g.pos() - 8;
    g.f32(1.0f).zeros(3);
    expect_failure(g.b, "the array 'scores' claims 2 elements, more than the file can hold", at);
  }
  {
    // Cut inside the third tensor info, after its name.
    Bytes g;
    g.header(3, 0).info("blk.0", {2}, 0, 0).info("blk.1", {2}, 0, 32).str("blk.2").zeros(2);
    const std::uint64_t size = g.b.size();
    expect_failure(g.b, "dimension count of tensor 'blk.2' (4 bytes) runs past the end of the file (" +
                            std::to_string(size) + " bytes)",
                   size - 2);
  }
  {
    // Cut inside the second tensor's data offset.
    Bytes g;
    g.header(2, 0).info("blk.0", {2}, 0, 0).str("blk.1").num<std::uint32_t>(1).count(2).num<std::uint32_t>(0);
    const std::uint64_t at = g.pos();
    g.zeros(4);
    expect_failure(g.b, "data offset of tensor 'blk.1' (8 bytes) runs past the end of the file (" +
                            std::to_string(at + 4) + " bytes)",
                   at);
  }
  {
    Bytes g;
    g.header(2, 0).info("blk.0", {2}, 0, 0);
    const std::uint64_t at = g.pos();
    g.count(200).zeros(40);
    expect_failure(g.b, "name of tensor 1 claims 200 bytes, more than the 40 left in the file", at);
  }
  {
    Bytes g;
    g.header(1, 0).str("w").num<std::uint32_t>(9);
    const std::uint64_t at = g.pos() - 4;
    for (int d = 0; d < 9; ++d) g.count(1);
    g.num<std::uint32_t>(0).num<std::uint64_t>(0).pad_to(32).zeros(32);
    expect_failure(g.b, "tensor 'w' has 9 dimensions, more than the 8 this reader accepts", at);
  }
}

TEST(GgufManyTensors, PlacementErrorsKeepTheirSentencesAndPrecedence) {
  {
    // Overlap among many tensors in reverse offset order.
    constexpr std::uint64_t kN = 5000;
    Bytes g;
    g.header(kN, 0);
    std::uint64_t bad_offset_field = 0;
    for (std::uint64_t k = 0; k < kN; ++k) {
      const std::uint64_t off = k == 2500 ? (kN - 1 - 2499) * 64 + 32 : (kN - 1 - k) * 64;
      g.info("t" + std::to_string(k), {16}, 0, off);
      if (k == 2500) bad_offset_field = g.pos() - 8;
    }
    g.pad_to(32).zeros(kN * 64);
    // t2500 starts 32 bytes into t2499's 64.
    expect_failure(g.b, "tensor 't2500' overlaps tensor 't2499' in the data section", bad_offset_field);
  }
  {
    // A tensor past the end is reported before an overlap earlier in the data section.
    Bytes g;
    g.header(3, 0).info("a", {16}, 0, 0).info("b", {16}, 0, 32);
    const std::uint64_t c_offset_field = g.pos() + 8 + 1 + 4 + 8 + 4;
    g.info("c", {100}, 0, 128).pad_to(32).zeros(200);
    expect_failure(g.b, "tensor 'c' needs 400 bytes at data offset 128, past the end of the file", c_offset_field);
  }
  {
    Bytes g;
    g.header(2, 0).info("a", {4}, 0, 0);
    const std::uint64_t b_offset_field = g.pos() + 8 + 1 + 4 + 8 + 4;
    g.info("b", {4}, 0, 4096).pad_to(32).zeros(64);
    expect_failure(g.b, "tensor 'b' starts at data offset 4096, past the end of the file", b_offset_field);
  }
}
