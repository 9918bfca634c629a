#include "io/read_window.h"

#include <algorithm>
#include <cstring>

namespace ckpt::io {
namespace {
// The first window after a range that followed on, the largest, and the
// gap (alignment padding) that still counts as following on.
constexpr std::uint64_t kFirstWindow = std::uint64_t{16} << 10;
constexpr std::uint64_t kMaxWindow = std::uint64_t{1} << 20;
constexpr std::uint64_t kFollowGap = 4096;
}  // namespace

void ReadWindow::read(const ByteSource& src, std::uint64_t offset, std::span<std::byte> out) {
  const std::uint64_t n = out.size();
  if (n == 0) return;
  // By serial, not address: a source made where a freed one was is another file.
  const bool same = serial_ == src.serial();
  if (same && offset >= offset_ && n <= bytes_.size() && offset - offset_ <= bytes_.size() - n) {
    std::memcpy(out.data(), bytes_.data() + (offset - offset_), out.size());
    return;
  }
  const bool follows = same && offset >= offset_ && offset <= end_ + kFollowGap;
  const std::uint64_t ahead = follows ? std::clamp<std::uint64_t>(ahead_ * 2, kFirstWindow, kMaxWindow) : 0;
  const std::uint64_t len = offset < src.size() ? std::min(std::max(n, ahead), src.size() - offset) : n;
  // Forgotten until the read succeeds: a failed one must not leave a window
  // that claims bytes it never got.
  serial_ = 0;
  bytes_.clear();
  if (len <= n) {
    src.read_at(offset, out);
  } else {
    bytes_.resize(static_cast<std::size_t>(len));
    src.read_at(offset, bytes_);
    std::memcpy(out.data(), bytes_.data(), out.size());
  }
  serial_ = src.serial();
  offset_ = offset;
  end_ = offset + std::max(len, n);
  ahead_ = ahead;
}

void ReadWindow::forget() noexcept {
  serial_ = 0;
  bytes_.clear();
  bytes_.shrink_to_fit();
}

void read_small(const ByteSource& src, std::uint64_t offset, std::span<std::byte> out) {
  thread_local ReadWindow window;
  window.read(src, offset, out);
}

}  // namespace ckpt::io
