// The readers' read-ahead window (io/read_window.h): small tensors read one
// after another come from a window grown ahead of them, one read per many
// tensors; a source made after another was freed (perhaps at its address)
// is never answered from the old one's window; a failed read leaves no
// window; each thread has its own. AtomicFile's use of the same class is
// tested in test_small_copies.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "io/byte_source.h"
#include "io/error.h"
#include "io/read_window.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::pattern_bytes;
using ckpt::test::read_counts;
using ckpt::test::TempDir;

namespace {

bool same_bytes(const std::vector<std::byte>& got, const std::vector<std::byte>& all, std::uint64_t at) {
  return std::equal(got.begin(), got.end(), all.begin() + static_cast<std::ptrdiff_t>(at));
}

}  // namespace

TEST(ReadWindow, TensorsOneAfterAnotherTakeFewReads) {
  TempDir dir;
  const auto bytes = pattern_bytes(std::size_t{2} << 20, 3);
  ckpt::test::write_file_bytes(dir.file("f.bin"), bytes);
  const auto f = MappedFile::open(dir.file("f.bin"));
  std::vector<std::byte> got(1000);
  const auto before = read_counts();
  std::size_t ranges = 0;
  // 1,000-byte tensors with 24 bytes of padding between them, as in a .npz.
  for (std::uint64_t at = 0; at + got.size() <= bytes.size(); at += 1024, ++ranges) {
    read_small(*f, at, got);
    ASSERT_TRUE(same_bytes(got, bytes, at)) << at;
  }
  const auto after = read_counts();
  EXPECT_EQ(ranges, 2048u);
  EXPECT_LT(after.calls - before.calls, 20u);
  EXPECT_LT(after.bytes - before.bytes, bytes.size() + (std::size_t{1} << 20));
}

TEST(ReadWindow, ANewSourceIsNeverAnsweredFromAnOldOnesWindow) {
  TempDir dir;
  std::vector<std::byte> got(4096);
  for (unsigned k = 0; k < 20; ++k) {
    // Same name, same size, new contents each time: a mapping made after the
    // last one was unmapped may well land at its address.
    const auto bytes = pattern_bytes(std::size_t{256} << 10, k + 1);
    ckpt::test::write_file_bytes(dir.file("f.bin"), bytes);
    const auto f = MappedFile::open(dir.file("f.bin"));
    read_small(*f, 8192, got);
    ASSERT_TRUE(same_bytes(got, bytes, 8192)) << k;
    read_small(*f, 12288, got);
    ASSERT_TRUE(same_bytes(got, bytes, 12288)) << k;
  }
  const MemorySource a(pattern_bytes(100, 1), "a"), b(pattern_bytes(100, 2), "b");
  EXPECT_NE(a.serial(), b.serial());
  EXPECT_NE(a.serial(), 0u);
}

TEST(ReadWindow, AFailedReadLeavesNoWindow) {
  const auto bytes = pattern_bytes(50000, 4);
  const MemorySource m(bytes, "m");
  ReadWindow w;
  std::vector<std::byte> got(1000);
  for (std::uint64_t at = 0; at < 20000; at += 1000) w.read(m, at, got);
  EXPECT_THROW(w.read(m, 49500, got), Error);  // past the end
  w.read(m, 21000, got);
  EXPECT_TRUE(same_bytes(got, bytes, 21000));
  w.forget();
  w.read(m, 0, got);
  EXPECT_TRUE(same_bytes(got, bytes, 0));
}

TEST(ReadWindow, EachThreadReadsItsOwnSequence) {
  TempDir dir;
  const auto bytes = pattern_bytes(std::size_t{4} << 20, 5);
  ckpt::test::write_file_bytes(dir.file("f.bin"), bytes);
  const auto f = MappedFile::open(dir.file("f.bin"));
  bool ok[2] = {true, true};
  auto walk = [&](int t) {
    std::vector<std::byte> got(777);
    const std::uint64_t start = t == 0 ? 0 : std::uint64_t{2} << 20;
    for (std::uint64_t at = start; at < start + (std::uint64_t{2} << 20) - got.size(); at += 800) {
      read_small(*f, at, got);
      ok[t] = ok[t] && same_bytes(got, bytes, at);
    }
  };
  std::thread other(walk, 1);
  walk(0);
  other.join();
  EXPECT_TRUE(ok[0]);
  EXPECT_TRUE(ok[1]);
}
