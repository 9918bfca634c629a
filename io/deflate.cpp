#include "io/deflate.h"

#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <future>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "io/error.h"
#include "io/limits.h"

namespace ckpt::io {

std::uint32_t crc32_update(std::uint32_t crc, std::span<const std::byte> bytes) noexcept {
  // libdeflate's CRC folds with carry-less multiplies: 4× zlib 1.2.13's
  // tables on the same data (docs/compression.md), and the same numbers.
  return ::libdeflate_crc32(crc, bytes.data(), bytes.size());
}

std::uint32_t crc32_combine_any(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t len_b) noexcept {
  return static_cast<std::uint32_t>(::crc32_combine(crc_a, crc_b, static_cast<z_off_t>(len_b)));
}

std::uint32_t crc32_alongside(std::uint32_t crc, std::span<const std::byte> bytes, const std::function<void()>& work) {
  // Below 2 MiB starting a thread costs about what the CRC it would take
  // over does (~170 µs at libdeflate's 12 GB/s).
  if (bytes.size() < (std::size_t{2} << 20)) {
    work();
    return crc32_update(crc, bytes);
  }
  auto part = std::async(std::launch::async, [bytes] { return crc32_update(0, bytes); });
  work();  // if this throws, the future's destructor waits for the thread
  return crc32_combine_any(crc, part.get(), bytes.size());
}

namespace {

std::atomic<std::uint64_t> g_whole_limit{kWholeInflateBytes};

struct InflateStream {
  z_stream z{};
  bool ok = false;
  InflateStream() { ok = ::inflateInit2(&z, -15) == Z_OK; }
  ~InflateStream() {
    if (ok) ::inflateEnd(&z);
  }
  InflateStream(const InflateStream&) = delete;
  InflateStream& operator=(const InflateStream&) = delete;
};

struct DecompressorFree {
  void operator()(libdeflate_decompressor* d) const noexcept { ::libdeflate_free_decompressor(d); }
};

[[noreturn]] void too_long(const std::string& label, std::uint64_t offset, std::uint64_t expected_size) {
  throw Error(label, offset, "the compressed data inflates to more than the " + std::to_string(expected_size) +
                                 " bytes the archive declares");
}

void check_total(std::uint64_t produced, std::uint64_t expected_size, std::optional<std::uint32_t> expected_crc,
                 std::uint32_t crc, const std::string& label, std::uint64_t offset) {
  if (produced != expected_size)
    throw Error(label, offset, "the compressed data inflates to " + std::to_string(produced) + " bytes, not the " +
                                   std::to_string(expected_size) + " the archive declares");
  if (expected_crc && crc != *expected_crc)
    throw Error(label, offset, "CRC-32 mismatch: the data is corrupt (expected " + std::to_string(*expected_crc) +
                                   ", computed " + std::to_string(crc) + ")");
}

// zlib, chunk by chunk: `emit` gets each chunk as it is inflated. Throws the
// truncated / corrupt / too long sentences; the caller checks the total.
template <class Emit>
std::uint64_t inflate_zlib(std::span<const std::byte> in, std::uint64_t expected_size, std::span<std::byte> buf,
                           const Emit& emit, const std::string& label, std::uint64_t offset) {
  InflateStream s;
  if (!s.ok) throw Error(label, offset, "cannot start the deflate decoder (out of memory)");
  std::uint64_t produced = 0;
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
    s.z.next_out = reinterpret_cast<Bytef*>(buf.data());
    s.z.avail_out = static_cast<uInt>(buf.size());
    rc = ::inflate(&s.z, Z_NO_FLUSH);
    const std::size_t got = buf.size() - s.z.avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END) {
      if (rc == Z_BUF_ERROR && s.z.avail_in == 0 && left == 0)
        throw Error(label, offset, "the compressed data ends before the deflate stream does (truncated member)");
      throw Error(label, offset, std::string("the compressed data is corrupt (") + (s.z.msg ? s.z.msg : "deflate error") + ")");
    }
    if (got > 0) {
      if (produced + got > expected_size) too_long(label, offset, expected_size);
      produced += got;
      if (!emit(std::span<const std::byte>(buf.data(), got))) return produced;
    }
  }
  return produced;
}

libdeflate_decompressor* thread_decompressor() noexcept {
  thread_local std::unique_ptr<libdeflate_decompressor, DecompressorFree> dec;
  if (!dec) dec.reset(::libdeflate_alloc_decompressor());
  return dec.get();
}

// Whole member at once with libdeflate (1.5× zlib on float weights). Returns
// false, having called nothing, when libdeflate rejects the data: zlib then
// says exactly what is wrong (truncated, corrupt, too long).
bool inflate_whole(std::span<const std::byte> in, std::uint64_t expected_size, std::optional<std::uint32_t> expected_crc,
                   const ByteSink& sink, const std::string& label, std::uint64_t offset) {
  libdeflate_decompressor* dec = thread_decompressor();
  if (!dec) return false;
  const auto n = static_cast<std::size_t>(expected_size);
  // Sized by the caller's declared size, which the ratio check bounded by
  // the compressed bytes and the whole-buffer limit bounds absolutely.
  auto out = std::make_unique_for_overwrite<std::byte[]>(std::max<std::size_t>(n, 1));
  std::size_t used_in = 0, got = 0;
  const auto rc = ::libdeflate_deflate_decompress_ex(dec, in.data(), in.size(), out.get(), n, &used_in, &got);
  if (rc == LIBDEFLATE_INSUFFICIENT_SPACE) too_long(label, offset, expected_size);
  if (rc != LIBDEFLATE_SUCCESS || got != n) return false;
  const std::span<const std::byte> all(out.get(), n);
  // Checked before any byte is handed out: the CRC costs ~1 % of the inflate.
  check_total(got, expected_size, expected_crc, expected_crc ? crc32_update(0, all) : 0, label, offset);
  for (std::size_t pos = 0; pos < n; pos += kChunkBytes) sink(all.subspan(pos, std::min(kChunkBytes, n - pos)));
  return true;
}

// zlib on a helper thread, into a few chunk buffers, while this thread
// checksums and hands out the chunks before them: the sink's work (writing,
// converting) overlaps the inflating. Memory: kChunkBytes × kBuffers.
void inflate_overlapped(std::span<const std::byte> in, std::uint64_t expected_size,
                        std::optional<std::uint32_t> expected_crc, const ByteSink& sink, const std::string& label,
                        std::uint64_t offset) {
  constexpr std::size_t kBuffers = 3;
  struct Chunk {
    std::vector<std::byte> bytes;
    std::size_t size = 0;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::array<Chunk, kBuffers> ring;
  for (auto& c : ring) c.bytes.resize(kChunkBytes);
  std::size_t filled = 0, consumed = 0;  // chunks produced / consumed so far; ring slot = count % kBuffers
  bool finished = false, cancelled = false;
  std::exception_ptr error;
  std::uint64_t produced = 0;

  std::thread producer([&] {
    try {
      std::size_t slot = 0;
      std::span<std::byte> buf;
      {
        std::unique_lock lock(mu);
        buf = ring[0].bytes;
      }
      std::size_t fill = 0;
      // Whole chunks are handed over; zlib's output is gathered until one is full.
      const auto flush_chunk = [&] {
        std::unique_lock lock(mu);
        ring[slot].size = fill;
        ++filled;
        cv.notify_all();
        cv.wait(lock, [&] { return cancelled || filled - consumed < kBuffers; });
        if (cancelled) {
          fill = 0;
          return false;
        }
        slot = filled % kBuffers;
        buf = ring[slot].bytes;
        fill = 0;
        return true;
      };
      std::vector<std::byte> scratch(std::size_t{256} << 10);
      produced = inflate_zlib(in, expected_size, scratch,
                              [&](std::span<const std::byte> c) {
                                while (!c.empty()) {
                                  const std::size_t k = std::min(c.size(), buf.size() - fill);
                                  std::memcpy(buf.data() + fill, c.data(), k);
                                  fill += k;
                                  c = c.subspan(k);
                                  if (fill == buf.size() && !flush_chunk()) return false;
                                }
                                return true;
                              },
                              label, offset);
      if (fill > 0) (void)flush_chunk();
    } catch (...) {
      std::lock_guard lock(mu);
      error = std::current_exception();
    }
    std::lock_guard lock(mu);
    finished = true;
    cv.notify_all();
  });
  // Whatever happens below, the helper is told to stop and is joined.
  struct Join {
    std::thread& t;
    std::mutex& mu;
    std::condition_variable& cv;
    bool& cancelled;
    ~Join() {
      {
        std::lock_guard lock(mu);
        cancelled = true;
      }
      cv.notify_all();
      t.join();
    }
  } join{producer, mu, cv, cancelled};

  std::uint32_t crc = 0;
  for (;;) {
    Chunk* c = nullptr;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return consumed < filled || finished; });
      if (consumed == filled) break;  // finished, and nothing left to hand out
      c = &ring[consumed % kBuffers];
    }
    const std::span<const std::byte> chunk(c->bytes.data(), c->size);
    if (expected_crc) crc = crc32_update(crc, chunk);
    sink(chunk);
    {
      std::lock_guard lock(mu);
      ++consumed;
    }
    cv.notify_all();
  }
  {
    std::lock_guard lock(mu);
    if (error) std::rethrow_exception(error);
  }
  check_total(produced, expected_size, expected_crc, crc, label, offset);
}

}  // namespace

void set_whole_inflate_limit(std::uint64_t bytes) noexcept { g_whole_limit.store(bytes, std::memory_order_relaxed); }

bool inflate_exact(std::span<const std::byte> in, std::span<std::byte> out) noexcept {
  libdeflate_decompressor* dec = thread_decompressor();
  if (!dec) return false;
  std::size_t got = 0;
  return ::libdeflate_deflate_decompress(dec, in.data(), in.size(), out.data(), out.size(), &got) == LIBDEFLATE_SUCCESS &&
         got == out.size();
}

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
  if (expected_size <= g_whole_limit.load(std::memory_order_relaxed) &&
      inflate_whole(in, expected_size, expected_crc, sink, label, offset))
    return;
  // Large members, and the diagnosis of data libdeflate rejected. Small
  // members are not worth a thread.
  if (expected_size > 2 * kChunkBytes) {
    inflate_overlapped(in, expected_size, expected_crc, sink, label, offset);
    return;
  }
  std::vector<std::byte> buf(std::min<std::uint64_t>(kChunkBytes, std::max<std::uint64_t>(expected_size, 1)));
  std::uint32_t crc = 0;
  const std::uint64_t produced = inflate_zlib(in, expected_size, buf,
                                              [&](std::span<const std::byte> chunk) {
                                                if (expected_crc) crc = crc32_update(crc, chunk);
                                                sink(chunk);
                                                return true;
                                              },
                                              label, offset);
  check_total(produced, expected_size, expected_crc, crc, label, offset);
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
