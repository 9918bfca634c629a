#pragma once
// Raw deflate (zip method 8, zlib windowBits -15) and CRC-32: zlib for
// compressing and streaming, libdeflate for whole-buffer inflating and CRC-32
// (measured faster; see docs/compression.md). Parallel compression is in
// io/parallel_deflate.h.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "io/tensor.h"

namespace ckpt::io {

[[nodiscard]] std::uint32_t crc32_update(std::uint32_t crc, std::span<const std::byte> bytes) noexcept;

// CRC-32 of `bytes` continued from `crc`, computed on a second thread while
// `work` runs on this one (large spans only), so checksumming overlaps I/O.
[[nodiscard]] std::uint32_t crc32_alongside(std::uint32_t crc, std::span<const std::byte> bytes,
                                            const std::function<void()>& work);

// CRC-32 of A followed by B, from crc(A), crc(B) and B's length.
[[nodiscard]] std::uint32_t crc32_combine_any(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t len_b) noexcept;

// Members up to this size inflate whole with libdeflate into one buffer
// (checked against the CRC before the sink sees a byte); larger ones stream
// through zlib on a helper thread in 4 MiB chunks, so memory stays bounded.
inline constexpr std::uint64_t kWholeInflateBytes = std::uint64_t{64} << 20;
// Test and benchmark seam: moves that bound (0: every member streams).
void set_whole_inflate_limit(std::uint64_t bytes) noexcept;

// Inflates `in` (raw deflate) and streams the output to `sink` in chunks.
// Throws Error(label, offset, …) when the stream is corrupt, ends early, or
// produces other than `expected_size` bytes, or (if given) a different CRC-32.
void inflate_raw(std::span<const std::byte> in, std::uint64_t expected_size,
                 std::optional<std::uint32_t> expected_crc, const ByteSink& sink,
                 const std::string& label, std::uint64_t offset);

// Inflates the whole raw-deflate stream `in` into exactly `out` with
// libdeflate; false, with `out` unspecified, when the stream is not exactly
// that long or is corrupt (the caller's zlib path then words the error).
[[nodiscard]] bool inflate_exact(std::span<const std::byte> in, std::span<std::byte> out) noexcept;

// Streaming raw-deflate compressor: feed input, compressed bytes go to the sink.
class RawDeflater {
 public:
  explicit RawDeflater(ByteSink sink, int level = 6);
  ~RawDeflater();
  RawDeflater(const RawDeflater&) = delete;
  RawDeflater& operator=(const RawDeflater&) = delete;
  void feed(std::span<const std::byte> in);
  // Like feed, without updating crc32() (for callers that checksum elsewhere).
  void feed_unchecked(std::span<const std::byte> in);
  void finish();
  [[nodiscard]] std::uint64_t bytes_in() const noexcept { return in_; }
  [[nodiscard]] std::uint64_t bytes_out() const noexcept { return out_; }
  [[nodiscard]] std::uint32_t crc32() const noexcept { return crc_; }

 private:
  void pump(int flush);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ByteSink sink_;
  std::uint64_t in_ = 0, out_ = 0;
  std::uint32_t crc_ = 0;
  bool finished_ = false;
};

}  // namespace ckpt::io
