#include "io/byte_source.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "io/error.h"

namespace ckpt::io {

std::optional<FileId> file_id_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}

std::span<const std::byte> ByteSource::view(std::uint64_t pos, std::uint64_t n, std::string_view what) const {
  const std::uint64_t total = size();
  if (pos > total || n > total - pos) {
    throw Error(label(), pos,
                std::string(what) + " (" + std::to_string(n) + " bytes) runs past the end of the file (" +
                    std::to_string(total) + " bytes)");
  }
  return all().subspan(static_cast<std::size_t>(pos), static_cast<std::size_t>(n));
}

std::uint64_t ByteSource::next_serial() noexcept {
  static std::atomic<std::uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

void ByteSource::read_at(std::uint64_t pos, std::span<std::byte> out) const {
  const auto v = view(pos, out.size(), "data");
  std::memcpy(out.data(), v.data(), v.size());
}

namespace {
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) throw Error(path, kNoOffset, std::string("cannot open the file: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) throw Error(path, kNoOffset, std::string("cannot stat the file: ") + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw Error(path, kNoOffset, "is a folder, not a checkpoint file");
  if (!S_ISREG(st.st_mode)) throw Error(path, kNoOffset, "is not a regular file");
  const auto size = static_cast<std::size_t>(st.st_size);
  const std::byte* data = nullptr;
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, f.fd, 0);
    if (p == MAP_FAILED) throw Error(path, kNoOffset, std::string("cannot map the file: ") + std::strerror(errno));
    data = static_cast<const std::byte*>(p);
  }
  auto file = std::shared_ptr<MappedFile>(new MappedFile(path, f.fd, data, size, FileId{st.st_dev, st.st_ino}));
  f.fd = -1;  // owned by the MappedFile now
  return file;
}

MappedFile::MappedFile(std::string path, int fd, const std::byte* data, std::size_t size, FileId id)
    : path_(std::move(path)), fd_(fd), data_(data), size_(size), id_(id) {}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

void MappedFile::read_at(std::uint64_t pos, std::span<std::byte> out) const {
  (void)view(pos, out.size(), "data");  // bounds
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(pos + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error(path_, pos + done, n == 0 ? "the file ended while reading (was it truncated while open?)"
                                             : std::string("cannot read the file: ") + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
}

namespace {
// `inner` rounds inward to whole pages (dropping a page we may still need
// elsewhere would only cost a re-read, but keeping partial pages is cheaper).
void advise(const std::byte* base, std::size_t size, std::uint64_t pos, std::uint64_t n, int how, bool inner) noexcept {
  if (!base || pos >= size || n == 0) return;
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::uint64_t end = std::min<std::uint64_t>(size, pos + std::min<std::uint64_t>(n, size));
  std::uint64_t start = pos - pos % page;
  if (inner) {
    start = (pos + page - 1) / page * page;
    end = end - end % page;
  }
  if (end <= start) return;
  ::madvise(const_cast<std::byte*>(base) + start, end - start, how);
}
}  // namespace

void MappedFile::prefetch(std::uint64_t pos, std::uint64_t n) const noexcept {
  advise(data_, size_, pos, n, MADV_WILLNEED, false);
}
void MappedFile::release(std::uint64_t pos, std::uint64_t n) const noexcept {
  advise(data_, size_, pos, n, MADV_DONTNEED, true);
}
void MappedFile::release_around(std::uint64_t pos, std::uint64_t n) const noexcept {
  constexpr std::uint64_t kHuge = std::uint64_t{2} << 20;
  const std::uint64_t start = pos - pos % kHuge;
  const std::uint64_t end = std::min<std::uint64_t>(size_, (pos + n + kHuge - 1) / kHuge * kHuge);
  if (end > start) advise(data_, size_, start, end - start, MADV_DONTNEED, true);
}

void MappedFile::expect_scattered_reads(bool on) const noexcept {
  if (!data_) return;
  const int before = on ? scattered_.fetch_add(1) : scattered_.fetch_sub(1);
  if (on ? before == 0 : before == 1) ::madvise(const_cast<std::byte*>(data_), size_, on ? MADV_RANDOM : MADV_NORMAL);
}

void BatchedHint::add(std::uint64_t pos, std::uint64_t n) noexcept {
  // Offsets come from headers not yet validated: saturate instead of wrapping.
  const std::uint64_t end = pos > UINT64_MAX - n ? UINT64_MAX : pos + n;
  if (open_) {
    const bool near = pos >= lo_ && pos <= (hi_ > UINT64_MAX - max_gap_ ? UINT64_MAX : hi_ + max_gap_);
    if (near && end - lo_ <= max_span_) {
      hi_ = std::max(hi_, end);
      return;
    }
    flush();
  }
  lo_ = pos;
  hi_ = end;
  open_ = true;
}

void BatchedHint::flush() noexcept {
  if (!open_) return;
  open_ = false;
  if (kind_ == Kind::Prefetch) src_.prefetch(lo_, hi_ - lo_);
  else src_.release_around(lo_, hi_ - lo_);
}

}  // namespace ckpt::io
