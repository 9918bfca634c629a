// Writes that fail: every writer, failing at every stage (a full tmpfs, an
// injected failing system call), cancelled half-way, into a read-only folder,
// and over its own source. After each, the destination is either the old file
// untouched or the complete new file, the source is unmodified, no temporary
// is left in the folder, and the error says what happened.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "io/atomic_file.h"
#include "io/convert.h"
#include "io/error.h"
#include "io/metadata_edit.h"
#include "io/open.h"
#include "tests/support/sha256.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

// One writer under test: a format with the options that pick its code paths.
struct Writer {
  std::string name;
  Format format;
  std::string ext;
  WriteOptions opt;
  bool single_tensor = false;  // .npy holds one array
  bool sharded = false;        // writes several files plus an index
};

std::vector<Writer> writers() {
  std::vector<Writer> w;
  auto add = [&](std::string name, Format f, std::string ext, auto&& tweak) {
    Writer x{std::move(name), f, std::move(ext), {}};
    x.opt.sync = true;
    tweak(x);
    w.push_back(std::move(x));
  };
  add("npy", Format::Npy, ".npy", [](Writer& x) { x.single_tensor = true; });
  add("npz stored", Format::Npz, ".npz", [](Writer&) {});
  add("npz deflated", Format::Npz, ".npz", [](Writer& x) { x.opt.compress = true; });
  add("safetensors", Format::Safetensors, ".safetensors", [](Writer&) {});
  add("safetensors sharded", Format::Safetensors, ".safetensors", [](Writer& x) {
    x.opt.max_shard_bytes = 150'000;
    x.sharded = true;
  });
  add("gguf", Format::Gguf, ".gguf", [](Writer&) {});
  add("pytorch", Format::PyTorch, ".pt", [](Writer&) {});
  return w;
}

std::string file_sha(const std::string& path) { return ckpt::test::sha256_hex(ckpt::test::read_file_bytes(path)); }

std::vector<std::byte> text_bytes(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

// Every entry of a folder (hidden ones included), so a leftover temporary shows.
std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// A source checkpoint on disk: its tensors are ranges of the file (so writers
// take their kernel-copy paths), plus one tensor held in memory (the buffered
// path). About 560 KB of float32 data in five tensors.
struct Source {
  TempDir dir;
  std::string path;
  std::string sha;
  Checkpoint ck;
  std::vector<TensorInfo> tensors;

  Source() {
    path = dir.file("source.safetensors");
    std::vector<TensorInfo> ts;
    for (int k = 0; k < 4; ++k)
      ts.push_back(ckpt::test::random_tensor("layer." + std::to_string(k) + ".weight", DType::F32, {128, 256},
                                             static_cast<unsigned>(k + 1)));
    write_checkpoint(path, Format::Safetensors, ts, {{"note", MetaValue::string("source")}}, {});
    sha = file_sha(path);
    ck = open_checkpoint(path);
    tensors = ck.tensors;
    tensors.push_back(ckpt::test::random_tensor("extra.bias", DType::F32, {3000}, 9));
  }
  std::vector<TensorInfo> for_writer(const Writer& w) const {
    if (w.single_tensor) return {tensors.front()};
    return tensors;
  }
};

// The complete new file: every tensor reads back with the bytes written.
void expect_complete(const std::string& dest, const std::vector<TensorInfo>& expected, const Writer& w) {
  const std::string open_path =
      w.sharded ? dest.substr(0, dest.size() - std::string(".safetensors").size()) + ".safetensors.index.json" : dest;
  const Checkpoint back = open_checkpoint(open_path);
  ASSERT_EQ(back.tensors.size(), expected.size()) << w.name;
  std::map<std::string, const TensorInfo*> by_name;
  for (const auto& t : back.tensors) by_name[t.name] = &t;
  for (const auto& t : expected) {
    const std::string key = w.single_tensor ? std::string() : t.name;
    ASSERT_TRUE(by_name.count(key)) << w.name << ": " << t.name;
    EXPECT_EQ(read_all(*by_name[key]), read_all(t)) << w.name << ": " << t.name;
  }
}

const TensorInfo& tensor_named(const Checkpoint& ck, const std::string& name) {
  for (const auto& t : ck.tensors)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor named " + name);
}

// Resets the fault seam even when an assertion returns early.
struct FaultGuard {
  ~FaultGuard() { fault::disarm(); }
};

const char* op_name(fault::Op op) {
  switch (op) {
    case fault::Op::Create: return "create";
    case fault::Op::Write: return "write";
    case fault::Op::CopyRange: return "copy_file_range";
    case fault::Op::Sync: return "fsync";
    case fault::Op::Close: return "close";
    case fault::Op::Rename: return "rename";
  }
  return "?";
}

// The sentence AtomicFile gives for each failing call.
const char* op_sentence(fault::Op op) {
  switch (op) {
    case fault::Op::Create: return "cannot create a temporary file beside the destination";
    case fault::Op::Write: return "cannot write the output file";
    case fault::Op::CopyRange: return "cannot copy into the output file";
    case fault::Op::Sync: return "cannot flush the output file to disk";
    case fault::Op::Close: return "cannot close the output file";
    case fault::Op::Rename: return "cannot move the finished file into place";
  }
  return "?";
}

constexpr fault::Op kOps[] = {fault::Op::Create, fault::Op::Write, fault::Op::CopyRange,
                              fault::Op::Sync,   fault::Op::Close, fault::Op::Rename};

// A tmpfs of `size` mounted on a fresh folder for the test's lifetime, or
// nothing when this process may not mount (not root, no CAP_SYS_ADMIN).
class Tmpfs {
 public:
  explicit Tmpfs(const std::string& size) {
    if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, ("size=" + size).c_str()) == 0)
      mounted_ = true;
    else
      why_ = std::strerror(errno);
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;
  [[nodiscard]] bool mounted() const { return mounted_; }
  [[nodiscard]] const std::string& why() const { return why_; }
  [[nodiscard]] const fs::path& path() const { return dir_.path(); }

 private:
  TempDir dir_;
  bool mounted_ = false;
  std::string why_;
};

std::uint64_t free_bytes(const fs::path& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

// Fills `dir` until about `leave` bytes are free.
void fill_leaving(const fs::path& dir, std::uint64_t leave) {
  const std::uint64_t free = free_bytes(dir);
  if (free <= leave) return;
  const int fd = ::open((dir / "filler").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::posix_fallocate(fd, 0, static_cast<off_t>(free - leave)), 0);
  ::close(fd);
}

}  // namespace

// (a) A 1 MiB tmpfs: the disk fills up at different points of each write
// (header, a tensor, the zip directory, the index). Each attempt either
// fails with ENOSPC leaving the old destination, or succeeds completely.
TEST(WriteFaults, FullDiskAtEveryPointOfEveryWriter) {
  const Source src;
  for (const auto& w : writers()) {
    std::size_t failed = 0, succeeded = 0;
    for (std::uint64_t leave : {std::uint64_t{0}, std::uint64_t{4} << 10, std::uint64_t{64} << 10,
                                std::uint64_t{200} << 10, std::uint64_t{400} << 10, std::uint64_t{520} << 10,
                                std::uint64_t{900} << 10}) {
      Tmpfs fs_small("1m");
      if (!fs_small.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << fs_small.why() << "); run as root to test a full disk";
      const fs::path dir = fs_small.path();
      const std::string dest = (dir / ("out" + w.ext)).string();
      const bool has_old = !w.sharded;
      const auto old = text_bytes("the previous file");
      if (has_old) ckpt::test::write_file_bytes(dest, old);
      fill_leaving(dir, leave);
      const auto before = listing(dir);
      const auto tensors = src.for_writer(w);
      std::string error;
      try {
        write_checkpoint(dest, w.format, tensors, {}, w.opt);
      } catch (const Error& e) {
        error = e.sentence();
      }
      SCOPED_TRACE(w.name + ", " + std::to_string(leave) + " bytes free");
      if (error.empty()) {
        ++succeeded;
        fs::remove(dir / "filler");
        expect_complete(dest, tensors, w);
      } else {
        ++failed;
        EXPECT_THAT(error, HasSubstr("No space left on device"));
        EXPECT_THAT(error, HasSubstr("the destination was not changed"));
        EXPECT_EQ(listing(dir), before) << "a temporary or partial file was left behind";
        if (has_old) {
          EXPECT_EQ(ckpt::test::read_file_bytes(dest), old);
        }
      }
      EXPECT_EQ(file_sha(src.path), src.sha);
    }
    EXPECT_GT(failed, 0u) << w.name;
    EXPECT_GT(succeeded, 0u) << w.name;
  }
}

// (a) The same with the source inside the full filesystem, where the kernel
// copy (copy_file_range) itself runs out of room.
TEST(WriteFaults, FullDiskDuringKernelCopy) {
  Tmpfs fs_small("1m");
  if (!fs_small.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << fs_small.why() << "); run as root to test a full disk";
  const fs::path dir = fs_small.path();
  const std::string source = (dir / "source.safetensors").string();
  const std::vector<TensorInfo> ts{ckpt::test::random_tensor("a", DType::F32, {256, 256}, 3),
                                   ckpt::test::random_tensor("b", DType::F32, {256, 256}, 4)};
  write_checkpoint(source, Format::Safetensors, ts, {}, {});
  const std::string sha = file_sha(source);
  const Checkpoint ck = open_checkpoint(source);
  const std::string dest = (dir / "copy.gguf").string();
  ckpt::test::write_file_bytes(dest, text_bytes("old"));
  const auto before = listing(dir);
  try {
    write_checkpoint(dest, Format::Gguf, ck.tensors, {}, {});
    FAIL() << "a 1 MiB filesystem holding 512 KiB took another 512 KiB";
  } catch (const Error& e) {
    EXPECT_THAT(e.sentence(), HasSubstr("No space left on device"));
    EXPECT_THAT(e.sentence(), HasSubstr("the destination was not changed"));
  }
  EXPECT_EQ(listing(dir), before);
  EXPECT_EQ(ckpt::test::read_file_bytes(dest), text_bytes("old"));
  EXPECT_EQ(file_sha(source), sha);
}

// Tensor data not in the page cache goes through copy_file_range (the
// kernel's read-ahead then drives a cold disk); cached data is written from
// the mapping. Both paths give the same file, and a failing kernel copy is
// reported like any other write error.
TEST(WriteFaults, UncachedSourceGoesThroughTheKernelCopy) {
  FaultGuard guard;
  TempDir dir;
  const std::string source = dir.file("source.safetensors");
  const std::vector<TensorInfo> ts{ckpt::test::random_tensor("a", DType::F32, {1024, 1024}, 3),
                                   ckpt::test::random_tensor("b", DType::F32, {700, 1000}, 4)};
  write_checkpoint(source, Format::Safetensors, ts, {}, {});
  const auto evict = [&] {
    const int fd = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  };
  const std::string dest = dir.file("copy.gguf");
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "clean" : "failing copy_file_range");
    evict();
    const Checkpoint ck = open_checkpoint(source);
    if (round == 0) {
      fault::disarm();
      write_checkpoint(dest, Format::Gguf, ck.tensors, {}, {});
      if (fault::calls(fault::Op::CopyRange) == 0)
        GTEST_SKIP() << "this filesystem kept the source in the page cache after POSIX_FADV_DONTNEED (tmpfs?)";
      const Checkpoint out = open_checkpoint(dest);
      ASSERT_EQ(out.tensors.size(), ts.size());
      for (std::size_t i = 0; i < ts.size(); ++i) EXPECT_EQ(read_all(tensor_named(out, ts[i].name)), read_all(ts[i]));
      std::filesystem::remove(dest);
    } else {
      ckpt::test::write_file_bytes(dest, text_bytes("old"));
      fault::arm(fault::Op::CopyRange, 1, EIO);
      try {
        write_checkpoint(dest, Format::Gguf, ck.tensors, {}, {});
        ADD_FAILURE() << "the write succeeded";
      } catch (const Error& e) {
        EXPECT_THAT(e.sentence(), HasSubstr("cannot copy into the output file"));
        EXPECT_THAT(e.sentence(), HasSubstr(std::strerror(EIO)));
        EXPECT_THAT(e.sentence(), HasSubstr("the destination was not changed"));
      }
      fault::disarm();
      EXPECT_EQ(ckpt::test::read_file_bytes(dest), text_bytes("old"));
    }
  }
}

// Ranges of 64 KiB or less are read into the write buffer (pread), larger
// ones copied: files of many tensors around that size and around the
// buffer's 8 MiB come out exact in every format, and a source cut short
// after opening is an error, not a crash.
TEST(WriteFaults, SmallTensorsAreReadIntoTheBuffer) {
  TempDir dir;
  const std::string source = dir.file("source.safetensors");
  std::vector<TensorInfo> ts;
  unsigned seed = 10;
  for (std::int64_t n : {0, 1, 255, 16383, 16384, 16385, 200000, 3, 16384, 1 << 20, 7})
    ts.push_back(ckpt::test::random_tensor("t" + std::to_string(ts.size()), DType::F32, {n}, seed++));
  for (int i = 0; i < 300; ++i)  // 300 × 40 KiB: the buffer fills and flushes between them
    ts.push_back(ckpt::test::random_tensor("s" + std::to_string(i), DType::F32, {10240}, seed++));
  write_checkpoint(source, Format::Safetensors, ts, {}, {});
  const Checkpoint ck = open_checkpoint(source);
  for (const auto& [format, ext] : {std::pair{Format::Gguf, ".gguf"}, std::pair{Format::Npz, ".npz"},
                                    std::pair{Format::PyTorch, ".pt"}, std::pair{Format::Safetensors, ".safetensors"}}) {
    const std::string dest = dir.file(std::string("copy") + ext);
    write_checkpoint(dest, format, ck.tensors, {}, {});
    const Checkpoint out = open_checkpoint(dest);
    ASSERT_EQ(out.tensors.size(), ts.size()) << ext;
    for (const auto& t : ts) EXPECT_EQ(read_all(tensor_named(out, t.name)), read_all(t)) << ext << " " << t.name;
  }
  // Cut the source inside the small tensors' region.
  ASSERT_EQ(::truncate(source.c_str(), static_cast<off_t>(std::filesystem::file_size(source) / 2)), 0);
  try {
    write_checkpoint(dir.file("cut.gguf"), Format::Gguf, ck.tensors, {}, {});
    ADD_FAILURE() << "the write succeeded";
  } catch (const Error& e) {
    EXPECT_THAT(e.sentence(), HasSubstr("the file ended while reading"));
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("cut.gguf")));
}

// (b) An injected failure of each system call an AtomicFile makes, at each
// of its calls in turn (the 1st write, the 2nd write, ... the rename).
TEST(WriteFaults, InjectedFailureAtEveryCallOfEveryWriter) {
  FaultGuard guard;
  const Source src;
  std::uint64_t injected = 0;
  for (const auto& w : writers()) {
    TempDir dir;
    const std::string dest = dir.file("out" + w.ext);
    const auto tensors = src.for_writer(w);
    // A clean run counts the calls each stage makes.
    fault::disarm();
    write_checkpoint(dest, w.format, tensors, {}, w.opt);
    std::map<fault::Op, std::uint64_t> calls;
    for (auto op : kOps) calls[op] = fault::calls(op);
    EXPECT_GE(calls[fault::Op::Create], 1u) << w.name;
    EXPECT_GE(calls[fault::Op::Rename], 1u) << w.name;
    for (const auto& f : listing(dir.path())) fs::remove(dir.path() / f);

    const auto old = text_bytes("the previous file");
    for (auto op : kOps) {
      for (std::uint64_t n = 1; n <= calls[op]; ++n) {
        SCOPED_TRACE(w.name + ": " + op_name(op) + " call " + std::to_string(n) + " of " + std::to_string(calls[op]));
        if (!w.sharded) ckpt::test::write_file_bytes(dest, old);
        const auto before = listing(dir.path());
        fault::arm(op, n, EIO);
        ++injected;
        try {
          write_checkpoint(dest, w.format, tensors, {}, w.opt);
          ADD_FAILURE() << "the write succeeded";
        } catch (const Error& e) {
          EXPECT_THAT(e.sentence(), HasSubstr(op_sentence(op)));
          EXPECT_THAT(e.sentence(), HasSubstr(std::strerror(EIO)));
          EXPECT_THAT(e.sentence(), HasSubstr("the destination was not changed"));
        }
        fault::disarm();
        EXPECT_EQ(listing(dir.path()), before) << "a temporary or partial file was left behind";
        if (!w.sharded) {
          EXPECT_EQ(ckpt::test::read_file_bytes(dest), old);
        }
        EXPECT_EQ(file_sha(src.path), src.sha);
      }
    }
    // After all that, the same write still works.
    write_checkpoint(dest, w.format, tensors, {}, w.opt);
    expect_complete(dest, tensors, w);
  }
  RecordProperty("injected_failures", std::to_string(injected));
}

// (b) Saving edited metadata over the open file (the one write whose
// destination is its own source): a failure anywhere leaves the file as it was.
TEST(WriteFaults, InjectedFailureWhileSavingMetadataOverTheSource) {
  FaultGuard guard;
  for (Format format : {Format::Safetensors, Format::Gguf}) {
    TempDir dir;
    const std::string path = dir.file(format == Format::Gguf ? "m.gguf" : "m.safetensors");
    const std::vector<TensorInfo> ts{ckpt::test::random_tensor("w", DType::F32, {64, 64}, 5),
                                     ckpt::test::random_tensor("b", DType::F32, {64}, 6)};
    write_checkpoint(path, format, ts, {{"name", MetaValue::string("before")}}, {});
    const std::string sha = file_sha(path);
    const Checkpoint ck = open_checkpoint(path);
    Metadata edited = ck.metadata;
    for (auto& e : edited)
      if (e.key == "name") e.value = MetaValue::string("after");
    const auto before = listing(dir.path());
    for (auto op : kOps) {
      SCOPED_TRACE(std::string(format_name(format)) + ": " + op_name(op));
      fault::arm(op, 1, ENOSPC);
      bool failed = false;
      try {
        save_with_metadata(ck, edited, path, {});
      } catch (const Error& e) {
        failed = true;
        EXPECT_THAT(e.sentence(), HasSubstr(std::strerror(ENOSPC)));
      }
      fault::disarm();
      if (op == fault::Op::CopyRange && !failed) {
        // The data was cached, so it was written from the mapping and no
        // copy_file_range was made: the save went through. Put the original back.
        write_checkpoint(path, format, ts, {{"name", MetaValue::string("before")}}, {});
        ASSERT_EQ(file_sha(path), sha);
        continue;
      }
      EXPECT_TRUE(failed);
      EXPECT_EQ(file_sha(path), sha);
      EXPECT_EQ(listing(dir.path()), before);
    }
    // And the open checkpoint still reads.
    EXPECT_EQ(read_all(tensor_named(ck, "w")), read_all(ts[0]));
  }
}

// (c) A conversion cancelled when half the bytes are written.
TEST(WriteFaults, CancelledAtHalfway) {
  const Source src;
  for (const auto& w : writers()) {
    SCOPED_TRACE(w.name);
    TempDir dir;
    const std::string dest = dir.file("out" + w.ext);
    const auto old = text_bytes("the previous file");
    if (!w.sharded) ckpt::test::write_file_bytes(dest, old);
    const auto before = listing(dir.path());
    Progress last;
    WriteOptions opt = w.opt;
    opt.on_progress = [&](const Progress& p) { last = p; };
    opt.cancelled = [&] { return last.bytes_total > 0 && last.bytes_done * 2 >= last.bytes_total; };
    // Progress comes per tensor and per 4 MiB chunk: one array needs a few chunks.
    const auto tensors = w.single_tensor
                             ? std::vector<TensorInfo>{ckpt::test::random_tensor("big", DType::F32, {3, 1 << 20}, 4)}
                             : src.for_writer(w);
    try {
      write_checkpoint(dest, w.format, tensors, {}, opt);
      ADD_FAILURE() << "the write was not cancelled";
    } catch (const Error& e) {
      EXPECT_THAT(e.sentence(), HasSubstr("cancelled"));
    }
    EXPECT_GT(last.bytes_done, 0u);
    EXPECT_LT(last.bytes_done, last.bytes_total);
    EXPECT_EQ(listing(dir.path()), before);
    if (!w.sharded) {
      EXPECT_EQ(ckpt::test::read_file_bytes(dest), old);
    }
    EXPECT_EQ(file_sha(src.path), src.sha);
  }
}

// (c) The same through io::convert (what `ckpt convert` and the export dialog run), with a cast.
TEST(WriteFaults, ConversionCancelledAtHalfway) {
  const Source src;
  TempDir dir;
  const std::string dest = dir.file("out.gguf");
  Progress last;
  WriteOptions opt;
  opt.on_progress = [&](const Progress& p) { last = p; };
  opt.cancelled = [&] { return last.bytes_total > 0 && last.bytes_done * 2 >= last.bytes_total; };
  try {
    (void)convert(src.ck, dest, Format::Gguf, DType::F16, opt);
    FAIL() << "the conversion was not cancelled";
  } catch (const Error& e) {
    EXPECT_THAT(e.sentence(), HasSubstr("cancelled"));
  }
  EXPECT_GE(last.bytes_done * 2, last.bytes_total);
  EXPECT_LT(last.bytes_done, last.bytes_total);
  EXPECT_TRUE(fs::is_empty(dir.path()));
  EXPECT_EQ(file_sha(src.path), src.sha);
}

// (d) A read-only destination folder. Root ignores permission bits, so as
// root the folder is made read-only by a read-only bind mount of itself.
TEST(WriteFaults, ReadOnlyDestinationFolder) {
  const Source src;
  TempDir dir;
  const std::string dest = dir.file("out.safetensors");
  const auto old = text_bytes("the previous file");
  ckpt::test::write_file_bytes(dest, old);
  bool bound = false;
  if (::geteuid() == 0) {
    if (::mount(dir.path().c_str(), dir.path().c_str(), nullptr, MS_BIND, nullptr) != 0)
      GTEST_SKIP() << "running as root, and cannot bind-mount the folder read-only (" << std::strerror(errno)
                   << "): root writes through permission bits, so there is nothing to test";
    bound = true;
    if (::mount(nullptr, dir.path().c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      const std::string why = std::strerror(errno);
      ::umount2(dir.path().c_str(), MNT_DETACH);
      GTEST_SKIP() << "cannot remount the bind mount read-only (" << why << ")";
    }
  } else {
    fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                    fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  }
  const auto before = listing(dir.path());
  std::string error;
  try {
    write_checkpoint(dest, Format::Safetensors, src.tensors, {}, {});
  } catch (const Error& e) {
    error = e.sentence();
  }
  const auto after = listing(dir.path());
  const auto bytes_after = ckpt::test::read_file_bytes(dest);
  if (bound) ::umount2(dir.path().c_str(), MNT_DETACH);
  else fs::permissions(dir.path(), fs::perms::owner_all);
  EXPECT_THAT(error, HasSubstr("cannot create a temporary file beside the destination"));
  EXPECT_THAT(error, HasSubstr(bound ? std::strerror(EROFS) : std::strerror(EACCES)));
  EXPECT_THAT(error, HasSubstr("the destination was not changed"));
  EXPECT_EQ(after, before);
  EXPECT_EQ(bytes_after, old);
  EXPECT_EQ(file_sha(src.path), src.sha);
}

// (e) The destination is the source, by its path, a hard link or a symlink:
// refused before anything is written, the source intact.
TEST(WriteFaults, DestinationEqualToSource) {
  for (const auto& w : writers()) {
    if (w.sharded) continue;  // shards are written beside the named path, never over it
    SCOPED_TRACE(w.name);
    TempDir dir;
    const std::string path = dir.file("model" + w.ext);
    std::vector<TensorInfo> ts{ckpt::test::random_tensor("w", DType::F32, {32, 32}, 7)};
    if (!w.single_tensor) ts.push_back(ckpt::test::random_tensor("b", DType::F32, {32}, 8));
    write_checkpoint(path, w.format, ts, {}, w.opt);
    fs::create_hard_link(path, dir.file("hard" + w.ext));
    fs::create_symlink(path, dir.file("soft" + w.ext));
    const std::string sha = file_sha(path);
    const Checkpoint ck = open_checkpoint(path);
    const auto before = listing(dir.path());
    for (const std::string& dest : {path, dir.file("hard" + w.ext), dir.file("soft" + w.ext)}) {
      try {
        write_checkpoint(dest, w.format, ck.tensors, ck.metadata, w.opt);
        ADD_FAILURE() << "wrote over its own source through " << dest;
      } catch (const Error& e) {
        EXPECT_THAT(e.sentence(), HasSubstr("refusing to write over"));
        EXPECT_THAT(e.sentence(), HasSubstr("which is being read"));
      }
      EXPECT_EQ(file_sha(path), sha);
      EXPECT_EQ(listing(dir.path()), before);
    }
    EXPECT_EQ(read_all(tensor_named(ck, w.single_tensor ? "" : "w")), read_all(ts[0]));
  }
}

// The temporary is hidden, beside the destination and names its writer's
// pid; a new writer of the same destination removes those whose process is
// gone (killed mid-write) and nothing else.
TEST(WriteFaults, StaleTemporariesOfDeadWritersAreRemoved) {
  TempDir dir;
  const std::string dest = dir.file("out.npz");
  const std::string prefix = temp_prefix(dest);
  EXPECT_EQ(prefix, dir.file(".out.npz.ckpt-tmp-"));

  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  const pid_t live = ::fork();
  if (live == 0) {
    ::pause();
    ::_exit(0);
  }
  ASSERT_GT(live, 0);

  const std::string stale = prefix + std::to_string(dead) + "-a1B2c3";
  const std::string running = prefix + std::to_string(live) + "-a1B2c3";
  const std::string other_dest = temp_prefix(dir.file("other.npz")) + std::to_string(dead) + "-a1B2c3";
  const std::string not_ours = prefix + "notapid-a1B2c3";
  const std::string old_style = dest + ".tmp-a1B2c3";
  for (const auto& p : {stale, running, other_dest, not_ours, old_style}) ckpt::test::write_file_bytes(p, text_bytes("x"));

  {
    AtomicFile f(dest);
    const std::string temp = fs::path(f.temp_path()).filename().string();
    EXPECT_EQ(fs::path(f.temp_path()).parent_path(), dir.path());
    EXPECT_EQ(temp.rfind(".out.npz.ckpt-tmp-" + std::to_string(::getpid()) + "-", 0), 0u) << temp;
    EXPECT_FALSE(fs::exists(stale));
    f.write(text_bytes("new"));
    f.commit();
  }
  ::kill(live, SIGKILL);
  ::waitpid(live, nullptr, 0);
  EXPECT_EQ(listing(dir.path()),
            (std::set<std::string>{"out.npz", fs::path(running).filename().string(), fs::path(other_dest).filename().string(),
                                   fs::path(not_ours).filename().string(), fs::path(old_style).filename().string()}));
  EXPECT_EQ(ckpt::test::read_file_bytes(dest), text_bytes("new"));
}

// A destination name near the file-name limit still gets a temporary.
TEST(WriteFaults, LongDestinationNames) {
  TempDir dir;
  const std::string dest = dir.file(std::string(250, 'n') + ".npy");
  const std::vector<TensorInfo> ts{ckpt::test::random_tensor("w", DType::F32, {4}, 1)};
  write_checkpoint(dest, Format::Npy, ts, {}, {});
  EXPECT_EQ(listing(dir.path()), (std::set<std::string>{fs::path(dest).filename().string()}));
}
