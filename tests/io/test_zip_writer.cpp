// The zip writer's local headers: their CRC-32 and sizes are filled in after
// the data, in the write buffer when the header is still there and in the
// file otherwise. Readers that walk local headers (streaming unzip, some
// recovery tools) see them, so every one must match the central directory,
// for stored and deflated members, tiny and larger than the buffer, and
// members copied from a file (write_range) as well as written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "io/byte_source.h"
#include "io/endian.h"
#include "io/formats/zip.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;

namespace {

using ckpt::test::pattern_bytes;

TEST(ZipWriter, EveryLocalHeaderMatchesTheCentralDirectory) {
  TempDir dir;
  const std::string source = dir.file("source.bin");
  ckpt::test::write_file_bytes(source, pattern_bytes(std::size_t{12} << 20, 99));
  const auto src = MappedFile::open(source);

  const std::string path = dir.file("out.zip");
  std::vector<std::size_t> sizes;
  for (int i = 0; i < 40; ++i) sizes.push_back(static_cast<std::size_t>(i * 37));  // tiny, patched in the buffer
  sizes.push_back(std::size_t{9} << 20);                                            // past the 8 MiB buffer
  for (std::size_t n : {std::size_t{1000}, std::size_t{1000}, std::size_t{3} << 20, std::size_t{1000}, std::size_t{1000}})
    sizes.push_back(n);  // the 3 MiB one (member 44) is copied with a checksum thread
  {
    AtomicFile out(path, false);
    zip::Writer zw(out, 2);
    unsigned seed = 1;
    for (const std::size_t n : sizes) {
      const std::uint16_t method = seed % 3 == 0 ? zip::kDeflated : zip::kStored;
      zw.begin_member("m" + std::to_string(seed), method);
      if (method == zip::kStored && seed % 2 == 0) {
        zw.write_range(*src, seed * 4096, n, nullptr);  // copied from a file
      } else {
        const auto bytes = pattern_bytes(n, seed);
        zw.write(bytes);
      }
      zw.end_member();
      ++seed;
    }
    zw.finish();
    out.commit();
  }

  const auto zipped = MappedFile::open(path);
  const auto all = zipped->all();
  const zip::Archive a = zip::read_archive(*zipped);
  ASSERT_EQ(a.members.size(), sizes.size());
  for (std::size_t i = 0; i < a.members.size(); ++i) {
    const auto& m = a.members[i];
    SCOPED_TRACE(m.name);
    EXPECT_EQ(m.size, sizes[i]);
    const std::byte* h = all.data() + m.local_header_offset;
    ASSERT_EQ(load_le<std::uint32_t>(h), 0x04034b50u);
    EXPECT_EQ(load_le<std::uint16_t>(h + 8), m.method);
    EXPECT_EQ(load_le<std::uint32_t>(h + 14), m.crc32);
    EXPECT_EQ(load_le<std::uint32_t>(h + 18), static_cast<std::uint32_t>(m.compressed_size));
    EXPECT_EQ(load_le<std::uint32_t>(h + 22), static_cast<std::uint32_t>(m.size));
    // The zip64 extra after the name repeats both sizes in full.
    const std::byte* x = h + 30 + load_le<std::uint16_t>(h + 26);
    ASSERT_EQ(load_le<std::uint16_t>(x), 0x0001);
    EXPECT_EQ(load_le<std::uint64_t>(x + 4), m.size);
    EXPECT_EQ(load_le<std::uint64_t>(x + 12), m.compressed_size);
    // And the data is what was written.
    std::vector<std::byte> got;
    zip::read_member(*zipped, m, [&](std::span<const std::byte> c) { got.insert(got.end(), c.begin(), c.end()); });
    const unsigned seed = static_cast<unsigned>(i + 1);
    const bool copied = m.method == zip::kStored && seed % 2 == 0;
    const auto want = copied ? std::vector<std::byte>(src->all().begin() + seed * 4096,
                                                      src->all().begin() + seed * 4096 + static_cast<std::ptrdiff_t>(sizes[i]))
                             : pattern_bytes(sizes[i], seed);
    EXPECT_TRUE(got == want);
  }
}

// Many small members copied from one file in order, stored and deflated:
// read through the output file's window (a few reads, not one per member),
// and every member's bytes and CRC-32 come out right, including members
// that cross a window's end.
TEST(ZipWriter, SmallCopiedMembersReadThroughTheWindow) {
  TempDir dir;
  const std::string source = dir.file("source.bin");
  const auto bytes = pattern_bytes(std::size_t{4} << 20, 7);
  ckpt::test::write_file_bytes(source, bytes);
  const auto src = MappedFile::open(source);
  for (const std::uint16_t method : {zip::kStored, zip::kDeflated}) {
    SCOPED_TRACE(method);
    const std::string path = dir.file("small" + std::to_string(method) + ".zip");
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (std::uint64_t at = 0, k = 0; at + 70000 < bytes.size(); ++k) {
      const std::uint64_t n = k % 50 == 49 ? 65536 : 700 + (k * 131) % 2000;
      ranges.emplace_back(at, n);
      at += n + (k % 4 == 0 ? 64 : 0);  // now and then a gap, as aligned files have
    }
    std::uint64_t reads_before = 0, reads_after = 0;
    const auto syscr = [] { return ckpt::test::read_counts().calls; };
    {
      AtomicFile out(path, false);
      zip::Writer zw(out, 1);
      reads_before = syscr();
      for (std::size_t i = 0; i < ranges.size(); ++i) {
        zw.begin_member("m" + std::to_string(i), method);
        zw.write_range(*src, ranges[i].first, ranges[i].second, nullptr);
        zw.end_member();
      }
      reads_after = syscr();
      zw.finish();
      out.commit();
    }
    EXPECT_LT(reads_after - reads_before, 40u) << ranges.size() << " members";
    const auto zipped = MappedFile::open(path);
    const zip::Archive a = zip::read_archive(*zipped);
    ASSERT_EQ(a.members.size(), ranges.size());
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      std::vector<std::byte> got;
      zip::read_member(*zipped, a.members[i], [&](std::span<const std::byte> c) { got.insert(got.end(), c.begin(), c.end()); });
      const auto from = bytes.begin() + static_cast<std::ptrdiff_t>(ranges[i].first);
      ASSERT_TRUE(std::equal(got.begin(), got.end(), from, from + static_cast<std::ptrdiff_t>(ranges[i].second)) &&
                  got.size() == ranges[i].second)
          << "member " << i;
    }
  }
}

}  // namespace
