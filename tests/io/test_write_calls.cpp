// Where an AtomicFile's write() calls end: never across a whole aligned
// 2 MiB of the file, so the page cache makes no 2 MiB folios for it (why:
// io/atomic_file.cpp), whatever the offsets the formats put the data at.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <vector>

#include "io/atomic_file.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;

namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kSpan = 2 * kMiB;

std::vector<std::byte> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) b[i] = static_cast<std::byte>(c[i]);
  return b;
}

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

TEST(WriteCalls, ALargeWriteIsSplitAtTheBoundariesAndArrivesWhole) {
  FaultReset reset;
  TempDir dir;
  const std::string dest = dir.file("out.bin");
  const auto bytes = ckpt::test::pattern_bytes(static_cast<std::size_t>(6 * kMiB + 100), 7);
  {
    AtomicFile f(dest, false);
    f.write(bytes);
    f.commit();
  }
  // [0, 4 KiB), then 2 MiB at a time from 4 KiB past each boundary, then the rest.
  EXPECT_EQ(fault::calls(fault::Op::Write), 4u);
  EXPECT_EQ(read_all(dest), bytes);
}

TEST(WriteCalls, BufferedSmallWritesStillLandWhole) {
  FaultReset reset;
  TempDir dir;
  const std::string dest = dir.file("out.bin");
  const auto bytes = ckpt::test::pattern_bytes(static_cast<std::size_t>(5 * kMiB + 333), 11);
  {
    AtomicFile f(dest, false);
    for (std::size_t at = 0; at < bytes.size(); at += 1000)
      f.write(std::span<const std::byte>(bytes).subspan(at, std::min<std::size_t>(1000, bytes.size() - at)));
    f.commit();
  }
  EXPECT_EQ(read_all(dest), bytes);
  // Each 2 MiB buffer flush that crosses a boundary is two calls.
  EXPECT_GE(fault::calls(fault::Op::Write), 4u);
  EXPECT_LE(fault::calls(fault::Op::Write), 8u);
}

}  // namespace
