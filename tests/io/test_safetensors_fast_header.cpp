// The fast .safetensors header parser against the reference (nlohmann) path:
// on every input both must end the same way, with the same Header and
// TensorInfo lists or the same error (file, offset, sentence). Inputs are
// headers our writer produces, the shared fixtures, hand-written edge cases
// and thousands of random mutations of valid headers. Separate tests check
// that the fast path really takes the plain cases (otherwise agreement would
// be trivial) and gives up on the unusual ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "io/endian.h"
#include "io/error.h"
#include "io/formats/safetensors.h"
#include "io/formats/safetensors_fast_header.h"
#include "io/open.h"
#include "tests/support/support.h"

namespace {

namespace fs = std::filesystem;
namespace io = ckpt::io;
namespace st = ckpt::io::safetensors;
using ckpt::test::random_tensor;
using ckpt::test::TempDir;
using io::DType;

std::vector<std::byte> file_of(std::string_view header, const std::vector<std::byte>& data) {
  std::vector<std::byte> b(8 + header.size());
  io::store_le<std::uint64_t>(b.data(), header.size());
  std::memcpy(b.data() + 8, header.data(), header.size());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

std::vector<std::byte> zeros(std::size_t n) { return std::vector<std::byte>(n); }

std::shared_ptr<io::MemorySource> mem(std::vector<std::byte> b) {
  return std::make_shared<io::MemorySource>(std::move(b), "mem.safetensors");
}

// The header text and data section of a well-formed file.
struct Split {
  std::string header;
  std::vector<std::byte> data;
};
Split split(const std::vector<std::byte>& file) {
  const auto n = static_cast<std::size_t>(io::load_le<std::uint64_t>(file.data()));
  Split s;
  s.header.assign(reinterpret_cast<const char*>(file.data()) + 8, n);
  s.data.assign(file.begin() + static_cast<std::ptrdiff_t>(8 + n), file.end());
  return s;
}

// Printable form of a header for failure messages.
std::string shown(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    }
  }
  return out.size() > 600 ? out.substr(0, 600) + "..." : out;
}

// How a read ended: a rendering of everything it produced, or of its error.
template <class Fn>
std::string outcome(Fn&& fn) {
  try {
    return "ok " + fn();
  } catch (const io::Error& e) {
    return "error " + e.file() + " @" + std::to_string(e.offset()) + ": " + e.sentence();
  } catch (const std::exception& e) {
    return std::string("other exception: ") + e.what();
  }
}

std::string render(const io::Metadata& m) {
  std::ostringstream o;
  for (const auto& e : m) o << "[" << e.key << "=" << static_cast<int>(e.value.type) << ":" << e.value.s << "]";
  return o.str();
}

std::string render_shape(const io::Shape& s) {
  std::string out = "(";
  for (const auto d : s) out += std::to_string(d) + ",";
  return out + ")";
}

std::string render(const st::Header& h) {
  std::ostringstream o;
  o << "length " << h.length << " has_meta " << h.has_metadata_key << " meta " << render(h.metadata) << "\n";
  for (const auto& t : h.tensors)
    o << "[" << t.name << "] " << static_cast<int>(t.dtype) << " " << render_shape(t.shape) << " " << t.begin << "-"
      << t.end << "\n";
  return o.str();
}

std::string render(const io::Checkpoint& ck) {
  std::ostringstream o;
  o << ck.path << " " << io::format_name(ck.format) << " " << ck.format_detail << " files " << ck.files.size()
    << " meta " << render(ck.metadata) << "\n";
  for (const auto& t : ck.tensors) {
    o << "[" << t.name << "] " << io::name(t.dtype) << " " << render_shape(t.shape) << " " << t.nbytes << " " << t.file
      << "@" << t.offset << " '" << t.layout_note << "' ne " << t.ggml_ne.size() << " type "
      << (t.ggml_type ? static_cast<long>(*t.ggml_type) : -1L) << " data " << (t.data != nullptr);
    if (t.data) {
      const auto c = t.data->contiguous();
      o << " at " << (c ? c->data() - ck.files[0]->all().data() : -1) << "+" << (c ? c->size() : 0);
    }
    o << "\n";
  }
  return o.str();
}

// "" when both paths end the same way on `file`, else what differs.
std::string difference(const std::vector<std::byte>& file) {
  const auto src = mem(file);
  const std::string slow_h = outcome([&] { return render(st::detail::read_header(*src, false)); });
  const std::string fast_h = outcome([&] { return render(st::detail::read_header(*src, true)); });
  if (slow_h != fast_h) return "read_header\n slow: " + slow_h + "\n fast: " + fast_h;
  const std::string slow_d = outcome([&] { return render(st::detail::describe(src, false)); });
  const std::string fast_d = outcome([&] { return render(st::detail::describe(src, true)); });
  if (slow_d != fast_d) return "describe\n slow: " + slow_d + "\n fast: " + fast_d;
  return "";
}

bool reads(const std::vector<std::byte>& file) {
  return outcome([&] { return render(st::detail::read_header(*mem(file), false)); }).rfind("ok", 0) == 0;
}

bool fast_accepts(std::string_view header, std::uint64_t data_size) {
  st::Header h;
  return st::detail::parse_header_fast(header, data_size, h);
}

std::vector<DType> safetensors_dtypes() {
  std::vector<DType> out;
  for (int k = 0; k < io::kDTypeCount; ++k)
    if (!io::info(static_cast<DType>(k)).safetensors.empty()) out.push_back(static_cast<DType>(k));
  return out;
}

// A file from our writer with every dtype, 0-d and empty tensors, names and
// metadata that need escapes or are not ASCII.
std::vector<std::byte> writer_file(const TempDir& dir, io::SafetensorsTag tag, bool with_meta) {
  std::vector<io::TensorInfo> ts;
  int seed = 1;
  for (const DType dt : safetensors_dtypes()) {
    const std::string n(io::info(dt).safetensors);
    const std::int64_t b = io::info(dt).block_elems;
    if (b == 1) ts.push_back(random_tensor("scalar." + n, dt, {}, static_cast<unsigned>(seed++)));
    ts.push_back(random_tensor("model.layers.0." + n + ".weight", dt, {3, 2 * b}, static_cast<unsigned>(seed++)));
    ts.push_back(random_tensor("empty." + n, dt, {4, 0, 2}, static_cast<unsigned>(seed++)));
  }
  ts.push_back(random_tensor("zero.len", DType::F32, {0}, 7));
  ts.push_back(random_tensor("caf\xc3\xa9.\xe2\x98\x83.\xf0\x9f\x98\x80", DType::F16, {2}, 8));
  ts.push_back(random_tensor("quote\"back\\slash/tab\tnl\nctl\x01", DType::I8, {3}, 9));
  ts.push_back(random_tensor("", DType::U8, {1}, 10));
  io::Metadata meta;
  if (with_meta) {
    meta = {{"note", io::MetaValue::string("na\xc3\xafve \xe2\x80\x93 \"quoted\" \\ tab\t nl\n \x1f")},
            {"empty", io::MetaValue::string("")},
            {"json_text", io::MetaValue::string("{\"layers\": [1, 2], \"ok\": true}")},
            {"number", io::MetaValue::unsigned_int(io::MetaType::U32, 7)}};
  }
  io::WriteOptions opt;
  opt.safetensors_tag = tag;
  const std::string path = dir.file("w.safetensors");
  io::write_checkpoint(path, io::Format::Safetensors, ts, meta, opt);
  return ckpt::test::read_file_bytes(path);
}

// ---------------------------------------------------------------------------

TEST(SafetensorsFastHeader, WriterOutputTakesTheFastPathAndAgrees) {
  TempDir dir;
  for (const auto tag : {io::SafetensorsTag::Pt, io::SafetensorsTag::Mlx, io::SafetensorsTag::None}) {
    for (const bool with_meta : {true, false}) {
      SCOPED_TRACE("tag " + std::to_string(static_cast<int>(tag)) + " meta " + std::to_string(with_meta));
      const auto file = writer_file(dir, tag, with_meta);
      const auto parts = split(file);
      EXPECT_TRUE(fast_accepts(parts.header, parts.data.size())) << shown(parts.header);
      EXPECT_EQ(difference(file), "");
      // The data handles of both paths read the same bytes.
      const auto src = mem(file);
      const auto fast = st::detail::describe(src, true);
      const auto slow = st::detail::describe(src, false);
      ASSERT_EQ(fast.tensors.size(), slow.tensors.size());
      for (std::size_t k = 0; k < fast.tensors.size(); ++k)
        EXPECT_TRUE(io::read_all(fast.tensors[k]) == io::read_all(slow.tensors[k])) << fast.tensors[k].name;
    }
  }
}

TEST(SafetensorsFastHeader, DecodesNamesAndMetadataLikeTheReference) {
  TempDir dir;
  const auto file = writer_file(dir, io::SafetensorsTag::Pt, true);
  const auto h = st::read_header(*mem(file));
  bool quote = false, unicode = false, empty = false;
  for (const auto& t : h.tensors) {
    quote |= t.name == "quote\"back\\slash/tab\tnl\nctl\x01";
    unicode |= t.name == "caf\xc3\xa9.\xe2\x98\x83.\xf0\x9f\x98\x80";
    empty |= t.name.empty();
  }
  EXPECT_TRUE(quote && unicode && empty);
  ASSERT_NE(io::find(h.metadata, "note"), nullptr);
  EXPECT_EQ(io::find(h.metadata, "note")->s, "na\xc3\xafve \xe2\x80\x93 \"quoted\" \\ tab\t nl\n \x1f");
  EXPECT_EQ(io::find(h.metadata, "number")->s, "7");
}

TEST(SafetensorsFastHeader, SharedFixturesAgree) {
  const auto root = ckpt::test::fixtures_dir();
  if (!root) GTEST_SKIP() << "shared fixtures not found at ../shared/fixtures";
  std::vector<fs::path> files = ckpt::test::fixture_files("", ".safetensors");
  for (const auto& e : fs::recursive_directory_iterator(*root)) {
    if (!e.is_directory()) continue;
    for (auto& f : ckpt::test::fixture_files(fs::relative(e.path(), *root).string(), ".safetensors"))
      files.push_back(std::move(f));
  }
  if (files.empty()) GTEST_SKIP() << "no .safetensors fixtures under " << root->string();
  std::printf("%zu .safetensors fixtures\n", files.size());
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    const auto bytes = ckpt::test::read_file_bytes(f.string());
    const auto parts = split(bytes);
    EXPECT_TRUE(fast_accepts(parts.header, parts.data.size())) << shown(parts.header);
    EXPECT_EQ(difference(bytes), "");
    // Through the public entry point too (the file as mapped, its own label).
    const auto path = f.string();
    EXPECT_EQ(outcome([&] { return render(st::describe(io::MappedFile::open(path))); }),
              outcome([&] { return render(st::detail::describe(io::MappedFile::open(path), false)); }));
  }
}

// One tensor 'x' F32 [2] over an 8-byte data section, spelled in many ways.
struct Case {
  std::string header;
  std::size_t data = 8;
  int fast = -1;  // 1: the fast path must accept, 0: it must give up, -1: either
};

const std::string X = R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

std::vector<Case> edge_cases() {
  auto tensor = [](const std::string& key, const std::string& body) { return "{" + key + ":{" + body + "}}"; };
  std::vector<Case> c = {
      // Plain forms the fast path takes.
      {"{" + X + "}", 8, 1},
      {tensor(R"("x")", R"("shape":[2],"dtype":"F32","data_offsets":[0,8])"), 8, 1},
      {tensor(R"("x")", R"("data_offsets":[0,8],"shape":[2],"dtype":"F32")"), 8, 1},
      {tensor(R"("x")", R"("data_offsets":[0,8],"dtype":"F32","shape":[2])"), 8, 1},
      {" \t\n\r{ \"x\" :\n{ \"dtype\" : \"F32\" ,\r\"shape\"\t:\t[ 2 ] , \"data_offsets\" : [ 0 , 8 ] } }  \n\t\r ", 8, 0},
      {"{ \"x\" :\n{ \"dtype\" : \"F32\" ,\r\"shape\"\t:\t[ 2 ] , \"data_offsets\" : [ 0 , 8 ] } }  \n\t\r ", 8, 1},
      {"{" + X + "}        ", 8, 1},
      {R"({"__metadata__":null,)" + X + "}", 8, 1},
      {R"({"__metadata__" : null })", 0, 1},
      {R"({"__metadata__":{}})", 0, 1},
      {R"({"__metadata__":{ }})", 0, 1},
      {"{" + X + R"(,"__metadata__":{"a":"1","b":""}})", 8, 1},
      {R"({"__metadata__":{"k":"v"},"__metadata__":null})", 0, 0},
      {"{}", 0, 1},
      {"{ }", 0, 1},
      {"{}", 3, 1},  // tiling error after the fast parse
      {R"({"":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}})", 0, 1},
      {R"({"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}})", 8, 1},
      {R"({"x":{"dtype":"F32","shape":[2, 0],"data_offsets":[8,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       8, 1},
      {"{\"\x7f\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", 8, 1},  // DEL is a plain character
      // Escapes, decoded as the reference decodes them.
      {R"({"\u00e9\u00E9":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, 1},
      {R"({"a\"b\\c\/d\b\f\n\r\t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, 1},
      {R"({"\ud83d\ude00 \u20ac \u0041":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, 1},
      {R"({"nul\u0000in":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, 1},
      {R"({"\u005f_metadata__":{"k":"v\u00e9"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, 1},
      {R"({"x":{"dtype":"F\u00332","sh\u0061pe":[2],"data_offsets":[0,8]}})", 8, 1},
      {R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"\u0078":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}})",
       8, 0},
      {R"({"\x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, 0},
      {R"({"\u12":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, 0},
      {R"({"\u12g4":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, 0},
      {R"({"\ud800":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, 0},
      {R"({"\udc00":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, 0},
      {R"({"\ud800\u0041":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, 0},
      {R"({"\ud800x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, 0},
      {R"({"\ud800\":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, 0},
      {R"({"x\)", 8, 0},
      {R"({"x\u00)", 8, 0},
      // Keys the fast path does not expect, duplicates at every level.
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1)"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":{"a":[1,{}]})"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":[0,8],"shape":[2])"), 8, 0},
      {"{" + X + "," + X + "}", 8, 0},
      {R"({"__metadata__":{"k":"a","k":"b"}})", 0, 0},
      {R"({"__metadata__":{"k":"a","\u006b":"b"}})", 0, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2])"), 8, 0},
      {tensor(R"("x")", R"("shape":[2],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","data_offsets":[0,8])"), 8, 0},
      {R"({"x":{}})", 8, 0},
      // Numbers: only plain unsigned decimal integers that fit 64 bits.
      {tensor(R"("x")", R"("dtype":"F32","shape":[2.0],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":[0,8.0])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":[0.0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2e0],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2E0],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":[0,8e0])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[1e3],"data_offsets":[0,4000])"), 4000, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[-1],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":[-0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[-0],"data_offsets":[0,0])"), 0, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[02],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":[00,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[+2],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[0x2],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"U8","shape":[9223372036854775807],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551616])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":[18446744073709551615,18446744073709551615])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":[0,8,16])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":[8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":[])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":[8,0])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[3],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[24],"data_offsets":[0,96])"), 64, 0},
      {tensor(R"("x")", R"("dtype":"F4","shape":[3],"data_offsets":[0,2])"), 2, 0},
      {tensor(R"("x")", R"("dtype":"F128","shape":[2],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"f32","shape":[2],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":5,"shape":[2],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":null,"shape":[2],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":2,"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[[2]],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2,],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[,],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[true],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":["2"],"data_offsets":[0,8])"), 8, 0},
      {tensor(R"("x")", R"("dtype":"F32","shape":[2],"data_offsets":"0,8")"), 8, 0},
      {R"({"x":[1]})", 8, 0},
      {R"({"x":null})", 8, 0},
      {R"({"x":"F32"})", 8, 0},
      // Metadata other than null or an object of strings.
      {R"({"__metadata__":{"k":1}})", 0, 0},
      {R"({"__metadata__":{"k":null}})", 0, 0},
      {R"({"__metadata__":{"k":{"a":"b"}}})", 0, 0},
      {R"({"__metadata__":{"k":["a"]}})", 0, 0},
      {R"({"__metadata__":["k"]})", 0, 0},
      {R"({"__metadata__":[{"k":1}]})", 0, 0},
      {R"({"__metadata__":"k"})", 0, 0},
      {R"({"__metadata__":true})", 0, 0},
      {R"({"__metadata__":nul})", 0, 0},
      {R"({"__metadata__":nullx})", 0, 0},
      {R"({"__metadata__":NULL})", 0, 0},
      {R"({"__metadata__":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 0, 0},
      {R"({"__metadata__":{"dtype":"F32"}})", 0, 1},
      // Invalid UTF-8 and raw control characters in strings; valid multi-byte forms.
      {"{\"\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"\xc1\xbf\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"\xe0\x80\xaf\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"\xed\xa0\x80\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"\xf0\x80\x80\xaf\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"\xf4\x90\x80\x80\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"\xf5\x80\x80\x80\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"\xe2\x82\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"\x80\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"a\xc3\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\":"
       "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
       8, 1},
      {"{\"a\\u00e9\xc3\xa9\\n\xe2\x98\x83\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 1},
      {"{\"a\\n\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"tab\there\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"ctl\x01\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"a\\n\x1f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"__metadata__\":{\"k\":\"\xc3\x28\"}}", 0, 0},
      {"{\"__metadata__\":{\"\xe2\x28\xa1\":\"v\"}}", 0, 0},
      // Not JSON, or more than one value.
      {"{" + X + "}x", 8, 0},
      {"{" + X + "}}", 8, 0},
      {"{" + X + "},", 8, 0},
      {"{" + X + "}{}", 8, 0},
      {"{" + X + "} 0", 8, 0},
      {"{" + X + ",}", 8, 0},
      {"{," + X + "}", 8, 0},
      {"{" + X, 8, 0},
      {"{" + X + "}\f", 8, 0},
      {"{" + X + "}\v", 8, 0},
      {"{\f" + X + "}", 8, 0},
      {"{" + X + std::string("}\0", 2), 8, 0},
      {"{" + X + std::string("}\0\0\0", 4), 8, 0},
      {std::string("{\"x\0\":{}}", 9), 8, 0},
      {"{/* c */" + X + "}", 8, 0},
      {"{" + X + "// c\n}", 8, 0},
      {"{'x':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 8, 0},
      {"{x:{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"x\" {\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"x\":{\"dtype\":\"F32\" \"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2] \"data_offsets\":[0,8]}}", 8, 0},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0 8]}}", 8, 0},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2 2],\"data_offsets\":[0,8]}}", 8, 0},
      {"[]", 0, 0},
      {"", 0, 0},
      {"{", 0, 0},
      {"{\"", 0, 0},
      {"\xef\xbb\xbf{}", 0, 0},
      // Tiling errors come from the shared step after a successful fast parse.
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12, 1},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", 20, 1},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 20, 1},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, 1},
      {R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"a\u00e9":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 16, 1},
  };
  // Every cut of a plain header: never valid JSON.
  const std::string whole = R"({"__metadata__":{"k":"v\u00e9"},)" + X + "}";
  for (std::size_t n = 0; n < whole.size(); ++n) c.push_back({whole.substr(0, n), 8, 0});
  c.push_back({whole, 8, 1});
  return c;
}

TEST(SafetensorsFastHeader, EdgeCasesAgreeAndTakeTheExpectedPath) {
  int accepted = 0;
  for (const auto& c : edge_cases()) {
    SCOPED_TRACE(shown(c.header));
    const auto file = file_of(c.header, zeros(c.data));
    EXPECT_EQ(difference(file), "");
    const bool fast = fast_accepts(c.header, c.data);
    if (c.fast >= 0) {
      EXPECT_EQ(fast, c.fast == 1);
    }
    accepted += reads(file);
  }
  EXPECT_GT(accepted, 20);  // the list holds both sides of the line
}

// The reference accepts these; the fast path leaves them to it, and the
// result is what the reference made of them.
TEST(SafetensorsFastHeader, UnusualButValidHeadersReadTheSameThroughTheReference) {
  const std::vector<std::string> texts = {
      R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":"ignored"}})",
      R"({"x":{"dtype":"F32","shape":[-0],"data_offsets":[0,0]},"y":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
      " {\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
  };
  for (const auto& t : texts) {
    SCOPED_TRACE(t);
    EXPECT_FALSE(fast_accepts(t, 8));
    const auto file = file_of(t, zeros(8));
    EXPECT_EQ(difference(file), "");
  }
  const auto h = st::read_header(*mem(file_of(texts[0], zeros(8))));
  ASSERT_EQ(h.tensors.size(), 1u);
  EXPECT_EQ(h.tensors[0].shape, io::Shape{2});
}

TEST(SafetensorsFastHeader, GivingUpLeavesTheHeaderUntouched) {
  st::Header h;
  h.length = 5;
  h.tensors.push_back({"keep", DType::U8, {1}, 0, 1});
  h.metadata.push_back({"k", io::MetaValue::string("v")});
  // Fails only at the trailing byte, after everything else parsed.
  EXPECT_FALSE(st::detail::parse_header_fast(R"({"__metadata__":{"a":"b"},)" + X + "}x", 8, h));
  EXPECT_EQ(h.length, 5u);
  ASSERT_EQ(h.tensors.size(), 1u);
  EXPECT_EQ(h.tensors[0].name, "keep");
  ASSERT_EQ(h.metadata.size(), 1u);
  EXPECT_EQ(h.metadata[0].key, "k");
  EXPECT_FALSE(h.has_metadata_key);
}

// Many keys in and out of sorted order, with a duplicate placed at either
// end: the fast path's key set switches from order checks to hashing.
TEST(SafetensorsFastHeader, DuplicatesFoundInLongHeadersInAnyOrder) {
  auto entry = [](const std::string& name, std::uint64_t k) {
    return "\"" + name + "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[" + std::to_string(k) + "," +
           std::to_string(k + 1) + "]}";
  };
  const int n = 5000;
  for (const bool sorted : {true, false}) {
    for (const int dup_at : {-1, 0, n / 2, n - 1}) {
      SCOPED_TRACE("sorted " + std::to_string(sorted) + " duplicate of " + std::to_string(dup_at));
      std::vector<std::string> names;
      for (int k = 0; k < n; ++k) names.push_back("layers." + std::to_string(100000 + (sorted ? k : (k * 7919) % n)));
      if (dup_at >= 0) names.push_back(names[static_cast<std::size_t>(dup_at)]);
      std::string text = "{";
      for (std::size_t k = 0; k < names.size(); ++k) text += (k ? "," : "") + entry(names[k], k);
      text += "}";
      const auto file = file_of(text, zeros(names.size()));
      EXPECT_EQ(difference(file), "");
      EXPECT_EQ(fast_accepts(text, names.size()), dup_at < 0);
      EXPECT_EQ(reads(file), dup_at < 0);
    }
  }
}

// Random byte edits of valid headers: replacements (biased to JSON's
// punctuation, digits and escape material), insertions, deletions and
// repeated slices. Whatever the edit makes of the text, both paths agree.
TEST(SafetensorsFastHeader, RandomMutationsAgree) {
  TempDir dir;
  std::vector<Split> bases;
  bases.push_back(split(writer_file(dir, io::SafetensorsTag::Pt, true)));
  {
    std::vector<io::TensorInfo> ts = {random_tensor("b.w", DType::F32, {2, 2}, 1), random_tensor("a", DType::I8, {3}, 2),
                                      random_tensor("e", DType::F16, {0}, 3), random_tensor("s", DType::I32, {}, 4)};
    io::write_checkpoint(dir.file("small.safetensors"), io::Format::Safetensors, ts,
                         {{"k", io::MetaValue::string("v\"\xc3\xa9")}}, {});
    bases.push_back(split(ckpt::test::read_file_bytes(dir.file("small.safetensors"))));
  }
  // An MLX-style header: keys in another order, data not in header order, spaces.
  bases.push_back({R"({"__metadata__": null, "x.bias": {"data_offsets": [3, 7], "dtype": "F16", "shape": [2]}, )"
                   R"("y": {"data_offsets": [0, 3], "dtype": "I8", "shape": [3]}})",
                   zeros(7)});
  for (const auto& b : bases) ASSERT_TRUE(fast_accepts(b.header, b.data.size())) << shown(b.header);

  static const char kAlphabet[] = "{}[],:\" \t\n\r\\/u0123456789-+.eE\x00\x01\x7f\x80\xbf\xc3\xa9\xed\xf0\xff_datype";
  const std::string alphabet(kAlphabet, sizeof kAlphabet - 1);
  std::mt19937 rng(20240613);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % std::max<std::size_t>(n, 1)); };
  int failures = 0, ok_fast = 0, ok_read = 0;
  const int rounds = 4000;
  for (int round = 0; round < rounds && failures < 5; ++round) {
    const Split& base = bases[static_cast<std::size_t>(round) % bases.size()];
    std::string text = base.header;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = pick(text.size() + 1);
      const char c = rng() % 4 == 0 ? static_cast<char>(rng() & 0xff) : alphabet[pick(alphabet.size())];
      switch (rng() % 5) {
        case 0:
        case 1:
          if (at < text.size()) text[at] = c;
          break;
        case 2: text.insert(at, 1, c); break;
        case 3:
          if (at < text.size()) text.erase(at, 1 + pick(3));
          break;
        default: {
          const std::size_t from = pick(text.size());
          const std::string piece = text.substr(from, 1 + pick(12));
          text.insert(at, piece);
        }
      }
    }
    const auto file = file_of(text, base.data);
    const std::string d = difference(file);
    if (!d.empty()) {
      ++failures;
      ADD_FAILURE() << "round " << round << ": " << shown(text) << "\n" << d;
    }
    ok_fast += fast_accepts(text, base.data.size());
    ok_read += reads(file);
  }
  // Some edits keep the header valid (digits that still tile, whitespace):
  // the fast path must have taken a share of those too.
  EXPECT_GT(ok_read, 0);
  EXPECT_GT(ok_fast, 0);
  EXPECT_LE(ok_fast, ok_read);
  std::printf("random mutations: %d rounds, %d read, %d through the fast path\n", rounds, ok_read, ok_fast);
}

// Randomly spelled but well-formed headers: names and metadata mixing ASCII,
// raw UTF-8 of every length, every escape (surrogate pairs included), random
// whitespace, key orders and __metadata__ placement. The fast path must take
// all of them and decode them exactly as the reference does.
TEST(SafetensorsFastHeader, RandomWellFormedHeadersTakeTheFastPathAndAgree) {
  std::mt19937 rng(7);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  auto ws = [&] {
    static const char* const kWs[] = {"", "", "", " ", "\n", "\t", "\r\n  ", "    "};
    return std::string(kWs[pick(8)]);
  };
  auto hex4 = [](unsigned v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04x", v);
    return std::string(buf);
  };
  auto json_text = [&](std::size_t pieces) {
    static const char* const kPieces[] = {"a", "Z", ".", "_", "0", " ", "\x7f", "\xc3\xa9", "\xdf\xbf", "\xe2\x82\xac",
                                          "\xef\xbf\xbd", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\\\"", "\\\\",
                                          "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u0000", "\\u001F"};
    std::string s;
    for (std::size_t k = 0; k < pieces; ++k) {
      switch (pick(4)) {
        case 0: {
          unsigned cp = 0x20 + static_cast<unsigned>(pick(0xFFFF - 0x20));
          if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0x41;
          s += "\\u" + hex4(cp);
          break;
        }
        case 1:  // a surrogate pair
          s += "\\u" + hex4(0xD800 + static_cast<unsigned>(pick(0x400)));
          s += "\\u" + hex4(0xDC00 + static_cast<unsigned>(pick(0x400)));
          break;
        default: s += kPieces[pick(std::size(kPieces))];
      }
    }
    return s;
  };
  static const char* const kDtypes[] = {"F32", "F16", "BF16", "I8", "U8", "I64", "F64", "BOOL", "F8_E4M3"};
  static const std::size_t kSizes[] = {4, 2, 2, 1, 1, 8, 8, 1, 1};
  int checked = 0;
  for (int round = 0; round < 400; ++round) {
    const std::size_t count = 1 + pick(12);
    std::vector<std::string> entries;
    std::uint64_t offset = 0;
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t d = pick(std::size(kDtypes));
      std::vector<std::uint64_t> shape(pick(4));
      std::uint64_t n = 1;
      for (auto& x : shape) n *= (x = pick(4));
      const std::uint64_t end = offset + n * kSizes[d];
      std::vector<std::string> fields = {
          "\"dtype\"" + ws() + ":" + ws() + "\"" + kDtypes[d] + "\"",
          "\"shape\"" + ws() + ":" + ws() + "[" + ws(),
          "\"data_offsets\"" + ws() + ":" + ws() + "[" + ws() + std::to_string(offset) + ws() + "," + ws() +
              std::to_string(end) + ws() + "]"};
      for (std::size_t i = 0; i < shape.size(); ++i) fields[1] += (i ? "," + ws() : "") + std::to_string(shape[i]) + ws();
      fields[1] += "]";
      std::shuffle(fields.begin(), fields.end(), rng);
      // A raw "#k" suffix keeps the decoded names distinct.
      std::string e = "\"" + json_text(pick(6)) + "#" + std::to_string(k) + "\"" + ws() + ":" + ws() + "{" + ws();
      for (std::size_t i = 0; i < 3; ++i) e += (i ? "," + ws() : "") + fields[i] + ws();
      entries.push_back(e + "}");
      offset = end;
    }
    if (pick(3) != 0) {
      std::string m = "\"__metadata__\"" + ws() + ":" + ws();
      if (pick(4) == 0) {
        m += "null";
      } else {
        m += "{" + ws();
        const std::size_t n = pick(5);
        for (std::size_t i = 0; i < n; ++i)
          m += (i ? "," + ws() : "") + "\"" + json_text(pick(5)) + "#" + std::to_string(i) + "\"" + ws() + ":" + ws() +
               "\"" + json_text(pick(8)) + "\"" + ws();
        m += "}";
      }
      entries.insert(entries.begin() + static_cast<std::ptrdiff_t>(pick(entries.size() + 1)), m);
    }
    std::string text = "{" + ws();
    for (std::size_t i = 0; i < entries.size(); ++i) text += (i ? "," + ws() : "") + entries[i] + ws();
    text += "}" + ws();
    const auto file = file_of(text, zeros(static_cast<std::size_t>(offset)));
    SCOPED_TRACE(shown(text));
    ASSERT_TRUE(reads(file));
    EXPECT_TRUE(fast_accepts(text, offset));
    EXPECT_EQ(difference(file), "");
    ++checked;
  }
  EXPECT_EQ(checked, 400);
}

// The public entry points use the fast path and give the reference's results
// through open_checkpoint as well.
TEST(SafetensorsFastHeader, OpenCheckpointAgreesWithTheReference) {
  TempDir dir;
  const auto file = writer_file(dir, io::SafetensorsTag::Mlx, true);
  const std::string path = dir.file("copy.safetensors");
  ckpt::test::write_file_bytes(path, file);
  const auto ck = io::open_checkpoint(path, {});
  EXPECT_EQ(render(ck), render(st::detail::describe(io::MappedFile::open(path), false)));
}

}  // namespace
