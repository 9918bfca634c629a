#include "io/deflate.h"

#include <zlib.h>

#include <algorithm>
#include <future>
#include <limits>
#include <vector>

#include "io/error.h"
#include "io/limits.h"

namespace ckpt::io {

std::uint32_t crc32_update(std::uint32_t crc, std::span<const std::byte> bytes) noexcept {
  const auto* p = reinterpret_cast<const Bytef*>(bytes.data());
  std::size_t n = bytes.size();
  uLong c = crc;
  while (n > 0) {
    const auto step = static_cast<uInt>(std::min<std::size_t>(n, std::numeric_limits<uInt>::max()));
    c = ::crc32(c, p, step);
    p += step;
    n -= step;
  }
  return static_cast<std::uint32_t>(c);
}

std::uint32_t crc32_combine_any(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t len_b) noexcept {
  return static_cast<std::uint32_t>(::crc32_combine(crc_a, crc_b, static_cast<z_off_t>(len_b)));
}

std::uint32_t crc32_alongside(std::uint32_t crc, std::span<const std::byte> bytes, const std::function<void()>& work) {
  if (bytes.size() < (std::size_t{1} << 20)) {
    work();
    return crc32_update(crc, bytes);
  }
  auto part = std::async(std::launch::async, [bytes] { return crc32_update(0, bytes); });
  work();  // if this throws, the future's destructor waits for the thread
  return static_cast<std::uint32_t>(::crc32_combine(crc, part.get(), static_cast<z_off_t>(bytes.size())));
}

namespace {
struct InflateStream {
  z_stream z{};
  bool ok = false;
  InflateStream() { ok = ::inflateInit2(&z, -15) == Z_OK; }
  ~InflateStream() {
    if (ok) ::inflateEnd(&z);
  }
};
}  // namespace

void inflate_raw(std::span<const std::byte> in, std::uint64_t expected_size,
                 std::optional<std::uint32_t> expected_crc, const ByteSink& sink,
                 const std::string& label, std::uint64_t offset) {
  // Callers pass sizes their headers declared; checking the ratio here as
  // well keeps a bomb from being inflated by a caller that forgot to.
  constexpr std::uint64_t kSlack = 1024;  // the fixed cost of tiny streams
  if (expected_size > kSlack && (expected_size - kSlack) / kMaxDeflateRatio > in.size())
    throw Error(label, offset, "the compressed data claims " + std::to_string(expected_size) + " bytes from " +
                                   std::to_string(in.size()) + ", beyond deflate's " + std::to_string(kMaxDeflateRatio) +
                                   ":1 maximum ratio");
  InflateStream s;
  if (!s.ok) throw Error(label, offset, "cannot start the deflate decoder (out of memory)");
  std::vector<std::byte> out(std::min<std::uint64_t>(kChunkBytes, std::max<std::uint64_t>(expected_size, 1)));
  std::uint64_t produced = 0;
  std::uint32_t crc = 0;
  const auto* next = reinterpret_cast<const Bytef*>(in.data());
  std::size_t left = in.size();
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (s.z.avail_in == 0 && left > 0) {
      s.z.next_in = const_cast<Bytef*>(next);
      const auto step = static_cast<uInt>(std::min<std::size_t>(left, 1u << 30));
      s.z.avail_in = step;
      next += step;
      left -= step;
    }
    s.z.next_out = reinterpret_cast<Bytef*>(out.data());
    s.z.avail_out = static_cast<uInt>(out.size());
    rc = ::inflate(&s.z, Z_NO_FLUSH);
    const std::size_t got = out.size() - s.z.avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END) {
      if (rc == Z_BUF_ERROR && s.z.avail_in == 0 && left == 0)
        throw Error(label, offset, "the compressed data ends before the deflate stream does (truncated member)");
      throw Error(label, offset, std::string("the compressed data is corrupt (") + (s.z.msg ? s.z.msg : "deflate error") + ")");
    }
    if (got > 0) {
      if (produced + got > expected_size)
        throw Error(label, offset, "the compressed data inflates to more than the " + std::to_string(expected_size) +
                                       " bytes the archive declares");
      std::span<const std::byte> chunk(out.data(), got);
      if (expected_crc) crc = crc32_update(crc, chunk);
      sink(chunk);
      produced += got;
    }
  }
  if (produced != expected_size)
    throw Error(label, offset, "the compressed data inflates to " + std::to_string(produced) + " bytes, not the " +
                                   std::to_string(expected_size) + " the archive declares");
  if (expected_crc && crc != *expected_crc)
    throw Error(label, offset, "CRC-32 mismatch: the data is corrupt (expected " + std::to_string(*expected_crc) +
                                   ", computed " + std::to_string(crc) + ")");
}

struct RawDeflater::Impl {
  z_stream z{};
  std::vector<std::byte> buf = std::vector<std::byte>(1 << 20);
};

RawDeflater::RawDeflater(ByteSink sink, int level) : impl_(std::make_unique<Impl>()), sink_(std::move(sink)) {
  if (::deflateInit2(&impl_->z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Error("", kNoOffset, "cannot start the deflate encoder (out of memory)");
}

RawDeflater::~RawDeflater() { ::deflateEnd(&impl_->z); }

void RawDeflater::pump(int flush) {
  auto& z = impl_->z;
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(impl_->buf.data());
    z.avail_out = static_cast<uInt>(impl_->buf.size());
    rc = ::deflate(&z, flush);
    const std::size_t got = impl_->buf.size() - z.avail_out;
    if (got) {
      sink_(std::span<const std::byte>(impl_->buf.data(), got));
      out_ += got;
    }
  } while (z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
}

void RawDeflater::feed(std::span<const std::byte> in) {
  crc_ = crc32_update(crc_, in);
  feed_unchecked(in);
}

void RawDeflater::feed_unchecked(std::span<const std::byte> in) {
  in_ += in.size();
  const auto* p = reinterpret_cast<const Bytef*>(in.data());
  std::size_t n = in.size();
  while (n > 0) {
    const auto step = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
    impl_->z.next_in = const_cast<Bytef*>(p);
    impl_->z.avail_in = step;
    pump(Z_NO_FLUSH);
    p += step;
    n -= step;
  }
}

void RawDeflater::finish() {
  if (finished_) return;
  impl_->z.next_in = nullptr;
  impl_->z.avail_in = 0;
  pump(Z_FINISH);
  finished_ = true;
}

}  // namespace ckpt::io
