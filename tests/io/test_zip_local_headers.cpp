// read_archive in steps (central directory, then local headers, possibly on
// a second thread while a reader scans PyTorch's data.pkl): the same members
// as read_archive, and the same first error whichever thread meets it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "io/byte_source.h"
#include "io/endian.h"
#include "io/error.h"
#include "io/formats/zip.h"
#include "io/formats/zip_headers_in_order.h"
#include "io/open.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;
using ::testing::HasSubstr;

namespace {

// A .pt of `n` small tensors written by our writer (torch's layout).
std::string write_pt(const TempDir& dir, const std::string& name, int n) {
  std::vector<TensorInfo> ts;
  for (int i = 0; i < n; ++i) ts.push_back(ckpt::test::random_tensor("layer." + std::to_string(i) + ".weight", DType::F32, {4}, 1u + i));
  const std::string path = dir.file(name);
  write_checkpoint(path, Format::PyTorch, ts, {}, {});
  return path;
}

std::string error_of(const std::string& path) {
  try {
    (void)open_checkpoint(path);
  } catch (const Error& e) {
    return e.sentence();
  }
  return "";
}

// Byte offset of member `name`'s local header.
std::uint64_t local_header_of(const std::string& path, const std::string& name) {
  const auto src = MappedFile::open(path);
  for (const auto& m : zip::read_archive(*src).members)
    if (m.name.ends_with(name)) return m.local_header_offset;
  ADD_FAILURE() << "no member " << name;
  return 0;
}

void poke(const std::string& path, std::uint64_t at, const std::string& bytes) {
  auto b = ckpt::test::read_file_bytes(path);
  std::memcpy(b.data() + at, bytes.data(), bytes.size());
  ckpt::test::write_file_bytes(path, b);
}

TEST(ZipLocalHeaders, StepsGiveWhatReadArchiveGives) {
  TempDir dir;
  for (int n : {1, 300}) {
    const auto path = write_pt(dir, "m" + std::to_string(n) + ".pt", n);
    const auto src = MappedFile::open(path);
    const zip::Archive whole = zip::read_archive(*src);
    zip::Archive steps = zip::read_central_directory(*src);
    for (const auto& m : steps.members) EXPECT_EQ(m.data_offset, 0u);
    zip::HeadersInOrder ahead(*src, steps);
    zip::apply_local_headers(steps, ahead.take());
    ASSERT_EQ(steps.members.size(), whole.members.size());
    for (std::size_t k = 0; k < whole.members.size(); ++k) {
      EXPECT_EQ(steps.members[k].data_offset, whole.members[k].data_offset) << k;
      EXPECT_EQ(steps.members[k].zip64_local, whole.members[k].zip64_local) << k;
      EXPECT_EQ(zip::read_local_header(*src, steps, k).data_offset, whole.members[k].data_offset) << k;
    }
  }
}

// With 300 storages the headers are read on the second thread while data.pkl
// is scanned: a broken local header of a storage is still the error, and
// before one in data.pkl's own header or a missing data.pkl.
TEST(ZipLocalHeaders, LocalHeaderErrorsComeFirstFromEitherThread) {
  TempDir dir;
  const auto good = write_pt(dir, "good.pt", 300);
  EXPECT_EQ(error_of(good), "");
  const auto bytes = ckpt::test::read_file_bytes(good);

  const std::string one = dir.file("one.pt");
  ckpt::test::write_file_bytes(one, bytes);
  poke(one, local_header_of(good, "/data/150"), "PK\x09\x09");
  EXPECT_THAT(error_of(one), HasSubstr("data/150' has no local header where the central directory points"));

  // data.pkl's header broken too: the scan on this thread meets it, but the
  // other thread's first error (data.pkl comes first in the archive) wins.
  const std::string two = dir.file("two.pt");
  ckpt::test::write_file_bytes(two, bytes);
  poke(two, local_header_of(good, "/data/150"), "PK\x09\x09");
  poke(two, local_header_of(good, "/data.pkl"), "PK\x09\x09");
  EXPECT_THAT(error_of(two), HasSubstr("data.pkl' has no local header where the central directory points"));

  // A storage's header broken and data.pkl renamed away (no data.pkl found
  // on this thread): the header error still comes first, as read_archive's did.
  const std::string three = dir.file("three.pt");
  ckpt::test::write_file_bytes(three, bytes);
  poke(three, local_header_of(good, "/data/7"), "PK\x09\x09");
  auto b = ckpt::test::read_file_bytes(three);
  const std::string from = "/data.pkl", to = "/data.pkx";
  for (std::size_t i = 0; i + from.size() <= b.size(); ++i)
    if (std::memcmp(b.data() + i, from.data(), from.size()) == 0) std::memcpy(b.data() + i, to.data(), to.size());
  ckpt::test::write_file_bytes(three, b);
  EXPECT_THAT(error_of(three), HasSubstr("has no local header where the central directory points"));

  // Only data.pkl missing: its own sentence, after the other thread is done.
  const std::string four = dir.file("four.pt");
  ckpt::test::write_file_bytes(four, b);
  poke(four, local_header_of(good, "/data/7"), "PK\x03\x04");
  EXPECT_THAT(error_of(four), HasSubstr("has no data.pkl record"));
}

// 10,000 members: the headers are checked in slices on all cores, and the
// error is the one a single pass in archive order meets first.
TEST(ZipLocalHeaders, SlicesOnAllCoresReportTheFirstProblemInArchiveOrder) {
  TempDir dir;
  const std::string path = dir.file("many.zip");
  {
    AtomicFile out(path, false);
    zip::Writer zw(out, 1);
    const std::byte payload[40] = {};
    for (int i = 0; i < 10000; ++i) {
      zw.begin_member("m" + std::to_string(i), zip::kStored);
      zw.write(payload);
      zw.end_member();
    }
    zw.finish();
    out.commit();
  }
  std::vector<std::uint64_t> at;
  {
    const auto src = MappedFile::open(path);
    const auto whole = zip::read_archive(*src);
    for (const auto& m : whole.members) at.push_back(m.local_header_offset);
  }
  const auto bytes = ckpt::test::read_file_bytes(path);
  auto first_error = [&](const std::vector<std::size_t>& broken, bool all_cores) {
    const std::string p = dir.file("broken.zip");
    ckpt::test::write_file_bytes(p, bytes);
    for (std::size_t k : broken) poke(p, at[k], "PK\x09\x09");
    const auto src = MappedFile::open(p);
    const auto a = zip::read_central_directory(*src);
    try {
      (void)zip::read_local_headers(*src, a, all_cores);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  for (const std::vector<std::size_t>& broken : std::vector<std::vector<std::size_t>>{{9000}, {9000, 5000}, {4095, 4096}, {0, 9999}}) {
    const std::string one = first_error(broken, false), all = first_error(broken, true);
    EXPECT_EQ(all, one);
    std::size_t first = broken[0];
    for (std::size_t k : broken) first = std::min(first, k);
    EXPECT_THAT(all, HasSubstr("member 'm" + std::to_string(first) + "' has no local header"));
  }
  EXPECT_EQ(first_error({}, true), "no error");
}

}  // namespace
