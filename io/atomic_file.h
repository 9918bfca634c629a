#pragma once
// A file written beside its destination and renamed into place only when
// complete. If anything throws before commit(), the temporary file is removed
// and the destination is untouched.
//
// The temporary is named ".<destination name>.ckpt-tmp-<pid>-<random>" in the
// destination's folder (hidden, and recognisable as ours). A process killed
// mid-write (kill -9, power loss) cannot remove it, so every new AtomicFile
// for the same destination first removes such temporaries whose process no
// longer exists.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/read_window.h"
#include "io/tensor.h"
#include "io/write_options.h"

namespace ckpt::io {

// Test seam: makes one chosen system call of every AtomicFile in the process
// fail with a chosen errno, so tests can fail a write at each of its stages.
// Compiled in always; inert (one relaxed atomic load per call) until armed.
namespace fault {
enum class Op : std::uint8_t { Create, Write, CopyRange, Sync, Close, Rename };
inline constexpr std::size_t kOpCount = 6;
// The `nth` call (1-based) of `op` from now on fails with `err`; the count of
// every op restarts at zero.
void arm(Op op, std::uint64_t nth, int err);
// Back to normal; the counts restart at zero.
void disarm();
// Calls of `op` since the last arm() or disarm().
[[nodiscard]] std::uint64_t calls(Op op);
}  // namespace fault

// Where a write() call that starts at file offset `at` ends at the latest:
// 4 KiB past the next 2 MiB boundary, so that no call covers a whole
// aligned 2 MiB of the file (why: atomic_file.cpp). Always > at.
[[nodiscard]] std::uint64_t write_call_end(std::uint64_t at) noexcept;

// The prefix of every temporary an AtomicFile makes for `destination`
// (".NAME.ckpt-tmp-"), followed by "<pid>-<random>".
[[nodiscard]] std::string temp_prefix(const std::string& destination);

class AtomicFile {
 public:
  explicit AtomicFile(std::string destination, bool sync = true, std::uint32_t mode = 0644);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::span<const std::byte> bytes);
  void write(const void* data, std::size_t n) { write({static_cast<const std::byte*>(data), n}); }
  void write_zeros(std::uint64_t n);
  // Appends [offset, offset+n) of `src`. Pieces already in the page cache
  // are written from the source's mapping (one copy, whatever the two files'
  // alignments); the rest go through copy_file_range so the kernel's
  // read-ahead drives the disk. `step` is called after each piece with its
  // size. The pages read are dropped from this process's resident set.
  void copy_range(const ByteSource& src, std::uint64_t offset, std::uint64_t n,
                  const std::function<void(std::uint64_t)>& step);
  // Appends [offset, offset + n) of `src`, n ≤ kSmallRangeBytes, and returns
  // those bytes in the write buffer (valid until the next call on this file).
  std::span<const std::byte> append_small(const ByteSource& src, std::uint64_t offset, std::uint64_t n);
  // Reads [offset, offset + out.size()) of `src`, out.size() ≤ kSmallRangeBytes,
  // through the window that serves small copies: ranges that follow one
  // another in a source cost one read per window, not one each.
  void read_small(const ByteSource& src, std::uint64_t offset, std::span<std::byte> out);
  // Overwrites bytes already written (zip local headers patched after the data).
  void write_at(std::uint64_t pos, std::span<const std::byte> bytes);
  // write_at for bytes still in the write buffer (not yet written out):
  // changes them there and returns true; false leaves everything as it was.
  bool rewrite_buffered(std::uint64_t pos, std::span<const std::byte> bytes) noexcept;
  [[nodiscard]] std::uint64_t position() const noexcept { return pos_; }
  [[nodiscard]] const std::string& destination() const noexcept { return dest_; }
  [[nodiscard]] const std::string& temp_path() const noexcept { return temp_; }
  // Flushes, syncs and renames over the destination.
  void commit();

 private:
  void flush();
  // Appends `bytes`, which land at file offset `at` (where the file ends now).
  void write_raw(std::span<const std::byte> bytes, std::uint64_t at);
  std::uint64_t kernel_copy(int src, std::uint64_t offset, std::uint64_t n);
  [[noreturn]] void fail(const std::string& what) const;
  std::string dest_;
  std::string temp_;
  int fd_ = -1;
  std::uint64_t pos_ = 0;
  std::vector<std::byte> buf_;
  bool committed_ = false;
  bool sync_ = true;
  bool kernel_copy_ok_ = true;  // false once copy_file_range refused these filesystems
  // Small ranges come from a window read ahead of them (io/read_window.h).
  ReadWindow window_;
};

// Throws when `destination` is a file one of the tensors reads from, unless
// opt.replace_input says the caller means it (see WriteOptions).
void refuse_overwriting_inputs(const std::string& destination, std::span<const TensorInfo> tensors,
                               const WriteOptions& opt);

// Streams every tensor's data into `out`, reporting progress and honouring cancel.
class ProgressTracker {
 public:
  ProgressTracker(const WriteOptions& opt, std::span<const TensorInfo> tensors);
  void begin_tensor(std::size_t index);
  void advance(std::uint64_t bytes);
  [[nodiscard]] const TensorInfo& tensor(std::size_t index) const { return tensors_[index]; }
  [[nodiscard]] std::size_t tensor_count() const { return tensors_.size(); }

 private:
  const WriteOptions& opt_;
  std::span<const TensorInfo> tensors_;
  Progress p_;
};

// Streams tensor `index` of the tracker's list into `write`, reporting
// progress, and throws when its data yield other than its nbytes: a writer
// must never emit a short or long tensor.
// `next` names the tensor the writer streams after this one (default:
// index + 1); it is prepare()d first, to decode while this one is written.
void stream_tensor(ProgressTracker& progress, std::size_t index, const ByteSink& write, const std::string& destination,
                   std::optional<std::size_t> next = std::nullopt);
// The same into a file: a tensor that is one range of a file is copied in the kernel.
// `next` names the tensor the writer will copy after this one (default: index + 1), to read it ahead.
void stream_tensor(ProgressTracker& progress, std::size_t index, AtomicFile& out,
                   std::optional<std::size_t> next = std::nullopt);

}  // namespace ckpt::io
