// Listing .npz archives NumPy and Python's zipfile deflated (several levels,
// many members, every kind of npy header) gives the same tensors, data and
// errors with the prefix decoder (io/inflate_prefix.h) as with zlib alone,
// and the shapes NumPy itself reports. Corrupting the first member's
// compressed header bytes changes nothing either: same tensors or the same
// error sentence.
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/formats/npz.h"
#include "io/formats/zip.h"
#include "tests/support/sha256.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;

namespace {

struct DecoderSwitch {
  explicit DecoderSwitch(bool on) { zip::set_prefix_decoder_enabled(on); }
  ~DecoderSwitch() { zip::set_prefix_decoder_enabled(true); }
  DecoderSwitch(const DecoderSwitch&) = delete;
  DecoderSwitch& operator=(const DecoderSwitch&) = delete;
};

// Everything listing says about each tensor, its data's hash when `data`,
// or the error.
std::string listing(const std::string& path, bool decoder, bool data = true) {
  const DecoderSwitch on(decoder);
  try {
    const Checkpoint ck = npz::open(path);
    std::ostringstream out;
    for (const auto& t : ck.tensors) {
      out << t.name << " | " << name(t.dtype) << " | [";
      for (auto d : t.shape) out << d << ',';
      out << "] | " << t.nbytes << " | " << t.offset << " | " << t.layout_note;
      if (data) out << " | " << ckpt::test::sha256_hex(read_all(t));
      out << '\n';
    }
    return out.str();
  } catch (const Error& e) {
    return std::string("error: ") + e.what();
  }
}

}  // namespace

TEST(NpzPrefixDecoder, NumpyArchivesListTheSameWithAndWithoutIt) {
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  TempDir dir;
  const std::string script = R"(
import sys, zipfile, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(7)
arrays = {
  "w/conv.weight": rng.standard_normal((4, 3, 2)).astype("<f4"),
  "be": np.arange(6, dtype=">i4").reshape(2, 3),
  "be_c16": (rng.standard_normal(3) + 1j).astype(">c16"),
  "fortran": np.asfortranarray(rng.standard_normal((3, 5))),
  "zero_d": np.array(7, dtype="<i8"),
  "empty": np.zeros((0, 4), dtype="<f2"),
  "mask": rng.integers(0, 2, 9).astype(bool),
  "long_shape": np.zeros((1,) * 30, dtype="<u1"),
  "zeros": np.zeros(5000, dtype="<f4"),
  "big": rng.standard_normal(100000).astype("<f4"),
}
np.savez_compressed(f"{d}/c.npz", **arrays)
many = {f"layers.{k}.w": rng.standard_normal((16, 1 + k % 7)).astype("<f4") for k in range(300)}
np.savez_compressed(f"{d}/many.npz", **many)
for level in (1, 9):
    with zipfile.ZipFile(f"{d}/l{level}.npz", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, a in list(arrays.items()) + list(many.items())[:50]:
            with z.open(name + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, a, allow_pickle=False)
for name, a in list(arrays.items()) + list(many.items()):
    print(name, a.nbytes, ",".join(str(x) for x in a.shape) or "-")
)";
  std::string out;
  ASSERT_EQ(ckpt::test::run_python(script, {dir.path().string()}, &out), 0) << out;
  std::map<std::string, std::string> numpy_says;  // name -> "nbytes shape"
  std::istringstream lines(out);
  std::string n, bytes, shape;
  while (lines >> n >> bytes >> shape) numpy_says[n] = bytes + " " + (shape == "-" ? "" : shape + ",");

  for (const char* file : {"c.npz", "many.npz", "l1.npz", "l9.npz"}) {
    SCOPED_TRACE(file);
    const std::string with = listing(dir.file(file), true);
    EXPECT_EQ(with, listing(dir.file(file), false));
    ASSERT_EQ(with.rfind("error:", 0), std::string::npos) << with;
    const Checkpoint ck = npz::open(dir.file(file));
    for (const auto& t : ck.tensors) {
      ASSERT_TRUE(numpy_says.count(t.name)) << t.name;
      std::string dims;
      for (auto d : t.shape) dims += std::to_string(d) + ",";
      EXPECT_EQ(std::to_string(t.nbytes) + " " + dims, numpy_says[t.name]) << t.name;
    }
  }
}

TEST(NpzPrefixDecoder, CorruptHeaderBytesListTheSameWithAndWithoutIt) {
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  TempDir dir;
  ASSERT_EQ(ckpt::test::run_python("import sys, numpy as np\n"
                                   "np.savez_compressed(sys.argv[1], a=np.arange(300, dtype='<f4'), b=np.ones((2, 3)))\n",
                                   {dir.file("c.npz")}),
            0);
  const auto original = ckpt::test::read_file_bytes(dir.file("c.npz"));
  const auto archive = zip::read_archive(MemorySource(original, "c.npz"));
  ASSERT_EQ(archive.members.size(), 2u);
  const zip::Member& m = archive.members[0];
  const std::string intact = listing(dir.file("c.npz"), true, false);
  std::size_t differing = 0;
  for (std::uint64_t bit = 0; bit < std::min<std::uint64_t>(m.compressed_size, 120) * 8; bit += 3) {
    auto bytes = original;
    auto& b = bytes[m.data_offset + bit / 8];
    b = static_cast<std::byte>(std::to_integer<unsigned>(b) ^ (1u << (bit % 8)));
    const std::string path = dir.file("f.npz");
    ckpt::test::write_file_bytes(path, bytes);
    const std::string with = listing(path, true, false);
    EXPECT_EQ(with, listing(path, false, false)) << "bit " << bit;
    differing += with != intact;
  }
  EXPECT_GT(differing, 0u);  // the flips did reach the headers
}

TEST(NpzPrefixDecoder, SharedFixturesListTheSameWithAndWithoutIt) {
  if (!ckpt::test::fixtures_dir()) GTEST_SKIP() << "shared fixtures not found at ../shared/fixtures";
  std::size_t seen = 0;
  for (const char* sub : {"numpy", "mlx"}) {
    for (const auto& f : ckpt::test::fixture_files(sub, ".npz")) {
      SCOPED_TRACE(f.string());
      EXPECT_EQ(listing(f.string(), true), listing(f.string(), false));
      ++seen;
    }
  }
  EXPECT_GT(seen, 0u);
}
