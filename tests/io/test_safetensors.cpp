// safetensors: MLX fixtures, round trips through our writer and reader,
// cross-checks with an independent Python reader/writer, Hugging Face shards,
// corrupt files listed by section, and all-or-nothing writes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>

#include "io/atomic_file.h"
#include "io/endian.h"
#include "io/error.h"
#include "io/float_convert.h"
#include "io/formats/safetensors.h"
#include "tests/support/sha256.h"
#include "tests/support/support.h"

namespace {

namespace fs = std::filesystem;
namespace io = ckpt::io;
namespace st = ckpt::io::safetensors;
using ckpt::test::memory_tensor;
using ckpt::test::random_tensor;
using ckpt::test::TempDir;
using io::DType;

std::vector<DType> safetensors_dtypes() {
  std::vector<DType> out;
  for (int k = 0; k < io::kDTypeCount; ++k) {
    const auto t = static_cast<DType>(k);
    if (!io::info(t).safetensors.empty()) out.push_back(t);
  }
  return out;
}

std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> b(s.size());
  if (!s.empty()) std::memcpy(b.data(), s.data(), s.size());  // memcpy from nullptr is UB even for 0 bytes
  return b;
}


std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_text(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

// A file in the spec layout with the given header length (default: the text's own).
std::vector<std::byte> st_file(std::string_view header, std::size_t data_bytes,
                               std::optional<std::uint64_t> length = std::nullopt) {
  std::vector<std::byte> b(8);
  io::store_le<std::uint64_t>(b.data(), length.value_or(header.size()));
  const auto h = bytes_of(header);
  b.insert(b.end(), h.begin(), h.end());
  for (std::size_t k = 0; k < data_bytes; ++k) b.push_back(std::byte(k & 0xff));
  return b;
}

std::shared_ptr<io::MemorySource> mem(std::vector<std::byte> b) {
  return std::make_shared<io::MemorySource>(std::move(b), "mem.safetensors");
}

// The sentence of the Error `fn` throws, or "" when it does not throw.
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const io::Error& e) {
    return e.sentence();
  }
  return "";
}

std::string describe_error(std::vector<std::byte> b) {
  return error_of([&] { (void)st::describe(mem(std::move(b))); });
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------
// Fixtures written by MLX

TEST(SafetensorsFixtures, MlxFilesMatchManifests) {
  if (!ckpt::test::fixtures_dir()) GTEST_SKIP() << "shared fixtures not found at ../shared/fixtures";
  const auto files = ckpt::test::fixture_files("mlx", ".safetensors");
  ASSERT_FALSE(files.empty());
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    const auto manifest = ckpt::test::load_manifest(f);
    const io::Checkpoint ck = st::open(f.string());
    EXPECT_EQ(ck.format, io::Format::Safetensors);
    ckpt::test::expect_matches_manifest(ck, manifest);

    const auto src = io::MappedFile::open(f.string());
    const st::Header h = st::read_header(*src);
    EXPECT_EQ(h.length, manifest["header_length"].get<std::uint64_t>());
    for (const auto& m : manifest["tensors"]) {
      const auto name = m["name"].get<std::string>();
      const auto it = std::find_if(h.tensors.begin(), h.tensors.end(), [&](const auto& t) { return t.name == name; });
      ASSERT_NE(it, h.tensors.end()) << name;
      EXPECT_EQ(it->begin, m["data_offsets"][0].get<std::uint64_t>()) << name;
      EXPECT_EQ(it->end, m["data_offsets"][1].get<std::uint64_t>()) << name;
      EXPECT_EQ(std::string(io::info(it->dtype).safetensors), m["safetensors_dtype"].get<std::string>()) << name;
      const auto t = std::find_if(ck.tensors.begin(), ck.tensors.end(), [&](const auto& x) { return x.name == name; });
      ASSERT_NE(t, ck.tensors.end());
      EXPECT_EQ(t->offset, 8 + h.length + it->begin) << name;
    }
  }
}

// ---------------------------------------------------------------------------
// Round trips through our writer and reader

TEST(SafetensorsRoundTrip, EveryDtypeShapeAndTag) {
  TempDir dir;
  const io::Metadata meta = {{"note", io::MetaValue::string("round trip ☃")}, {"empty", io::MetaValue::string("")}};
  for (const DType dt : safetensors_dtypes()) {
    const auto& inf = io::info(dt);
    for (const auto tag : {io::SafetensorsTag::Pt, io::SafetensorsTag::Mlx, io::SafetensorsTag::None}) {
      SCOPED_TRACE(std::string(inf.safetensors) + " tag " + std::to_string(static_cast<int>(tag)));
      std::vector<io::TensorInfo> ts;
      // Sub-byte types only exist in whole bytes, so their shapes keep element
      // counts a multiple of the block.
      const std::int64_t b = inf.block_elems;
      if (b == 1) ts.push_back(random_tensor("scalar", dt, {}, 1));
      ts.push_back(random_tensor("vec", dt, {7 * b}, 2));
      ts.push_back(random_tensor("four.d", dt, {2, 3, 1, 2 * b}, 3));
      ts.push_back(random_tensor("empty", dt, {3, 0, 2}, 4));
      if (tag == io::SafetensorsTag::Pt) ts.push_back(random_tensor("large", dt, {1'000'000}, 5));
      const std::string path = dir.file("rt.safetensors");
      io::WriteOptions opt;
      opt.safetensors_tag = tag;
      st::write(path, ts, meta, opt);

      const auto src = io::MappedFile::open(path);
      const auto h = st::read_header(*src);
      EXPECT_EQ(h.length % 8, 0u);
      const io::Checkpoint ck = st::describe(src);
      ASSERT_EQ(ck.tensors.size(), ts.size());
      for (const auto& want : ts) {
        const auto got = std::find_if(ck.tensors.begin(), ck.tensors.end(), [&](const auto& t) { return t.name == want.name; });
        ASSERT_NE(got, ck.tensors.end()) << want.name;
        EXPECT_EQ(got->dtype, dt);
        EXPECT_EQ(got->shape, want.shape);
        EXPECT_TRUE(io::read_all(*got) == io::read_all(want)) << want.name;
      }
      const auto* fmt = io::find(ck.metadata, "format");
      if (tag == io::SafetensorsTag::None) {
        EXPECT_EQ(fmt, nullptr);
        EXPECT_EQ(ck.metadata.size(), 2u);
      } else {
        ASSERT_NE(fmt, nullptr);
        EXPECT_EQ(fmt->s, tag == io::SafetensorsTag::Pt ? "pt" : "mlx");
        EXPECT_EQ(ck.metadata.size(), 3u);
      }
      ASSERT_NE(io::find(ck.metadata, "note"), nullptr);
      EXPECT_EQ(io::find(ck.metadata, "note")->s, "round trip ☃");
    }
  }
}

// The crate's own unit tests pin these exact bytes.
TEST(SafetensorsWriter, MatchesCrateBytes) {
  TempDir dir;
  io::WriteOptions none;
  none.safetensors_tag = io::SafetensorsTag::None;
  st::write(dir.file("empty.safetensors"), {}, {}, none);
  const std::string empty = std::string("\x08\0\0\0\0\0\0\0", 8) + "{}      ";
  EXPECT_TRUE(ckpt::test::read_file_bytes(dir.file("empty.safetensors")) == bytes_of(empty));

  st::write(dir.file("meta.safetensors"), {}, {{"framework", io::MetaValue::string("pt")}}, none);
  const std::string meta = std::string("\x28\0\0\0\0\0\0\0", 8) + "{\"__metadata__\":{\"framework\":\"pt\"}}     ";
  EXPECT_TRUE(ckpt::test::read_file_bytes(dir.file("meta.safetensors")) == bytes_of(meta));

  std::vector<std::byte> data(24);
  for (int k = 0; k < 6; ++k) {
    const float f = static_cast<float>(k);
    std::memcpy(data.data() + 4 * k, &f, 4);
  }
  const std::vector<io::TensorInfo> ts = {memory_tensor("attn0", DType::F32, {1, 1, 2, 3}, data)};
  st::write(dir.file("attn.safetensors"), ts, {}, none);
  std::string want = std::string("\x48\0\0\0\0\0\0\0", 8) +
                     "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ";
  want.append(reinterpret_cast<const char*>(data.data()), data.size());
  EXPECT_TRUE(ckpt::test::read_file_bytes(dir.file("attn.safetensors")) == bytes_of(want));
}

TEST(SafetensorsWriter, OrdersByCrateDtypeRankThenName) {
  TempDir dir;
  const std::vector<io::TensorInfo> ts = {
      random_tensor("b", DType::U8, {3}),  random_tensor("a", DType::U8, {2}), random_tensor("h", DType::F16, {2}),
      random_tensor("z", DType::U64, {1}), random_tensor("y", DType::I64, {1}), random_tensor("f", DType::F64, {1}),
      random_tensor("c", DType::C64, {1}), random_tensor("w", DType::Bool, {1}), random_tensor("bf", DType::BF16, {1}),
  };
  st::write(dir.file("o.safetensors"), ts, {}, {});
  const auto h = st::read_header(*io::MappedFile::open(dir.file("o.safetensors")));
  std::vector<std::string> order;
  for (const auto& t : h.tensors) order.push_back(t.name);
  EXPECT_EQ(order, (std::vector<std::string>{"z", "y", "f", "c", "bf", "h", "a", "b", "w"}));
  std::uint64_t at = 0;
  for (const auto& t : h.tensors) {
    EXPECT_EQ(t.begin, at) << t.name;
    at = t.end;
  }
  // __metadata__ comes first, "format": "pt" by default.
  const std::string text = read_text(dir.file("o.safetensors"));
  EXPECT_EQ(text.substr(8, 34), "{\"__metadata__\":{\"format\":\"pt\"},\"z");
}

TEST(SafetensorsWriter, MetadataBecomesStringsAndFormatFollowsOption) {
  TempDir dir;
  const io::Metadata meta = {
      {"format", io::MetaValue::string("mlx")},
      {"n", io::MetaValue::unsigned_int(io::MetaType::U32, 42)},
      {"neg", io::MetaValue::signed_int(io::MetaType::I64, -7)},
      {"x", io::MetaValue::floating(io::MetaType::F64, 0.5)},
      {"flag", io::MetaValue::boolean(true)},
      {"list", io::MetaValue::array(io::MetaType::I32, {io::MetaValue::signed_int(io::MetaType::I32, 1),
                                                        io::MetaValue::signed_int(io::MetaType::I32, 2)})},
      {"words", io::MetaValue::array(io::MetaType::String, {io::MetaValue::string("a\"b")})},
  };
  const std::vector<io::TensorInfo> ts = {random_tensor("t", DType::F32, {2})};
  const std::string path = dir.file("m.safetensors");
  st::write(path, ts, meta, {});
  auto ck = st::open(path);
  ASSERT_EQ(ck.metadata.size(), meta.size());
  EXPECT_EQ(ck.metadata[0].key, "format");  // replaced in place
  EXPECT_EQ(ck.metadata[0].value.s, "pt");
  EXPECT_EQ(io::find(ck.metadata, "n")->s, "42");
  EXPECT_EQ(io::find(ck.metadata, "neg")->s, "-7");
  EXPECT_EQ(io::find(ck.metadata, "x")->s, "0.5");
  EXPECT_EQ(io::find(ck.metadata, "flag")->s, "true");
  EXPECT_EQ(io::find(ck.metadata, "list")->s, "[1,2]");
  EXPECT_EQ(io::find(ck.metadata, "words")->s, "[\"a\\\"b\"]");
  for (const auto& e : ck.metadata) { EXPECT_EQ(e.value.type, io::MetaType::String); }

  io::WriteOptions none;
  none.safetensors_tag = io::SafetensorsTag::None;
  st::write(path, ts, meta, none);
  ck = st::open(path);
  EXPECT_EQ(io::find(ck.metadata, "format"), nullptr);
  EXPECT_EQ(ck.metadata.size(), meta.size() - 1);
}

TEST(SafetensorsWriter, RefusesWhatTheFormatCannotHold) {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  auto c128 = random_tensor("z", DType::C128, {2});
  EXPECT_EQ(error_of([&] { st::write(path, std::vector{c128}, {}, {}); }),
            "tensor 'z' has dtype complex128, which .safetensors cannot store");
  auto q = random_tensor("q", DType::Q4_0, {32});
  EXPECT_EQ(error_of([&] { st::write(path, std::vector{q}, {}, {}); }),
            "tensor 'q' has dtype q4_0, which .safetensors cannot store");
  auto a = random_tensor("a", DType::F32, {2});
  EXPECT_NE(error_of([&] { st::write(path, std::vector{a, a}, {}, {}); }).find("more than once"), std::string::npos);
  auto m = random_tensor("__metadata__", DType::F32, {2});
  EXPECT_NE(error_of([&] { st::write(path, std::vector{m}, {}, {}); }).find("__metadata__"), std::string::npos);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(names_in(dir.path()).empty());
}

// ---------------------------------------------------------------------------
// An independent reader and writer: Python's json + numpy

constexpr const char* kPyCheck = R"PY(
import hashlib, json, struct, sys
import numpy as np
path = sys.argv[1]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
assert n % 8 == 0, "header length %d is not a multiple of 8" % n
text = raw[8:8 + n].decode("utf-8")
assert text.startswith("{")
header = json.loads(text)
meta = header.pop("__metadata__", None)
assert meta is None or all(isinstance(v, str) for v in meta.values())
rank = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ",
        "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64"]
items = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"])
expect = sorted(header.items(), key=lambda kv: (-rank.index(kv[1]["dtype"]), kv[0].encode("utf-8")))
assert [k for k, _ in items] == [k for k, _ in expect], "tensors are not in the crate order"
np_types = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16,
            "F16": np.float16, "U32": np.uint32, "I32": np.int32, "F32": np.float32, "U64": np.uint64,
            "I64": np.int64, "F64": np.float64, "C64": np.complex64}
data = raw[8 + n:]
pos = 0
out = {}
for name, t in items:
    b, e = t["data_offsets"]
    assert b == pos, "hole or overlap at " + name
    pos = e
    if t["dtype"] not in np_types:
        continue
    a = np.frombuffer(data[b:e], dtype=np.dtype(np_types[t["dtype"]]).newbyteorder("<")).reshape(t["shape"])
    s = a.astype(np.complex128).real.sum() if a.dtype.kind == "c" else a.astype(np.float64).sum()
    out[name] = {"shape": list(a.shape), "sha": hashlib.sha256(a.tobytes()).hexdigest(), "sum": float(s)}
assert pos == len(data), "bytes after the last tensor"
print(json.dumps({"meta": meta, "tensors": out}))
)PY";

TEST(SafetensorsPython, IndependentReaderAgrees) {
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  TempDir dir;
  std::vector<io::TensorInfo> ts;
  unsigned seed = 10;
  for (const DType dt : safetensors_dtypes()) {
    const std::string n = std::string(io::info(dt).safetensors);
    const std::int64_t b = io::info(dt).block_elems;
    ts.push_back(random_tensor(n + ".m", dt, {3, 4 * b}, seed++));
    if (b == 1) ts.push_back(random_tensor(n + ".s", dt, {}, seed++));
    ts.push_back(random_tensor(n + ".e", dt, {0, 5}, seed++));
  }
  const std::string path = dir.file("py.safetensors");
  st::write(path, ts, {{"who", io::MetaValue::string("ckpt")}}, {});
  std::string out;
  ASSERT_EQ(ckpt::test::run_python(kPyCheck, {path}, &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["meta"], nlohmann::json({{"who", "ckpt"}, {"format", "pt"}}));
  std::size_t checked = 0;
  for (const auto& t : ts) {
    if (!j["tensors"].contains(t.name)) continue;
    ++checked;
    const auto& r = j["tensors"][t.name];
    const auto bytes = io::read_all(t);
    EXPECT_EQ(r["shape"].get<io::Shape>(), t.shape) << t.name;
    EXPECT_EQ(r["sha"].get<std::string>(), ckpt::test::sha256_hex(bytes)) << t.name;
    const std::size_t item = io::item_size(t.dtype);
    long double sum = 0;
    for (std::size_t k = 0; k < static_cast<std::size_t>(t.numel()); ++k) sum += io::element_to_double(t.dtype, bytes.data() + k * item);
    EXPECT_NEAR(static_cast<double>(sum), r["sum"].get<double>(), 1e-6 * std::max(1.0, std::fabs(r["sum"].get<double>())))
        << t.name;
  }
  EXPECT_EQ(checked, 13u * 3u);  // numpy's 13 dtypes, three tensors each
}

constexpr const char* kPyWrite = R"PY(
import hashlib, json, struct, sys
import numpy as np
arrays = {
    "a": ("F32", np.arange(6, dtype="<f4").reshape(2, 3)),
    "b": ("I64", np.array([-1, 2 ** 40], dtype="<i8")),
    "c": ("BOOL", np.array([True, False, True])),
    "d": ("F16", np.zeros((0, 3), dtype="<f2")),
    "e": ("U8", np.array(7, dtype=np.uint8)),
    "f": ("C64", np.array([1 + 2j, -3.5j], dtype="<c8")),
}
header = {"__metadata__": {"source": "python", "format": "pt"}}
data = b""
for name, (dt, a) in arrays.items():
    raw = a.tobytes()
    header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
text = json.dumps(header).encode("utf-8")
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
print(json.dumps({k: hashlib.sha256(a.tobytes()).hexdigest() for k, (_, a) in arrays.items()}))
)PY";

TEST(SafetensorsPython, ReadsAHandWrittenFile) {
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  TempDir dir;
  const std::string path = dir.file("hand.safetensors");
  std::string out;
  ASSERT_EQ(ckpt::test::run_python(kPyWrite, {path}, &out), 0) << out;
  const auto sha = nlohmann::json::parse(out);
  const auto ck = st::open(path);
  ASSERT_EQ(ck.tensors.size(), 6u);
  const std::vector<std::string> names = {"a", "b", "c", "d", "e", "f"};
  const std::vector<DType> dtypes = {DType::F32, DType::I64, DType::Bool, DType::F16, DType::U8, DType::C64};
  const std::vector<io::Shape> shapes = {{2, 3}, {2}, {3}, {0, 3}, {}, {2}};
  for (std::size_t k = 0; k < names.size(); ++k) {
    EXPECT_EQ(ck.tensors[k].name, names[k]);
    EXPECT_EQ(ck.tensors[k].dtype, dtypes[k]);
    EXPECT_EQ(ck.tensors[k].shape, shapes[k]);
    EXPECT_EQ(ckpt::test::sha256_hex(io::read_all(ck.tensors[k])), sha[names[k]].get<std::string>()) << names[k];
  }
  const auto a = io::read_all(ck.tensors[0]);
  EXPECT_EQ(io::element_to_double(DType::F32, a.data() + 20), 5.0);
  const auto b = io::read_all(ck.tensors[1]);
  EXPECT_EQ(io::load_le<std::int64_t>(b.data() + 8), std::int64_t{1} << 40);
  ASSERT_EQ(ck.metadata.size(), 2u);
  EXPECT_EQ(ck.metadata[0].key, "source");
  EXPECT_EQ(ck.metadata[0].value.s, "python");

  // Rewriting it gives the crate's layout, which Python reads back the same.
  const std::string again = dir.file("again.safetensors");
  st::write(again, ck.tensors, ck.metadata, {});
  ASSERT_EQ(ckpt::test::run_python(kPyCheck, {again}, &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  for (const auto& n : names) { EXPECT_EQ(j["tensors"][n]["sha"], sha[n]) << n; }
}

// ---------------------------------------------------------------------------
// Hugging Face shards

TEST(SafetensorsSharded, WritesShardsAndIndexAndReadsThemBack) {
  TempDir dir;
  std::vector<io::TensorInfo> ts;
  for (int k = 0; k < 5; ++k) ts.push_back(random_tensor("layers." + std::to_string(k) + ".w", DType::F32, {100}, k + 1));
  io::WriteOptions opt;
  opt.max_shard_bytes = 1000;
  st::write(dir.file("model.safetensors"), ts, {{"k", io::MetaValue::string("v")}}, opt);
  EXPECT_EQ(names_in(dir.path()),
            (std::vector<std::string>{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                      "model-00003-of-00003.safetensors", "model.safetensors.index.json"}));
  const std::string index_path = dir.file("model.safetensors.index.json");
  const auto index = nlohmann::json::parse(read_text(index_path));
  EXPECT_EQ(index["metadata"]["total_size"].get<std::uint64_t>(), 2000u);
  EXPECT_EQ(index["weight_map"]["layers.0.w"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["layers.1.w"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["layers.2.w"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["layers.3.w"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["layers.4.w"], "model-00003-of-00003.safetensors");
  if (ckpt::test::have_python_numpy()) {
    // transformers writes json.dumps(index, indent=2, sort_keys=True) + "\n".
    std::string py;
    ASSERT_EQ(ckpt::test::run_python("import json,sys; sys.stdout.write(json.dumps(json.load(open(sys.argv[1])), "
                                     "indent=2, sort_keys=True) + \"\\n\")",
                                     {index_path}, &py),
              0);
    EXPECT_EQ(read_text(index_path), py);
  }

  const auto ck = st::open(index_path);
  EXPECT_EQ(ck.format_detail, "safetensors (sharded, 3 files)");
  EXPECT_EQ(ck.files.size(), 3u);
  ASSERT_EQ(ck.tensors.size(), ts.size());
  for (std::size_t k = 0; k < ts.size(); ++k) {
    EXPECT_EQ(ck.tensors[k].name, ts[k].name);
    EXPECT_TRUE(io::read_all(ck.tensors[k]) == io::read_all(ts[k])) << ts[k].name;
  }
  ASSERT_NE(io::find(ck.metadata, "k"), nullptr);
  EXPECT_EQ(io::find(ck.metadata, "format")->s, "pt");
}

TEST(SafetensorsSharded, TensorLargerThanTheLimitGetsItsOwnShard) {
  TempDir dir;
  const std::vector<io::TensorInfo> ts = {random_tensor("a", DType::F32, {100}), random_tensor("big", DType::F32, {600}),
                                          random_tensor("c", DType::F32, {100}), random_tensor("d", DType::F32, {100})};
  io::WriteOptions opt;
  opt.max_shard_bytes = 1000;
  st::write(dir.file("m.safetensors"), ts, {}, opt);
  const auto index = nlohmann::json::parse(read_text(dir.file("m.safetensors.index.json")));
  EXPECT_EQ(index["weight_map"]["a"], "m-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["big"], "m-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["c"], "m-00003-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["d"], "m-00003-of-00003.safetensors");
  const auto big = st::open(dir.file("m-00002-of-00003.safetensors"));
  ASSERT_EQ(big.tensors.size(), 1u);
  EXPECT_EQ(big.tensors[0].nbytes, 2400u);
  const auto ck = st::open(dir.file("m.safetensors.index.json"));
  EXPECT_EQ(ck.tensors.size(), 4u);

  // Under the limit: one plain file, no index.
  TempDir small;
  opt.max_shard_bytes = 100'000;
  st::write(small.file("m.safetensors"), ts, {}, opt);
  EXPECT_EQ(names_in(small.path()), (std::vector<std::string>{"m.safetensors"}));
}

TEST(SafetensorsSharded, BadIndexesAreReported) {
  TempDir dir;
  const std::vector<io::TensorInfo> ts = {random_tensor("a", DType::F32, {100}), random_tensor("b", DType::F32, {100})};
  io::WriteOptions opt;
  opt.max_shard_bytes = 500;
  st::write(dir.file("m.safetensors"), ts, {}, opt);
  const std::string index = dir.file("m.safetensors.index.json");
  const std::string s1 = "m-00001-of-00002.safetensors", s2 = "m-00002-of-00002.safetensors";
  auto open_with = [&](const nlohmann::json& j) {
    write_text(index, j.dump());
    return error_of([&] { (void)st::open(index); });
  };
  const nlohmann::json meta = {{"total_size", 800}};
  EXPECT_EQ(open_with({{"metadata", meta}, {"weight_map", {{"a", s1}, {"b", s2}}}}), "");
  EXPECT_EQ(open_with({{"metadata", meta}, {"weight_map", {{"a", s1}, {"b", s2}, {"ghost", s1}}}}),
            "the index maps tensor 'ghost' to shard '" + s1 + "', which does not hold it");
  EXPECT_EQ(open_with({{"metadata", meta}, {"weight_map", {{"a", s1}}}}), "");  // shard 2 not listed: not opened
  EXPECT_EQ(open_with({{"metadata", meta}, {"weight_map", {{"a", s1}, {"b", s1}}}}),
            "the index maps tensor 'b' to shard '" + s1 + "', which does not hold it");
  EXPECT_EQ(open_with({{"metadata", meta}, {"weight_map", {{"a", s2}, {"b", s2}}}}),
            "the index maps tensor 'a' to shard '" + s2 + "', which does not hold it");
  EXPECT_EQ(open_with({{"weight_map", {{"a", "../" + s1}}}}),
            "the index lists shard '../" + s1 + "', which is not a file name inside the index's folder");
  EXPECT_EQ(open_with({{"weight_map", {{"a", dir.file(s1)}}}}),
            "the index lists shard '" + dir.file(s1) + "', which is not a file name inside the index's folder");
  EXPECT_EQ(open_with({{"weight_map", {{"a", "sub/../../x.safetensors"}}}}),
            "the index lists shard 'sub/../../x.safetensors', which is not a file name inside the index's folder");
  EXPECT_EQ(open_with({{"metadata", meta}}), "the index has no \"weight_map\" object");
  EXPECT_EQ(open_with({{"weight_map", {{"a", 3}}}}), "the index maps tensor 'a' to something other than a file name");
  fs::remove(dir.file(s2));
  EXPECT_EQ(open_with({{"metadata", meta}, {"weight_map", {{"a", s1}, {"b", s2}}}}),
            "shard '" + s2 + "' listed in the index is missing");
  write_text(index, "{\"weight_map\": {\"a\": \"x\", \"a\": \"y\"}}");
  EXPECT_EQ(error_of([&] { (void)st::open(index); }), "the index names 'a' more than once");

  // A shard holding a tensor the index does not list.
  TempDir d2;
  st::write(d2.file("one.safetensors"), ts, {}, {});
  write_text(d2.file("x.safetensors.index.json"), nlohmann::json({{"weight_map", {{"a", "one.safetensors"}}}}).dump());
  EXPECT_EQ(error_of([&] { (void)st::open(d2.file("x.safetensors.index.json")); }),
            "tensor 'b' is in shard 'one.safetensors' but the index does not map it there");
}

// ---------------------------------------------------------------------------
// Corrupt files, by section

std::string one_f32(const std::string& offsets, const std::string& shape = "[2]", const std::string& dtype = "F32") {
  return "{\"x\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}";
}

TEST(SafetensorsCorrupt, HeaderLength) {
  EXPECT_EQ(describe_error(bytes_of("abc")),
            "the file is 3 bytes long, too short for the 8-byte header length of a .safetensors file");
  EXPECT_EQ(describe_error(st_file("{}", 0, 1000)), "the header length 1000 runs past the end of the 10-byte file");
  EXPECT_EQ(describe_error(st_file("{}", 0, 100'000'001)),
            "the header length 100000001 exceeds the limit of 100000000 bytes");
  EXPECT_EQ(describe_error(st_file("{}", 0, ~std::uint64_t{0})),
            "the header length 18446744073709551615 exceeds the limit of 100000000 bytes");
}

TEST(SafetensorsCorrupt, HeaderJson) {
  EXPECT_EQ(describe_error(st_file(" {}", 0)), "the JSON header does not start with '{'");
  EXPECT_EQ(describe_error(st_file("[]", 0)), "the JSON header does not start with '{'");
  EXPECT_EQ(describe_error(st_file("", 0)), "the JSON header does not start with '{'");
  EXPECT_NE(describe_error(st_file("{\"x\": ", 0)).find("the JSON header is not valid JSON"), std::string::npos);
  EXPECT_EQ(describe_error(st_file(std::string_view("{}\0\0", 4), 0)),
            "the JSON header is not valid JSON (a NUL byte at offset 10)");
  EXPECT_NE(describe_error(st_file("{\"\xff\": 1}", 0)).find("is not valid JSON"), std::string::npos);
  EXPECT_EQ(describe_error(st_file("{}      ", 0)), "");  // space padding is fine
  EXPECT_EQ(describe_error(st_file("{\"__metadata__\":null}", 0)), "");
  EXPECT_EQ(describe_error(st_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                   "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                                   8)),
            "the JSON header names 'x' more than once");
  EXPECT_EQ(describe_error(st_file("{\"__metadata__\":{\"k\":1}}", 0)), "__metadata__ value 'k' is not a string: 1");
  EXPECT_EQ(describe_error(st_file("{\"__metadata__\":[\"k\"]}", 0)), "__metadata__ is not a JSON object");
}

TEST(SafetensorsCorrupt, TensorEntries) {
  EXPECT_EQ(describe_error(st_file(one_f32("[0,8]", "[2]", "F128"), 8)), "tensor 'x' has unknown dtype \"F128\"");
  EXPECT_EQ(describe_error(st_file("{\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8)), "tensor 'x' has no dtype");
  EXPECT_EQ(describe_error(st_file("{\"x\":[1]}", 8)), "tensor 'x' is not described by a JSON object");
  EXPECT_EQ(describe_error(st_file(one_f32("[0,8]", "[-2]"), 8)), "tensor 'x' shape [-2] has a negative dimension");
  EXPECT_EQ(describe_error(st_file(one_f32("[0,8]", "[2.5]"), 8)),
            "tensor 'x' shape [2.5] holds something other than whole numbers");
  EXPECT_EQ(describe_error(st_file(one_f32("[0,8]", "[4294967296,4294967296,4]"), 8)),
            "tensor 'x' shape [4294967296,4294967296,4] has more elements than a 64-bit count can hold");
  EXPECT_EQ(describe_error(st_file(one_f32("[0,8]", "[18446744073709551615]"), 8)),
            "tensor 'x' shape [18446744073709551615] has a dimension too large to address");
  EXPECT_EQ(describe_error(st_file(one_f32("[0,8,16]"), 8)),
            "tensor 'x' data_offsets [0,8,16] must be a list of exactly two numbers");
  EXPECT_EQ(describe_error(st_file(one_f32("[8]"), 8)), "tensor 'x' data_offsets [8] must be a list of exactly two numbers");
  EXPECT_EQ(describe_error(st_file(one_f32("[-1,7]"), 8)),
            "tensor 'x' data_offsets [-1,7] must be non-negative whole numbers");
  EXPECT_EQ(describe_error(st_file(one_f32("[8,0]"), 8)), "tensor 'x' data_offsets [8, 0) end before they begin");
  EXPECT_EQ(describe_error(st_file(one_f32("[0,8]", "[3]"), 8)),
            "tensor 'x' data_offsets [0, 8) span 8 bytes but F32 [3] needs 12");
  EXPECT_EQ(describe_error(st_file(one_f32("[0,96]", "[24]"), 64)),
            "tensor 'x' data_offsets [0, 96) exceed the 64-byte data section");
  EXPECT_EQ(describe_error(st_file(one_f32("[0,2]", "[3]", "F4"), 2)),
            "tensor 'x' has 3 elements, which do not fill whole bytes of F4");
  // Every dtype string of the table is accepted.
  for (const DType dt : safetensors_dtypes()) {
    const std::int64_t b = io::info(dt).block_elems;
    const auto n = *io::byte_size(dt, 4 * b);
    const std::string h = one_f32("[0," + std::to_string(n) + "]", "[" + std::to_string(4 * b) + "]",
                                  std::string(io::info(dt).safetensors));
    EXPECT_EQ(describe_error(st_file(h, n)), "") << io::info(dt).safetensors;
  }
}

TEST(SafetensorsCorrupt, Tiling) {
  const std::string two = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":";
  auto pair = [&](const std::string& a, const std::string& b) {
    return two + a + "},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" + b + "}}";
  };
  EXPECT_EQ(describe_error(st_file(pair("[0,8]", "[4,12]"), 12)),
            "tensor 'b' data_offsets [4, 12) overlap tensor 'a' [0, 8)");
  EXPECT_EQ(describe_error(st_file(pair("[0,8]", "[12,20]"), 20)),
            "tensor 'b' data_offsets [12, 20) leave a hole of 4 bytes at data offset 8 that no tensor covers");
  EXPECT_EQ(describe_error(st_file(pair("[4,12]", "[12,20]"), 20)),
            "tensor 'a' data_offsets [4, 12) leave a hole of 4 bytes at data offset 0 that no tensor covers");
  EXPECT_EQ(describe_error(st_file(pair("[0,8]", "[0,8]"), 8)), "tensor 'b' data_offsets [0, 8) overlap tensor 'a' [0, 8)");
  EXPECT_EQ(describe_error(st_file(pair("[8,16]", "[0,8]"), 20)),
            "the data section has 4 bytes left after the last tensor ends at data offset 16");
  EXPECT_EQ(describe_error(st_file("{}", 3)), "the data section has 3 bytes left after the last tensor ends at data offset 0");
  // Header order is kept even when data run in another order; empty tensors may share an offset.
  const auto ok = st_file(pair("[8,16]", "[0,8]").substr(0, pair("[8,16]", "[0,8]").size() - 1) +
                              ",\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}",
                          16);
  const auto ck = st::describe(mem(ok));
  ASSERT_EQ(ck.tensors.size(), 3u);
  EXPECT_EQ(ck.tensors[0].name, "a");
  EXPECT_EQ(ck.tensors[0].offset, 8 + (ok.size() - 16 - 8) + 8);
}

TEST(SafetensorsCorrupt, TruncatedAtEveryByte) {
  TempDir dir;
  const std::vector<io::TensorInfo> ts = {random_tensor("a", DType::F32, {3}), random_tensor("b", DType::I16, {5})};
  st::write(dir.file("t.safetensors"), ts, {{"k", io::MetaValue::string("v")}}, {});
  const auto full = ckpt::test::read_file_bytes(dir.file("t.safetensors"));
  const std::uint64_t n = io::load_le<std::uint64_t>(full.data());
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    const std::string e = describe_error(std::vector<std::byte>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut)));
    if (cut < 8) {
      EXPECT_NE(e.find("too short for the 8-byte header length"), std::string::npos) << cut << ": " << e;
    } else if (cut < 8 + n) {
      EXPECT_NE(e.find("runs past the end of the"), std::string::npos) << cut << ": " << e;
    } else {
      EXPECT_NE(e.find("-byte data section"), std::string::npos) << cut << ": " << e;
    }
  }
  EXPECT_EQ(describe_error(full), "");
}

TEST(SafetensorsCorrupt, ErrorsNameFileAndOffsetAndReaderStillWorks) {
  const auto bad = st_file(one_f32("[0,96]", "[24]"), 64);
  try {
    (void)st::describe(mem(bad));
    FAIL() << "no error";
  } catch (const io::Error& e) {
    EXPECT_EQ(e.file(), "mem.safetensors");
    EXPECT_EQ(e.offset(), 9u);  // the tensor's key in the header
  }
  const auto good = st_file(one_f32("[0,8]"), 8);
  const auto ck = st::describe(mem(good));
  ASSERT_EQ(ck.tensors.size(), 1u);
  EXPECT_EQ(io::read_all(ck.tensors[0]).size(), 8u);
}

// ---------------------------------------------------------------------------
// Failed writes leave nothing behind

class ThrowingData final : public io::TensorData {
 public:
  void stream(const io::ByteSink& sink) const override {
    std::vector<std::byte> half(8);
    sink(half);
    throw io::Error("source", 8, "the source tensor could not be read");
  }
};

TEST(SafetensorsWriter, FailedWriteLeavesNoTempAndKeepsDestination) {
  TempDir dir;
  const std::string path = dir.file("out.safetensors");
  write_text(path, "old contents");
  auto bad = memory_tensor("bad", DType::F32, {4}, std::vector<std::byte>(16));
  bad.data = std::make_shared<ThrowingData>();
  const std::vector<io::TensorInfo> ts = {random_tensor("good", DType::F32, {4}), bad};
  EXPECT_EQ(error_of([&] { st::write(path, ts, {}, {}); }), "the source tensor could not be read");
  EXPECT_EQ(read_text(path), "old contents");
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"out.safetensors"}));

  // Sharded: the failing tensor is in the second shard; no shard and no index remain.
  const std::vector<io::TensorInfo> many = {random_tensor("a", DType::F32, {4}), random_tensor("b", DType::F32, {4}), bad};
  io::WriteOptions opt;
  opt.max_shard_bytes = 20;
  EXPECT_EQ(error_of([&] { st::write(path, many, {}, opt); }), "the source tensor could not be read");
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"out.safetensors"}));

  // Cancelling through the progress callback behaves the same.
  io::WriteOptions cancel;
  int calls = 0;
  cancel.cancelled = [&] { return ++calls > 1; };
  EXPECT_EQ(error_of([&] { st::write(path, std::vector{random_tensor("a", DType::F32, {4}), random_tensor("b", DType::F32, {4})}, {}, cancel); }),
            "the write was cancelled");
  EXPECT_EQ(read_text(path), "old contents");
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"out.safetensors"}));
}

TEST(SafetensorsWriter, ReportsProgressAndRefusesToOverwriteItsInput) {
  TempDir dir;
  const std::string path = dir.file("in.safetensors");
  const std::vector<io::TensorInfo> ts = {random_tensor("a", DType::F32, {1000}), random_tensor("b", DType::U8, {10})};
  io::WriteOptions opt;
  std::uint64_t last = 0;
  opt.on_progress = [&](const io::Progress& p) {
    EXPECT_GE(p.bytes_done, last);
    last = p.bytes_done;
    EXPECT_EQ(p.bytes_total, 4010u);
  };
  st::write(path, ts, {}, opt);
  EXPECT_EQ(last, 4010u);
  const auto ck = st::open(path);
  EXPECT_NE(error_of([&] { st::write(path, ck.tensors, ck.metadata, {}); }).find("which is being read"), std::string::npos);
  const std::string copy = dir.file("copy.safetensors");
  st::write(copy, ck.tensors, ck.metadata, {});
  EXPECT_TRUE(ckpt::test::read_file_bytes(copy) == ckpt::test::read_file_bytes(path));  // byte-exact rewrite
}

}  // namespace

namespace {

// Headers of big checkpoints list tens of thousands of tensors: parsing must
// not be quadratic in their number.
TEST(SafetensorsReader, ManyTensorsInHeaderOrder) {
  TempDir dir;
  std::vector<io::TensorInfo> ts;
  for (int k = 0; k < 30'000; ++k)
    ts.push_back(memory_tensor("layers." + std::to_string(k) + ".w", DType::U8, {1}, {std::byte(k & 0xff)}));
  const std::string path = dir.file("many.safetensors");
  st::write(path, ts, {}, {});
  const auto ck = st::open(path);
  ASSERT_EQ(ck.tensors.size(), ts.size());
  for (std::size_t k = 1; k < ck.tensors.size(); ++k) {
    if (!(ck.tensors[k - 1].name < ck.tensors[k].name)) {
      ADD_FAILURE() << "header order broken at " << k;
      break;
    }
  }
}

}  // namespace
