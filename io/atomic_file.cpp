#include "io/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "io/error.h"

namespace ckpt::io {

namespace {
// 2 MiB: every byte of the buffer is faulted in (and zeroed by the kernel)
// once per file written, which on these virtual machines is slow; 8 MiB cost
// converting 50,000 small tensors 8-14 % of its time and 6-8 MiB of RSS,
// and bought nothing for large tensors, which bypass the buffer.
constexpr std::size_t kBufferBytes = std::size_t{2} << 20;
// Where write() calls end: 4 KiB past each 2 MiB boundary of the file, so
// no call covers a whole aligned 2 MiB of it. The page cache sizes the
// folios it makes for a write by the write's length and file offset: a
// 2 MiB write at a 2 MiB boundary takes a 2 MiB block of memory, one 4 KiB
// past it takes blocks of 4 KiB up to 1 MiB. On a virtual machine that
// hands free memory back to its host in 2 MiB blocks (free page reporting),
// the free 2 MiB blocks are the ones handed back, and each of their pages
// then waits for the host when first written. 2 GB written 4 s after the
// last run: `dd bs=2M` 4.8-5.0 s, the same after a first 4 KiB 0.38-0.57 s.
// Converting a `.pt` whose data lay so that our 2 MiB writes fell on 2 MiB
// boundaries took 4.6-5.0 s against 0.47-0.53 s for the `.npy` of the same
// array, whose writes did not. Capping writes at 512 KiB avoided it too but
// cost 9 % in runs back to back (0.45 -> 0.49 s); the offset costs a call.
constexpr std::uint64_t kWriteSpan = std::uint64_t{2} << 20;
constexpr std::uint64_t kWriteShift = 4096;
// Room for ".", ".ckpt-tmp-", a pid and "-XXXXXX" within NAME_MAX (255).
constexpr std::size_t kMaxTempStem = 200;
constexpr std::string_view kTempTag = ".ckpt-tmp-";
constexpr const char* kUnchanged = "; the destination was not changed";
}  // namespace

namespace fault {
namespace {
struct State {
  std::atomic<bool> armed{false};
  std::atomic<int> op{0};
  std::atomic<std::uint64_t> nth{0};
  std::atomic<int> err{0};
  std::array<std::atomic<std::uint64_t>, kOpCount> calls{};
};
State& state() {
  static State s;
  return s;
}
void reset_counts(State& s) {
  for (auto& c : s.calls) c.store(0, std::memory_order_relaxed);
}

// True when this call of `op` is the one a test asked to fail (errno is then set).
bool inject(Op op) {
  State& s = state();
  const auto n = s.calls[static_cast<std::size_t>(op)].fetch_add(1, std::memory_order_relaxed) + 1;
  if (!s.armed.load(std::memory_order_acquire)) return false;
  if (s.op.load(std::memory_order_relaxed) != static_cast<int>(op) || s.nth.load(std::memory_order_relaxed) != n) return false;
  errno = s.err.load(std::memory_order_relaxed);
  return true;
}
}  // namespace

void arm(Op op, std::uint64_t nth, int err) {
  State& s = state();
  s.armed.store(false, std::memory_order_release);
  reset_counts(s);
  s.op.store(static_cast<int>(op), std::memory_order_relaxed);
  s.nth.store(nth, std::memory_order_relaxed);
  s.err.store(err, std::memory_order_relaxed);
  s.armed.store(true, std::memory_order_release);
}

void disarm() {
  State& s = state();
  s.armed.store(false, std::memory_order_release);
  reset_counts(s);
}

std::uint64_t calls(Op op) { return state().calls[static_cast<std::size_t>(op)].load(std::memory_order_relaxed); }
}  // namespace fault

std::string temp_prefix(const std::string& destination) {
  const std::filesystem::path p(destination);
  std::string name = p.filename().string();
  if (name.size() > kMaxTempStem) name.resize(kMaxTempStem);
  return (p.parent_path() / ("." + name + std::string(kTempTag))).string();
}

namespace {

// The pid in a temporary's name after its prefix ("<pid>-XXXXXX"), or 0 when
// the rest is not exactly that shape (then it is not one of ours).
pid_t temp_owner(std::string_view rest) {
  const auto dash = rest.find('-');
  if (dash == 0 || dash == std::string_view::npos || dash > 9 || rest.size() != dash + 7) return 0;
  pid_t pid = 0;
  for (std::size_t k = 0; k < dash; ++k) {
    if (rest[k] < '0' || rest[k] > '9') return 0;
    pid = pid * 10 + (rest[k] - '0');
  }
  for (std::size_t k = dash + 1; k < rest.size(); ++k)
    if (!std::isalnum(static_cast<unsigned char>(rest[k]))) return 0;
  return pid;
}

// Removes temporaries of the same destination left by processes that no
// longer exist (killed mid-write). A live process's temporary, and any whose
// owner cannot be asked (EPERM), is left alone.
void remove_stale_temps(const std::string& prefix_path) {
  const std::filesystem::path pp(prefix_path);
  const std::string folder = pp.parent_path().empty() ? std::string(".") : pp.parent_path().string();
  const std::string prefix = pp.filename().string();
  DIR* d = ::opendir(folder.c_str());
  if (!d) return;
  const pid_t self = ::getpid();
  while (const dirent* e = ::readdir(d)) {
    const std::string_view n(e->d_name);
    if (n.size() <= prefix.size() || n.compare(0, prefix.size(), prefix) != 0) continue;
    const pid_t pid = temp_owner(n.substr(prefix.size()));
    if (pid <= 0 || pid == self) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
    ::unlinkat(::dirfd(d), e->d_name, 0);
  }
  ::closedir(d);
}

}  // namespace

AtomicFile::AtomicFile(std::string destination, bool sync, std::uint32_t mode) : dest_(std::move(destination)), sync_(sync) {
  struct stat st {};
  if (::stat(dest_.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw Error(dest_, kNoOffset, "the destination is a folder; give a file name");
  // The temporary lives in the destination's folder so the final rename is atomic.
  const std::string prefix = temp_prefix(dest_);
  remove_stale_temps(prefix);
  std::string tmpl = prefix + std::to_string(::getpid()) + "-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  fd_ = fault::inject(fault::Op::Create) ? -1 : ::mkostemp(name.data(), O_CLOEXEC);
  if (fd_ < 0)
    throw Error(dest_, kNoOffset, std::string("cannot create a temporary file beside the destination: ") + std::strerror(errno) +
                                      kUnchanged);
  temp_ = name.data();
  ::fchmod(fd_, static_cast<mode_t>(mode & 07777));
  buf_.reserve(kBufferBytes);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

void AtomicFile::fail(const std::string& what) const {
  throw Error(dest_, pos_, what + ": " + std::strerror(errno) + kUnchanged);
}

std::uint64_t write_call_end(std::uint64_t at) noexcept {
  return (at + kWriteSpan - kWriteShift) / kWriteSpan * kWriteSpan + kWriteShift;
}

void AtomicFile::write_raw(std::span<const std::byte> bytes, std::uint64_t at) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const std::uint64_t here = at + done;
    const auto piece = static_cast<std::size_t>(std::min<std::uint64_t>(write_call_end(here) - here, bytes.size() - done));
    const ssize_t n = fault::inject(fault::Op::Write) ? -1 : ::write(fd_, bytes.data() + done, piece);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write the output file");
    }
    done += static_cast<std::size_t>(n);
  }
}

void AtomicFile::flush() {
  write_raw(buf_, pos_ - buf_.size());  // buf_ holds the bytes just before pos_
  buf_.clear();
}

void AtomicFile::write(std::span<const std::byte> bytes) {
  if (bytes.size() >= kBufferBytes) {
    flush();
    write_raw(bytes, pos_);
  } else {
    if (buf_.size() + bytes.size() > kBufferBytes) flush();
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
  }
  pos_ += bytes.size();
}

void AtomicFile::write_zeros(std::uint64_t n) {
  static const std::byte zeros[4096] = {};
  while (n > 0) {
    const auto step = static_cast<std::size_t>(std::min<std::uint64_t>(n, sizeof zeros));
    write(std::span<const std::byte>(zeros, step));
    n -= step;
  }
}

namespace {
// Pieces of 2 MiB, aligned in the source. Copying a cached 2 GB file, 2 MiB
// pieces written from the mapping took 0.41-0.44 s (cp: 0.48 s); in the same
// series of five runs 4 MiB pieces took 0.52-2.3 s.
constexpr std::uint64_t kCopyPiece = std::uint64_t{2} << 20;
// Ranges up to this size are read into the write buffer instead.
constexpr std::uint64_t kSmallCopy = kSmallRangeBytes;
#ifndef MADV_POPULATE_READ
constexpr int MADV_POPULATE_READ = 22;  // Linux 5.14; older kernels say EINVAL and the write faults pages in
#endif

std::uint64_t page_size() {
  static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

// True when every page of [p, p+n) is in the page cache. A file mapping
// answers for the file's cache, mapped in this process or not.
bool cached(const std::byte* p, std::size_t n) {
  const std::uint64_t page = page_size();
  const auto lo = reinterpret_cast<std::uintptr_t>(p) / page * page;
  const auto hi = (reinterpret_cast<std::uintptr_t>(p) + n + page - 1) / page * page;
  std::array<unsigned char, kCopyPiece / 4096 + 2> vec{};
  if ((hi - lo) / page > vec.size()) return false;
  if (::mincore(reinterpret_cast<void*>(lo), hi - lo, vec.data()) != 0) return false;
  for (std::size_t i = 0; i < (hi - lo) / page; ++i)
    if (!(vec[i] & 1)) return false;
  return true;
}

void populate(const std::byte* p, std::size_t n) {
  const std::uint64_t page = page_size();
  const auto lo = reinterpret_cast<std::uintptr_t>(p) / page * page;
  const auto hi = reinterpret_cast<std::uintptr_t>(p) + n;
  ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_POPULATE_READ);
}
}  // namespace

// Copies up to `n` bytes at `offset` of `src` with copy_file_range; 0 when
// the filesystems do not allow it (the caller then reads and writes).
std::uint64_t AtomicFile::kernel_copy(int src, std::uint64_t offset, std::uint64_t n) {
  while (kernel_copy_ok_) {
    auto in = static_cast<loff_t>(offset);
    const ssize_t got = fault::inject(fault::Op::CopyRange) ? -1 : ::copy_file_range(src, &in, fd_, nullptr, n, 0);
    if (got > 0) return static_cast<std::uint64_t>(got);
    if (got == 0) throw Error(dest_, pos_, "the source file ended early (was it truncated while being read?)");
    if (errno == EINTR) continue;
    if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP || errno == EPERM) {
      kernel_copy_ok_ = false;  // not across these filesystems
      break;
    }
    fail("cannot copy into the output file");
  }
  return 0;
}

void AtomicFile::copy_range(const ByteSource& src, std::uint64_t offset, std::uint64_t n,
                            const std::function<void(std::uint64_t)>& step) {
  const auto all = src.all();
  if (offset > all.size() || n > all.size() - offset)
    throw Error(dest_, pos_, "internal error: a copied range runs past the end of '" + src.label() + "'");
  if (n <= kSmallCopy) {
    // Read into the buffer: the mincore, madvise and write of the path below,
    // per tensor, took 50,000 tensors of 1 KiB 0.8 s of system time.
    (void)append_small(src, offset, n);
    if (step) step(n);
    return;
  }
  flush();
  const int fd = src.native_fd();
  // Start reading the whole range now: on a cold disk the copy then finds
  // it arriving instead of waiting for one readahead window at a time.
  if (fd >= 0) ::posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(n), POSIX_FADV_WILLNEED);
  const std::uint64_t page = page_size();
  std::uint64_t unreleased = offset;
  while (n > 0) {
    const std::uint64_t want = std::min(n, kCopyPiece - offset % kCopyPiece);
    const std::byte* p = all.data() + offset;
    // Pieces in the page cache: one copy from the mapping. copy_file_range
    // splices page by page and, when the two files' offsets differ within a
    // page, ran at 0.55x cp (0.8-0.95 s for 2 GB vs 0.48 s). A page of a
    // file truncated meanwhile makes write() fail with EFAULT, not a signal.
    // Pieces not cached go to the kernel copy, whose read-ahead keeps a cold
    // disk busy; where the filesystems refuse it, the mapping serves too.
    std::uint64_t got = 0;
    if (fd >= 0 && kernel_copy_ok_ && !cached(p, static_cast<std::size_t>(want))) got = kernel_copy(fd, offset, want);
    if (got == 0) {
      if (fd >= 0) populate(p, static_cast<std::size_t>(want));
      write_raw(std::span<const std::byte>(p, static_cast<std::size_t>(want)), pos_);
      got = want;
    }
    offset += got;
    n -= got;
    pos_ += got;
    if (offset - unreleased >= kCopyPiece || n == 0) {
      src.release(unreleased, (n == 0 ? offset + page - 1 : offset) / page * page - unreleased);
      unreleased = offset / page * page;
    }
    if (step) step(got);
  }
}

std::span<const std::byte> AtomicFile::append_small(const ByteSource& src, std::uint64_t offset, std::uint64_t n) {
  if (n > kSmallCopy) throw Error(dest_, pos_, "internal error: append_small of more than 64 KiB");
  if (buf_.size() + n > kBufferBytes) flush();
  const std::size_t at = buf_.size();
  buf_.resize(at + static_cast<std::size_t>(n));
  const std::span<std::byte> bytes(buf_.data() + at, static_cast<std::size_t>(n));
  try {
    read_small(src, offset, bytes);
  } catch (...) {
    buf_.resize(at);  // nothing of a failed read is written
    throw;
  }
  pos_ += n;
  return bytes;
}

void AtomicFile::read_small(const ByteSource& src, std::uint64_t offset, std::span<std::byte> out) {
  if (offset > src.size() || out.size() > src.size() - offset)
    throw Error(dest_, pos_, "internal error: a copied range runs past the end of '" + src.label() + "'");
  window_.read(src, offset, out);
}

bool AtomicFile::rewrite_buffered(std::uint64_t pos, std::span<const std::byte> bytes) noexcept {
  const std::uint64_t start = pos_ - buf_.size();  // file offset of buf_[0]
  if (pos < start || pos > pos_ || bytes.size() > pos_ - pos) return false;
  std::memcpy(buf_.data() + (pos - start), bytes.data(), bytes.size());
  return true;
}

void AtomicFile::write_at(std::uint64_t pos, std::span<const std::byte> bytes) {
  flush();
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = fault::inject(fault::Op::Write) ? -1
                                                : ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(pos + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write the output file");
    }
    done += static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  flush();
  if (sync_ && (fault::inject(fault::Op::Sync) || ::fsync(fd_) != 0)) fail("cannot flush the output file to disk");
  const int closed = ::close(fd_);
  fd_ = -1;
  if (fault::inject(fault::Op::Close) || closed != 0) fail("cannot close the output file");
  if (fault::inject(fault::Op::Rename) || ::rename(temp_.c_str(), dest_.c_str()) != 0)
    fail("cannot move the finished file into place");
  committed_ = true;
  // The rename itself reaches the disk only with its folder; best effort,
  // since the file is already complete and in place.
  if (sync_) {
    const std::filesystem::path folder = std::filesystem::path(dest_).parent_path();
    const int dfd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
}

void refuse_overwriting_inputs(const std::string& destination, std::span<const TensorInfo> tensors,
                               const WriteOptions& opt) {
  if (opt.replace_input) return;
  const auto dest = file_id_of(destination);
  if (!dest) return;
  for (const auto& t : tensors) {
    const ByteSource* src = t.data ? t.data->source() : nullptr;
    if (src && src->file_id() == dest)
      throw Error(destination, kNoOffset, "refusing to write over '" + src->label() + "', which is being read; choose another output file");
  }
}

ProgressTracker::ProgressTracker(const WriteOptions& opt, std::span<const TensorInfo> tensors)
    : opt_(opt), tensors_(tensors) {
  p_.tensor_count = tensors.size();
  for (const auto& t : tensors) p_.bytes_total += t.nbytes;
}

void ProgressTracker::begin_tensor(std::size_t index) {
  p_.tensor_index = index;
  p_.tensor_name = tensors_[index].name;
  if (opt_.cancelled && opt_.cancelled()) throw Error("", kNoOffset, "the write was cancelled");
  if (opt_.on_progress) opt_.on_progress(p_);
}

void ProgressTracker::advance(std::uint64_t bytes) {
  p_.bytes_done += bytes;
  if (opt_.cancelled && opt_.cancelled()) throw Error("", kNoOffset, "the write was cancelled");
  if (opt_.on_progress) opt_.on_progress(p_);
}

void stream_tensor(ProgressTracker& progress, std::size_t index, const ByteSink& write, const std::string& destination,
                   std::optional<std::size_t> next) {
  const TensorInfo& t = progress.tensor(index);
  progress.begin_tensor(index);
  std::uint64_t written = 0;
  auto mismatch = [&](const std::string& what) {
    return Error(destination, kNoOffset, "tensor '" + t.name + "' produced " + what + " bytes, expected " + std::to_string(t.nbytes));
  };
  if (!t.data) throw Error(destination, kNoOffset, "tensor '" + t.name + "' has no readable data");
  const std::size_t ahead = next.value_or(index + 1);
  if (ahead < progress.tensor_count() && ahead != index)
    if (const auto& after = progress.tensor(ahead).data) after->prepare();
  t.data->stream([&](std::span<const std::byte> chunk) {
    if (chunk.size() > t.nbytes - written) throw mismatch("more than " + std::to_string(t.nbytes));
    write(chunk);
    written += chunk.size();
    progress.advance(chunk.size());
  });
  if (written != t.nbytes) throw mismatch(std::to_string(written));
}

void stream_tensor(ProgressTracker& progress, std::size_t index, AtomicFile& out, std::optional<std::size_t> next) {
  const TensorInfo& t = progress.tensor(index);
  const auto range = t.data ? t.data->file_range() : std::nullopt;
  const std::size_t ahead = next.value_or(index + 1);
  if (!range || range->size != t.nbytes) {
    stream_tensor(progress, index, [&](std::span<const std::byte> chunk) { out.write(chunk); }, out.destination(), ahead);
    return;
  }
  progress.begin_tensor(index);
  // Writers may visit tensors out of file order (safetensors sorts them):
  // let the disk fetch the next one while this one is copied. Not a small
  // one: read-ahead brings those, and a hint per tensor is a system call.
  if (ahead < progress.tensor_count()) {
    const auto& t = progress.tensor(ahead);
    if (const auto r = t.data ? t.data->file_range() : std::nullopt) {
      if (r->size > kSmallCopy) r->file->prefetch(r->offset, r->size);
    } else if (t.data) {
      t.data->prepare();
    }
  }
  out.copy_range(*range->file, range->offset, range->size, [&](std::uint64_t n) { progress.advance(n); });
}

}  // namespace ckpt::io
