#include "model/tensor_stats.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>

#include "io/error.h"
#include "io/float_convert.h"
#include "io/formats/ggml_quants.h"
#include "io/thread_pool.h"

namespace ckpt::model {
namespace {

using io::DType;
using io::DTypeKind;

// The smallest whole piece of a tensor's bytes: one element, or one block of
// a packed or quantized type. Chunks and reads always start on one.
struct Unit {
  std::uint64_t elems;
  std::uint64_t bytes;
};

std::string describe(const io::TensorInfo& t) {
  return t.name.empty() ? std::string("the tensor") : "tensor '" + t.name + "'";
}

Unit unit_of(const io::TensorInfo& t) {
  const auto& i = io::info(t.dtype);
  const bool ok = i.kind != DTypeKind::Unknown && (i.kind != DTypeKind::Quantized || io::can_dequantize(t.dtype));
  if (!ok)
    throw io::Error(t.file, t.offset,
                    describe(t) + " has dtype " + std::string(i.name) + ", whose values this build cannot decode");
  if (!t.data) throw io::Error(t.file, t.offset, "the data of " + describe(t) + " cannot be read");
  return {i.block_elems, i.block_bytes};
}

// Wide types keep their precision in double; everything else decodes to
// float, which is exact for them and twice as fast to scan.
bool wants_double(DType t) {
  switch (io::info(t).kind) {
    case DTypeKind::Complex: return true;
    case DTypeKind::Signed:
    case DTypeKind::Unsigned: return io::item_size(t) >= 4;
    case DTypeKind::Float: return t == DType::F64;
    case DTypeKind::Bool:
    case DTypeKind::Quantized:
    case DTypeKind::Unknown: return false;
  }
  return false;
}

void decode(DType t, const std::byte* src, std::uint64_t n, float* out) {
  if (io::is_quantized(t)) io::dequantize(t, src, out, static_cast<std::int64_t>(n));
  else io::convert_to_f32(t, src, out, static_cast<std::size_t>(n));
}

// Complex values become their magnitude for statistics and their real part
// for value windows (what a table of numbers can show).
void decode(DType t, const std::byte* src, std::uint64_t n, double* out, bool complex_real = false) {
  const std::size_t item = io::item_size(t);
  if (t == DType::F64) {
    std::memcpy(out, src, static_cast<std::size_t>(n) * 8);
  } else if (io::info(t).kind == DTypeKind::Complex) {
    for (std::uint64_t i = 0; i < n; ++i) {
      const double re = io::element_to_double(t, src + i * item);
      out[i] = complex_real ? re : std::hypot(re, io::element_imag(t, src + i * item));
    }
  } else if (wants_double(t)) {
    for (std::uint64_t i = 0; i < n; ++i) out[i] = io::element_to_double(t, src + i * item);
  } else {
    // Narrow types: exact through float.
    std::vector<float> f(static_cast<std::size_t>(n));
    decode(t, src, n, f.data());
    std::copy(f.begin(), f.end(), out);
  }
}

// ---- pass 1: counts, extremes and moments -----------------------------------

struct Moments {
  std::uint64_t count = 0, nan = 0, inf = 0, zeros = 0;
  std::uint64_t n = 0;  // finite values
  double mean = 0, m2 = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();

  // Chan et al.'s pairwise update: stable whatever the sizes of the parts.
  void merge(const Moments& o) {
    count += o.count;
    nan += o.nan;
    inf += o.inf;
    zeros += o.zeros;
    min = std::min(min, o.min);
    max = std::max(max, o.max);
    if (o.n == 0) return;
    if (n == 0) {
      n = o.n;
      mean = o.mean;
      m2 = o.m2;
      return;
    }
    const double na = static_cast<double>(n), nb = static_cast<double>(o.n), nt = na + nb;
    const double d = o.mean - mean;
    mean += d * nb / nt;
    m2 += o.m2 + d * d * na * nb / nt;
    n += o.n;
  }
};

constexpr std::size_t kLanes = 8;
constexpr std::size_t kBatch = 4096;  // values decoded at a time; a multiple of every block size

// One batch (L1-resident) in two simple loops over independent lanes, so the
// compiler can keep them in vector registers: sums, counts and extremes,
// then squared deviations about the batch mean.
template <class T>
Moments scan_batch(const T* v, std::size_t n) {
  double sum[kLanes] = {}, mn[kLanes], mx[kLanes];
  std::uint64_t fin[kLanes] = {}, zer[kLanes] = {}, nan[kLanes] = {};
  for (std::size_t j = 0; j < kLanes; ++j) {
    mn[j] = std::numeric_limits<double>::infinity();
    mx[j] = -std::numeric_limits<double>::infinity();
  }
  const std::size_t whole = n / kLanes * kLanes;
  auto step = [&](std::size_t j, T x) {
    const double d = static_cast<double>(x);
    const bool finite = (d - d) == 0.0;  // false for NaN and ±Inf
    const double f = finite ? d : 0.0;
    sum[j] += f;
    fin[j] += finite;
    zer[j] += d == 0.0;
    nan[j] += d != d;
    mn[j] = std::min(mn[j], finite ? d : std::numeric_limits<double>::infinity());
    mx[j] = std::max(mx[j], finite ? d : -std::numeric_limits<double>::infinity());
  };
  for (std::size_t i = 0; i < whole; i += kLanes)
    for (std::size_t j = 0; j < kLanes; ++j) step(j, v[i + j]);
  for (std::size_t i = whole; i < n; ++i) step(i - whole, v[i]);

  Moments m;
  double s = 0;
  for (std::size_t j = 0; j < kLanes; ++j) {
    s += sum[j];
    m.n += fin[j];
    m.zeros += zer[j];
    m.nan += nan[j];
    m.min = std::min(m.min, mn[j]);
    m.max = std::max(m.max, mx[j]);
  }
  m.count = n;
  m.inf = n - m.n - m.nan;
  if (m.n == 0) return m;
  m.mean = s / static_cast<double>(m.n);
  double sq[kLanes] = {};
  const double mean = m.mean;
  auto dev = [&](std::size_t j, T x) {
    const double d = static_cast<double>(x);
    const double e = (d - d) == 0.0 ? d - mean : 0.0;
    sq[j] += e * e;
  };
  for (std::size_t i = 0; i < whole; i += kLanes)
    for (std::size_t j = 0; j < kLanes; ++j) dev(j, v[i + j]);
  for (std::size_t i = whole; i < n; ++i) dev(i - whole, v[i]);
  for (std::size_t j = 0; j < kLanes; ++j) m.m2 += sq[j];
  return m;
}

// The float path (f32, f16, bf16, f8, block types: nearly every tensor) in
// explicit vectors of eight floats, because GCC at -O2 does not vectorise the
// generic loop above. The same source is compiled twice, for the baseline ISA
// (each 32-byte vector becomes two SSE2 registers) and for AVX2, chosen at
// run time; both do the same operations on the same eight lanes in the same
// order, so results do not depend on the CPU. Sums and squares are kept in
// double so a 4096-value batch loses nothing to float rounding.
typedef float v8f __attribute__((vector_size(32)));
typedef double v4d __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
typedef int v4i __attribute__((vector_size(16)));

#define CKPT_INLINE inline __attribute__((always_inline))

// Macros, not functions: passing 32-byte vectors by value to a function
// built without AVX is an ABI change GCC warns about.
#define CKPT_LOW_HALF(x) __builtin_convertvector(__builtin_shufflevector(x, x, 0, 1, 2, 3), v4d)
#define CKPT_HIGH_HALF(x) __builtin_convertvector(__builtin_shufflevector(x, x, 4, 5, 6, 7), v4d)

// Sums and squares go into four double lanes (element i into lane i % 4,
// reduced ((l0 + l1) + l2) + l3), the order of the earlier SSE2 loop, so
// the statistics come out bit for bit as they did before and on every CPU.
CKPT_INLINE Moments scan_floats(const float* v, std::size_t n) {
  const std::size_t whole8 = n / 8 * 8, whole = n / 4 * 4;
  const float big = std::numeric_limits<float>::infinity();
  const v8f zero = {}, pos_big = zero + big;
  v8f mn = pos_big, mx = -pos_big;
  v4d sum = {};
  v8i fin = {}, zer = {}, nan = {};  // counts as negated masks; a batch is far below 2^31
  for (std::size_t i = 0; i < whole8; i += 8) {
    v8f x;
    std::memcpy(&x, v + i, sizeof x);
    const v8i f = (x - x) == zero;  // -1 where finite
    const v8f xs = f ? x : zero;
    sum += CKPT_LOW_HALF(xs);
    sum += CKPT_HIGH_HALF(xs);
    fin -= f;
    zer -= (x == zero);
    nan -= (x != x);
    mn = f ? (x < mn ? x : mn) : mn;
    mx = f ? (x > mx ? x : mx) : mx;
  }
  Moments m;
  if (whole > whole8) {  // one group of four left for the lanes
    v4d x = {v[whole8], v[whole8 + 1], v[whole8 + 2], v[whole8 + 3]};
    for (int j = 0; j < 4; ++j) {
      const bool finite = (x[j] - x[j]) == 0.0;
      m.zeros += x[j] == 0.0;
      m.nan += x[j] != x[j];
      if (!finite) {
        x[j] = 0;
        continue;
      }
      ++m.n;
      m.min = std::min(m.min, x[j]);
      m.max = std::max(m.max, x[j]);
    }
    sum += x;
  }
  double s = sum[0] + sum[1] + sum[2] + sum[3];
  for (int j = 0; j < 8; ++j) {
    m.n += static_cast<std::uint64_t>(fin[j]);
    m.zeros += static_cast<std::uint64_t>(zer[j]);
    m.nan += static_cast<std::uint64_t>(nan[j]);
    m.min = std::min(m.min, static_cast<double>(mn[j]));
    m.max = std::max(m.max, static_cast<double>(mx[j]));
  }
  for (std::size_t i = whole; i < n; ++i) {
    const double d = v[i];
    const bool finite = (d - d) == 0.0;
    m.zeros += d == 0.0;
    m.nan += d != d;
    if (!finite) continue;
    ++m.n;
    s += d;
    m.min = std::min(m.min, d);
    m.max = std::max(m.max, d);
  }
  m.count = n;
  m.inf = n - m.n - m.nan;
  if (m.n == 0) return m;
  m.mean = s / static_cast<double>(m.n);
  const v4d mean = v4d{} + m.mean, dzero = {};
  v4d sq = dzero;
  for (std::size_t i = 0; i < whole8; i += 8) {
    v8f x;
    std::memcpy(&x, v + i, sizeof x);
    const v8i f = (x - x) == zero;
    const v8f xs = f ? x : zero;
    // Non-finite values contribute 0 by pretending they sit at the mean.
    v4d lo = CKPT_LOW_HALF(xs) - mean, hi = CKPT_HIGH_HALF(xs) - mean;
    lo = CKPT_LOW_HALF(f) != dzero ? lo : dzero;
    hi = CKPT_HIGH_HALF(f) != dzero ? hi : dzero;
    sq += lo * lo;
    sq += hi * hi;
  }
  if (whole > whole8) {
    v4d e = {};
    for (int j = 0; j < 4; ++j) {
      const double d = v[whole8 + static_cast<std::size_t>(j)];
      e[j] = (d - d) == 0.0 ? d - m.mean : 0.0;
    }
    sq += e * e;
  }
  m.m2 = sq[0] + sq[1] + sq[2] + sq[3];
  for (std::size_t i = whole; i < n; ++i) {
    const double d = v[i];
    if ((d - d) == 0.0) m.m2 += (d - m.mean) * (d - m.mean);
  }
  return m;
}

// ---- pass 2: histogram -------------------------------------------------------

struct Binning {
  double lo = 0, scale = 0;
  // Values are multiplied by this before binning: 0.5 when max - min
  // overflows a double (e.g. -1e308 and 1e308), exact for normal numbers.
  double pre = 1;
  int bins = 1;
};

// Equal-width bins over [lo, hi], the last one closed, as numpy.histogram does.
template <class T>
void bin_batch(const T* v, std::size_t n, const Binning& b, std::uint64_t* hist) {
  const double top = static_cast<double>(b.bins - 1);
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(v[i]);
    if (!((d - d) == 0.0)) continue;
    const double x = (d * b.pre - b.lo) * b.scale;
    // `!(x > 0)` also catches NaN, which must never reach the cast.
    const double k = !(x > 0) ? 0.0 : std::min(x, top);
    ++hist[static_cast<std::size_t>(k)];
  }
}

// The float path, eight values at a time: the bin arithmetic in double
// exactly as bin_batch does it, non-finite values sent to the spare slot at
// index `bins` (which the caller ignores) instead of a branch. Lane j counts
// into copy j % copies of the histogram (copies × (bins + 1) slots): runs of
// equal values, common in quantized tensors, would otherwise wait on the
// previous increment of the same counter.
CKPT_INLINE void bin_floats(const float* v, std::size_t n, const Binning& b, std::uint64_t* hist, int copies) {
  const std::size_t whole = n / 8 * 8;
  const v4d pre = v4d{} + b.pre, lo = v4d{} + b.lo, scale = v4d{} + b.scale, dzero = {};
  const v4d top = v4d{} + static_cast<double>(b.bins - 1);
  const v8f zero = {};
  const v8i spare = v8i{} + b.bins;
  const std::size_t stride = static_cast<std::size_t>(b.bins) + 1;
  const std::size_t lane_base[8] = {0, copies > 1 ? stride : 0, copies > 2 ? 2 * stride : 0, copies > 3 ? 3 * stride : 0,
                                    0, copies > 1 ? stride : 0, copies > 2 ? 2 * stride : 0, copies > 3 ? 3 * stride : 0};
  for (std::size_t i = 0; i < whole; i += 8) {
    v8f x;
    std::memcpy(&x, v + i, sizeof x);
    const v8i f = (x - x) == zero;
    v4d xl = (CKPT_LOW_HALF(x) * pre - lo) * scale, xh = (CKPT_HIGH_HALF(x) * pre - lo) * scale;
    // `!(x > 0)` also catches NaN, which must never reach the conversion.
    xl = xl > dzero ? (top < xl ? top : xl) : dzero;
    xh = xh > dzero ? (top < xh ? top : xh) : dzero;
    const v4i kl = __builtin_convertvector(xl, v4i), kh = __builtin_convertvector(xh, v4i);
    v8i k = __builtin_shufflevector(kl, kh, 0, 1, 2, 3, 4, 5, 6, 7);
    k = f ? k : spare;
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) ++hist[lane_base[j] + static_cast<std::size_t>(k[j])];
  }
  bin_batch(v + whole, n - whole, b, hist);
}

#undef CKPT_INLINE
#undef CKPT_LOW_HALF
#undef CKPT_HIGH_HALF

Moments scan_floats_portable(const float* v, std::size_t n) { return scan_floats(v, n); }
void bin_floats_portable(const float* v, std::size_t n, const Binning& b, std::uint64_t* hist, int copies) {
  bin_floats(v, n, b, hist, copies);
}
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) Moments scan_floats_avx2(const float* v, std::size_t n) { return scan_floats(v, n); }
__attribute__((target("avx2"))) void bin_floats_avx2(const float* v, std::size_t n, const Binning& b,
                                                      std::uint64_t* hist, int copies) {
  bin_floats(v, n, b, hist, copies);
}
#else
Moments scan_floats_avx2(const float* v, std::size_t n) { return scan_floats(v, n); }
void bin_floats_avx2(const float* v, std::size_t n, const Binning& b, std::uint64_t* hist, int copies) {
  bin_floats(v, n, b, hist, copies);
}
#endif

template <>
Moments scan_batch<float>(const float* v, std::size_t n) {
  return io::detail::uses_avx2() ? scan_floats_avx2(v, n) : scan_floats_portable(v, n);
}

// Histogram copies per worker for the float path; one when the bins are many.
int hist_copies(int bins) { return bins <= (1 << 16) ? 4 : 1; }

template <class T>
void bin_values(const T* v, std::size_t n, const Binning& b, std::uint64_t* hist) {
  bin_batch(v, n, b, hist);
}
template <>
void bin_values<float>(const float* v, std::size_t n, const Binning& b, std::uint64_t* hist) {
  if (io::detail::uses_avx2()) bin_floats_avx2(v, n, b, hist, hist_copies(b.bins));
  else bin_floats_portable(v, n, b, hist, hist_copies(b.bins));
}

// ---- chunk delivery ----------------------------------------------------------

// Walks a tensor's canonical bytes in fixed chunks (the same boundaries
// whichever path delivers them, so results do not depend on thread count),
// calling fn(chunk_index, bytes, worker) on up to `threads` workers.
using ChunkFn = std::function<void(std::size_t, std::span<const std::byte>, unsigned)>;

struct Walk {
  const io::TensorInfo& t;
  Unit unit;
  std::uint64_t nbytes;
  std::uint64_t chunk_bytes;
  unsigned threads;
  const StatsOptions& opt;

  [[nodiscard]] std::size_t chunks() const {
    return static_cast<std::size_t>((nbytes + chunk_bytes - 1) / chunk_bytes);
  }

  void run(const ChunkFn& fn) const {
    if (nbytes == 0) return;
    std::atomic<bool> stop{false};
    std::exception_ptr failure;
    std::mutex fail_mu;
    auto fail = [&](std::exception_ptr e) {
      std::lock_guard lock(fail_mu);
      if (!failure) failure = e;
      stop = true;
    };
    auto check_cancel = [&] {
      if (opt.cancelled && opt.cancelled()) throw io::Error(t.file, io::kNoOffset, "the statistics were cancelled");
    };

    const auto range = t.data->file_range();
    const auto span = range ? std::nullopt : t.data->contiguous();
    if (range || span) {
      // Random access: workers take the next chunk until none is left.
      std::atomic<std::size_t> next{0};
      const std::size_t total = chunks();
      auto worker = [&](unsigned id) {
        try {
          std::vector<std::byte> buf;
          while (!stop) {
            const std::size_t c = next++;
            if (c >= total) break;
            check_cancel();
            const std::uint64_t pos = c * chunk_bytes;
            const auto n = static_cast<std::size_t>(std::min(chunk_bytes, nbytes - pos));
            if (range) {
              buf.resize(n);
              range->file->read_at(range->offset + pos, buf);
              fn(c, buf, id);
            } else {
              fn(c, span->subspan(static_cast<std::size_t>(pos), n), id);
            }
          }
        } catch (...) {
          fail(std::current_exception());
        }
      };
      const unsigned n = static_cast<unsigned>(std::min<std::size_t>(threads, total));
      std::vector<std::thread> pool;
      for (unsigned k = 1; k < n; ++k) pool.emplace_back(worker, k);
      worker(0);
      for (auto& th : pool) th.join();
      if (failure) std::rethrow_exception(failure);
      return;
    }
    stream(fn, stop, fail, failure, check_cancel);
  }

  // Compressed, strided or byte-swapped data: one producer regroups what
  // stream() hands out into whole chunks and passes them to a small pool.
  template <class Fail, class Cancel>
  void stream(const ChunkFn& fn, std::atomic<bool>& stop, Fail& fail, std::exception_ptr& failure,
              Cancel& check_cancel) const {
    struct Job {
      std::size_t index;
      std::vector<std::byte> bytes;
    };
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Job> queue;
    bool done = false;
    const std::size_t cap = threads + 1;
    const unsigned workers = threads > 1 ? threads : 0;

    auto worker = [&](unsigned id) {
      for (;;) {
        Job job;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return !queue.empty() || done || stop; });
          if (stop || queue.empty()) return;
          job = std::move(queue.front());
          queue.pop_front();
        }
        cv.notify_all();
        try {
          fn(job.index, job.bytes, id);
        } catch (...) {
          fail(std::current_exception());
          cv.notify_all();
          return;
        }
      }
    };
    std::vector<std::thread> pool;
    for (unsigned k = 0; k < workers; ++k) pool.emplace_back(worker, k + 1);

    std::vector<std::byte> pending;
    std::size_t index = 0;
    auto hand_over = [&] {
      check_cancel();
      if (workers == 0) {
        fn(index++, pending, 0);
        pending.clear();
        return;
      }
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return queue.size() < cap || stop; });
      if (stop) throw io::Error(t.file, io::kNoOffset, "stopped");  // a worker failed; its error wins below
      queue.push_back({index++, std::move(pending)});
      lock.unlock();
      cv.notify_all();
      pending = {};
    };
    try {
      t.data->stream([&](std::span<const std::byte> b) {
        while (!b.empty()) {
          if (pending.empty()) pending.reserve(static_cast<std::size_t>(chunk_bytes));
          const auto take = std::min<std::size_t>(b.size(), static_cast<std::size_t>(chunk_bytes) - pending.size());
          pending.insert(pending.end(), b.begin(), b.begin() + static_cast<std::ptrdiff_t>(take));
          b = b.subspan(take);
          if (pending.size() == chunk_bytes) hand_over();
        }
      });
      if (!pending.empty()) hand_over();
    } catch (...) {
      fail(std::current_exception());
    }
    {
      std::lock_guard lock(mu);
      done = true;
    }
    cv.notify_all();
    for (auto& th : pool) th.join();
    if (failure) std::rethrow_exception(failure);
  }
};

// Per-worker scratch for decoded values.
template <class T>
struct Scratch {
  std::vector<std::vector<T>> per_worker;
  explicit Scratch(unsigned n) : per_worker(n, std::vector<T>(kBatch)) {}
};

template <class T>
TensorStats stats_as(const io::TensorInfo& t, Unit unit, std::uint64_t nbytes, unsigned threads,
                     const StatsOptions& opt) {
  const std::uint64_t chunk_bytes = std::max<std::uint64_t>(1, io::kChunkBytes / unit.bytes) * unit.bytes;
  const Walk walk{t, unit, nbytes, chunk_bytes, threads, opt};
  const std::uint64_t numel = nbytes / unit.bytes * unit.elems;
  std::atomic<std::uint64_t> done{0};
  std::mutex progress_mu;
  auto report = [&](std::uint64_t elems) {
    const auto now = done += elems;
    if (opt.progress) {
      std::lock_guard lock(progress_mu);
      opt.progress(now, 2 * numel);
    }
  };
  Scratch<T> scratch(threads + 1);
  const std::uint64_t batch_bytes = kBatch / unit.elems * unit.bytes;

  // Each chunk's moments are kept apart and merged in chunk order at the end.
  std::vector<Moments> parts(walk.chunks());
  walk.run([&](std::size_t c, std::span<const std::byte> b, unsigned w) {
    T* v = scratch.per_worker[w].data();
    Moments m;
    for (std::uint64_t pos = 0; pos < b.size(); pos += batch_bytes) {
      const std::uint64_t nb = std::min<std::uint64_t>(batch_bytes, b.size() - pos);
      const std::uint64_t ne = nb / unit.bytes * unit.elems;
      decode(t.dtype, b.data() + pos, ne, v);
      m.merge(scan_batch(v, static_cast<std::size_t>(ne)));
    }
    parts[c] = m;
    report(b.size() / unit.bytes * unit.elems);
  });
  Moments all;
  for (const auto& p : parts) all.merge(p);

  TensorStats s;
  s.count = numel;
  s.nan = all.nan;
  s.inf = all.inf;
  s.zeros = all.zeros;
  s.histogram.assign(static_cast<std::size_t>(opt.bins), 0);
  if (all.n == 0) {
    if (opt.progress) opt.progress(2 * numel, 2 * numel);
    return s;
  }
  s.min = all.min;
  s.max = all.max;
  s.mean = all.mean;
  s.std = std::sqrt(all.m2 / static_cast<double>(all.n));

  Binning bin;
  bin.bins = opt.bins;
  if (s.max > s.min) {
    if (std::isfinite(s.max - s.min)) {
      bin.lo = s.min;
      bin.scale = opt.bins / (s.max - s.min);
    } else {
      bin.pre = 0.5;
      bin.lo = s.min * 0.5;
      bin.scale = opt.bins / (s.max * 0.5 - s.min * 0.5);
    }
  } else {
    // One distinct value: it sits in the middle bin, as with numpy's (v-0.5, v+0.5) range.
    bin.lo = s.min - 0.5;
    bin.scale = opt.bins;
  }
  // One spare slot past the bins for the values the float path skips, and
  // that many slots again for each extra copy it counts into.
  const std::size_t stride = static_cast<std::size_t>(opt.bins) + 1;
  const std::size_t copies = std::is_same_v<T, float> ? static_cast<std::size_t>(hist_copies(opt.bins)) : 1;
  std::vector<std::vector<std::uint64_t>> hists(threads + 1, std::vector<std::uint64_t>(stride * copies));
  walk.run([&](std::size_t, std::span<const std::byte> b, unsigned w) {
    T* v = scratch.per_worker[w].data();
    for (std::uint64_t pos = 0; pos < b.size(); pos += batch_bytes) {
      const std::uint64_t nb = std::min<std::uint64_t>(batch_bytes, b.size() - pos);
      const std::uint64_t ne = nb / unit.bytes * unit.elems;
      decode(t.dtype, b.data() + pos, ne, v);
      bin_values(v, static_cast<std::size_t>(ne), bin, hists[w].data());
    }
    report(b.size() / unit.bytes * unit.elems);
  });
  for (const auto& h : hists)
    for (std::size_t c = 0; c < copies; ++c)
      for (std::size_t k = 0; k < s.histogram.size(); ++k) s.histogram[k] += h[c * stride + k];
  return s;
}

}  // namespace

TensorStats compute_stats(const io::TensorInfo& t, const StatsOptions& opt) {
  const Unit unit = unit_of(t);
  if (opt.bins < 1 || opt.bins > (1 << 24))
    throw io::Error(t.file, io::kNoOffset, "the number of histogram bins must be between 1 and 16777216");
  const auto nbytes = io::byte_size(t.dtype, t.numel());
  if (!nbytes) throw io::Error(t.file, t.offset, describe(t) + " has a shape that does not fill whole blocks of its type");
  unsigned threads = opt.threads ? opt.threads : io::default_threads();
  threads = std::min(threads, 256u);
  return wants_double(t.dtype) ? stats_as<double>(t, unit, *nbytes, threads, opt)
                               : stats_as<float>(t, unit, *nbytes, threads, opt);
}

// ---- value windows ---------------------------------------------------------

namespace {

// Fetches the values at sorted linear element indices, reading only the
// units that hold them.
class Fetcher {
 public:
  Fetcher(const io::TensorInfo& t, Unit unit, std::uint64_t nbytes) : t_(t), unit_(unit), nbytes_(nbytes) {}

  // `want` sorted ascending (duplicates allowed); values land at out[order[k]].
  void fetch(const std::vector<std::uint64_t>& want, const std::vector<std::size_t>& order, std::vector<double>& out) {
    if (want.empty()) return;
    const auto range = t_.data->file_range();
    const auto span = range ? std::nullopt : t_.data->contiguous();
    if (!range && !span) {
      fetch_streamed(want, order, out);
      return;
    }
    // Runs of nearby indices are read and decoded together: a row segment
    // becomes one read, a column of a transposed window one read per value.
    const std::uint64_t gap = std::max<std::uint64_t>(unit_.elems, 64);
    std::vector<std::byte> buf;
    std::vector<double> vals;
    for (std::size_t k = 0; k < want.size();) {
      std::size_t e = k + 1;
      while (e < want.size() && want[e] - want[e - 1] <= gap && want[e] - want[k] < (1u << 20)) ++e;
      const std::uint64_t u0 = want[k] / unit_.elems, u1 = want[e - 1] / unit_.elems + 1;
      const std::uint64_t b0 = u0 * unit_.bytes, nb = (u1 - u0) * unit_.bytes;
      if (b0 + nb > nbytes_) throw io::Error(t_.file, t_.offset, "window reaches past the data of " + describe(t_));
      const std::byte* src;
      if (range) {
        buf.resize(static_cast<std::size_t>(nb));
        range->file->read_at(range->offset + b0, buf);
        src = buf.data();
      } else {
        src = span->data() + b0;
      }
      vals.resize(static_cast<std::size_t>((u1 - u0) * unit_.elems));
      decode_units(src, u1 - u0, vals.data());
      for (std::size_t j = k; j < e; ++j) out[order[j]] = vals[static_cast<std::size_t>(want[j] - u0 * unit_.elems)];
      k = e;
    }
  }

 private:
  void decode_units(const std::byte* src, std::uint64_t units, double* out) const {
    decode(t_.dtype, src, units * unit_.elems, out, true);
  }

  // No random access (deflated, strided, byte-swapped): walk the stream,
  // keeping the bytes of each unit that holds a wanted value.
  void fetch_streamed(const std::vector<std::uint64_t>& want, const std::vector<std::size_t>& order,
                      std::vector<double>& out) {
    std::size_t k = 0;
    std::uint64_t pos = 0;  // bytes seen
    std::vector<std::byte> unit_buf;
    std::vector<double> vals(static_cast<std::size_t>(unit_.elems));
    t_.data->stream([&](std::span<const std::byte> b) {
      std::uint64_t at = 0;
      while (k < want.size() && at < b.size()) {
        const std::uint64_t u = want[k] / unit_.elems;
        const std::uint64_t ub = u * unit_.bytes;
        const std::uint64_t have = unit_buf.size();
        const std::uint64_t need_from = ub + have;  // next byte of unit u we lack
        if (need_from >= pos + b.size()) break;
        if (need_from < pos + at) {  // cannot happen with sorted indices; be safe
          ++k;
          continue;
        }
        at = need_from - pos;
        const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(unit_.bytes - have, b.size() - at));
        unit_buf.insert(unit_buf.end(), b.begin() + static_cast<std::ptrdiff_t>(at),
                        b.begin() + static_cast<std::ptrdiff_t>(at + take));
        at += take;
        if (unit_buf.size() < unit_.bytes) break;
        decode_units(unit_buf.data(), 1, vals.data());
        while (k < want.size() && want[k] / unit_.elems == u) {
          out[order[k]] = vals[static_cast<std::size_t>(want[k] - u * unit_.elems)];
          ++k;
        }
        unit_buf.clear();
      }
      pos += b.size();
    });
    if (k < want.size()) throw io::Error(t_.file, t_.offset, "the data of " + describe(t_) + " ended early");
  }

  const io::TensorInfo& t_;
  Unit unit_;
  std::uint64_t nbytes_;
};

}  // namespace

WindowValues read_window(const io::TensorInfo& t, const Window& w) {
  const Unit unit = unit_of(t);
  const auto nbytes = io::byte_size(t.dtype, t.numel());
  if (!nbytes) throw io::Error(t.file, t.offset, describe(t) + " has a shape that does not fill whole blocks of its type");
  const auto rank = static_cast<int>(t.shape.size());
  if (w.rows < 0 || w.cols < 0 || w.row0 < 0 || w.col0 < 0)
    throw io::Error(t.file, io::kNoOffset, "a window's start and size cannot be negative");

  // Row-major strides in elements.
  std::vector<std::uint64_t> stride(t.shape.size(), 1);
  for (int a = rank - 2; a >= 0; --a) stride[a] = stride[a + 1] * static_cast<std::uint64_t>(t.shape[a + 1]);

  std::int64_t R = 1, C = 1;
  std::uint64_t rs = 0, cs = 1, base = 0;
  if (rank == 1) {
    C = t.shape[0];
  } else if (rank >= 2) {
    if (w.row_axis < 0 || w.row_axis >= rank || w.col_axis < 0 || w.col_axis >= rank)
      throw io::Error(t.file, io::kNoOffset,
                      "window axes must lie in 0.." + std::to_string(rank - 1) + " for " + describe(t));
    if (w.row_axis == w.col_axis) throw io::Error(t.file, io::kNoOffset, "a window needs two different axes");
    if (!w.index.empty() && static_cast<int>(w.index.size()) != rank)
      throw io::Error(t.file, io::kNoOffset,
                      "a window of " + describe(t) + " needs " + std::to_string(rank) + " indices, not " +
                          std::to_string(w.index.size()));
    for (int a = 0; a < rank; ++a) {
      if (a == w.row_axis || a == w.col_axis) continue;
      const std::int64_t i = w.index.empty() ? 0 : w.index[a];
      if (i < 0 || i >= t.shape[a])
        throw io::Error(t.file, io::kNoOffset,
                        "index " + std::to_string(i) + " is out of range for axis " + std::to_string(a) + " of size " +
                            std::to_string(t.shape[a]));
      base += static_cast<std::uint64_t>(i) * stride[a];
    }
    R = t.shape[w.row_axis];
    C = t.shape[w.col_axis];
    rs = stride[w.row_axis];
    cs = stride[w.col_axis];
  }

  WindowValues out;
  out.rows = std::max<std::int64_t>(0, std::min(w.rows, R - w.row0));
  out.cols = std::max<std::int64_t>(0, std::min(w.cols, C - w.col0));
  if (t.numel() == 0 || out.rows == 0 || out.cols == 0) {
    out.rows = out.cols = 0;
    return out;
  }
  const auto n = static_cast<std::size_t>(out.rows * out.cols);
  std::vector<std::pair<std::uint64_t, std::size_t>> idx(n);
  for (std::int64_t r = 0; r < out.rows; ++r)
    for (std::int64_t c = 0; c < out.cols; ++c)
      idx[static_cast<std::size_t>(r * out.cols + c)] = {
          base + static_cast<std::uint64_t>(w.row0 + r) * rs + static_cast<std::uint64_t>(w.col0 + c) * cs,
          static_cast<std::size_t>(r * out.cols + c)};
  std::sort(idx.begin(), idx.end());
  std::vector<std::uint64_t> want(n);
  std::vector<std::size_t> order(n);
  for (std::size_t k = 0; k < n; ++k) std::tie(want[k], order[k]) = idx[k];
  out.values.assign(n, 0.0);
  Fetcher(t, unit, *nbytes).fetch(want, order, out.values);
  return out;
}

}  // namespace ckpt::model
