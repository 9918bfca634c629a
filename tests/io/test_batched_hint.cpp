// BatchedHint: many small header hints become few ranges, in order, without
// overflowing on offsets that headers have not yet been checked for.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "io/byte_source.h"
#include "io/convert.h"
#include "io/open.h"
#include "tests/support/support.h"

using ckpt::io::BatchedHint;

namespace {

class RecordingSource final : public ckpt::io::ByteSource {
 public:
  [[nodiscard]] std::span<const std::byte> all() const noexcept override { return {}; }
  [[nodiscard]] const std::string& label() const noexcept override { return label_; }
  void prefetch(std::uint64_t pos, std::uint64_t n) const noexcept override { prefetched.emplace_back(pos, n); }
  void release_around(std::uint64_t pos, std::uint64_t n) const noexcept override { released.emplace_back(pos, n); }
  mutable std::vector<std::pair<std::uint64_t, std::uint64_t>> prefetched, released;

 private:
  std::string label_ = "recording";
};

using Ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

}  // namespace

TEST(BatchedHint, MergesNearbyRangesUpToTheSpan) {
  RecordingSource src;
  {
    BatchedHint h(src, BatchedHint::Kind::Prefetch, 1000, 10000);
    for (std::uint64_t k = 0; k < 5; ++k) h.add(k * 500, 100);  // 0 … 2100: one range
    h.add(9000, 100);                                            // gap of 6900 > 1000: a new range
    h.add(9500, 600);                                            // merged: 9000 … 10100
    h.add(18000, 2000);                                          // 9000 … 20000 would span 11000 > 10000
  }
  EXPECT_EQ(src.prefetched, (Ranges{{0, 2100}, {9000, 1100}, {18000, 2000}}));
  EXPECT_TRUE(src.released.empty());
}

TEST(BatchedHint, GoingBackwardsStartsANewRange) {
  RecordingSource src;
  {
    BatchedHint h(src, BatchedHint::Kind::ReleaseAround, 1 << 20, 1 << 20);
    h.add(5000, 10);
    h.add(100, 10);
  }
  EXPECT_EQ(src.released, (Ranges{{5000, 10}, {100, 10}}));
}

TEST(BatchedHint, SaturatesInsteadOfWrapping) {
  RecordingSource src;
  {
    BatchedHint h(src, BatchedHint::Kind::Prefetch, UINT64_MAX, UINT64_MAX);
    h.add(UINT64_MAX - 5, 100);  // an unchecked offset near the top
    h.add(UINT64_MAX - 2, 1);
    h.flush();
    h.add(10, 5);
  }
  ASSERT_EQ(src.prefetched.size(), 2u);
  EXPECT_EQ(src.prefetched[0], (std::pair<std::uint64_t, std::uint64_t>{UINT64_MAX - 5, 5}));
  EXPECT_EQ(src.prefetched[1], (std::pair<std::uint64_t, std::uint64_t>{10, 5}));
}

namespace {
// The line starting with `field` in the /proc/self/smaps entry of the
// mapping that holds `p` ("" when there is none).
std::string smaps_line(const void* p, const std::string& field) {
  std::ifstream smaps("/proc/self/smaps");
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= at && at < hi;
      continue;
    }
    if (inside && line.rfind(field, 0) == 0) return line;
  }
  return "";
}

// The VmFlags of the mapping ("rr" is MADV_RANDOM).
std::string vm_flags_of(const void* p) { return smaps_line(p, "VmFlags:"); }

// Its resident size, in KiB.
std::uint64_t rss_kib_of(const void* p) {
  const std::string line = smaps_line(p, "Rss:");
  return line.empty() ? 0 : std::stoull(line.substr(4));
}
}  // namespace

// Streaming a stored .npz member reads its npy header and CRC tail through
// the mapping; those pages leave the resident set at once. (A file the page
// cache holds in 2 MiB folios maps 2 MiB per touch: converting a 2 GB .npz
// of 200 members kept 420 MiB of headers resident.)
TEST(ResidentSet, StreamingStoredNpzMembersLeavesNothingOfTheFileResident) {
  ckpt::test::TempDir dir;
  const std::string path = dir.file("m.npz");
  std::vector<ckpt::io::TensorInfo> ts;
  for (int i = 0; i < 64; ++i)
    ts.push_back(ckpt::test::random_tensor("t" + std::to_string(i), ckpt::io::DType::F32, {65536}, 1u + i));
  ckpt::io::write_checkpoint(path, ckpt::io::Format::Npz, ts, {}, {});
  const auto ck = ckpt::io::open_checkpoint(path);
  const void* p = ck.files.at(0)->all().data();
  const auto before = rss_kib_of(p);
  for (const auto& t : ck.tensors) t.data->stream([](std::span<const std::byte>) {});
  EXPECT_LE(rss_kib_of(p), before + 256) << "KiB of the 16 MiB file resident after streaming every member (" << before
                                         << " after opening)";
}

// Listing a zip reads scattered headers through the mapping with read-around
// off; the scopes nest, and the mapping is back to normal after the last.
TEST(ScatteredReads, TurnsReadAroundOffWhileAnyScopeLives) {
  ckpt::test::TempDir dir;
  const std::string path = dir.file("f.bin");
  ckpt::test::write_file_bytes(path, std::vector<std::byte>(1 << 16, std::byte{7}));
  const auto file = ckpt::io::MappedFile::open(path);
  const void* p = file->all().data();
  ASSERT_NE(vm_flags_of(p), "") << "no VmFlags line for the mapping in /proc/self/smaps";
  EXPECT_EQ(vm_flags_of(p).find(" rr"), std::string::npos);
  {
    const ckpt::io::ScatteredReads outer(*file, true);
    EXPECT_NE(vm_flags_of(p).find(" rr"), std::string::npos);
    { const ckpt::io::ScatteredReads inner(*file, true); }
    { const ckpt::io::ScatteredReads off(*file, false); }
    EXPECT_NE(vm_flags_of(p).find(" rr"), std::string::npos) << "the inner scope ended the outer one's hint";
  }
  EXPECT_EQ(vm_flags_of(p).find(" rr"), std::string::npos);
}
