// zip::read_central_directory asks for the directory in one read before it
// parses it, and for the member area too where members lie close together
// (every caller then reads each member's local header): cold, the disk
// reads those while the directory is parsed. Members far apart are left to
// ask_for_local_headers, which asks for just their headers.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/byte_source.h"
#include "io/formats/zip.h"
#include "io/open.h"
#include "tests/support/support.h"

using namespace ckpt::io;

namespace {

using Ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

class RecordingBytes final : public ByteSource {
 public:
  explicit RecordingBytes(std::vector<std::byte> b) : bytes_(std::move(b)) {}
  [[nodiscard]] std::span<const std::byte> all() const noexcept override { return bytes_; }
  [[nodiscard]] const std::string& label() const noexcept override { return label_; }
  void prefetch(std::uint64_t pos, std::uint64_t n) const noexcept override { prefetched.emplace_back(pos, n); }
  mutable Ranges prefetched;

 private:
  std::vector<std::byte> bytes_;
  std::string label_ = "recording.npz";
};

// An .npz of `members` float32 tensors of `elements` each, as bytes.
std::vector<std::byte> npz_bytes(int members, std::int64_t elements) {
  ckpt::test::TempDir dir;
  std::vector<TensorInfo> ts;
  for (int i = 0; i < members; ++i)
    ts.push_back(ckpt::test::random_tensor("t" + std::to_string(i), DType::F32, {elements}, 7u + i));
  const std::string path = dir.file("m.npz");
  WriteOptions o;
  o.sync = false;
  write_checkpoint(path, Format::Npz, ts, {}, o);
  return ckpt::test::read_file_bytes(path);
}

constexpr std::uint64_t kEndRecord = 22;  // no comment, no zip64

}  // namespace

TEST(ZipPrefetch, CloseMembersAskForTheDirectoryThenTheMemberArea) {
  const RecordingBytes src(npz_bytes(200, 16));  // ~190 bytes a member
  const zip::Archive a = zip::read_central_directory(src);
  ASSERT_EQ(a.members.size(), 200u);
  const std::uint64_t cd = a.central_directory_offset;
  EXPECT_EQ(src.prefetched, (Ranges{{cd, src.size() - kEndRecord - cd}, {0, cd}}));
}

TEST(ZipPrefetch, FarApartMembersAskForTheDirectoryAlone) {
  const RecordingBytes src(npz_bytes(3, 100000));  // 400 KB a member: past the 256 KiB gap
  const zip::Archive a = zip::read_central_directory(src);
  ASSERT_EQ(a.members.size(), 3u);
  const std::uint64_t cd = a.central_directory_offset;
  EXPECT_EQ(src.prefetched, (Ranges{{cd, src.size() - kEndRecord - cd}}));
}

TEST(ZipPrefetch, AnEmptyArchiveAsksForNoMemberArea) {
  const RecordingBytes src(npz_bytes(0, 1));
  const zip::Archive a = zip::read_central_directory(src);
  EXPECT_TRUE(a.members.empty());
  EXPECT_TRUE(src.prefetched.empty());
}
