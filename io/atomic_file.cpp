#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "io/error.h"

namespace ckpt::io {

namespace {
constexpr std::size_t kBufferBytes = std::size_t{8} << 20;
}

AtomicFile::AtomicFile(std::string destination, bool sync) : dest_(std::move(destination)), sync_(sync) {
  struct stat st {};
  if (::stat(dest_.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw Error(dest_, kNoOffset, "the destination is a folder; give a file name");
  // The temporary lives in the destination's folder so the final rename is atomic.
  std::string tmpl = dest_ + ".tmp-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  fd_ = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd_ < 0) throw Error(dest_, kNoOffset, std::string("cannot create a temporary file beside the destination: ") + std::strerror(errno));
  temp_ = name.data();
  ::fchmod(fd_, 0644);
  buf_.reserve(kBufferBytes);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

void AtomicFile::fail(const std::string& what) const {
  throw Error(dest_, pos_, what + ": " + std::strerror(errno));
}

void AtomicFile::write_raw(std::span<const std::byte> bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write the output file");
    }
    done += static_cast<std::size_t>(n);
  }
}

void AtomicFile::flush() {
  write_raw(buf_);
  buf_.clear();
}

void AtomicFile::write(std::span<const std::byte> bytes) {
  if (bytes.size() >= kBufferBytes) {
    flush();
    write_raw(bytes);
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

void AtomicFile::copy_range(int src, std::uint64_t offset, std::uint64_t n,
                            const std::function<void(std::uint64_t)>& step) {
  flush();
  // Start reading the whole range now: on a cold disk the copy then finds
  // it arriving instead of waiting for one readahead window at a time.
  ::posix_fadvise(src, static_cast<off_t>(offset), static_cast<off_t>(n), POSIX_FADV_WILLNEED);
  constexpr std::uint64_t kPiece = std::uint64_t{64} << 20;
  bool kernel = true;
  std::vector<std::byte> buf;
  while (n > 0) {
    const auto want = static_cast<std::size_t>(std::min(n, kPiece));
    ssize_t got = -1;
    if (kernel) {
      auto in = static_cast<loff_t>(offset);
      got = ::copy_file_range(src, &in, fd_, nullptr, want, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP || errno == EPERM)) {
        kernel = false;  // not across these filesystems: copy through a buffer
        continue;
      }
      if (got < 0) fail("cannot copy into the output file");
    } else {
      buf.resize(std::min<std::size_t>(want, kBufferBytes));
      got = ::pread(src, buf.data(), buf.size(), static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail("cannot read the source file");
      write_raw(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(got)));
    }
    if (got == 0) throw Error(dest_, pos_, "the source file ended early (was it truncated while being read?)");
    offset += static_cast<std::uint64_t>(got);
    n -= static_cast<std::uint64_t>(got);
    pos_ += static_cast<std::uint64_t>(got);
    if (step) step(static_cast<std::uint64_t>(got));
  }
}

void AtomicFile::write_at(std::uint64_t pos, std::span<const std::byte> bytes) {
  flush();
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(pos + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write the output file");
    }
    done += static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  flush();
  if (sync_ && ::fsync(fd_) != 0) fail("cannot flush the output file to disk");
  if (::close(fd_) != 0) {
    fd_ = -1;
    fail("cannot close the output file");
  }
  fd_ = -1;
  if (::rename(temp_.c_str(), dest_.c_str()) != 0) fail("cannot move the finished file into place");
  committed_ = true;
}

void refuse_overwriting_inputs(const std::string& destination, std::span<const TensorInfo> tensors) {
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

void stream_tensor(ProgressTracker& progress, std::size_t index, const ByteSink& write, const std::string& destination) {
  const TensorInfo& t = progress.tensor(index);
  progress.begin_tensor(index);
  std::uint64_t written = 0;
  auto mismatch = [&](const std::string& what) {
    return Error(destination, kNoOffset, "tensor '" + t.name + "' produced " + what + " bytes, expected " + std::to_string(t.nbytes));
  };
  if (!t.data) throw Error(destination, kNoOffset, "tensor '" + t.name + "' has no readable data");
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
  if (!range || range->size != t.nbytes) {
    stream_tensor(progress, index, [&](std::span<const std::byte> chunk) { out.write(chunk); }, out.destination());
    return;
  }
  progress.begin_tensor(index);
  // Writers may visit tensors out of file order (safetensors sorts them):
  // let the disk fetch the next one while this one is copied.
  const std::size_t ahead = next.value_or(index + 1);
  if (ahead < progress.tensor_count()) {
    const auto& t = progress.tensor(ahead);
    if (const auto r = t.data ? t.data->file_range() : std::nullopt) r->file->prefetch(r->offset, r->size);
  }
  out.copy_range(range->file->native_fd(), range->offset, range->size, [&](std::uint64_t n) { progress.advance(n); });
}

}  // namespace ckpt::io
