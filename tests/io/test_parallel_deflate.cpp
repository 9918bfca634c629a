// Parallel deflate in the zip writer (blocks across member boundaries, the
// same bytes for any thread count, errors from workers and from sources) and
// the two inflate paths (libdeflate whole-buffer, zlib streamed on a helper
// thread) with their error sentences.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "io/atomic_file.h"
#include "io/deflate.h"
#include "io/error.h"
#include "io/formats/npz.h"
#include "io/formats/zip.h"
#include "io/parallel_deflate.h"
#include "tests/support/sha256.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;
using ::testing::AnyOf;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t B = kDeflateBlockBytes;

// Float32 weights as a model has them: normal-ish values whose low mantissa
// bits are noise (deflate saves ~7 %), with a run of zeros now and then.
std::vector<std::byte> weights(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 0.02f);
  std::vector<std::byte> b(n);
  for (std::size_t k = 0; k + 4 <= n; k += 4) {
    const float v = (k / 4) % 5000 < 300 ? 0.f : d(rng);
    std::memcpy(b.data() + k, &v, 4);
  }
  for (std::size_t k = n / 4 * 4; k < n; ++k) b[k] = static_cast<std::byte>(k * 7);
  return b;
}

struct Member {
  std::string name;
  std::vector<std::byte> data;
  bool deflate = true;
};

// Writes `members` with `threads` threads, feeding each in pieces of `piece` bytes.
std::vector<std::byte> write_zip(const TempDir& dir, const std::vector<Member>& members, unsigned threads,
                                 std::size_t piece = 1 << 20) {
  const std::string path = dir.file("t" + std::to_string(threads) + ".zip");
  {
    AtomicFile out(path, false);
    zip::Writer w(out, threads);
    for (const auto& m : members) {
      w.begin_member(m.name, m.deflate ? zip::kDeflated : zip::kStored);
      for (std::size_t pos = 0; pos < m.data.size(); pos += piece)
        w.write(std::span<const std::byte>(m.data).subspan(pos, std::min(piece, m.data.size() - pos)));
      w.end_member();
    }
    w.finish();
    out.commit();
  }
  return ckpt::test::read_file_bytes(path);
}

void expect_reads_back(const std::vector<std::byte>& image, const std::vector<Member>& members) {
  const MemorySource src(image, "mem.zip");
  const zip::Archive a = zip::read_archive(src);
  ASSERT_EQ(a.members.size(), members.size());
  for (std::size_t k = 0; k < members.size(); ++k) {
    std::vector<std::byte> got;
    zip::read_member(src, a.members[k], [&](std::span<const std::byte> c) { got.insert(got.end(), c.begin(), c.end()); });
    EXPECT_EQ(got.size(), members[k].data.size()) << members[k].name;
    EXPECT_TRUE(got == members[k].data) << members[k].name;
    EXPECT_EQ(a.members[k].method, members[k].deflate ? zip::kDeflated : zip::kStored);
  }
}

// A raw deflate stream of `data`, from zlib directly through RawDeflater.
std::vector<std::byte> deflated(std::span<const std::byte> data, int level = 1) {
  std::vector<std::byte> out;
  RawDeflater d([&](std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); }, level);
  d.feed(data);
  d.finish();
  return out;
}

std::string inflate_error(std::span<const std::byte> in, std::uint64_t size, std::optional<std::uint32_t> crc) {
  try {
    inflate_raw(in, size, crc, [](std::span<const std::byte>) {}, "x.npz", 7);
  } catch (const Error& e) {
    EXPECT_EQ(e.file(), "x.npz");
    EXPECT_EQ(e.offset(), 7u);
    return e.sentence();
  }
  return "(no error)";
}

// Sets $CKPT_THREADS (what npz::write's pool uses) for a scope.
struct Threads {
  explicit Threads(unsigned n) {
    if (const char* old = std::getenv("CKPT_THREADS")) saved = old;
    ::setenv("CKPT_THREADS", std::to_string(n).c_str(), 1);
  }
  ~Threads() {
    if (saved) ::setenv("CKPT_THREADS", saved->c_str(), 1);
    else ::unsetenv("CKPT_THREADS");
  }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;
  std::optional<std::string> saved;
};

// Restores the whole-buffer bound when a test ends, however it ends.
struct WholeLimit {
  explicit WholeLimit(std::uint64_t n) { set_whole_inflate_limit(n); }
  ~WholeLimit() { set_whole_inflate_limit(kWholeInflateBytes); }
};

bool no_temporaries(const TempDir& dir) {
  for (const auto& e : fs::directory_iterator(dir.path()))
    if (e.path().filename().string().find(".ckpt-tmp-") != std::string::npos) return false;
  return true;
}

}  // namespace

// ---- writing: block boundaries, thread counts ----

TEST(ParallelDeflate, RoundTripsAcrossBlockBoundaries) {
  TempDir dir;
  std::vector<Member> ms;
  unsigned seed = 1;
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, B - 1, B, B + 1, 3 * B + 17, 2 * B})
    ms.push_back({"m" + std::to_string(n), weights(n, seed++)});
  ms.push_back({"stored", weights(B + 5, 99), false});
  ms.push_back({"after_stored", weights(5, 98)});
  const auto one = write_zip(dir, ms, 1);
  expect_reads_back(one, ms);
  for (unsigned t : {2u, 3u, 8u}) {
    SCOPED_TRACE(t);
    EXPECT_TRUE(write_zip(dir, ms, t) == one) << "the archive depends on the thread count";
  }
  // Nor on how the caller splits its writes.
  EXPECT_TRUE(write_zip(dir, ms, 2, 7777) == one);
  EXPECT_TRUE(write_zip(dir, ms, 2, B + 3) == one);
}

TEST(ParallelDeflate, MultiBlockMemberIsOneStreamWithTheLongRatio) {
  // The dictionary priming keeps the ratio close to one uninterrupted stream.
  TempDir dir;
  std::vector<std::byte> data(4 * B);
  for (std::size_t k = 0; k < data.size(); ++k) data[k] = static_cast<std::byte>((k * k) >> 9);
  const auto image = write_zip(dir, {{"a", data}}, 2);
  const MemorySource src(image, "mem.zip");
  const auto a = zip::read_archive(src);
  ASSERT_EQ(a.members.size(), 1u);
  const auto one_stream = deflated(data, 6);
  EXPECT_LT(static_cast<double>(a.members[0].compressed_size), 1.02 * static_cast<double>(one_stream.size()) + 64);
  EXPECT_EQ(a.members[0].crc32, crc32_update(0, data));
}

TEST(ParallelDeflate, ManyTinyMembersPipelineAcrossMembers) {
  TempDir dir;
  std::vector<Member> ms;
  for (int k = 0; k < 5000; ++k) ms.push_back({"t/" + std::to_string(k) + ".npy", weights(k % 97, k), k % 13 != 0});
  const auto one = write_zip(dir, ms, 1);
  expect_reads_back(one, ms);
  EXPECT_TRUE(write_zip(dir, ms, 4) == one);
}

TEST(ParallelDeflate, NpzBytesDoNotDependOnThreads) {
  TempDir dir;
  std::vector<TensorInfo> ts;
  ts.push_back(ckpt::test::memory_tensor("big", DType::F32, {3 * 1024 * 1024 / 4 + 11}, weights((3 * 1024 * 1024 / 4 + 11) * 4, 4)));
  for (int k = 0; k < 50; ++k) ts.push_back(ckpt::test::random_tensor("small." + std::to_string(k), DType::F16, {k + 1}, k));
  std::vector<std::byte> first;
  for (unsigned t : {1u, 2u, 5u}) {
    WriteOptions opt;
    opt.compress = true;
    opt.sync = false;
    const Threads use(t);
    npz::write(dir.file("o.npz"), ts, {}, opt);
    const auto bytes = ckpt::test::read_file_bytes(dir.file("o.npz"));
    if (first.empty()) first = bytes;
    EXPECT_TRUE(bytes == first) << t << " threads";
  }
  const Checkpoint ck = npz::open(dir.file("o.npz"));
  ASSERT_EQ(ck.tensors.size(), ts.size());
  for (std::size_t k = 0; k < ts.size(); ++k) EXPECT_TRUE(read_all(ck.tensors[k]) == read_all(ts[k])) << ts[k].name;
}

TEST(ParallelDeflate, CkptThreadsSetsTheDefault) {
  const char* old = std::getenv("CKPT_THREADS");
  const std::string saved = old ? old : "";
  ::setenv("CKPT_THREADS", "3", 1);
  EXPECT_EQ(default_threads(), 3u);
  ::setenv("CKPT_THREADS", "zero", 1);
  EXPECT_GE(default_threads(), 1u);
  ::setenv("CKPT_THREADS", "0", 1);
  EXPECT_GE(default_threads(), 1u);
  if (old) ::setenv("CKPT_THREADS", saved.c_str(), 1);
  else ::unsetenv("CKPT_THREADS");
}

// ---- writing: errors ----

namespace {
// Streams `good` bytes of data, then fails as a corrupt source would.
class FailingData final : public TensorData {
 public:
  explicit FailingData(std::size_t good) : good_(weights(good, 3)) {}
  void stream(const ByteSink& sink) const override {
    for (std::size_t pos = 0; pos < good_.size(); pos += 100000)
      sink(std::span<const std::byte>(good_).subspan(pos, std::min<std::size_t>(100000, good_.size() - pos)));
    throw Error("source.safetensors", 1234, "tensor 'w' is cut short (the source file was truncated)");
  }

 private:
  std::vector<std::byte> good_;
};
}  // namespace

TEST(ParallelDeflate, SourceErrorMidMemberPropagatesAndLeavesNoTemporary) {
  for (unsigned threads : {1u, 2u, 4u}) {
    SCOPED_TRACE(threads);
    TempDir dir;
    std::vector<TensorInfo> ts;
    for (int k = 0; k < 20; ++k) ts.push_back(ckpt::test::random_tensor("ok" + std::to_string(k), DType::F32, {1000}, k));
    TensorInfo bad;
    bad.name = "w";
    bad.dtype = DType::U8;
    bad.shape = {static_cast<std::int64_t>(5 * B)};
    bad.nbytes = 5 * B;
    bad.data = std::make_shared<FailingData>(2 * B + B / 2);
    ts.push_back(bad);
    WriteOptions opt;
    opt.compress = true;
    const Threads use(threads);
    try {
      npz::write(dir.file("out.npz"), ts, {}, opt);
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.file(), "source.safetensors");
      EXPECT_EQ(e.offset(), 1234u);
      EXPECT_THAT(e.sentence(), HasSubstr("tensor 'w' is cut short (the source file was truncated)"));
    }
    EXPECT_FALSE(fs::exists(dir.file("out.npz")));
    EXPECT_TRUE(no_temporaries(dir));
  }
}

TEST(ParallelDeflate, WorkerErrorPropagatesAndLeavesNoTemporary) {
  // An impossible level makes zlib refuse, on the worker thread.
  for (unsigned threads : {1u, 2u}) {
    SCOPED_TRACE(threads);
    TempDir dir;
    const TensorInfo ts[] = {ckpt::test::random_tensor("a", DType::F32, {300000}, 1),
                             ckpt::test::random_tensor("b", DType::F32, {3}, 2)};
    WriteOptions opt;
    opt.compress = true;
    opt.compression_level = 42;
    const Threads use(threads);
    try {
      npz::write(dir.file("out.npz"), ts, {}, opt);
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_THAT(e.sentence(), HasSubstr("cannot start the deflate encoder"));
    }
    EXPECT_FALSE(fs::exists(dir.file("out.npz")));
    EXPECT_TRUE(no_temporaries(dir));
  }
}

// ---- interop: NumPy reads what we write ----

TEST(ParallelDeflate, NumpyReadsMultiBlockAndManySmallMembers) {
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  TempDir dir;
  std::vector<TensorInfo> ts;
  const std::size_t n = 3 * B / 4 + 1001;  // 3 MiB + of float32: four blocks
  ts.push_back(ckpt::test::memory_tensor("layers.0.weight", DType::F32, {static_cast<std::int64_t>(n)}, weights(n * 4, 8)));
  for (int k = 0; k < 2000; ++k) ts.push_back(ckpt::test::random_tensor("s." + std::to_string(k), DType::I16, {k % 5}, k));
  std::string expect;
  for (const auto& t : ts) expect += t.name + " " + ckpt::test::sha256_hex(read_all(t)) + "\n";
  WriteOptions opt;
  opt.compress = true;
  const Threads use(2);
  npz::write(dir.file("ours.npz"), ts, {}, opt);
  const std::string script = R"(
import sys, hashlib, zipfile, numpy as np
assert zipfile.ZipFile(sys.argv[1]).testzip() is None
z = np.load(sys.argv[1])
for k in z.files:
    print(k, hashlib.sha256(np.ascontiguousarray(z[k]).tobytes()).hexdigest())
)";
  std::string out;
  ASSERT_EQ(ckpt::test::run_python(script, {dir.file("ours.npz")}, &out), 0) << out;
  EXPECT_EQ(out, expect);
}

// ---- reading: both inflate paths, and their errors ----

TEST(ParallelInflate, BothPathsReadTheSameBytes) {
  const auto data = weights(20 << 20, 11);
  const auto z = deflated(data);
  const std::uint32_t crc = crc32_update(0, data);
  for (std::uint64_t limit : {kWholeInflateBytes, std::uint64_t{0}}) {
    SCOPED_TRACE(limit);
    WholeLimit l(limit);
    std::vector<std::byte> got;
    std::size_t calls = 0;
    inflate_raw(z, data.size(), crc, [&](std::span<const std::byte> c) {
      ++calls;
      got.insert(got.end(), c.begin(), c.end());
    }, "x", 0);
    EXPECT_TRUE(got == data);
    EXPECT_GE(calls, 5u);  // chunked either way: 4 MiB pieces
  }
}

TEST(ParallelInflate, ErrorsSayTheSameOnEveryPath) {
  // small: libdeflate, then zlib in line for the diagnosis; large: zlib on the helper thread.
  for (std::size_t n : {std::size_t{100000}, std::size_t{20} << 20}) {
    const auto data = weights(n, 5);
    const auto z = deflated(data);
    const std::uint32_t crc = crc32_update(0, data);
    for (std::uint64_t limit : {kWholeInflateBytes, std::uint64_t{0}}) {
      SCOPED_TRACE(std::to_string(n) + " bytes, whole-buffer limit " + std::to_string(limit));
      WholeLimit l(limit);
      EXPECT_EQ(inflate_error(z, n, crc), "(no error)");
      const std::span<const std::byte> cut(z.data(), z.size() * 2 / 3);
      EXPECT_THAT(inflate_error(cut, n, crc), HasSubstr("ends before the deflate stream does (truncated member)"));
      auto bad = z;
      bad[0] = std::byte{0x07};  // final block of the reserved type 3
      EXPECT_THAT(inflate_error(bad, n, crc), HasSubstr("the compressed data is corrupt (invalid block type)"));
      EXPECT_THAT(inflate_error(z, n + 8, crc),
                  HasSubstr("inflates to " + std::to_string(n) + " bytes, not the " + std::to_string(n + 8)));
      EXPECT_THAT(inflate_error(z, n - 8, crc), HasSubstr("inflates to more than the " + std::to_string(n - 8) + " bytes"));
      EXPECT_THAT(inflate_error(z, n, crc ^ 1), HasSubstr("CRC-32 mismatch: the data is corrupt"));
      EXPECT_EQ(inflate_error(z, n, std::nullopt), "(no error)");
      EXPECT_THAT(inflate_error(std::span<const std::byte>(z.data(), 10), std::uint64_t{1} << 30, crc),
                  HasSubstr(":1 maximum ratio"));
    }
  }
}

TEST(ParallelInflate, ASinkThatThrowsStopsTheHelper) {
  const auto data = weights(40 << 20, 6);
  const auto z = deflated(data);
  WholeLimit l(0);
  for (int round = 0; round < 3; ++round) {
    int calls = 0;
    EXPECT_THROW(inflate_raw(z, data.size(), std::nullopt, [&](std::span<const std::byte>) {
      if (++calls == 2) throw Error("out.safetensors", 1, "disk full");
    }, "x", 0), Error);
    EXPECT_EQ(calls, 2);
  }
  std::uint64_t total = 0;
  inflate_raw(z, data.size(), crc32_update(0, data), [&](std::span<const std::byte> c) { total += c.size(); }, "x", 0);
  EXPECT_EQ(total, data.size());
}

TEST(ParallelInflate, CorruptMembersOfOurArchivesOnBothPaths) {
  TempDir dir;
  std::vector<TensorInfo> ts;
  ts.push_back(ckpt::test::memory_tensor("big", DType::F32, {(12 << 20) / 4}, weights(12 << 20, 9)));
  ts.push_back(ckpt::test::random_tensor("small", DType::F32, {1000}, 2));
  WriteOptions opt;
  opt.compress = true;
  opt.compression_level = 0;  // stored blocks: a flipped data byte survives as a flipped byte
  npz::write(dir.file("o.npz"), ts, {}, opt);
  auto image = ckpt::test::read_file_bytes(dir.file("o.npz"));
  const MemorySource probe(image, "probe");
  const auto a = zip::read_archive(probe);
  for (const auto& m : a.members) image[m.data_offset + m.compressed_size / 2] ^= std::byte{0x10};
  const auto src = std::make_shared<MemorySource>(image, "o.npz");
  for (std::uint64_t limit : {kWholeInflateBytes, std::uint64_t{0}}) {
    WholeLimit l(limit);
    const Checkpoint ck = npz::describe(src);
    for (const auto& t : ck.tensors) {
      SCOPED_TRACE(t.name + " limit " + std::to_string(limit));
      try {
        (void)read_all(t);
        ADD_FAILURE() << "no error";
      } catch (const Error& e) {
        EXPECT_THAT(e.sentence(), HasSubstr("CRC-32 mismatch"));
      }
    }
  }
}

TEST(ParallelInflate, Crc32IsTheZipCrc) {
  const std::string s = "123456789";
  EXPECT_EQ(crc32_update(0, std::as_bytes(std::span<const char>(s))), 0xCBF43926u);
  const auto data = weights(5 << 20, 1);
  const std::span<const std::byte> all(data);
  const auto whole = crc32_update(0, all);
  EXPECT_EQ(crc32_update(crc32_update(0, all.first(12345)), all.subspan(12345)), whole);
  EXPECT_EQ(crc32_combine_any(crc32_update(0, all.first(777)), crc32_update(0, all.subspan(777)), data.size() - 777), whole);
  int ran = 0;
  EXPECT_EQ(crc32_alongside(0, all.first(1000), [&] { ++ran; }), crc32_update(0, all.first(1000)));
  const auto big = weights(5 << 20, 2);
  EXPECT_EQ(crc32_alongside(7, big, [&] { ++ran; }), crc32_update(7, big));
  EXPECT_EQ(ran, 2);
}

// The whole-stream inflate that listing uses for small members: exactly the
// bytes, or false (never a partial success) for the wrong length or damage.
TEST(InflateExact, WholeStreamOrNothing) {
  const auto data = weights(1152, 11);
  const auto z = deflated(data, 6);
  std::vector<std::byte> out(data.size());
  ASSERT_TRUE(inflate_exact(z, out));
  EXPECT_EQ(out, data);
  std::vector<std::byte> shorter(data.size() - 1), longer(data.size() + 1);
  EXPECT_FALSE(inflate_exact(z, shorter));
  EXPECT_FALSE(inflate_exact(z, longer));
  EXPECT_FALSE(inflate_exact(std::span<const std::byte>(z).first(z.size() / 2), out));
  auto bad = z;
  bad[0] = std::byte{0xFF};  // a reserved block type
  EXPECT_FALSE(inflate_exact(bad, out));
  std::vector<std::byte> none;
  EXPECT_TRUE(inflate_exact(deflated(none), none));
}
