// Archives past the 4 GiB limits of plain zip: a member larger than 4 GiB and
// a member whose local header starts past 4 GiB, written by us and read back
// by us and by NumPy. Needs about 4.4 GB of free space in the temp folder.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "io/open.h"
#include "tests/support/support.h"

using namespace ckpt;

namespace {

// Streams `n` bytes of a repeating pattern without holding them.
class PatternData final : public io::TensorData {
 public:
  explicit PatternData(std::uint64_t n) : n_(n) {}
  void stream(const io::ByteSink& sink) const override {
    std::vector<std::byte> chunk(io::kChunkBytes);
    for (std::size_t k = 0; k < chunk.size(); ++k) chunk[k] = std::byte(static_cast<unsigned char>(k % 251));
    for (std::uint64_t done = 0; done < n_;) {
      const auto step = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), n_ - done));
      sink(std::span<const std::byte>(chunk.data(), step));
      done += step;
    }
  }

 private:
  std::uint64_t n_;
};

}  // namespace

TEST(Large, NpzMemberOver4GiB) {
  test::TempDir dir;
  const auto space = std::filesystem::space(dir.path());
  if (space.available < 9'000'000'000ull) GTEST_SKIP() << "needs 9 GB free in the temp folder, has " << space.available;
  const std::uint64_t big = (std::uint64_t{1} << 32) + 12345;  // past 4 GiB
  io::TensorInfo t;
  t.name = "big";
  t.dtype = io::DType::U8;
  t.shape = {static_cast<std::int64_t>(big)};
  t.nbytes = big;
  t.data = std::make_shared<PatternData>(big);
  std::vector<io::TensorInfo> tensors{t, test::random_tensor("after", io::DType::F32, {3, 4}, 7)};
  const std::string p = dir.file("large.npz");
  io::write_checkpoint(p, io::Format::Npz, tensors, {}, {});
  EXPECT_GT(std::filesystem::file_size(p), big);

  const auto ck = io::open_checkpoint(p);
  ASSERT_EQ(ck.tensors.size(), 2u);
  EXPECT_EQ(ck.tensors[0].nbytes, big);
  EXPECT_GT(ck.tensors[1].offset, std::uint64_t{1} << 32);
  EXPECT_EQ(io::read_all(ck.tensors[1]), io::read_all(tensors[1]));
  // The big member's bytes, CRC-checked while streamed.
  std::uint64_t seen = 0;
  bool pattern_ok = true;
  ck.tensors[0].data->stream([&](std::span<const std::byte> b) {
    if (b.size() > 0 && b[0] != std::byte(static_cast<unsigned char>((seen % io::kChunkBytes) % 251))) pattern_ok = false;
    seen += b.size();
  });
  EXPECT_EQ(seen, big);
  EXPECT_TRUE(pattern_ok);

  if (!test::have_python_numpy()) GTEST_SKIP() << "Debian python3-numpy is not installed; NumPy half of the check skipped";
  std::string out;
  const int rc = test::run_python(
      "import sys, zipfile, numpy as np\n"
      "z = zipfile.ZipFile(sys.argv[1])\n"
      "info = {i.filename: i for i in z.infolist()}\n"
      "assert info['big.npy'].file_size == (1 << 32) + 12345 + 128, info['big.npy'].file_size\n"
      "assert info['after.npy'].header_offset > (1 << 32)\n"
      "with z.open('big.npy') as f:\n"
      "    v = np.lib.format.read_magic(f); shape, fo, dt = np.lib.format._read_array_header(f, v)\n"
      "    assert shape == ((1 << 32) + 12345,) and dt == np.uint8, (shape, dt)\n"
      "a = np.load(sys.argv[1])['after']\n"
      "assert a.shape == (3, 4) and a.dtype == np.float32\n"
      "print(float(a.sum()))\n",
      {p}, &out);
  EXPECT_EQ(rc, 0) << out;
}
