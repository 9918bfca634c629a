// PyTorch (torch.save) reader and writer without Python: shared fixtures
// (zip, legacy, nested training checkpoint), round trips of every dtype,
// round trips through every other format, the archive layout current torch
// writes, and hand-built corrupt archives and truncated legacy files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/formats/gguf.h"
#include "io/formats/npy.h"
#include "io/formats/npz.h"
#include "io/formats/pytorch.h"
#include "io/formats/safetensors.h"
#include "io/formats/zip.h"
#include "io/open.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

const DType kTorchTypes[] = {DType::Bool, DType::U8,  DType::I8,  DType::I16, DType::I32, DType::I64,
                             DType::F16,  DType::BF16, DType::F32, DType::F64, DType::C64, DType::C128};

std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> b(s.size());
  if (!s.empty()) std::memcpy(b.data(), s.data(), s.size());
  return b;
}


Checkpoint from_memory(std::vector<std::byte> b, std::string label = "mem.pt") {
  return pytorch::describe(std::make_shared<MemorySource>(std::move(b), std::move(label)));
}

std::string describe_error(std::vector<std::byte> b) {
  try {
    (void)from_memory(std::move(b));
  } catch (const Error& e) {
    return e.sentence();
  }
  return "no error";
}

WriteOptions quiet() {
  WriteOptions o;
  o.sync = false;
  return o;
}

void expect_same_tensors(const Checkpoint& a, std::span<const TensorInfo> want) {
  ASSERT_EQ(a.tensors.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(a.tensors[i].name, want[i].name);
    EXPECT_EQ(a.tensors[i].dtype, want[i].dtype);
    EXPECT_EQ(a.tensors[i].shape, want[i].shape);
    EXPECT_EQ(a.tensors[i].nbytes, want[i].nbytes);
    EXPECT_TRUE(read_all(a.tensors[i]) == read_all(want[i]));
  }
}

// Rewrites an archive member by member: `edit` may rename a member (return
// false to drop it), change its bytes or ask for it to be deflated.
struct MemberEdit {
  std::string name;
  std::vector<std::byte> bytes;
  bool deflate = false;
};
std::vector<std::byte> rezip(const std::string& path, const std::function<bool(MemberEdit&)>& edit, const TempDir& dir) {
  const auto src = MappedFile::open(path);
  const zip::Archive a = zip::read_archive(*src);
  const std::string out_path = dir.file("rezip.zip");
  {
    AtomicFile out(out_path, false);
    zip::Writer w(out);
    for (const auto& m : a.members) {
      MemberEdit e{m.name, {}, false};
      zip::read_member(*src, m, [&](std::span<const std::byte> c) { e.bytes.insert(e.bytes.end(), c.begin(), c.end()); });
      if (!edit(e)) continue;
      w.begin_member(e.name, e.deflate ? zip::kDeflated : zip::kStored);
      w.write(e.bytes);
      w.end_member();
    }
    w.finish();
    out.commit();
  }
  return ckpt::test::read_file_bytes(out_path);
}

// A protocol-2 data.pkl with one tensor named "t", written by hand so tests
// can give it any storage id and view.
std::string one_tensor_pickle(const std::string& storage_class, std::uint8_t numel, std::uint8_t offset,
                              std::vector<std::uint8_t> size, std::vector<std::uint8_t> stride) {
  std::string p = "\x80\x02" "ccollections\nOrderedDict\n)R(";
  p += std::string("X\x01\x00\x00\x00t", 6);
  p += "ctorch._utils\n_rebuild_tensor_v2\n(";
  p += std::string("(X\x07\x00\x00\x00storage", 13);
  p += "ctorch\n" + storage_class + "\n";
  p += std::string("X\x01\x00\x00\x00" "0", 6) + std::string("X\x03\x00\x00\x00" "cpu", 8);
  p += std::string("K") + static_cast<char>(numel) + "tQ";
  p += std::string("K") + static_cast<char>(offset);
  p += "(";
  for (auto s : size) p += std::string("K") + static_cast<char>(s);
  p += "t(";
  for (auto s : stride) p += std::string("K") + static_cast<char>(s);
  p += "t\x89" "ccollections\nOrderedDict\n)RtRu.";
  return p;
}

std::vector<std::byte> archive_with(const std::vector<std::pair<std::string, std::string>>& members, const TempDir& dir,
                                    const std::string& deflate_member = "") {
  const std::string path = dir.file("hand.zip");
  {
    AtomicFile out(path, false);
    zip::Writer w(out);
    for (const auto& [name, text] : members) {
      w.begin_member(name, name == deflate_member ? zip::kDeflated : zip::kStored);
      w.write(bytes_of(text));
      w.end_member();
    }
    w.finish();
    out.commit();
  }
  return ckpt::test::read_file_bytes(path);
}

std::string f32_bytes(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

// ---------------------------------------------------------------------------

TEST(PyTorch, SharedFixturesMatchManifests) {
  const auto files = ckpt::test::fixture_files("torch", ".pt");
  if (files.empty()) GTEST_SKIP() << "shared fixtures not found at ../shared/fixtures";
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    const Checkpoint ck = pytorch::open(f.string());
    const auto manifest = ckpt::test::load_manifest(f);
    ckpt::test::expect_matches_manifest(ck, manifest);
    EXPECT_EQ(ck.format, Format::PyTorch);
    if (manifest["format"] == "pytorch-legacy") {
      EXPECT_EQ(ck.format_detail, "PyTorch legacy (torch.save, _use_new_zipfile_serialization=False), pickle protocol 2");
    } else {
      EXPECT_EQ(ck.format_detail, "PyTorch zip (torch.save, version 3), pickle protocol 2");
    }
    // Non-tensor leaves, in file order, with their Python types.
    const auto& meta = manifest["metadata"];
    ASSERT_EQ(ck.metadata.size(), meta.size());
    for (std::size_t k = 0; k < ck.metadata.size(); ++k) {
      const std::string key = manifest["metadata_order"][k].get<std::string>();
      EXPECT_EQ(ck.metadata[k].key, key);
      const auto& want = meta[key];
      const MetaValue& got = ck.metadata[k].value;
      EXPECT_EQ(to_json(got), want) << key;
      if (want.is_boolean()) { EXPECT_EQ(got.type, MetaType::Bool) << key; }
      if (want.is_number_integer()) { EXPECT_EQ(got.type, MetaType::I64) << key; }
      if (want.is_number_float()) { EXPECT_EQ(got.type, MetaType::F64) << key; }
      if (want.is_null()) { EXPECT_EQ(got.type, MetaType::Null) << key; }
      if (want.is_array()) { EXPECT_EQ(got.type, MetaType::Array) << key; }
    }
  }
}

TEST(PyTorch, FixtureOffsetsPointAtTheData) {
  const auto files = ckpt::test::fixture_files("torch", ".pt");
  if (files.empty()) GTEST_SKIP() << "shared fixtures not found at ../shared/fixtures";
  for (const auto& f : files) {
    const Checkpoint ck = pytorch::open(f.string());
    const auto raw = ckpt::test::read_file_bytes(f.string());
    for (const auto& t : ck.tensors) {
      ASSERT_LE(t.offset + t.nbytes, raw.size()) << t.name;
      const auto data = read_all(t);
      EXPECT_EQ(std::memcmp(raw.data() + t.offset, data.data(), data.size()), 0) << t.name;
    }
  }
}

TEST(PyTorch, RoundTripEveryDtypeAndShape) {
  TempDir dir;
  const std::vector<Shape> shapes = {{}, {7}, {2, 3, 4, 5}, {0}, {3, 0, 2}, {1'000'000}};
  std::vector<TensorInfo> tensors;
  unsigned seed = 1;
  for (DType t : kTorchTypes)
    for (const auto& s : shapes)
      tensors.push_back(ckpt::test::random_tensor(std::string(name(t)) + "." + std::to_string(tensors.size()), t, s, seed++));
  const std::string path = dir.file("model.pt");
  pytorch::write(path, tensors, {}, quiet());
  const Checkpoint ck = pytorch::open(path);
  expect_same_tensors(ck, tensors);
  EXPECT_EQ(ck.format_detail, "PyTorch zip (torch.save, version 3), pickle protocol 2");
  EXPECT_TRUE(ck.metadata.empty());
  for (const auto& t : ck.tensors) EXPECT_EQ(t.layout_note, "") << t.name;
}

TEST(PyTorch, WrittenArchiveFollowsCurrentTorchLayout) {
  TempDir dir;
  std::vector<TensorInfo> tensors = {ckpt::test::random_tensor("a.weight", DType::F32, {3, 5}),
                                     ckpt::test::random_tensor("b", DType::BF16, {17})};
  const std::string path = dir.file("my.model.pt");
  pytorch::write(path, tensors, {}, quiet());
  const auto src = MappedFile::open(path);
  const zip::Archive a = zip::read_archive(*src);
  std::vector<std::string> names;
  for (const auto& m : a.members) {
    names.push_back(m.name);
    EXPECT_EQ(m.method, zip::kStored) << m.name;
    EXPECT_EQ(m.data_offset % 64, 0u) << m.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"my.model/data.pkl", "my.model/.format_version", "my.model/.storage_alignment",
                                             "my.model/byteorder", "my.model/data/0", "my.model/data/1", "my.model/version",
                                             "my.model/.data/serialization_id"}));
  auto text = [&](std::size_t k) {
    std::string s;
    zip::read_member(*src, a.members[k], [&](std::span<const std::byte> c) { s.append(reinterpret_cast<const char*>(c.data()), c.size()); });
    return s;
  };
  EXPECT_EQ(text(1), "1");
  EXPECT_EQ(text(2), "64");
  EXPECT_EQ(text(3), "little");
  EXPECT_EQ(text(6), "3\n");
  EXPECT_EQ(text(7).size(), 40u);
  const std::string pkl = text(0);
  EXPECT_EQ(pkl.substr(0, 2), "\x80\x02");
  EXPECT_THAT(pkl, HasSubstr("ctorch\nFloatStorage\n"));
  EXPECT_THAT(pkl, HasSubstr("ctorch\nBFloat16Storage\n"));
  EXPECT_THAT(pkl, HasSubstr("ctorch._utils\n_rebuild_tensor_v2\n"));
}

TEST(PyTorch, RefusesDtypesTorchCannotStore) {
  TempDir dir;
  for (DType t : {DType::U16, DType::U32, DType::U64, DType::F8_E4M3, DType::Q8_0}) {
    const Shape s = t == DType::Q8_0 ? Shape{32} : Shape{4};
    std::vector<TensorInfo> v = {ckpt::test::random_tensor("x", t, s)};
    try {
      pytorch::write(dir.file("bad.pt"), v, {}, quiet());
      ADD_FAILURE() << "no error for " << name(t);
    } catch (const Error& e) {
      EXPECT_EQ(e.sentence(), "tensor 'x' has dtype " + std::string(name(t)) + ", which PyTorch files cannot store");
    }
    EXPECT_FALSE(fs::exists(dir.file("bad.pt")));
  }
}

TEST(PyTorch, RoundTripsThroughEveryOtherFormat) {
  TempDir dir;
  std::vector<TensorInfo> tensors = {ckpt::test::random_tensor("emb.weight", DType::F16, {11, 4}),
                                     ckpt::test::random_tensor("layers.0.w", DType::F32, {4, 4}),
                                     ckpt::test::random_tensor("layers.0.b", DType::BF16, {4}),
                                     ckpt::test::random_tensor("step", DType::I32, {})};
  const std::string pt = dir.file("a.pt");
  pytorch::write(pt, tensors, {}, quiet());
  const Checkpoint from_pt = pytorch::open(pt);
  struct Fmt {
    const char* file;
    void (*write)(const std::string&, std::span<const TensorInfo>, const Metadata&, const WriteOptions&);
    Checkpoint (*open)(const std::string&);
  };
  const Fmt formats[] = {{"b.safetensors", safetensors::write, safetensors::open},
                         {"b.npz", npz::write, npz::open},
                         {"b.gguf", gguf::write, gguf::open}};
  for (const auto& f : formats) {
    SCOPED_TRACE(f.file);
    std::vector<TensorInfo> src = from_pt.tensors;
    if (std::string(f.file).ends_with(".npz"))  // NumPy has no bfloat16 descr of its own but MLX's V2 reads back as bf16
      src.erase(src.begin() + 2);
    f.write(dir.file(f.file), src, {}, quiet());
    const Checkpoint other = f.open(dir.file(f.file));
    // Back to PyTorch from the other format: same tensors, same bytes.
    std::vector<TensorInfo> back;
    for (const auto& name : {"emb.weight", "layers.0.w", "layers.0.b", "step"})
      for (const auto& t : other.tensors)
        if (t.name == name) back.push_back(t);
    ASSERT_EQ(back.size(), src.size());
    pytorch::write(dir.file("c.pt"), back, {}, quiet());
    expect_same_tensors(pytorch::open(dir.file("c.pt")), src);
  }
}

TEST(PyTorch, RoundTripsThroughNpy) {
  TempDir dir;
  std::vector<TensorInfo> one = {ckpt::test::random_tensor("w", DType::C64, {3, 2})};
  pytorch::write(dir.file("a.pt"), one, {}, quiet());
  const Checkpoint pt = pytorch::open(dir.file("a.pt"));
  npy::write(dir.file("a.npy"), pt.tensors, {}, quiet());
  std::vector<TensorInfo> back = npy::open(dir.file("a.npy")).tensors;
  ASSERT_EQ(back.size(), 1u);
  back[0].name = "w";
  pytorch::write(dir.file("b.pt"), back, {}, quiet());
  expect_same_tensors(pytorch::open(dir.file("b.pt")), one);
}

TEST(PyTorch, SharedStorageAndStridedViews) {
  TempDir dir;
  // Two tensors over one 12-float storage: a transposed 3x4 view and a slice at offset 5.
  std::string pkl = "\x80\x02" "ccollections\nOrderedDict\n)R(";
  auto tensor = [&](const std::string& name, int offset, const std::string& size, const std::string& stride) {
    pkl += "X" + std::string(1, static_cast<char>(name.size())) + std::string(3, '\0') + name;
    pkl += "ctorch._utils\n_rebuild_tensor_v2\n";
    pkl += std::string("((X\x07\x00\x00\x00storage", 14) + "ctorch\nFloatStorage\n";
    pkl += std::string("X\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x0ctQ", 18);
    pkl += "K" + std::string(1, static_cast<char>(offset)) + size + stride + "\x89" "ccollections\nOrderedDict\n)RtR";
  };
  tensor("t", 0, "K\x04K\x03\x86", "K\x01K\x04\x86");
  tensor("s", 5, "K\x03\x85", "K\x02\x85");
  pkl += "u.";
  std::string data;
  for (int i = 0; i < 12; ++i) data += f32_bytes({static_cast<float>(i)});
  const Checkpoint ck = from_memory(archive_with({{"x/data.pkl", pkl}, {"x/data/0", data}, {"x/version", "3\n"}}, dir));
  ASSERT_EQ(ck.tensors.size(), 2u);
  const auto t = read_all(ck.tensors[0]);
  std::vector<float> tv(12);
  std::memcpy(tv.data(), t.data(), 48);
  EXPECT_EQ(tv, (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  const auto s = read_all(ck.tensors[1]);
  std::vector<float> sv(3);
  std::memcpy(sv.data(), s.data(), 12);
  EXPECT_EQ(sv, (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(ck.tensors[0].layout_note, "strided view");
  EXPECT_EQ(ck.tensors[1].layout_note, "shares storage with 't', strided view, storage offset 5");
}

// ---------------------------------------------------------------------------
// Corrupt files.

TEST(PyTorchCorrupt, ArchiveErrorsNameTheProblem) {
  TempDir dir;
  const std::string good_pkl = one_tensor_pickle("FloatStorage", 4, 0, {4}, {1});
  const std::string four = f32_bytes({1, 2, 3, 4});
  EXPECT_EQ(describe_error(archive_with({{"x/data/0", four}, {"x/version", "3\n"}}, dir)),
            "the archive has no data.pkl record, so it is not a torch.save file");
  EXPECT_EQ(describe_error(archive_with({{"x/data.pkl", good_pkl}, {"x/version", "3\n"}}, dir)),
            "storage '0' has no record 'x/data/0' in the archive");
  EXPECT_EQ(describe_error(archive_with({{"x/data.pkl", good_pkl}, {"x/data/0", four.substr(0, 12)}}, dir)),
            "storage '0' needs 16 bytes but record 'x/data/0' holds only 12");
  EXPECT_EQ(describe_error(archive_with({{"x/data.pkl", good_pkl}, {"x/data/0", four}}, dir, "x/data/0")),
            "storage '0' (record 'x/data/0') is compressed; torch.save stores storages uncompressed");
  // The view reaches past its storage.
  EXPECT_THAT(describe_error(archive_with({{"x/data.pkl", one_tensor_pickle("FloatStorage", 4, 2, {3}, {1})}, {"x/data/0", four}}, dir)),
              HasSubstr("tensor 't' (storage '0'): tensor needs 12 bytes but its storage holds 16"));
  EXPECT_THAT(describe_error(archive_with({{"x/data.pkl", one_tensor_pickle("FloatStorage", 4, 0, {2, 2}, {3, 1})}, {"x/data/0", four}}, dir)),
              HasSubstr("reach past the end of its storage"));
  EXPECT_EQ(describe_error(archive_with({{"x/data.pkl", good_pkl}, {"x/data/0", four}, {"x/byteorder", "middle"}}, dir)),
            "the byteorder record says 'middle' instead of 'little' or 'big'");
  // A bad file does not spoil the next read.
  const Checkpoint ok = from_memory(archive_with({{"x/data.pkl", good_pkl}, {"x/data/0", four}}, dir));
  ASSERT_EQ(ok.tensors.size(), 1u);
  EXPECT_EQ(read_all(ok.tensors[0]), bytes_of(four));
}

// A zip whose extension says nothing is told apart by the names in its
// central directory alone, so a damaged local header is reported by the
// PyTorch reader, not by the .npz reader it would otherwise fall to.
TEST(PyTorchCorrupt, AnyZipWithDataPklIsPyTorchEvenWithABrokenLocalHeader) {
  TempDir dir;
  auto bytes = archive_with({{"x/data.pkl", one_tensor_pickle("FloatStorage", 4, 0, {4}, {1})},
                             {"x/data/0", f32_bytes({1, 2, 3, 4})}}, dir);
  const std::string path = dir.file("weights.zip");
  ckpt::test::write_file_bytes(path, bytes);
  std::uint64_t at = 0;
  {
    const auto src = MappedFile::open(path);
    at = zip::read_archive(*src).members.at(1).local_header_offset;
  }
  std::memcpy(bytes.data() + at, "PK\x09\x09", 4);
  ckpt::test::write_file_bytes(path, bytes);
  EXPECT_EQ(detect_format(path), Format::PyTorch);
  try {
    (void)open_checkpoint(path);
    ADD_FAILURE() << "opened a zip with a broken local header";
  } catch (const Error& e) {
    EXPECT_THAT(e.sentence(), HasSubstr("member 'x/data/0' has no local header"));
    EXPECT_EQ(e.offset(), at);
  }
}

TEST(PyTorchCorrupt, BigEndianStoragesAreSwapped) {
  TempDir dir;
  const std::string be("\x3f\x80\x00\x00\x40\x00\x00\x00", 8);  // 1.0f, 2.0f big-endian
  const Checkpoint ck = from_memory(archive_with(
      {{"x/data.pkl", one_tensor_pickle("FloatStorage", 2, 0, {2}, {1})}, {"x/byteorder", "big"}, {"x/data/0", be}}, dir));
  ASSERT_EQ(ck.tensors.size(), 1u);
  EXPECT_EQ(read_all(ck.tensors[0]), bytes_of(f32_bytes({1, 2})));
  EXPECT_EQ(ck.tensors[0].layout_note, "big-endian");
}

TEST(PyTorchCorrupt, RewrittenArchivesFromTheWriter) {
  TempDir dir;
  std::vector<TensorInfo> v = {ckpt::test::random_tensor("w", DType::F32, {8})};
  const std::string path = dir.file("m.pt");
  pytorch::write(path, v, {}, quiet());
  EXPECT_EQ(describe_error(rezip(path, [](MemberEdit& e) { return e.name != "m/data.pkl"; }, dir)),
            "the archive has no data.pkl record, so it is not a torch.save file");
  EXPECT_EQ(describe_error(rezip(path, [](MemberEdit& e) { return e.name != "m/data/0"; }, dir)),
            "storage '0' has no record 'm/data/0' in the archive");
  EXPECT_EQ(describe_error(rezip(path,
                                 [](MemberEdit& e) {
                                   if (e.name == "m/data/0") e.bytes.resize(31);
                                   return true;
                                 },
                                 dir)),
            "storage '0' needs 32 bytes but record 'm/data/0' holds only 31");
  EXPECT_EQ(describe_error(rezip(path,
                                 [](MemberEdit& e) {
                                   e.deflate = e.name == "m/data/0";
                                   return true;
                                 },
                                 dir)),
            "storage '0' (record 'm/data/0') is compressed; torch.save stores storages uncompressed");
  // A renamed top folder and a deflated data.pkl still read.
  const Checkpoint ck = from_memory(rezip(path,
                                          [](MemberEdit& e) {
                                            e.name = "other" + e.name.substr(1);
                                            e.deflate = e.name == "other/data.pkl";
                                            return true;
                                          },
                                          dir));
  expect_same_tensors(ck, v);
}

TEST(PyTorchCorrupt, LegacyTruncatedAnywhereIsAnError) {
  const auto files = ckpt::test::fixture_files("torch", ".pt");
  if (files.empty()) GTEST_SKIP() << "shared fixtures not found at ../shared/fixtures";
  std::vector<std::byte> legacy;
  for (const auto& f : files)
    if (f.filename().string().find("legacy") != std::string::npos) legacy = ckpt::test::read_file_bytes(f.string());
  ASSERT_FALSE(legacy.empty());
  for (std::size_t n = 0; n < legacy.size(); ++n) {
    std::vector<std::byte> cut(legacy.begin(), legacy.begin() + static_cast<std::ptrdiff_t>(n));
    try {
      (void)from_memory(std::move(cut));
      ADD_FAILURE() << "no error for the first " << n << " bytes";
    } catch (const Error& e) {
      EXPECT_FALSE(e.sentence().empty());
    }
  }
  // Section by section, the messages say what is missing.
  auto cut_error = [&](std::size_t n) { return describe_error({legacy.begin(), legacy.begin() + static_cast<std::ptrdiff_t>(n)}); };
  EXPECT_THAT(cut_error(10), HasSubstr("magic number"));
  EXPECT_THAT(cut_error(15), HasSubstr("protocol version"));
  EXPECT_THAT(legacy.size() > 200 ? cut_error(legacy.size() - 1) : std::string("file ends"), HasSubstr("file ends inside storage"));
  // Still reads whole afterwards.
  EXPECT_EQ(from_memory(legacy).tensors.size(), 9u);
}

TEST(PyTorchCorrupt, LegacyBadMagicAndCounts) {
  const auto files = ckpt::test::fixture_files("torch", ".pt");
  if (files.empty()) GTEST_SKIP() << "shared fixtures not found at ../shared/fixtures";
  std::vector<std::byte> legacy;
  for (const auto& f : files)
    if (f.filename().string().find("legacy") != std::string::npos) legacy = ckpt::test::read_file_bytes(f.string());
  ASSERT_FALSE(legacy.empty());
  auto bad = legacy;
  bad[5] ^= std::byte{1};
  EXPECT_EQ(describe_error(bad), "the file does not start with torch.save's magic number (not a legacy PyTorch file)");
  EXPECT_EQ(describe_error(bytes_of("not a checkpoint at all")),
            "the file does not start with torch.save's magic number (not a legacy PyTorch file)");
  EXPECT_EQ(from_memory(legacy).tensors.size(), 9u);
}

TEST(PyTorchCorrupt, FlippedBytesNeverCrash) {
  const auto files = ckpt::test::fixture_files("torch", ".pt");
  if (files.empty()) GTEST_SKIP() << "shared fixtures not found at ../shared/fixtures";
  for (const auto& f : files) {
    const auto good = ckpt::test::read_file_bytes(f.string());
    for (std::size_t i = 0; i < good.size(); ++i) {
      auto bad = good;
      bad[i] ^= std::byte{0x5a};
      try {
        const Checkpoint ck = from_memory(std::move(bad));
        for (const auto& t : ck.tensors) (void)read_all(t);
      } catch (const Error&) {
        // Expected for most positions; anything but Error fails the test.
      }
    }
  }
}

TEST(PyTorch, ShardIndexOpensEveryShard) {
  TempDir dir;
  std::vector<TensorInfo> a = {ckpt::test::random_tensor("x.weight", DType::F32, {3})};
  std::vector<TensorInfo> b = {ckpt::test::random_tensor("y.weight", DType::F16, {2, 2})};
  pytorch::write(dir.file("pytorch_model-00001-of-00002.bin"), a, {}, quiet());
  pytorch::write(dir.file("pytorch_model-00002-of-00002.bin"), b, {}, quiet());
  const std::string index = dir.file("pytorch_model.bin.index.json");
  {
    std::ofstream out(index);
    out << R"({"metadata": {"total_size": 20}, "weight_map": {"y.weight": "pytorch_model-00002-of-00002.bin",
             "x.weight": "pytorch_model-00001-of-00002.bin"}})";
  }
  const Checkpoint ck = pytorch::open(index);
  ASSERT_EQ(ck.tensors.size(), 2u);
  EXPECT_EQ(ck.tensors[0].name, "x.weight");
  EXPECT_EQ(ck.tensors[1].name, "y.weight");
  EXPECT_EQ(ck.files.size(), 2u);
  EXPECT_THAT(ck.format_detail, HasSubstr("sharded, 2 files"));
  {
    std::ofstream out(index);
    out << R"({"weight_map": {"x.weight": "../pytorch_model-00001-of-00002.bin"}})";
  }
  try {
    (void)pytorch::open(index);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.sentence(), HasSubstr("not a file name inside the index's folder"));
  }
}

}  // namespace
