// zip::HeadersInOrder: local headers checked on a thread of their own and
// published in archive order, which the .npz listing takes batch by batch
// while a cold disk delivers the rest. The headers are read_archive's; a
// problem stops the pass where read_archive would, and is what wait_for
// past it and finish() throw; the archive's problems come ahead of the
// members' in a listing; a pass dropped early stops without hanging.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "io/byte_source.h"
#include "io/error.h"
#include "io/formats/npy.h"
#include "io/formats/npz.h"
#include "io/formats/zip.h"
#include "io/formats/zip_headers_in_order.h"
#include "io/open.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;
using ::testing::HasSubstr;

namespace {

constexpr int kMembers = 9000;  // past two of the listing's batches of 4,096

std::string write_npz(const TempDir& dir, const std::string& name, bool compress) {
  std::vector<TensorInfo> ts;
  for (int i = 0; i < kMembers; ++i) ts.push_back(ckpt::test::random_tensor("m" + std::to_string(i), DType::F32, {3}, 1u + i));
  const std::string path = dir.file(name);
  WriteOptions o;
  o.sync = false;
  o.compress = compress;
  write_checkpoint(path, Format::Npz, ts, {}, o);
  return path;
}

std::uint64_t local_header_of(const std::string& path, std::size_t k) {
  const auto src = MappedFile::open(path);
  return zip::read_archive(*src).members.at(k).local_header_offset;
}

void poke(const std::string& path, std::uint64_t at, const std::string& bytes) {
  auto b = ckpt::test::read_file_bytes(path);
  std::memcpy(b.data() + at, bytes.data(), bytes.size());
  ckpt::test::write_file_bytes(path, b);
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.sentence();
  }
  return "(no error)";
}

}  // namespace

TEST(ZipHeadersInOrder, GivesWhatReadArchiveGives) {
  TempDir dir;
  const auto path = write_npz(dir, "a.npz", false);
  const auto src = MappedFile::open(path);
  const zip::Archive whole = zip::read_archive(*src);
  const zip::Archive cd = zip::read_central_directory(*src);
  zip::HeadersInOrder headers(*src, cd);
  for (std::size_t end : {std::size_t{1}, std::size_t{300}, std::size_t{4096}, cd.members.size()}) {
    headers.wait_for(end);
    EXPECT_TRUE(headers.ready(end));
    for (std::size_t k = 0; k < end; ++k) ASSERT_EQ(headers[k].data_offset, whole.members[k].data_offset) << k;
  }
  EXPECT_NO_THROW(headers.finish());
}

TEST(ZipHeadersInOrder, AProblemStopsThePassWhereReadArchiveWould) {
  TempDir dir;
  const auto path = write_npz(dir, "a.npz", false);
  poke(path, local_header_of(path, 5000), "XXXX");
  const auto src = MappedFile::open(path);
  const std::string want = error_of([&] { (void)zip::read_archive(*src); });
  ASSERT_THAT(want, HasSubstr("has no local header where the central directory points"));
  const zip::Archive cd = zip::read_central_directory(*src);
  zip::HeadersInOrder headers(*src, cd);
  EXPECT_NO_THROW(headers.wait_for(4096));  // before the problem: fine
  EXPECT_EQ(error_of([&] { headers.wait_for(6000); }), want);
  EXPECT_EQ(error_of([&] { headers.finish(); }), want);
  EXPECT_FALSE(headers.ready(6000));
}

TEST(ZipHeadersInOrder, DroppedEarlyStopsWithoutWaitingForTheRest) {
  TempDir dir;
  const auto path = write_npz(dir, "a.npz", false);
  const auto src = MappedFile::open(path);
  const zip::Archive cd = zip::read_central_directory(*src);
  for (int i = 0; i < 20; ++i) {
    zip::HeadersInOrder headers(*src, cd);
    if (i % 2) headers.wait_for(1);
  }  // each destructor stops the pass and joins
  zip::HeadersInOrder headers(*src, cd);
  headers.finish();
  EXPECT_TRUE(headers.ready(cd.members.size()));
}

// The listing reports the archive's problem (a broken local header late in
// the file) ahead of a member's own (a bad npy header early), as it did when
// all local headers were read first, stored or deflated.
TEST(ZipHeadersInOrder, ListingReportsArchiveProblemsFirst) {
  for (bool compress : {false, true}) {
    SCOPED_TRACE(compress ? "deflated" : "stored");
    TempDir dir;
    const auto path = write_npz(dir, "a.npz", compress);
    const zip::Archive a = zip::read_archive(*MappedFile::open(path));
    if (!compress) {
      // A bad dtype in member 10's npy header alone: that member's error.
      poke(path, a.members[10].data_offset + std::string(npy::make_header(DType::F32, {3})).find("<f4"), "<U1");
      EXPECT_THAT(error_of([&] { (void)npz::open(path); }), HasSubstr("member 'm10.npy'"));
    }
    poke(path, a.members[8500].local_header_offset, "XXXX");
    EXPECT_THAT(error_of([&] { (void)npz::open(path); }),
                HasSubstr("member 'm8500.npy' has no local header where the central directory points"));
  }
}
