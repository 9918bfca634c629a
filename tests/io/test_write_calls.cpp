// Where an AtomicFile's write() calls end: never across a whole aligned
// 2 MiB of the file, so the page cache makes no 2 MiB folios for it (why:
// io/atomic_file.cpp), whatever the offsets the formats put the data at.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "io/atomic_file.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;

namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kSpan = 2 * kMiB;

struct FaultReset {
  FaultReset() { fault::disarm(); }
  ~FaultReset() { fault::disarm(); }
};

TEST(WriteCalls, NoCallCoversAWholeAligned2MiB) {
  const std::uint64_t offsets[] = {0,         1,         4095,      4096,           4097,
                                   kSpan - 1, kSpan,     kSpan + 1, kSpan + 4095,   kSpan + 4096,
                                   3 * kSpan + 123,      (std::uint64_t{1} << 40) + 5, (std::uint64_t{1} << 40) + 4096};
  for (const std::uint64_t at : offsets) {
    const std::uint64_t end = write_call_end(at);
    EXPECT_GT(end, at) << at;
    EXPECT_LE(end - at, kSpan) << at;
    const std::uint64_t first_aligned = (at + kSpan - 1) / kSpan * kSpan;
    EXPECT_LT(end, first_aligned + kSpan) << "a call from " << at << " to " << end << " covers [" << first_aligned << ", +2 MiB)";
    EXPECT_EQ(end % kSpan, 4096u) << at;
  }
}

// Writes `bytes` through an AtomicFile in pieces of `step` bytes (all at
// once for 0), counting the write() calls, and reads the file back.
std::vector<std::byte> write_and_read_back(const std::vector<std::byte>& bytes, std::size_t step, std::uint64_t& calls) {
  FaultReset reset;
  TempDir dir;
  const std::string dest = dir.file("out.bin");
  {
    AtomicFile f(dest, false);
    const std::size_t n = step == 0 ? bytes.size() : step;
    for (std::size_t at = 0; at < bytes.size(); at += n)
      f.write(std::span<const std::byte>(bytes).subspan(at, std::min(n, bytes.size() - at)));
    f.commit();
  }
  calls = fault::calls(fault::Op::Write);
  return ckpt::test::read_file_bytes(dest);
}

TEST(WriteCalls, ALargeWriteIsSplitAtTheBoundariesAndArrivesWhole) {
  const auto bytes = ckpt::test::pattern_bytes(static_cast<std::size_t>(6 * kMiB + 100), 7);
  std::uint64_t calls = 0;
  EXPECT_EQ(write_and_read_back(bytes, 0, calls), bytes);
  // [0, 4 KiB), then 2 MiB at a time from 4 KiB past each boundary, then the rest.
  EXPECT_EQ(calls, 4u);
}

TEST(WriteCalls, BufferedSmallWritesStillLandWhole) {
  const auto bytes = ckpt::test::pattern_bytes(static_cast<std::size_t>(5 * kMiB + 333), 11);
  std::uint64_t calls = 0;
  EXPECT_EQ(write_and_read_back(bytes, 1000, calls), bytes);
  // Each 2 MiB buffer flush that crosses a boundary is two calls.
  EXPECT_GE(calls, 4u);
  EXPECT_LE(calls, 8u);
}

}  // namespace
