#include "model/spec_diff.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "io/convert.h"
#include "io/error.h"
#include "io/float_convert.h"
#include "io/formats/ggml_quants.h"

namespace ckpt::model {
namespace {

// ---- Layout permutations -------------------------------------------------

// PyTorch → MLX weight layouts (FORMATS.md "MLX conventions"), tried first so
// that square dims (in == out channels) resolve the way a port needs.
const std::vector<std::vector<int>>& known_permutations() {
  static const std::vector<std::vector<int>> k{{0, 2, 3, 1}, {0, 2, 1}, {0, 2, 3, 4, 1}, {1, 2, 0}, {1, 2, 3, 0}};
  return k;
}

bool fits(const io::Shape& have, const io::Shape& want, const std::vector<int>& p) {
  if (p.size() != want.size() || have.size() != want.size()) return false;
  for (std::size_t k = 0; k < p.size(); ++k)
    if (have[static_cast<std::size_t>(p[k])] != want[k]) return false;
  return true;
}

std::size_t displaced(const std::vector<int>& p) {
  std::size_t n = 0;
  for (std::size_t k = 0; k < p.size(); ++k) n += p[k] != static_cast<int>(k);
  return n;
}

constexpr std::size_t kMaxPermuteRank = 8;

// A non-identity permutation p with have[p[k]] == want[k], or empty.
std::vector<int> find_permutation(const io::Shape& have, const io::Shape& want) {
  if (have.size() != want.size() || have.size() < 2 || have.size() > kMaxPermuteRank || have == want) return {};
  for (const auto& p : known_permutations())
    if (fits(have, want, p)) return p;
  // The fewest axes move when every axis that already has the wanted length
  // stays, and any permutation fixing those is as good; taking for each other
  // axis, in order, the first free axis of the wanted length gives the
  // lexicographically first of them. (This replaced trying all 8! orders,
  // which a large spec of rank-8 tensors could make take minutes.)
  const std::size_t r = have.size();
  std::vector<int> p(r, -1);
  std::vector<bool> used(r, false);
  for (std::size_t k = 0; k < r; ++k)
    if (have[k] == want[k]) p[k] = static_cast<int>(k), used[k] = true;
  for (std::size_t k = 0; k < r; ++k) {
    if (p[k] >= 0) continue;
    for (std::size_t j = 0; j < r && p[k] < 0; ++j)
      if (!used[j] && have[j] == want[k]) p[k] = static_cast<int>(j), used[j] = true;
    if (p[k] < 0) return {};
  }
  return displaced(p) > 0 ? p : std::vector<int>{};
}

// ---- Streaming values as float64 -----------------------------------------

// A tensor's values as float64, chunk by chunk. Whole-byte elementwise types
// are read directly; packed sub-byte floats and ggml blocks go through
// io::cast_tensor to float32 first. Complex values count as (re, im) pairs.
class ValueStream {
 public:
  explicit ValueStream(const io::TensorInfo& t) : tensor_(t) {
    if (!io::is_elementwise(t.dtype)) tensor_ = io::cast_tensor(t, io::DType::F32);
    dtype_ = tensor_.dtype;
    if (dtype_ == io::DType::C64) dtype_ = io::DType::F32;
    if (dtype_ == io::DType::C128) dtype_ = io::DType::F64;
    item_ = io::item_size(dtype_);
  }

  // Calls `out` with successive runs of values; runs never split an element.
  void run(const std::function<void(std::span<const double>)>& out) const {
    std::vector<double> buf;
    std::array<std::byte, 16> carry{};
    std::size_t carried = 0;
    tensor_.data->stream([&](std::span<const std::byte> bytes) {
      buf.clear();
      std::size_t pos = 0;
      if (carried > 0) {
        const std::size_t take = std::min(item_ - carried, bytes.size());
        std::memcpy(carry.data() + carried, bytes.data(), take);
        carried += take;
        pos = take;
        if (carried < item_) return;
        buf.push_back(io::element_to_double(dtype_, carry.data()));
        carried = 0;
      }
      const std::size_t whole = (bytes.size() - pos) / item_;
      buf.reserve(buf.size() + whole);
      for (std::size_t k = 0; k < whole; ++k, pos += item_) buf.push_back(io::element_to_double(dtype_, bytes.data() + pos));
      carried = bytes.size() - pos;
      std::memcpy(carry.data(), bytes.data() + pos, carried);
      if (!buf.empty()) out(buf);
    });
  }

 private:
  io::TensorInfo tensor_;
  io::DType dtype_ = io::DType::F32;
  std::size_t item_ = 4;
};

bool comparable(const io::TensorInfo& t) {
  if (!t.data) return false;
  if (io::is_quantized(t.dtype)) return io::can_dequantize(t.dtype);
  return io::info(t.dtype).kind != io::DTypeKind::Unknown;
}

bool is_complex(io::DType t) { return io::info(t).kind == io::DTypeKind::Complex; }

struct Accumulator {
  double max_abs = 0, max_rel = 0, dot = 0, na = 0, nb = 0;
  bool identical = true;
  std::uint64_t count = 0;

  void add(double a, double b) {
    ++count;
    const bool an = std::isnan(a), bn = std::isnan(b);
    if (an || bn) {
      // NaN against NaN agrees; NaN against a number is as far off as it gets.
      if (!(an && bn)) {
        identical = false;
        max_abs = max_rel = std::numeric_limits<double>::infinity();
      }
      return;
    }
    if (std::bit_cast<std::uint64_t>(a) != std::bit_cast<std::uint64_t>(b)) identical = false;
    const double d = a == b ? 0.0 : std::abs(a - b);  // inf − inf of equal sign agrees
    max_abs = std::max(max_abs, std::isnan(d) ? std::numeric_limits<double>::infinity() : d);
    const double rel = d / std::max(std::abs(b), static_cast<double>(std::numeric_limits<float>::min()));
    max_rel = std::max(max_rel, std::isnan(rel) ? std::numeric_limits<double>::infinity() : rel);
    if (std::isfinite(a) && std::isfinite(b)) {
      dot += a * b;
      na += a * a;
      nb += b * b;
    }
  }

  [[nodiscard]] Agreement result() const {
    Agreement r;
    r.max_abs_diff = max_abs;
    r.max_rel_error = max_rel;
    r.identical = identical;
    if (na == 0 && nb == 0) r.cosine = 1;  // two zero tensors point the same way
    else if (na == 0 || nb == 0) r.cosine = 0;
    else r.cosine = std::clamp(dot / (std::sqrt(na) * std::sqrt(nb)), -1.0, 1.0);
    return r;
  }
};

// Carries chunks of float64 values from a producer thread to the consumer,
// holding at most a few chunks so neither tensor is ever whole in memory.
class Channel {
 public:
  void push(std::vector<double> chunk) {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return q_.size() < kDepth || cancelled_; });
    if (cancelled_) throw Cancelled{};
    q_.push_back(std::move(chunk));
    cv_.notify_all();
  }
  // False at the end of the stream.
  bool pop(std::vector<double>& out) {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return !q_.empty() || done_; });
    if (q_.empty()) {
      if (error_) std::rethrow_exception(error_);
      return false;
    }
    out = std::move(q_.front());
    q_.pop_front();
    cv_.notify_all();
    return true;
  }
  void finish(std::exception_ptr e) {
    std::lock_guard lock(m_);
    done_ = true;
    error_ = std::move(e);
    cv_.notify_all();
  }
  void cancel() {
    std::lock_guard lock(m_);
    cancelled_ = true;
    q_.clear();
    cv_.notify_all();
  }
  struct Cancelled {};

 private:
  static constexpr std::size_t kDepth = 2;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::vector<double>> q_;
  bool done_ = false, cancelled_ = false;
  std::exception_ptr error_;
};

// Streams `a` and `b` in lockstep: `a` on a helper thread feeding a bounded
// channel, `b` on this one. TensorData::stream pushes, so one side must run
// apart for the two to advance together.
Agreement compare_values(const io::TensorInfo& a, const io::TensorInfo& b) {
  const ValueStream va(a), vb(b);
  Channel ch;
  std::thread producer([&] {
    std::exception_ptr err;
    try {
      va.run([&](std::span<const double> v) { ch.push(std::vector<double>(v.begin(), v.end())); });
    } catch (const Channel::Cancelled&) {
    } catch (...) {
      err = std::current_exception();
    }
    ch.finish(err);
  });
  Accumulator acc;
  std::uint64_t a_total = 0, b_total = 0;
  try {
    std::vector<double> pending;
    std::size_t at = 0;
    vb.run([&](std::span<const double> vals) {
      b_total += vals.size();
      std::size_t k = 0;
      while (k < vals.size()) {
        if (at == pending.size()) {
          at = 0;
          if (!ch.pop(pending)) {
            pending.clear();
            return;  // a ended early; the count check below reports it
          }
          a_total += pending.size();
        }
        const std::size_t n = std::min(vals.size() - k, pending.size() - at);
        for (std::size_t i = 0; i < n; ++i) acc.add(pending[at + i], vals[k + i]);
        at += n;
        k += n;
      }
    });
    std::vector<double> rest;
    while (ch.pop(rest)) a_total += rest.size();
  } catch (...) {
    ch.cancel();
    producer.join();
    throw;
  }
  producer.join();
  if (a_total != b_total)
    throw io::Error(a.file, io::kNoOffset, "tensors '" + a.name + "' and '" + b.name + "' yielded different element counts (" +
                                               std::to_string(a_total) + " and " + std::to_string(b_total) + ")");
  return acc.result();
}

// A layout-mismatched pair: `b` streamed in its own order, `a` read at the
// permuted position. Only when `a` already lies whole in a mapping (random
// access costs nothing and nothing is copied); nullopt otherwise.
std::optional<Agreement> compare_permuted(const io::TensorInfo& a, const io::TensorInfo& b, const std::vector<int>& perm) {
  const auto bytes = a.data->contiguous();
  const std::size_t item = io::item_size(a.dtype);
  if (!bytes || !io::is_elementwise(a.dtype) || is_complex(a.dtype) || is_complex(b.dtype) || item == 0) return std::nullopt;
  if (bytes->size() != static_cast<std::size_t>(a.numel()) * item) return std::nullopt;
  const std::size_t rank = perm.size();
  std::vector<std::int64_t> a_stride(rank, 1);
  for (std::size_t k = rank; k-- > 1;) a_stride[k - 1] = a_stride[k] * a.shape[k];
  // Walking b in row-major order, axis k of b advances a by a_stride[perm[k]].
  std::vector<std::int64_t> step(rank), index(rank, 0);
  for (std::size_t k = 0; k < rank; ++k) step[k] = a_stride[static_cast<std::size_t>(perm[k])];
  std::int64_t at = 0;
  Accumulator acc;
  ValueStream(b).run([&](std::span<const double> vals) {
    for (double v : vals) {
      acc.add(io::element_to_double(a.dtype, bytes->data() + static_cast<std::size_t>(at) * item), v);
      for (std::size_t k = rank; k-- > 0;) {
        at += step[k];
        if (++index[k] < b.shape[k]) break;
        at -= step[k] * b.shape[k];
        index[k] = 0;
      }
    }
  });
  return acc.result();
}

std::string plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

const char* category_name(Category c) {
  switch (c) {
    case Category::Match: return "match";
    case Category::Missing: return "missing";
    case Category::Unexpected: return "unexpected";
    case Category::ShapeMismatch: return "shape";
    case Category::LayoutMismatch: return "layout";
    case Category::DtypeDiffers: return "dtype";
  }
  return "?";
}

std::size_t SpecDiff::count(Category c) const {
  return static_cast<std::size_t>(std::count_if(rows.begin(), rows.end(), [c](const DiffRow& r) { return r.category == c; }));
}

bool SpecDiff::strict_load_ok() const {
  return count(Category::Missing) == 0 && count(Category::Unexpected) == 0 && count(Category::ShapeMismatch) == 0 &&
         count(Category::LayoutMismatch) == 0;
}

std::string SpecDiff::verdict() const {
  const std::size_t missing = count(Category::Missing), unexpected = count(Category::Unexpected);
  const std::size_t layout = count(Category::LayoutMismatch), shape = count(Category::ShapeMismatch) + layout;
  const std::size_t dtype = count(Category::DtypeDiffers);
  const std::string dtypes = plural(dtype, "dtype difference", "dtype differences");
  if (strict_load_ok()) return dtype == 0 ? "would load" : "would load (" + dtypes + ")";
  std::vector<std::string> parts;
  if (missing) parts.push_back(std::to_string(missing) + " missing");
  if (unexpected) parts.push_back(std::to_string(unexpected) + " unexpected");
  if (shape) {
    std::string s = plural(shape, "shape mismatch", "shape mismatches");
    if (layout) s += " (" + (layout == 1 ? std::string("1 a layout permutation") : plural(layout, "", "layout permutations")) + ")";
    parts.push_back(s);
  }
  std::string out = "would fail: ";
  for (std::size_t k = 0; k < parts.size(); ++k) out += (k ? ", " : "") + parts[k];
  // dtype differences do not stop load_weights; said apart so they are not read as a cause.
  if (dtype) out += "; also " + dtypes;
  return out;
}

SpecDiff diff(std::span<const io::TensorInfo> have, const ModuleSpec& want) {
  std::unordered_map<std::string_view, std::size_t> by_name;
  by_name.reserve(have.size());
  for (std::size_t k = 0; k < have.size(); ++k) by_name.emplace(have[k].name, k);
  std::vector<bool> used(have.size(), false);

  SpecDiff out;
  out.rows.reserve(want.params.size() + have.size());
  for (const auto& p : want.params) {
    DiffRow row;
    row.name = p.name;
    row.want_shape = p.shape;
    row.want_dtype = p.dtype;
    const auto it = by_name.find(p.name);
    if (it == by_name.end()) {
      row.category = Category::Missing;
      out.rows.push_back(std::move(row));
      continue;
    }
    const auto& t = have[it->second];
    used[it->second] = true;
    row.have_shape = t.shape;
    row.have_dtype = t.dtype;
    if (t.shape == p.shape) {
      row.category = p.dtype && *p.dtype != t.dtype ? Category::DtypeDiffers : Category::Match;
    } else if (auto perm = find_permutation(t.shape, p.shape); !perm.empty()) {
      row.category = Category::LayoutMismatch;
      row.permutation = std::move(perm);
    } else {
      row.category = Category::ShapeMismatch;
    }
    out.rows.push_back(std::move(row));
  }
  for (std::size_t k = 0; k < have.size(); ++k) {
    if (used[k]) continue;
    // A name repeated in the checkpoint matches once; later copies are extra.
    DiffRow row;
    row.category = Category::Unexpected;
    row.name = have[k].name;
    row.have_shape = have[k].shape;
    row.have_dtype = have[k].dtype;
    out.rows.push_back(std::move(row));
  }
  return out;
}

SpecDiff diff_checkpoints(std::span<const io::TensorInfo> have, std::span<const io::TensorInfo> want, bool compare_values_flag) {
  const auto spec = spec_from_tensors(std::vector<io::TensorInfo>(want.begin(), want.end()), "");
  auto out = diff(have, spec);
  if (!compare_values_flag) return out;
  std::unordered_map<std::string_view, std::size_t> have_by, want_by;
  for (std::size_t k = 0; k < have.size(); ++k) have_by.emplace(have[k].name, k);
  for (std::size_t k = 0; k < want.size(); ++k) want_by.emplace(want[k].name, k);
  for (auto& row : out.rows) {
    const bool layout = row.category == Category::LayoutMismatch;
    if (row.category != Category::Match && row.category != Category::DtypeDiffers && !layout) continue;
    const auto& a = have[have_by.at(row.name)];
    const auto& b = want[want_by.at(row.name)];
    if (!comparable(a) || !comparable(b) || is_complex(a.dtype) != is_complex(b.dtype)) continue;
    if (layout) row.agreement = compare_permuted(a, b, row.permutation);
    else row.agreement = compare_values(a, b);
  }
  return out;
}

}  // namespace ckpt::model
