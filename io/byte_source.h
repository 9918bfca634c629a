#pragma once
// One read-only, positional byte-source interface for every reader: a
// memory-mapped file in the program, a memory buffer in tests. Views handed
// out stay valid while the source is alive; tensors keep their source alive
// through a shared_ptr.
#include <sys/types.h>

#include <atomic>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::io {

// Identity of a file on disk, to refuse writing over a file being read.
struct FileId {
  dev_t dev;
  ino_t ino;
  bool operator==(const FileId&) const = default;
};
[[nodiscard]] std::optional<FileId> file_id_of(const std::string& path);

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  [[nodiscard]] virtual std::span<const std::byte> all() const noexcept = 0;
  [[nodiscard]] virtual const std::string& label() const noexcept = 0;
  [[nodiscard]] virtual std::optional<FileId> file_id() const noexcept { return std::nullopt; }
  // Hints for streaming through a mapping: read [pos, pos+n) ahead, or drop
  // it from this process's resident set once consumed (the page cache keeps
  // it), so memory use does not grow with the file. No-ops in memory.
  virtual void prefetch(std::uint64_t /*pos*/, std::uint64_t /*n*/) const noexcept {}
  virtual void release(std::uint64_t /*pos*/, std::uint64_t /*n*/) const noexcept {}
  // Like release, but rounded outward to 2 MiB: for small header reads in a
  // file the kernel caches in large folios (one touched byte can map a whole
  // folio). Only for regions nothing else is reading at the time.
  virtual void release_around(std::uint64_t /*pos*/, std::uint64_t /*n*/) const noexcept {}
  // While any caller has it on, a page fault on the mapping reads just that
  // page, not the device's read-around window (8 MiB on these machines): the
  // headers of zip members lie scattered through the file, and listing a
  // 2 GB .npz read most of it. Counted, so scopes may nest.
  virtual void expect_scattered_reads(bool /*on*/) const noexcept {}
  // The open file descriptor behind the source, or -1 (memory). Lets
  // writers copy file ranges in the kernel and readers use pread, which
  // avoids a page fault per 4 KiB of a mapping.
  [[nodiscard]] virtual int native_fd() const noexcept { return -1; }
  // Copies [pos, pos+out.size()) into `out` (bounds-checked; pread on files).
  virtual void read_at(std::uint64_t pos, std::span<std::byte> out) const;

  [[nodiscard]] std::uint64_t size() const noexcept { return all().size(); }
  // `n` bytes at `pos`, or an Error naming `what` when they run past the end.
  [[nodiscard]] std::span<const std::byte> view(std::uint64_t pos, std::uint64_t n, std::string_view what) const;
  // A number no other source made by this process has (never 0): caches
  // key on it, since a source made where a freed one was is another file.
  [[nodiscard]] std::uint64_t serial() const noexcept { return serial_; }

 private:
  std::uint64_t serial_ = next_serial();
  static std::uint64_t next_serial() noexcept;
};

// A whole file mapped read-only (MAP_PRIVATE, PROT_READ): the file is never modified.
class MappedFile final : public ByteSource {
 public:
  [[nodiscard]] static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile() override;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  [[nodiscard]] std::span<const std::byte> all() const noexcept override { return {data_, size_}; }
  [[nodiscard]] const std::string& label() const noexcept override { return path_; }
  [[nodiscard]] std::optional<FileId> file_id() const noexcept override { return id_; }
  [[nodiscard]] int native_fd() const noexcept override { return fd_; }
  void read_at(std::uint64_t pos, std::span<std::byte> out) const override;
  void prefetch(std::uint64_t pos, std::uint64_t n) const noexcept override;
  void release(std::uint64_t pos, std::uint64_t n) const noexcept override;
  void release_around(std::uint64_t pos, std::uint64_t n) const noexcept override;
  void expect_scattered_reads(bool on) const noexcept override;

 private:
  MappedFile(std::string path, int fd, const std::byte* data, std::size_t size, FileId id);
  std::string path_;
  int fd_;
  const std::byte* data_;
  std::size_t size_;
  FileId id_;
  mutable std::atomic<int> scattered_{0};
};

// expect_scattered_reads(true) for the lifetime of the scope, when `on`.
// Callers pass on = false where the reads are close together (many small
// members): there the read-around fetches what is needed next anyway, and
// without it listing 50,000 members of 1 KiB cold took 1.1 s, not 0.27 s.
class ScatteredReads {
 public:
  ScatteredReads(const ByteSource& src, bool on) noexcept : src_(src), on_(on) {
    if (on_) src_.expect_scattered_reads(true);
  }
  ~ScatteredReads() {
    if (on_) src_.expect_scattered_reads(false);
  }
  ScatteredReads(const ScatteredReads&) = delete;
  ScatteredReads& operator=(const ScatteredReads&) = delete;

 private:
  const ByteSource& src_;
  bool on_;
};

// Gathers the prefetch or release_around hints of many small header reads
// that move through a file, and gives them as few, larger ranges: nearby
// ranges (closer than `max_gap`) merge until one spans `max_span`. Listing
// 50,000 .npz members spent half its time in one madvise per member.
class BatchedHint {
 public:
  enum class Kind : std::uint8_t { Prefetch, ReleaseAround };
  BatchedHint(const ByteSource& src, Kind kind, std::uint64_t max_gap, std::uint64_t max_span) noexcept
      : src_(src), kind_(kind), max_gap_(max_gap), max_span_(max_span) {}
  ~BatchedHint() { flush(); }
  BatchedHint(const BatchedHint&) = delete;
  BatchedHint& operator=(const BatchedHint&) = delete;

  void add(std::uint64_t pos, std::uint64_t n) noexcept;
  void flush() noexcept;

 private:
  const ByteSource& src_;
  Kind kind_;
  std::uint64_t max_gap_, max_span_;
  std::uint64_t lo_ = 0, hi_ = 0;
  bool open_ = false;
};

class MemorySource final : public ByteSource {
 public:
  MemorySource(std::vector<std::byte> bytes, std::string label)
      : bytes_(std::move(bytes)), label_(std::move(label)) {}
  [[nodiscard]] std::span<const std::byte> all() const noexcept override { return bytes_; }
  [[nodiscard]] const std::string& label() const noexcept override { return label_; }

 private:
  std::vector<std::byte> bytes_;
  std::string label_;
};

}  // namespace ckpt::io
