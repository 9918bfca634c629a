// Compression micro-benchmarks behind docs/compression.md: parallel deflate
// against one zlib stream, block sizes, zlib against libdeflate for inflating
// and for CRC-32, and the npy headers of small deflated members (our prefix
// decoder against zlib). The data are float32 weights (normal, σ 0.02): their low
// mantissa bits are noise, so deflate does real work and saves ~7 %.
#include <benchmark/benchmark.h>
#include <libdeflate.h>
#include <zlib.h>

#include <array>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "io/atomic_file.h"
#include "io/deflate.h"
#include "io/formats/zip.h"
#include "io/inflate_prefix.h"
#include "io/parallel_deflate.h"

namespace {

using ckpt::io::kDeflateWindowBytes;

const std::vector<std::byte>& weights() {
  static const std::vector<std::byte> data = [] {
    std::vector<std::byte> b(std::size_t{32} << 20);
    std::mt19937 rng(7);
    std::normal_distribution<float> d(0.f, 0.02f);
    for (std::size_t k = 0; k < b.size(); k += 4) {
      const float v = d(rng);
      std::memcpy(b.data() + k, &v, 4);
    }
    return b;
  }();
  return data;
}

const std::vector<std::byte>& compressed() {
  static const std::vector<std::byte> z = [] {
    std::vector<std::byte> out;
    ckpt::io::RawDeflater d([&](std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); }, 6);
    d.feed(weights());
    d.finish();
    return out;
  }();
  return z;
}

unsigned all_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

// One zlib stream over the whole buffer: what the writer did before.
void BM_DeflateOneZlibStream(benchmark::State& s) {
  const auto& in = weights();
  std::uint64_t out_bytes = 0;
  for (auto _ : s) {
    out_bytes = 0;
    ckpt::io::RawDeflater d([&](std::span<const std::byte> b) { out_bytes += b.size(); }, 6);
    d.feed(in);
    d.finish();
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * in.size()));
  s.counters["ratio"] = static_cast<double>(out_bytes) / static_cast<double>(in.size());
}
BENCHMARK(BM_DeflateOneZlibStream)->Unit(benchmark::kMillisecond)->UseRealTime();

// libdeflate, whole buffer, same level: the speed zlib's blocks forgo, since
// libdeflate cannot end a block byte-aligned without ending the stream.
void BM_DeflateLibdeflateWhole(benchmark::State& s) {
  const auto& in = weights();
  libdeflate_compressor* c = libdeflate_alloc_compressor(6);
  std::vector<std::byte> out(libdeflate_deflate_compress_bound(c, in.size()));
  std::size_t n = 0;
  for (auto _ : s) n = libdeflate_deflate_compress(c, in.data(), in.size(), out.data(), out.size());
  libdeflate_free_compressor(c);
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * in.size()));
  s.counters["ratio"] = static_cast<double>(n) / static_cast<double>(in.size());
}
BENCHMARK(BM_DeflateLibdeflateWhole)->Unit(benchmark::kMillisecond)->UseRealTime();

// Blocks of `range(0)` bytes on `range(1)` threads (0: all), in flight at
// most two per thread and collected in order, as the zip writer does.
void BM_DeflateBlocks(benchmark::State& s) {
  const auto& in = weights();
  const auto block = static_cast<std::size_t>(s.range(0));
  const unsigned threads = s.range(1) == 0 ? all_threads() : static_cast<unsigned>(s.range(1));
  std::uint64_t out_bytes = 0;
  for (auto _ : s) {
    out_bytes = 0;
    ckpt::io::DeflatePool pool(threads);
    std::deque<std::shared_ptr<ckpt::io::DeflateBlock>> q;
    const auto collect = [&] {
      pool.wait(*q.front());
      out_bytes += q.front()->out.size();
      q.pop_front();
    };
    for (std::size_t pos = 0; pos < in.size(); pos += block) {
      auto b = std::make_shared<ckpt::io::DeflateBlock>();
      const std::size_t n = std::min(block, in.size() - pos);
      b->in.assign(in.begin() + static_cast<std::ptrdiff_t>(pos), in.begin() + static_cast<std::ptrdiff_t>(pos + n));
      if (pos > 0) b->dict.assign(in.begin() + static_cast<std::ptrdiff_t>(pos - kDeflateWindowBytes), in.begin() + static_cast<std::ptrdiff_t>(pos));
      b->last = pos + n == in.size();
      q.push_back(b);
      pool.submit(std::move(b));
      while (q.size() > 2 * std::size_t{threads}) collect();
    }
    while (!q.empty()) collect();
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * in.size()));
  s.counters["ratio"] = static_cast<double>(out_bytes) / static_cast<double>(in.size());
  s.counters["threads"] = threads;
}
BENCHMARK(BM_DeflateBlocks)
    ->Args({256 << 10, 1})->Args({1 << 20, 1})->Args({4 << 20, 1})
    ->Args({256 << 10, 0})->Args({1 << 20, 0})->Args({4 << 20, 0})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// The real writer into a file (page cache, no fsync): 1 thread, then all.
void BM_ZipWriterDeflate(benchmark::State& s) {
  const auto& in = weights();
  const unsigned threads = s.range(0) == 0 ? all_threads() : static_cast<unsigned>(s.range(0));
  const auto path = (std::filesystem::temp_directory_path() / "ckpt_micro_deflate.zip").string();
  for (auto _ : s) {
    ckpt::io::AtomicFile out(path, false);
    ckpt::io::zip::Writer w(out, threads);
    // Eight members, fed in 4 MiB pieces as a tensor stream is.
    for (int m = 0; m < 8; ++m) {
      w.begin_member("w" + std::to_string(m) + ".npy", ckpt::io::zip::kDeflated);
      const auto part = std::span<const std::byte>(in).subspan(m * in.size() / 8, in.size() / 8);
      for (std::size_t pos = 0; pos < part.size(); pos += 4 << 20)
        w.write(part.subspan(pos, std::min<std::size_t>(4 << 20, part.size() - pos)));
      w.end_member();
    }
    w.finish();
    out.commit();
  }
  std::filesystem::remove(path);
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * in.size()));
  s.counters["threads"] = threads;
}
BENCHMARK(BM_ZipWriterDeflate)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_InflateZlib(benchmark::State& s) {
  const auto& z = compressed();
  std::vector<std::byte> out(std::size_t{4} << 20);
  for (auto _ : s) {
    z_stream st{};
    inflateInit2(&st, -15);
    st.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(z.data()));
    st.avail_in = static_cast<uInt>(z.size());
    int rc = Z_OK;
    while (rc == Z_OK) {
      st.next_out = reinterpret_cast<Bytef*>(out.data());
      st.avail_out = static_cast<uInt>(out.size());
      rc = inflate(&st, Z_NO_FLUSH);
    }
    inflateEnd(&st);
    if (rc != Z_STREAM_END) s.SkipWithError("inflate failed");
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * weights().size()));
}
BENCHMARK(BM_InflateZlib)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_InflateLibdeflate(benchmark::State& s) {
  const auto& z = compressed();
  std::vector<std::byte> out(weights().size());
  libdeflate_decompressor* d = libdeflate_alloc_decompressor();
  for (auto _ : s) {
    if (libdeflate_deflate_decompress(d, z.data(), z.size(), out.data(), out.size(), nullptr) != LIBDEFLATE_SUCCESS)
      s.SkipWithError("decompress failed");
  }
  libdeflate_free_decompressor(d);
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * weights().size()));
}
BENCHMARK(BM_InflateLibdeflate)->Unit(benchmark::kMillisecond)->UseRealTime();

// Our inflate_raw with a sink that copies each chunk, as writing a file does:
// range 1 the libdeflate whole-buffer path, 0 zlib on the helper thread.
void BM_InflateRawWithSink(benchmark::State& s) {
  const auto& z = compressed();
  const auto& want = weights();
  ckpt::io::set_whole_inflate_limit(s.range(0) ? ckpt::io::kWholeInflateBytes : 0);
  std::vector<std::byte> copy(std::size_t{4} << 20);
  const std::uint32_t crc = ckpt::io::crc32_update(0, want);
  for (auto _ : s) {
    ckpt::io::inflate_raw(z, want.size(), crc, [&](std::span<const std::byte> c) {
      std::memcpy(copy.data(), c.data(), std::min(c.size(), copy.size()));
      benchmark::ClobberMemory();
    }, "bench", 0);
  }
  ckpt::io::set_whole_inflate_limit(ckpt::io::kWholeInflateBytes);
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * want.size()));
}
BENCHMARK(BM_InflateRawWithSink)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();

// The npy headers of many small deflated members (np.savez_compressed of
// 1 KiB float32 arrays): the first 128 inflated bytes of each, read as the
// .npz reader does (12 bytes, then the rest), by our prefix decoder
// (range 1) and by zlib (range 0). Per member: the listing's hot loop.
// Each small member: a 128-byte npy header and 1 KiB of float32 data.
constexpr std::size_t kHeader = 128, kData = 1024;

const std::vector<std::vector<std::byte>>& small_members() {
  static const std::vector<std::vector<std::byte>> members = [] {
    constexpr std::size_t kMembers = 4096;
    std::vector<std::vector<std::byte>> out;
    std::string header = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (256,), }";
    header.resize(kHeader - 1, ' ');
    header += '\n';
    const auto& w = weights();
    for (std::size_t k = 0; k < kMembers; ++k) {
      std::vector<std::byte> image(kHeader + kData);
      std::memcpy(image.data(), header.data(), kHeader);
      std::memcpy(image.data() + kHeader, w.data() + k * kData, kData);
      std::vector<std::byte> z;
      ckpt::io::RawDeflater d([&](std::span<const std::byte> b) { z.insert(z.end(), b.begin(), b.end()); }, 6);
      d.feed(image);
      d.finish();
      out.push_back(std::move(z));
    }
    return out;
  }();
  return members;
}

void BM_InflateNpyHeaders(benchmark::State& s) {
  const auto& members = small_members();
  std::array<std::byte, 128> out{};
  ckpt::io::InflatePrefix ours;
  z_stream st{};
  inflateInit2(&st, -15);
  // libdeflate has no partial output: it inflates the whole member.
  libdeflate_decompressor* whole = libdeflate_alloc_decompressor();
  std::vector<std::byte> image(kHeader + kData);
  for (auto _ : s) {
    for (const auto& m : members) {
      if (s.range(0) == 2) {
        if (libdeflate_deflate_decompress(whole, m.data(), m.size(), image.data(), image.size(), nullptr) != LIBDEFLATE_SUCCESS)
          s.SkipWithError("libdeflate failed");
        std::memcpy(out.data(), image.data(), out.size());
      } else if (s.range(0)) {
        ours.start(m);
        if (ours.extend(out, 12) != ckpt::io::InflatePrefix::Status::Filled ||
            ours.extend(out, out.size()) != ckpt::io::InflatePrefix::Status::Filled)
          s.SkipWithError("prefix decoder declined");
      } else {
        inflateReset(&st);
        st.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(m.data()));
        st.avail_in = static_cast<uInt>(m.size());
        st.next_out = reinterpret_cast<Bytef*>(out.data());
        st.avail_out = 12;
        inflate(&st, Z_SYNC_FLUSH);
        st.avail_out = static_cast<uInt>(out.size() - 12);
        if (inflate(&st, Z_SYNC_FLUSH) != Z_OK || st.avail_out != 0) s.SkipWithError("zlib failed");
      }
      benchmark::DoNotOptimize(out);
    }
  }
  inflateEnd(&st);
  libdeflate_free_decompressor(whole);
  s.counters["s_per_member"] = benchmark::Counter(static_cast<double>(members.size()),
                                                   benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
// 1: our prefix decoder, 0: zlib, 2: libdeflate (whole member).
BENCHMARK(BM_InflateNpyHeaders)->Arg(1)->Arg(0)->Arg(2)->Unit(benchmark::kMillisecond);

void BM_Crc32Zlib(benchmark::State& s) {
  const auto& in = weights();
  for (auto _ : s) benchmark::DoNotOptimize(::crc32(0, reinterpret_cast<const Bytef*>(in.data()), static_cast<uInt>(in.size())));
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * in.size()));
}
BENCHMARK(BM_Crc32Zlib)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Crc32Libdeflate(benchmark::State& s) {
  const auto& in = weights();
  for (auto _ : s) benchmark::DoNotOptimize(libdeflate_crc32(0, in.data(), in.size()));
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * in.size()));
}
BENCHMARK(BM_Crc32Libdeflate)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
