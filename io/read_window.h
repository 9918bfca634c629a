#pragma once
// Small ranges of a source read through a window that grows while they
// follow one another, as the kernel's read-ahead does: one pread per 1 KiB
// tensor cost ~3 µs of system time each on these machines (50,000 of them,
// 0.15 s), and reading through the mapping instead faulted and released a
// page per tensor. Ranges that jump about read just themselves.
#include <cstdint>
#include <span>
#include <vector>

#include "io/byte_source.h"

namespace ckpt::io {

// Ranges up to this size go through a window; larger ones are read directly.
inline constexpr std::uint64_t kSmallRangeBytes = std::uint64_t{64} << 10;

class ReadWindow {
 public:
  // Copies [offset, offset + out.size()) of `src`, which the caller has
  // checked lies within it. Errors are read_at's.
  void read(const ByteSource& src, std::uint64_t offset, std::span<std::byte> out);
  // Drops what the window holds (and its memory).
  void forget() noexcept;

 private:
  std::uint64_t serial_ = 0;  // the source's serial(); 0: nothing held
  std::uint64_t offset_ = 0;  // of bytes_[0] in the source
  std::uint64_t end_ = 0;     // end of the last range read
  std::uint64_t ahead_ = 0;   // how far the next read may reach past its range
  std::vector<std::byte> bytes_;
};

// read() through the calling thread's own window: for readers that stream
// small tensors one after another (the window keeps up to 1 MiB per thread
// that has used it).
void read_small(const ByteSource& src, std::uint64_t offset, std::span<std::byte> out);

}  // namespace ckpt::io
