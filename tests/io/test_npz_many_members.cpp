// .npz archives of many members: the listing that parses deflated headers
// on all cores and keeps every member's data object in one table per
// archive (io/formats/npz.cpp), the zip layer's PrefixReader under it, and
// opening only named tensors (npz::describe_named, open_for_tensors).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/formats/npy.h"
#include "io/formats/npz.h"
#include "io/formats/zip.h"
#include "io/open.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;
using ::testing::HasSubstr;

namespace {

// More deflated members than one task of the parallel header pass takes,
// so several tasks (and threads, where there are several) share the work.
constexpr int kMany = 700;

std::string npy_image(const TensorInfo& t) {
  std::string s = npy::make_header(t.dtype, t.shape);
  const auto b = read_all(t);
  s.append(reinterpret_cast<const char*>(b.data()), b.size());
  return s;
}

std::string bad_dtype(std::string img) { return img.replace(img.find("<f4"), 3, "<U1"); }

// An archive of the given member names and .npy images, deflated or stored.
std::string write_archive(const TempDir& dir, const std::vector<std::pair<std::string, std::string>>& members, bool deflate) {
  const std::string path = dir.file(deflate ? "d.npz" : "s.npz");
  AtomicFile out(path, false);
  zip::Writer w(out);
  for (const auto& [name, img] : members) {
    w.begin_member(name, deflate ? zip::kDeflated : zip::kStored);
    w.write(std::as_bytes(std::span<const char>(img)));
    w.end_member();
  }
  w.finish();
  out.commit();
  return path;
}

std::vector<std::pair<std::string, std::string>> many_members() {
  std::vector<std::pair<std::string, std::string>> m;
  for (int k = 0; k < kMany; ++k) {
    const auto t = ckpt::test::random_tensor("t", DType::F32, {2, 3 + k % 5}, static_cast<unsigned>(k));
    m.emplace_back("layers." + std::to_string(k) + ".w.npy", npy_image(t));
  }
  return m;
}

std::string open_error(const std::string& path) {
  try {
    (void)npz::open(path);
  } catch (const Error& e) {
    return e.sentence();
  }
  return "(no error)";
}

}  // namespace

TEST(NpzManyMembers, DeflatedListsAndReadsAsStored) {
  TempDir dir;
  const auto members = many_members();
  const Checkpoint s = npz::open(write_archive(dir, members, false));
  const Checkpoint d = npz::open(write_archive(dir, members, true));
  ASSERT_EQ(s.tensors.size(), static_cast<std::size_t>(kMany));
  ASSERT_EQ(d.tensors.size(), s.tensors.size());
  for (std::size_t k = 0; k < s.tensors.size(); ++k) {
    EXPECT_EQ(d.tensors[k].name, "layers." + std::to_string(k) + ".w");
    EXPECT_EQ(d.tensors[k].name, s.tensors[k].name);
    EXPECT_EQ(d.tensors[k].shape, s.tensors[k].shape);
    EXPECT_EQ(d.tensors[k].dtype, s.tensors[k].dtype);
    EXPECT_EQ(read_all(d.tensors[k]), read_all(s.tensors[k]));
  }
}

// The first bad member in archive order is reported, whichever thread
// parsed which header, and a repeated name before it comes first.
TEST(NpzManyMembers, ErrorsComeInArchiveOrder) {
  for (bool deflate : {true, false}) {
    SCOPED_TRACE(deflate ? "deflated" : "stored");
    TempDir dir;
    auto members = many_members();
    members[650].second = bad_dtype(members[650].second);
    members[310].second = bad_dtype(members[310].second);
    EXPECT_THAT(open_error(write_archive(dir, members, deflate)),
                HasSubstr("member 'layers.310.w.npy': array dtype '<U1'"));
    members[400].first = members[5].first;  // after the bad header: still the header
    EXPECT_THAT(open_error(write_archive(dir, members, deflate)),
                HasSubstr("member 'layers.310.w.npy': array dtype '<U1'"));
    members[200].first = members[7].first;  // before it: the repeat
    EXPECT_THAT(open_error(write_archive(dir, members, deflate)), HasSubstr("two members named 'layers.7.w.npy'"));
  }
}

// Each tensor's data shares one table with the archive's other tensors;
// it keeps the table (and the file) alive after the checkpoint is gone.
TEST(NpzManyMembers, TensorDataOutlivesItsCheckpoint) {
  for (bool deflate : {true, false}) {
    TempDir dir;
    const auto members = many_members();
    const std::string path = write_archive(dir, members, deflate);
    TensorInfo kept;
    {
      const Checkpoint ck = npz::open(path);
      kept = ck.tensors[123];
    }
    EXPECT_EQ(npy_image(kept), members[123].second);
  }
}

TEST(ZipPrefixReader, ContinuesAMemberAndMovesOnAfterAnError) {
  TempDir dir;
  std::string big(20000, '\0');
  for (std::size_t k = 0; k < big.size(); ++k) big[k] = static_cast<char>((k * 7919) >> 5);
  const std::string path = write_archive(dir, {{"a", big}, {"b", big.substr(0, 300)}, {"c", big}}, true);
  auto bytes = ckpt::test::read_file_bytes(path);
  const auto archive = zip::read_archive(MemorySource(bytes, "x"));
  // Damage member b's compressed bytes so that inflating it fails.
  for (std::uint64_t k = 0; k < archive.members[1].compressed_size; ++k)
    bytes[archive.members[1].data_offset + k] = std::byte{0xFF};
  const MemorySource src(std::move(bytes), "x.zip");
  zip::PrefixReader r;
  r.start(src, archive.members[0]);
  EXPECT_EQ(r.first(10).size(), 10u);
  const auto more = r.first(5000);  // continues past the first 10
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(more.data()), more.size()), big.substr(0, 5000));
  EXPECT_EQ(r.first(100).size(), 100u);  // already inflated
  r.start(src, archive.members[1]);
  EXPECT_THROW((void)r.first(100), Error);
  r.start(src, archive.members[2]);  // the same decoder, reset
  const auto all = r.first(1 << 20);  // capped at the member's size
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(all.data()), all.size()), big);
}

// Only the preamble is inflated first; the rest of the header follows on.
TEST(NpzManyMembers, DeflatedHeaderLongerThanTheFirstPeek) {
  TempDir dir;
  const auto t = ckpt::test::random_tensor("t", DType::F32, Shape(90, 1), 3);
  const std::string img = npy_image(t);
  ASSERT_GT(npy::make_header(t.dtype, t.shape).size(), 300u);
  const Checkpoint ck = npz::open(write_archive(dir, {{"long.npy", img}}, true));
  ASSERT_EQ(ck.tensors.size(), 1u);
  EXPECT_EQ(ck.tensors[0].shape, t.shape);
  EXPECT_EQ(npy_image(ck.tensors[0]), img);
}

// ---- one tensor without listing all (ckpt stats / show) ----

TEST(NpzNamed, ReadsOnlyTheNamedMembers) {
  for (bool deflate : {true, false}) {
    SCOPED_TRACE(deflate ? "deflated" : "stored");
    TempDir dir;
    auto members = many_members();
    members[3].second = bad_dtype(members[3].second);  // never read: not asked for
    const std::string path = write_archive(dir, members, deflate);
    const std::vector<std::string> names{"layers.500.w", "layers.20.w", "layers.500.w"};
    const auto ck = npz::describe_named(MappedFile::open(path), names);
    ASSERT_TRUE(ck.has_value());
    ASSERT_EQ(ck->tensors.size(), 2u);  // in archive order, each once
    EXPECT_EQ(ck->tensors[0].name, "layers.20.w");
    EXPECT_EQ(ck->tensors[1].name, "layers.500.w");
    EXPECT_EQ(npy_image(ck->tensors[0]), members[20].second);
    EXPECT_EQ(npy_image(ck->tensors[1]), members[500].second);
    EXPECT_THAT(ck->format_detail, HasSubstr("2 of 700 members read"));
    // The named member's own errors are worded as describe() words them.
    const std::vector<std::string> bad{"layers.3.w"};
    try {
      (void)npz::describe_named(MappedFile::open(path), bad);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_THAT(e.sentence(), HasSubstr("member 'layers.3.w.npy': array dtype '<U1'"));
    }
  }
}

TEST(NpzNamed, MissingNameOpensWhole) {
  TempDir dir;
  const std::string path = write_archive(dir, many_members(), true);
  const std::vector<std::string> names{"layers.20.w", "layers.20"};
  EXPECT_FALSE(npz::describe_named(MappedFile::open(path), names).has_value());
  // open_for_tensors then gives the whole checkpoint, from which `ckpt
  // stats` words "no tensor named …; did you mean …" as before.
  const Checkpoint ck = open_for_tensors(path, names);
  EXPECT_EQ(ck.tensors.size(), static_cast<std::size_t>(kMany));
  const std::vector<std::string> found{"layers.20.w"};
  EXPECT_EQ(open_for_tensors(path, found).tensors.size(), 1u);
  EXPECT_EQ(open_for_tensors(path, {}).tensors.size(), static_cast<std::size_t>(kMany));  // no names: all
  OpenOptions root;
  root.root = "layers";  // roots rename tensors: opened whole
  EXPECT_EQ(open_for_tensors(path, std::vector<std::string>{"20.w"}, root).tensors.size(), static_cast<std::size_t>(kMany));
}

TEST(NpzNamed, RepeatedMemberNameFailsAsOpening) {
  TempDir dir;
  auto members = many_members();
  members[600].first = members[100].first;  // a repeat of a member not asked for
  const std::string path = write_archive(dir, members, true);
  const std::vector<std::string> names{"layers.20.w"};
  EXPECT_FALSE(npz::describe_named(MappedFile::open(path), names).has_value());
  EXPECT_THAT(open_error(path), HasSubstr("two members named 'layers.100.w.npy'"));
  try {
    (void)open_for_tensors(path, names);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.sentence(), open_error(path));
  }
}

TEST(NpzNamed, OtherFormatsOpenWhole) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  WriteOptions wo;
  wo.sync = false;
  const std::vector<TensorInfo> ts{ckpt::test::random_tensor("a", DType::F32, {3}, 1),
                                   ckpt::test::random_tensor("b", DType::F32, {2}, 2)};
  write_checkpoint(path, Format::Safetensors, ts, {}, wo);
  EXPECT_EQ(open_for_tensors(path, std::vector<std::string>{"a"}).tensors.size(), 2u);
}

// More members than one batch of the header pass (4096), whose next batch
// is prepared while this one is taken: the order, the errors of a later
// batch, and an error in an earlier batch while the next is still being
// prepared (it is dropped, not left running on the members it reads).
TEST(NpzManyMembers, BatchesPreparedAheadKeepArchiveOrder) {
  constexpr int kMembers = 9000;
  std::vector<std::pair<std::string, std::string>> members;
  for (int k = 0; k < kMembers; ++k) {
    const auto t = ckpt::test::random_tensor("t", DType::F32, {1 + k % 3}, static_cast<unsigned>(k));
    members.emplace_back("m" + std::to_string(k) + ".npy", npy_image(t));
  }
  for (bool deflate : {true, false}) {
    SCOPED_TRACE(deflate ? "deflated" : "stored");
    TempDir dir;
    const Checkpoint ck = npz::open(write_archive(dir, members, deflate));
    ASSERT_EQ(ck.tensors.size(), static_cast<std::size_t>(kMembers));
    for (int k : {0, 4095, 4096, 4097, 8191, 8192, kMembers - 1}) {
      EXPECT_EQ(ck.tensors[k].name, "m" + std::to_string(k));
      EXPECT_EQ(ck.tensors[k].shape, Shape{1 + k % 3});
      EXPECT_EQ(npy_image(ck.tensors[k]), members[k].second);
    }
    auto bad = members;
    bad[8500].second = bad_dtype(bad[8500].second);
    EXPECT_THAT(open_error(write_archive(dir, bad, deflate)), HasSubstr("member 'm8500.npy': array dtype '<U1'"));
    bad[4100].second = bad_dtype(bad[4100].second);
    EXPECT_THAT(open_error(write_archive(dir, bad, deflate)), HasSubstr("member 'm4100.npy': array dtype '<U1'"));
    bad[17].second = bad_dtype(bad[17].second);
    EXPECT_THAT(open_error(write_archive(dir, bad, deflate)), HasSubstr("member 'm17.npy': array dtype '<U1'"));
  }
}
