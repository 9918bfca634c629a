// .npz reader and writer (and the zip layer under them): shared fixtures,
// round trips, interop with Debian's NumPy, hand-built zip64 archives and
// corrupt archives.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <fcntl.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/atomic_file.h"
#include "io/deflate.h"
#include "io/endian.h"
#include "io/error.h"
#include "io/formats/npy.h"
#include "io/formats/npz.h"
#include "io/formats/zip.h"
#include "tests/support/sha256.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;
using ::testing::AnyOf;
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



Checkpoint from_memory(std::vector<std::byte> b) {
  return npz::describe(std::make_shared<MemorySource>(std::move(b), "mem.npz"));
}

std::string describe_error(std::vector<std::byte> b) {
  try {
    (void)from_memory(std::move(b));
  } catch (const Error& e) {
    return e.sentence();
  }
  return "(no error)";
}

std::string read_error(const TensorInfo& t) {
  try {
    (void)read_all(t);
  } catch (const Error& e) {
    return e.sentence();
  }
  return "(no error)";
}

std::string sha_of(const TensorInfo& t) { return ckpt::test::sha256_hex(read_all(t)); }

// A small archive written by our writer, in memory.
std::vector<std::byte> small_archive(bool compress, int level = 6) {
  TempDir dir;
  const TensorInfo ts[] = {ckpt::test::random_tensor("a", DType::F32, {4, 4}, 1),
                           ckpt::test::random_tensor("b/c.d", DType::I16, {7}, 2)};
  WriteOptions opt;
  opt.compress = compress;
  opt.compression_level = level;
  npz::write(dir.file("s.npz"), ts, {}, opt);
  return ckpt::test::read_file_bytes(dir.file("s.npz"));
}

std::string npy_image(const TensorInfo& t) {
  std::string s = npy::make_header(t.dtype, t.shape);
  const auto b = read_all(t);
  s.append(reinterpret_cast<const char*>(b.data()), b.size());
  return s;
}

void put16(std::string& s, std::uint16_t v) { s.append({static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)}); }
void put32(std::string& s, std::uint32_t v) {
  put16(s, static_cast<std::uint16_t>(v));
  put16(s, static_cast<std::uint16_t>(v >> 16));
}
void put64(std::string& s, std::uint64_t v) {
  put32(s, static_cast<std::uint32_t>(v));
  put32(s, static_cast<std::uint32_t>(v >> 32));
}

// A stored archive with zip64 everywhere: saturated 32-bit fields in local
// and central headers completed by zip64 extras, zip64 end records, and
// optionally data descriptors (bit 3) instead of sizes in the local headers.
std::vector<std::byte> zip64_archive(const std::vector<std::pair<std::string, std::string>>& members, bool descriptors) {
  std::string out, cd;
  for (const auto& [name, data] : members) {
    const std::uint64_t off = out.size();
    const std::uint32_t crc = crc32_update(0, std::as_bytes(std::span<const char>(data)));
    put32(out, 0x04034b50);
    put16(out, 45);
    put16(out, descriptors ? 8 : 0);
    put16(out, 0);
    put32(out, 0);
    put32(out, descriptors ? 0 : crc);
    put32(out, descriptors ? 0 : 0xFFFFFFFF);
    put32(out, descriptors ? 0 : 0xFFFFFFFF);
    put16(out, static_cast<std::uint16_t>(name.size()));
    put16(out, 20);
    out += name;
    put16(out, 1);
    put16(out, 16);
    put64(out, descriptors ? 0 : data.size());
    put64(out, descriptors ? 0 : data.size());
    out += data;
    if (descriptors) {
      put32(out, 0x08074b50);
      put32(out, crc);
      put64(out, data.size());
      put64(out, data.size());
    }
    put32(cd, 0x02014b50);
    put16(cd, 45);
    put16(cd, 45);
    put16(cd, descriptors ? 8 : 0);
    put16(cd, 0);
    put32(cd, 0);
    put32(cd, crc);
    put32(cd, 0xFFFFFFFF);
    put32(cd, 0xFFFFFFFF);
    put16(cd, static_cast<std::uint16_t>(name.size()));
    put16(cd, 4 + 24 + 4);
    put16(cd, 0);
    put16(cd, 0);
    put16(cd, 0);
    put32(cd, 0);
    put32(cd, 0xFFFFFFFF);
    cd += name;
    put16(cd, 0x5455);  // an unrelated extra field first (extended timestamp)
    put16(cd, 0);
    put16(cd, 1);
    put16(cd, 24);
    put64(cd, data.size());
    put64(cd, data.size());
    put64(cd, off);
  }
  const std::uint64_t cd_off = out.size();
  out += cd;
  const std::uint64_t rec = out.size();
  put32(out, 0x06064b50);
  put64(out, 44);
  put16(out, 45);
  put16(out, 45);
  put32(out, 0);
  put32(out, 0);
  put64(out, members.size());
  put64(out, members.size());
  put64(out, cd.size());
  put64(out, cd_off);
  put32(out, 0x07064b50);
  put32(out, 0);
  put64(out, rec);
  put32(out, 1);
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, 0xFFFF);
  put16(out, 0xFFFF);
  put32(out, 0xFFFFFFFF);
  put32(out, 0xFFFFFFFF);
  put16(out, 0);
  return bytes_of(out);
}

}  // namespace

// ---- fixtures ----

TEST(NpzFixtures, EveryFixtureMatchesItsManifest) {
  if (!ckpt::test::fixtures_dir()) GTEST_SKIP() << "shared fixtures not found at ../shared/fixtures";
  int seen = 0;
  for (const char* sub : {"numpy", "mlx"}) {
    for (const auto& f : ckpt::test::fixture_files(sub, ".npz")) {
      SCOPED_TRACE(f.string());
      const auto manifest = ckpt::test::load_manifest(f);
      const Checkpoint ck = npz::open(f.string());
      EXPECT_EQ(ck.format, Format::Npz);
      ckpt::test::expect_matches_manifest(ck, manifest);
      ++seen;
      // The zip layer sees what the manifest lists.
      const auto src = MappedFile::open(f.string());
      const auto archive = zip::read_archive(*src);
      const auto& zm = manifest["zip_members"];
      ASSERT_EQ(archive.members.size(), zm.size());
      for (std::size_t k = 0; k < zm.size(); ++k) {
        const auto& m = archive.members[k];
        EXPECT_EQ(m.name, zm[k]["member"].get<std::string>());
        EXPECT_EQ(m.method, zm[k]["method"] == "stored" ? zip::kStored : zip::kDeflated);
        EXPECT_EQ(m.compressed_size, zm[k]["compressed_size"].get<std::uint64_t>());
        EXPECT_EQ(m.size, zm[k]["size"].get<std::uint64_t>());
        EXPECT_EQ(m.local_header_offset, zm[k]["local_header_offset"].get<std::uint64_t>());
        EXPECT_EQ(m.zip64_local, zm[k]["local_header_zip64_extra"].get<bool>());
      }
    }
  }
  EXPECT_GT(seen, 0);
}

TEST(NpzFixtures, StoredMembersAreViewsOfTheMapping) {
  if (!ckpt::test::fixtures_dir()) GTEST_SKIP() << "shared fixtures not found at ../shared/fixtures";
  for (const auto& f : ckpt::test::fixture_files("numpy", ".npz")) {
    const Checkpoint ck = npz::open(f.string());
    for (const auto& t : ck.tensors) {
      if (t.layout_note.empty() && t.nbytes > 0 && t.layout_note.find("deflated") == std::string::npos) {
        const auto c = t.data->contiguous();
        ASSERT_TRUE(c.has_value()) << t.name;
        EXPECT_EQ(c->data(), ck.files[0]->all().data() + t.offset) << t.name;
      }
    }
  }
}

// ---- round trips ----

TEST(NpzWriter, RoundTripEveryDtypeAndShapeStoredAndCompressed) {
  TempDir dir;
  const Shape shapes[] = {{}, {7}, {2, 3, 1, 4}, {3, 0, 2}, {1000, 1000}};
  std::vector<TensorInfo> ts;
  for (DType dt : kNpyTypes) {
    int k = 0;
    for (const auto& shape : shapes) {
      // The 1e6-element case for a few dtypes keeps deflate's time down.
      if (shape.size() == 2 && dt != DType::F32 && dt != DType::U8 && dt != DType::C128 && dt != DType::BF16) continue;
      ts.push_back(ckpt::test::random_tensor(std::string(name(dt)) + "/s." + std::to_string(k++), dt, shape, 4));
    }
  }
  for (bool compress : {false, true}) {
    SCOPED_TRACE(compress ? "compressed" : "stored");
    WriteOptions opt;
    opt.compress = compress;
    std::uint64_t progress = 0;
    opt.on_progress = [&](const Progress& p) { progress = p.bytes_done; };
    const std::string path = dir.file(compress ? "c.npz" : "s.npz");
    npz::write(path, ts, {}, opt);
    std::uint64_t total = 0;
    for (const auto& t : ts) total += t.nbytes;
    EXPECT_EQ(progress, total);
    const Checkpoint ck = npz::open(path);
    ASSERT_EQ(ck.tensors.size(), ts.size());
    for (std::size_t k = 0; k < ts.size(); ++k) {
      SCOPED_TRACE(ts[k].name);
      EXPECT_EQ(ck.tensors[k].name, ts[k].name);
      EXPECT_EQ(ck.tensors[k].dtype, ts[k].dtype);
      EXPECT_EQ(ck.tensors[k].shape, ts[k].shape);
      EXPECT_EQ(read_all(ck.tensors[k]), read_all(ts[k]));
    }
    EXPECT_THAT(ck.format_detail, HasSubstr(compress ? "0 stored" : "0 deflated"));
  }
}

TEST(NpzWriter, UnnamedTensorGetsPositionalName) {
  TempDir dir;
  const TensorInfo t = ckpt::test::random_tensor("", DType::F32, {2});
  npz::write(dir.file("u.npz"), std::span(&t, 1), {}, {});
  EXPECT_EQ(npz::open(dir.file("u.npz")).tensors.at(0).name, "arr_0");
}

TEST(NpzWriter, RefusesBadInputsBeforeWriting) {
  TempDir dir;
  const TensorInfo f8[] = {ckpt::test::random_tensor("ok", DType::F32, {2}),
                           ckpt::test::random_tensor("w", DType::F8_E5M2, {4})};
  try {
    npz::write(dir.file("a.npz"), f8, {}, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.sentence(), "tensor 'w' has dtype float8_e5m2, which .npy cannot store");
  }
  const TensorInfo dup[] = {ckpt::test::random_tensor("x", DType::F32, {2}), ckpt::test::random_tensor("x", DType::F32, {2})};
  EXPECT_THROW(npz::write(dir.file("a.npz"), dup, {}, {}), Error);
  EXPECT_FALSE(fs::exists(dir.file("a.npz")));
}

namespace {
class FailingData final : public TensorData {
 public:
  void stream(const ByteSink& sink) const override {
    std::vector<std::byte> b(64, std::byte{7});
    sink(b);
    throw Error("src", 64, "the source went away");
  }
};
}  // namespace

TEST(NpzWriter, FailedWriteLeavesNoTempFileAndKeepsDestination) {
  for (bool compress : {false, true}) {
    TempDir dir;
    const std::string path = dir.file("keep.npz");
    ckpt::test::write_file_bytes(path, bytes_of("original"));
    std::vector<TensorInfo> ts{ckpt::test::random_tensor("fine", DType::F32, {100})};
    TensorInfo bad;
    bad.name = "bad";
    bad.dtype = DType::F32;
    bad.shape = {1024};
    bad.nbytes = 4096;
    bad.data = std::make_shared<FailingData>();
    ts.push_back(bad);
    WriteOptions opt;
    opt.compress = compress;
    try {
      npz::write(path, ts, {}, opt);
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_THAT(e.sentence(), HasSubstr("the source went away"));
    }
    EXPECT_EQ(ckpt::test::read_file_bytes(path), bytes_of("original"));
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  }
}

TEST(NpzWriter, CancelLeavesNothing) {
  TempDir dir;
  const TensorInfo ts[] = {ckpt::test::random_tensor("a", DType::F32, {10}), ckpt::test::random_tensor("b", DType::F32, {10})};
  WriteOptions opt;
  int calls = 0;
  opt.cancelled = [&] { return ++calls > 2; };
  EXPECT_THROW(npz::write(dir.file("c.npz"), ts, {}, opt), Error);
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

// ---- zip64, data descriptors, extras ----

TEST(NpzZip, Zip64EverywhereAndDataDescriptors) {
  const TensorInfo a = ckpt::test::random_tensor("a", DType::F64, {3, 2}, 9);
  const TensorInfo b = ckpt::test::random_tensor("b", DType::I8, {5}, 9);
  for (bool descriptors : {false, true}) {
    SCOPED_TRACE(descriptors);
    const auto bytes = zip64_archive({{"dir/a.npy", npy_image(a)}, {"b.npy", npy_image(b)}, {"notes.txt", "hello"}}, descriptors);
    const Checkpoint ck = from_memory(bytes);
    ASSERT_EQ(ck.tensors.size(), 2u);
    EXPECT_EQ(ck.tensors[0].name, "dir/a");
    EXPECT_EQ(read_all(ck.tensors[0]), read_all(a));
    EXPECT_EQ(read_all(ck.tensors[1]), read_all(b));
    EXPECT_THAT(ck.format_detail, HasSubstr("zip64"));
    EXPECT_THAT(ck.format_detail, HasSubstr("ignored non-.npy members: notes.txt"));
  }
}

TEST(NpzZip, HandBuiltZip64ArchiveLoadsInNumpy) {
  // Checks the hand-built archive above against an independent reader.
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  TempDir dir;
  const TensorInfo a = ckpt::test::random_tensor("a", DType::F32, {4}, 9);
  ckpt::test::write_file_bytes(dir.file("z.npz"), zip64_archive({{"a.npy", npy_image(a)}}, true));
  std::string out;
  ASSERT_EQ(ckpt::test::run_python("import sys, hashlib, numpy as np\n"
                                   "print(hashlib.sha256(np.load(sys.argv[1])['a'].tobytes()).hexdigest())",
                                   {dir.file("z.npz")}, &out),
            0)
      << out;
  EXPECT_EQ(out, sha_of(a) + "\n");
}

TEST(NpzZip, OffsetsBeyondFourGiB) {
  // A sparse file: a stored member of 4.5 GiB of zeros, then a second member
  // whose local header lies past 4 GiB. Only headers and the small member are read.
  TempDir dir;
  const std::string path = dir.file("big.npz");
  const std::uint64_t big_elems = (std::uint64_t{9} << 29);  // 4.5 GiB of u8
  const std::string h1 = npy::make_header(DType::U8, {static_cast<std::int64_t>(big_elems)});
  const std::uint64_t size1 = h1.size() + big_elems;
  const TensorInfo small = ckpt::test::random_tensor("s", DType::I32, {3}, 2);
  const std::string img2 = npy_image(small);
  std::string head1;
  put32(head1, 0x04034b50); put16(head1, 45); put16(head1, 0); put16(head1, 0); put32(head1, 0);
  put32(head1, 0); put32(head1, 0xFFFFFFFF); put32(head1, 0xFFFFFFFF); put16(head1, 5); put16(head1, 20);
  head1 += "x.npy";
  put16(head1, 1); put16(head1, 16); put64(head1, size1); put64(head1, size1);
  head1 += h1;
  const std::uint64_t off2 = head1.size() - h1.size() + size1;
  std::string rest;
  put32(rest, 0x04034b50); put16(rest, 20); put16(rest, 0); put16(rest, 0); put32(rest, 0);
  put32(rest, crc32_update(0, std::as_bytes(std::span<const char>(img2))));
  put32(rest, static_cast<std::uint32_t>(img2.size())); put32(rest, static_cast<std::uint32_t>(img2.size()));
  put16(rest, 5); put16(rest, 0);
  rest += "s.npy";
  rest += img2;
  const std::uint64_t cd_off = off2 + rest.size();
  std::string cd;
  put32(cd, 0x02014b50); put16(cd, 45); put16(cd, 45); put16(cd, 0); put16(cd, 0); put32(cd, 0);
  put32(cd, 0 /* crc not checked here */); put32(cd, 0xFFFFFFFF); put32(cd, 0xFFFFFFFF);
  put16(cd, 5); put16(cd, 20); put16(cd, 0); put16(cd, 0); put16(cd, 0); put32(cd, 0); put32(cd, 0);
  cd += "x.npy";
  put16(cd, 1); put16(cd, 16); put64(cd, size1); put64(cd, size1);
  put32(cd, 0x02014b50); put16(cd, 45); put16(cd, 45); put16(cd, 0); put16(cd, 0); put32(cd, 0);
  put32(cd, crc32_update(0, std::as_bytes(std::span<const char>(img2))));
  put32(cd, static_cast<std::uint32_t>(img2.size())); put32(cd, static_cast<std::uint32_t>(img2.size()));
  put16(cd, 5); put16(cd, 12); put16(cd, 0); put16(cd, 0); put16(cd, 0); put32(cd, 0); put32(cd, 0xFFFFFFFF);
  cd += "s.npy";
  put16(cd, 1); put16(cd, 8); put64(cd, off2);
  const std::uint64_t rec = cd_off + cd.size();
  put32(cd, 0x06064b50); put64(cd, 44); put16(cd, 45); put16(cd, 45); put32(cd, 0); put32(cd, 0);
  put64(cd, 2); put64(cd, 2); put64(cd, rec - cd_off); put64(cd, cd_off);
  put32(cd, 0x07064b50); put32(cd, 0); put64(cd, rec); put32(cd, 1);
  put32(cd, 0x06054b50); put16(cd, 0); put16(cd, 0); put16(cd, 2); put16(cd, 2);
  put32(cd, static_cast<std::uint32_t>(rec - cd_off)); put32(cd, 0xFFFFFFFF); put16(cd, 0);
  {
    const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, head1.data(), head1.size(), 0), static_cast<ssize_t>(head1.size()));
    ASSERT_EQ(::pwrite(fd, rest.data(), rest.size(), static_cast<off_t>(off2)), static_cast<ssize_t>(rest.size()));
    ASSERT_EQ(::pwrite(fd, cd.data(), cd.size(), static_cast<off_t>(cd_off)), static_cast<ssize_t>(cd.size()));
    ::close(fd);
  }
  const Checkpoint ck = npz::open(path);
  ASSERT_EQ(ck.tensors.size(), 2u);
  EXPECT_EQ(ck.tensors[0].nbytes, big_elems);
  EXPECT_GT(ck.tensors[1].offset, std::uint64_t{1} << 32);
  EXPECT_EQ(read_all(ck.tensors[1]), read_all(small));
}

// ---- corrupt archives ----

TEST(NpzErrors, CrcMismatchStoredMember) {
  auto bytes = small_archive(false);
  const Checkpoint good = from_memory(bytes);
  const std::uint64_t at = good.tensors[0].offset + 5;  // a data byte of 'a'
  bytes[at] ^= std::byte{0x40};
  const Checkpoint ck = from_memory(bytes);  // the header is intact: opening succeeds
  EXPECT_THAT(read_error(ck.tensors[0]), HasSubstr("CRC-32 mismatch in member 'a.npy'"));
  EXPECT_EQ(read_error(ck.tensors[1]), "(no error)");
}

// From a file, a small stored member is read whole through the read-ahead
// window and its CRC checked before any byte reaches the sink.
TEST(NpzErrors, CrcMismatchSmallStoredMemberInAFileHandsOutNothing) {
  auto bytes = small_archive(false);
  const std::uint64_t at = from_memory(bytes).tensors[0].offset + 5;
  bytes[at] ^= std::byte{0x40};
  ckpt::test::TempDir dir;
  ckpt::test::write_file_bytes(dir.file("bad.npz"), bytes);
  const Checkpoint ck = npz::open(dir.file("bad.npz"));
  std::size_t handed_out = 0;
  try {
    ck.tensors[0].data->stream([&](std::span<const std::byte> c) { handed_out += c.size(); });
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.sentence(), HasSubstr("CRC-32 mismatch in member 'a.npy'"));
  }
  EXPECT_EQ(handed_out, 0u);
  EXPECT_EQ(read_error(ck.tensors[1]), "(no error)");
  EXPECT_EQ(read_all(ck.tensors[1]), read_all(from_memory(small_archive(false)).tensors[1]));
}

TEST(NpzErrors, CrcMismatchDeflatedMember) {
  // Level 0 deflate keeps the bytes verbatim in stored blocks, so a flipped
  // data byte changes only the CRC.
  auto bytes = small_archive(true, 0);
  const auto src = std::make_shared<MemorySource>(bytes, "mem");
  const auto archive = zip::read_archive(*src);
  const auto& m = archive.members[0];
  bytes[m.data_offset + m.compressed_size - 10] ^= std::byte{0x01};
  const Checkpoint ck = from_memory(bytes);
  EXPECT_THAT(read_error(ck.tensors[0]), HasSubstr("CRC-32 mismatch"));
  // At the default level any flipped byte is an error of some kind, never wrong data.
  auto packed = small_archive(true);
  const auto a2 = zip::read_archive(MemorySource(packed, "mem"));
  packed[a2.members[0].data_offset + a2.members[0].compressed_size / 2] ^= std::byte{0x10};
  try {
    const Checkpoint c2 = from_memory(packed);
    EXPECT_THAT(read_error(c2.tensors[0]), AnyOf(HasSubstr("corrupt"), HasSubstr("inflates to")));
  } catch (const Error& e) {
    EXPECT_THAT(e.sentence(), AnyOf(HasSubstr("corrupt"), HasSubstr("inflates to"), HasSubstr(".npy")));
  }
}

// prepare() inflates a deflated member ahead on another thread: the bytes
// are the same, and a damaged member fails with the same sentence.
TEST(NpzDeflated, PreparedMembersReadAndFailAsUnprepared) {
  TempDir dir;
  const std::vector<TensorInfo> ts{ckpt::test::random_tensor("big", DType::F32, {256, 300}, 5),
                                   ckpt::test::random_tensor("f", DType::F16, {600, 500}, 6),
                                   ckpt::test::random_tensor("small", DType::F32, {8}, 7)};
  WriteOptions opt;
  opt.compress = true;
  npz::write(dir.file("d.npz"), ts, {}, opt);
  for (bool prepared : {false, true}) {
    SCOPED_TRACE(prepared ? "prepared" : "not prepared");
    const Checkpoint ck = npz::open(dir.file("d.npz"));
    ASSERT_EQ(ck.tensors.size(), ts.size());
    if (prepared)
      for (const auto& t : ck.tensors) t.data->prepare();
    for (std::size_t i = 0; i < ts.size(); ++i) EXPECT_EQ(read_all(ck.tensors[i]), read_all(ts[i])) << ts[i].name;
  }
  // Prepared and never read: dropping the checkpoint waits for the work.
  { const Checkpoint ck = npz::open(dir.file("d.npz")); ck.tensors[0].data->prepare(); }

  auto bytes = ckpt::test::read_file_bytes(dir.file("d.npz"));
  const auto archive = zip::read_archive(MemorySource(bytes, "mem"));
  const auto& m = archive.members[0];
  ASSERT_GE(m.size, std::uint64_t{256} << 10);
  bytes[m.data_offset + m.compressed_size / 2] ^= std::byte{0x10};
  std::string plain, ahead;
  for (bool prepared : {false, true}) {
    const Checkpoint ck = from_memory(bytes);
    if (prepared) ck.tensors[0].data->prepare();
    (prepared ? ahead : plain) = read_error(ck.tensors[0]);
  }
  EXPECT_NE(plain, "(no error)");
  EXPECT_EQ(ahead, plain);
}

namespace {
// Offset of the first central directory header in an archive without a comment.
std::size_t central_offset(const std::vector<std::byte>& b) {
  return load_le<std::uint32_t>(b.data() + b.size() - 6);
}
}  // namespace

TEST(NpzErrors, MemberClaimingOneTerabyte) {
  const std::uint64_t tb = std::uint64_t{1} << 40;
  for (bool compress : {false, true}) {
    SCOPED_TRACE(compress);
    auto bytes = small_archive(compress);
    const std::size_t cd = central_offset(bytes);
    // Saturate the first member's sizes and give the real values in a zip64 extra:
    // rebuild the archive's central directory with a 20-byte extra appended.
    const std::uint16_t name_len = load_le<std::uint16_t>(bytes.data() + cd + 28);
    std::vector<std::byte> out(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cd));
    std::vector<std::byte> first(bytes.begin() + static_cast<std::ptrdiff_t>(cd),
                                 bytes.begin() + static_cast<std::ptrdiff_t>(cd + 46 + name_len));
    store_le<std::uint32_t>(first.data() + 24, 0xFFFFFFFF);  // size
    if (!compress) store_le<std::uint32_t>(first.data() + 20, 0xFFFFFFFF);
    store_le<std::uint16_t>(first.data() + 30, compress ? 12 : 20);
    out.insert(out.end(), first.begin(), first.end());
    std::string extra;
    put16(extra, 1);
    put16(extra, compress ? 8 : 16);
    put64(extra, tb);
    if (!compress) put64(extra, tb);
    for (char c : extra) out.push_back(std::byte(c));
    const std::size_t rest_at = cd + 46 + name_len;
    const std::size_t end_at = bytes.size() - 22;
    out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(rest_at), bytes.begin() + static_cast<std::ptrdiff_t>(end_at));
    std::vector<std::byte> end(bytes.begin() + static_cast<std::ptrdiff_t>(end_at), bytes.end());
    store_le<std::uint32_t>(end.data() + 12, load_le<std::uint32_t>(end.data() + 12) + static_cast<std::uint32_t>(extra.size()));
    out.insert(out.end(), end.begin(), end.end());
    const std::string e = describe_error(out);
    if (compress) {
      EXPECT_THAT(e, HasSubstr("claims 1099511627776 bytes from"));
      EXPECT_THAT(e, HasSubstr("1032:1"));
    } else {
      EXPECT_THAT(e, HasSubstr("claims 1099511627776 bytes of data"));
    }
  }
}

TEST(NpzErrors, TruncatedArchiveAtEveryPoint) {
  const auto bytes = small_archive(false);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    SCOPED_TRACE(cut);
    const std::string e = describe_error({bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut)});
    EXPECT_THAT(e, AnyOf(HasSubstr("too small to be a zip"), HasSubstr("no end of central directory")));
  }
}

TEST(NpzErrors, TruncatedOrShrunkCentralDirectory) {
  auto bytes = small_archive(false);
  const std::size_t end_at = bytes.size() - 22;
  // Directory size too small for the member count.
  auto a = bytes;
  store_le<std::uint32_t>(a.data() + end_at + 12, 50);
  EXPECT_THAT(describe_error(a), HasSubstr("claims 2 members but its central directory holds only 50 bytes"));
  // Directory size cutting the second header's name.
  auto b = bytes;
  const std::uint32_t cd_size = load_le<std::uint32_t>(b.data() + end_at + 12);
  store_le<std::uint32_t>(b.data() + end_at + 12, cd_size - 3);
  EXPECT_THAT(describe_error(b), HasSubstr("runs past the end of the directory"));
  // More members than headers.
  auto c = bytes;
  store_le<std::uint16_t>(c.data() + end_at + 8, 3);
  store_le<std::uint16_t>(c.data() + end_at + 10, 3);
  EXPECT_THAT(describe_error(c), HasSubstr("claims 3 members"));
  // The directory cut off by the end of file, with the end record kept.
  auto d = bytes;
  d.erase(d.begin() + static_cast<std::ptrdiff_t>(end_at - 10), d.begin() + static_cast<std::ptrdiff_t>(end_at));
  EXPECT_THAT(describe_error(d), HasSubstr("runs past the end records"));
}

TEST(NpzErrors, BadOffsets) {
  const auto bytes = small_archive(false);
  const std::size_t end_at = bytes.size() - 22;
  const std::size_t cd = central_offset(bytes);
  auto a = bytes;
  store_le<std::uint32_t>(a.data() + end_at + 16, 0x7FFFFFFF);
  EXPECT_THAT(describe_error(a), HasSubstr("runs past the end records"));
  auto b = bytes;
  store_le<std::uint32_t>(b.data() + cd + 42, 7);  // local header offset into data
  EXPECT_THAT(describe_error(b), HasSubstr("has no local header where the central directory points"));
  auto c = bytes;
  store_le<std::uint32_t>(c.data() + cd + 42, static_cast<std::uint32_t>(cd + 4));
  EXPECT_THAT(describe_error(c), HasSubstr("outside the member area"));
  auto d = bytes;
  store_le<std::uint32_t>(d.data() + cd, 0x12345678);
  EXPECT_THAT(describe_error(d), HasSubstr("bad central directory header signature"));
  auto e = bytes;
  store_le<std::uint16_t>(e.data() + cd + 10, 12);  // method 12 (bzip2) in the directory only
  EXPECT_THAT(describe_error(e), HasSubstr("different compression method"));
  auto f = bytes;
  store_le<std::uint16_t>(f.data() + cd + 8, 1);  // encrypted
  EXPECT_THAT(describe_error(f), HasSubstr("encrypted"));
  EXPECT_THAT(describe_error(bytes_of("not a zip at all, but long enough to look")), HasSubstr("no end of central directory"));
}

TEST(NpzErrors, BadNpyInsideMemberNamesTheMember) {
  const TensorInfo t = ckpt::test::random_tensor("a", DType::F32, {4}, 9);
  std::string img = npy_image(t);
  img.replace(img.find("<f4"), 3, "<U1");
  EXPECT_THAT(describe_error(zip64_archive({{"w.npy", img}}, false)), HasSubstr("member 'w.npy': array dtype '<U1'"));
  std::string cut = npy_image(t).substr(0, 128 + 4);
  EXPECT_THAT(describe_error(zip64_archive({{"w.npy", cut}}, false)), HasSubstr("member 'w.npy': the array needs 16 data bytes but only 4 follow"));
  EXPECT_THAT(describe_error(zip64_archive({{"w.npy", npy_image(t)}, {"w.npy", npy_image(t)}}, false)),
              HasSubstr("two members named 'w.npy'"));
  // Of several repeated names, the first repeat in archive order is named,
  // before a bad header that comes after it.
  std::string bad = npy_image(t);
  bad.replace(bad.find("<f4"), 3, "<U1");
  const std::string ok = npy_image(t);
  EXPECT_THAT(describe_error(zip64_archive({{"x.npy", ok}, {"y.npy", ok}, {"d/", ""}, {"y.npy", ok}, {"x.npy", ok}, {"z.npy", bad}}, false)),
              HasSubstr("two members named 'y.npy'"));
  EXPECT_THAT(describe_error(zip64_archive({{"x.npy", ok}, {"z.npy", bad}, {"x.npy", ok}}, false)),
              HasSubstr("member 'z.npy': array dtype '<U1'"));
}

TEST(NpzErrors, ReaderStillWorksAfterThrowing) {
  EXPECT_THAT(describe_error(bytes_of("PK")), HasSubstr("too small"));
  const Checkpoint ck = from_memory(small_archive(true));
  ASSERT_EQ(ck.tensors.size(), 2u);
  EXPECT_EQ(read_all(ck.tensors[1]).size(), 14u);
}

// ---- interop with Debian's NumPy ----

TEST(NpzInterop, NumpyArchivesReadIdentically) {
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  TempDir dir;
  const std::string script = R"(
import sys, hashlib, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(3)
arrays = {
  "w/conv.weight": rng.standard_normal((4, 3, 2)).astype("<f4"),
  "be": np.arange(6, dtype=">i4").reshape(2, 3),
  "be_c16": (rng.standard_normal(3) + 1j).astype(">c16"),
  "fortran": np.asfortranarray(rng.standard_normal((3, 5))),
  "fortran_be": np.asfortranarray(np.arange(12, dtype=">u2").reshape(3, 4)),
  "zero_d": np.array(7, dtype="<i8"),
  "empty": np.zeros((0, 4), dtype="<f2"),
  "mask": rng.integers(0, 2, 9).astype(bool),
  "big": rng.standard_normal(300000).astype("<f4"),
}
np.savez(f"{d}/s.npz", **arrays)
np.savez_compressed(f"{d}/c.npz", **arrays)
np.savez(f"{d}/p.npz", arrays["be"], arrays["zero_d"])
for name, a in arrays.items():
    c = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    print(name, hashlib.sha256(c.tobytes()).hexdigest())
)";
  std::string out;
  ASSERT_EQ(ckpt::test::run_python(script, {dir.path().string()}, &out), 0) << out;
  std::map<std::string, std::string> want;
  std::istringstream lines(out);
  std::string name, hash;
  while (lines >> name >> hash) want[name] = hash;
  ASSERT_EQ(want.size(), 9u) << out;
  for (const char* file : {"s.npz", "c.npz"}) {
    SCOPED_TRACE(file);
    const Checkpoint ck = npz::open(dir.file(file));
    ASSERT_EQ(ck.tensors.size(), want.size());
    for (const auto& t : ck.tensors) {
      ASSERT_TRUE(want.count(t.name)) << t.name;
      EXPECT_EQ(sha_of(t), want[t.name]) << t.name;
    }
  }
  const Checkpoint p = npz::open(dir.file("p.npz"));
  ASSERT_EQ(p.tensors.size(), 2u);
  EXPECT_EQ(p.tensors[0].name, "arr_0");
  EXPECT_EQ(sha_of(p.tensors[0]), want["be"]);
  EXPECT_EQ(sha_of(p.tensors[1]), want["zero_d"]);
}

TEST(NpzInterop, NumpyLoadsOurArchivesWithIdenticalValues) {
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  TempDir dir;
  std::vector<TensorInfo> ts;
  for (DType dt : kNpyTypes) {
    if (dt == DType::BF16) continue;  // NumPy reads '<V2' as raw void; compared below as bytes
    ts.push_back(ckpt::test::random_tensor("t." + std::string(name(dt)), dt, {3, 4}, 5));
  }
  ts.push_back(ckpt::test::random_tensor("nested/zero_d", DType::F64, {}, 5));
  ts.push_back(ckpt::test::random_tensor("nested/empty", DType::I32, {2, 0}, 5));
  ts.push_back(ckpt::test::random_tensor("bf16", DType::BF16, {5}, 5));
  std::string expect;
  for (const auto& t : ts) expect += t.name + " " + sha_of(t) + "\n";
  for (bool compress : {false, true}) {
    SCOPED_TRACE(compress);
    WriteOptions opt;
    opt.compress = compress;
    npz::write(dir.file("ours.npz"), ts, {}, opt);
    const std::string script = R"(
import sys, hashlib, zipfile, numpy as np
z = np.load(sys.argv[1])
assert zipfile.ZipFile(sys.argv[1]).testzip() is None
for k in z.files:
    a = z[k]
    print(k, hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest())
)";
    std::string out;
    ASSERT_EQ(ckpt::test::run_python(script, {dir.file("ours.npz")}, &out), 0) << out;
    EXPECT_EQ(out, expect);
  }
}

TEST(NpzZip, WriterUsesZip64EndRecordsForManyMembers) {
  // More than 65535 members needs the zip64 end records; Python must agree.
  TempDir dir;
  const std::string path = dir.file("many.zip");
  {
    AtomicFile out(path);
    zip::Writer zw(out);
    for (int k = 0; k < 70000; ++k) {
      zw.begin_member("m" + std::to_string(k), k % 2 ? zip::kDeflated : zip::kStored);
      const std::string body = "member " + std::to_string(k);
      zw.write(std::as_bytes(std::span<const char>(body)));
      zw.end_member();
    }
    zw.finish();
    out.commit();
  }
  const auto src = MappedFile::open(path);
  const auto archive = zip::read_archive(*src);
  EXPECT_TRUE(archive.zip64);
  ASSERT_EQ(archive.members.size(), 70000u);
  std::string body;
  zip::read_member(*src, archive.members[69999], [&](std::span<const std::byte> b) {
    body.append(reinterpret_cast<const char*>(b.data()), b.size());
  });
  EXPECT_EQ(body, "member 69999");
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 not available";
  std::string out;
  ASSERT_EQ(ckpt::test::run_python("import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\n"
                                   "print(len(z.namelist()), z.read('m69999').decode(), z.testzip())",
                                   {path}, &out),
            0)
      << out;
  EXPECT_EQ(out, "70000 member 69999 None\n");
}

TEST(NpzInterop, PythonDataDescriptorArchivesRead) {
  // Python's zipfile writes data descriptors (flag bit 3) to unseekable streams.
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  TempDir dir;
  const std::string script = R"(
import sys, io, hashlib, zipfile, numpy as np
class Unseekable(io.RawIOBase):
    def __init__(self, f): self.f = f
    def writable(self): return True
    def write(self, b): return self.f.write(b)
    def seekable(self): return False
    def tell(self): raise OSError("unseekable")
a = np.arange(20, dtype="<f8").reshape(4, 5)
for name, method in (("dd_s.npz", zipfile.ZIP_STORED), ("dd_c.npz", zipfile.ZIP_DEFLATED)):
    with open(sys.argv[1] + "/" + name, "wb") as raw:
        with zipfile.ZipFile(Unseekable(raw), "w", compression=method) as z:
            with z.open("x.npy", "w") as fid:
                np.lib.format.write_array(fid, a)
    info = zipfile.ZipFile(sys.argv[1] + "/" + name).infolist()[0]
    assert info.flag_bits & 8, info.flag_bits
print(hashlib.sha256(a.tobytes()).hexdigest())
)";
  std::string out;
  ASSERT_EQ(ckpt::test::run_python(script, {dir.path().string()}, &out), 0) << out;
  for (const char* f : {"dd_s.npz", "dd_c.npz"}) {
    SCOPED_TRACE(f);
    const Checkpoint ck = npz::open(dir.file(f));
    ASSERT_EQ(ck.tensors.size(), 1u);
    EXPECT_EQ(sha_of(ck.tensors[0]) + "\n", out);
  }
}

TEST(NpzWriter, LongNpyHeadersInDeflatedMembers) {
  // Headers longer than a page of inflated bytes, and v2.0 headers.
  TempDir dir;
  const TensorInfo ts[] = {ckpt::test::random_tensor("long", DType::F32, Shape(2000, 1), 1),
                           ckpt::test::random_tensor("v2", DType::I16, Shape(25000, 1), 2)};
  WriteOptions opt;
  opt.compress = true;
  npz::write(dir.file("h.npz"), ts, {}, opt);
  const Checkpoint ck = npz::open(dir.file("h.npz"));
  ASSERT_EQ(ck.tensors.size(), 2u);
  EXPECT_EQ(ck.tensors[0].shape, ts[0].shape);
  EXPECT_EQ(ck.tensors[1].shape, ts[1].shape);
  EXPECT_EQ(read_all(ck.tensors[0]), read_all(ts[0]));
  EXPECT_EQ(read_all(ck.tensors[1]), read_all(ts[1]));
}

TEST(NpzErrors, DeflatedMemberShorterThanDeclared) {
  // The directory says the member inflates to more than it does: opening
  // succeeds (the header is intact), reading in full fails.
  auto bytes = small_archive(true);
  const std::size_t cd = central_offset(bytes);
  store_le<std::uint32_t>(bytes.data() + cd + 24, load_le<std::uint32_t>(bytes.data() + cd + 24) + 8);
  const Checkpoint ck = from_memory(bytes);
  EXPECT_THAT(read_error(ck.tensors[0]), HasSubstr("inflates to 192 bytes, not the 200"));
}
