// Small ranges (up to 64 KiB) copied into an AtomicFile come from a window
// read ahead of them that grows while they follow one another in a source.
// Whatever the order (in file order with padding between them, backwards,
// overlapping, alternating between two sources, ending at the file's end),
// the output must hold exactly the bytes asked for; in file order the number
// of reads must stay far below one per range, and jumping about must not
// read more than a range's worth each time.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "io/byte_source.h"
#include "io/error.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;

namespace {

using ckpt::test::pattern_bytes;
using ckpt::test::ReadCounts;
using ckpt::test::read_counts;

struct Range {
  const ByteSource* src;
  const std::vector<std::byte>* bytes;
  std::uint64_t offset;
  std::uint64_t n;
};

// Copies `ranges` into a new file and checks it holds their bytes in order;
// returns the reads the copying made.
ReadCounts copy_and_check(const std::vector<Range>& ranges, const std::string& path) {
  std::vector<std::byte> want;
  const ReadCounts before = read_counts();
  {
    AtomicFile out(path, false);
    for (const auto& r : ranges) {
      out.copy_range(*r.src, r.offset, r.n, nullptr);
      want.insert(want.end(), r.bytes->begin() + static_cast<std::ptrdiff_t>(r.offset),
                  r.bytes->begin() + static_cast<std::ptrdiff_t>(r.offset + r.n));
    }
    out.commit();
  }
  const ReadCounts after = read_counts();
  EXPECT_EQ(ckpt::test::read_file_bytes(path), want);
  return {after.calls - before.calls, after.bytes - before.bytes};
}

class SmallCopies : public ::testing::Test {
 protected:
  void SetUp() override {
    a_bytes = pattern_bytes(std::size_t{3} << 20, 1);
    b_bytes = pattern_bytes((std::size_t{1} << 20) + 12345, 2);
    ckpt::test::write_file_bytes(dir.file("a.bin"), a_bytes);
    ckpt::test::write_file_bytes(dir.file("b.bin"), b_bytes);
    a = MappedFile::open(dir.file("a.bin"));
    b = MappedFile::open(dir.file("b.bin"));
  }
  TempDir dir;
  std::vector<std::byte> a_bytes, b_bytes;
  std::shared_ptr<MappedFile> a, b;
};

TEST_F(SmallCopies, InFileOrderWithPaddingBetweenThem) {
  std::vector<Range> rs;
  std::uint64_t at = 0;
  for (std::uint64_t i = 0; at < a_bytes.size(); ++i) {
    const std::uint64_t n = std::min<std::uint64_t>(1000 + (i * 37) % 3000, a_bytes.size() - at);
    rs.push_back({a.get(), &a_bytes, at, n});
    at += n + (i % 3 == 0 ? 32 - n % 32 : 0);  // gguf-like alignment padding now and then
  }
  const ReadCounts reads = copy_and_check(rs, dir.file("out"));
  // ~1,300 ranges over 3 MiB: a few reads of up to 1 MiB each, not one per range.
  EXPECT_LT(reads.calls, 20u) << rs.size() << " ranges";
  // Each byte read once, give or take the overlap where a window ran out.
  EXPECT_LT(reads.bytes, a_bytes.size() + (std::uint64_t{64} << 10));
}

TEST_F(SmallCopies, UpToTheLastByteOfTheFile) {
  std::vector<Range> rs;
  for (std::uint64_t at = b_bytes.size() - 70000; at < b_bytes.size(); at += 700)
    rs.push_back({b.get(), &b_bytes, at, std::min<std::uint64_t>(700, b_bytes.size() - at)});
  rs.push_back({b.get(), &b_bytes, b_bytes.size() - 1, 1});
  rs.push_back({b.get(), &b_bytes, b_bytes.size(), 0});
  copy_and_check(rs, dir.file("out"));
}

TEST_F(SmallCopies, BackwardsOverlappingAndAlternatingSources) {
  std::vector<Range> rs;
  for (std::uint64_t k = 0; k < 300; ++k) rs.push_back({a.get(), &a_bytes, a_bytes.size() - (k + 1) * 4096, 4000});
  for (std::uint64_t k = 0; k < 300; ++k) rs.push_back({a.get(), &a_bytes, 5000 + k * 1500, 3000});  // each overlaps the last
  for (std::uint64_t k = 0; k < 300; ++k) {
    rs.push_back({a.get(), &a_bytes, 100000 + k * 2000, 2000});
    rs.push_back({b.get(), &b_bytes, 7 + k * 2000, 2000});
  }
  std::mt19937 rng(5);
  for (int k = 0; k < 300; ++k) {
    const std::uint64_t n = rng() % 65537;
    rs.push_back({a.get(), &a_bytes, rng() % (a_bytes.size() - n), n});
  }
  copy_and_check(rs, dir.file("out"));
}

TEST_F(SmallCopies, JumpingAboutReadsOnlyWhatIsAsked) {
  std::vector<Range> rs;
  std::mt19937 rng(9);
  std::uint64_t asked = 0;
  for (int k = 0; k < 400; ++k) {
    const std::uint64_t at = (rng() % 500) * 4096;
    rs.push_back({a.get(), &a_bytes, at + (k % 2 ? 1 << 20 : 0), 1024});
    asked += 1024;
  }
  const ReadCounts reads = copy_and_check(rs, dir.file("out"));
  // Each range once, plus a small window now and then where two landed close.
  EXPECT_LT(reads.bytes, asked + (std::uint64_t{256} << 10));
}

// A window read that fails (the file cut short after it was opened) leaves
// no window behind: a later range inside what that window would have held is
// read again, and fails again past the cut, instead of coming from bytes
// never read. Ranges of 1,000 bytes from 0 grow the window to 16, 32 and
// 64 KiB, the last one read at 49,000 and reaching 114,536.
TEST_F(SmallCopies, AFailedWindowReadLeavesNothingBehind) {
  AtomicFile out(dir.file("out"), false);
  std::vector<std::byte> got(1000);
  for (std::uint64_t at = 0; at < 113000; at += 1000) out.read_small(*a, at, got);
  ASSERT_EQ(::truncate(dir.file("a.bin").c_str(), 120000), 0);
  EXPECT_THROW(out.read_small(*a, 114000, got), Error);  // the next window, 128 KiB, runs past the cut
  EXPECT_THROW(out.read_small(*a, 125000, got), Error);  // past the cut: read again, not served from memory
  out.read_small(*a, 116000, got);                       // before the cut: read again, and right
  EXPECT_TRUE(std::equal(got.begin(), got.end(), a_bytes.begin() + 116000));
}

}  // namespace
