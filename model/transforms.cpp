#include "model/transforms.h"

#include <optional>
#include <algorithm>
#include <cstring>
#include <numeric>

#include "io/convert.h"
#include "io/error.h"
#include "io/formats/ggml_quants.h"

namespace ckpt::model {

bool is_permutation(std::span<const int> perm) {
  std::vector<bool> seen(perm.size(), false);
  for (int a : perm) {
    if (a < 0 || static_cast<std::size_t>(a) >= perm.size() || seen[static_cast<std::size_t>(a)]) return false;
    seen[static_cast<std::size_t>(a)] = true;
  }
  return true;
}

std::vector<int> inverse_permutation(std::span<const int> perm) {
  std::vector<int> inv(perm.size());
  for (std::size_t k = 0; k < perm.size(); ++k) inv[static_cast<std::size_t>(perm[k])] = static_cast<int>(k);
  return inv;
}

std::vector<int> transpose_permutation(std::size_t rank) {
  std::vector<int> p(rank);
  for (std::size_t k = 0; k < rank; ++k) p[k] = static_cast<int>(rank - 1 - k);
  return p;
}

std::string perm_text(std::span<const int> perm) {
  std::string s = "(";
  for (std::size_t k = 0; k < perm.size(); ++k) s += (k ? ", " : "") + std::to_string(perm[k]);
  return s + ")";
}

io::Shape permute_shape(const io::Shape& shape, std::span<const int> perm) {
  io::Shape out(perm.size());
  for (std::size_t k = 0; k < perm.size(); ++k) out[k] = shape[static_cast<std::size_t>(perm[k])];
  return out;
}

namespace {

constexpr std::size_t kOutChunk = std::size_t{1} << 20;
constexpr std::size_t kTransposeChunk = std::size_t{4} << 20;

// The permutation reduced to what it really moves: size-1 axes removed and
// runs of input axes that stay adjacent and in order merged into one, so that
// Conv2d's (0, 2, 3, 1) on [O, I, H, W] becomes the batched transpose
// (0, 2, 1) on [O, I, H·W] and gets the blocked kernel.
struct Reduced {
  std::vector<std::int64_t> dims;  // merged input dims
  std::vector<int> perm;           // over merged axes
};

Reduced reduce(const io::Shape& shape, std::span<const int> perm) {
  std::vector<int> keep;  // input axes with size > 1, renumbered
  std::vector<int> renum(shape.size(), -1);
  for (std::size_t a = 0; a < shape.size(); ++a)
    if (shape[a] != 1) {
      renum[a] = static_cast<int>(keep.size());
      keep.push_back(static_cast<int>(a));
    }
  std::vector<int> p;
  for (int a : perm)
    if (renum[static_cast<std::size_t>(a)] >= 0) p.push_back(renum[static_cast<std::size_t>(a)]);
  // Groups of consecutive output axes whose input axes are consecutive.
  std::vector<std::vector<int>> groups;
  for (std::size_t k = 0; k < p.size(); ++k) {
    if (k > 0 && p[k] == p[k - 1] + 1) groups.back().push_back(p[k]);
    else groups.push_back({p[k]});
  }
  // Merged input axes are the groups ordered by their first input axis.
  std::vector<int> order(groups.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int x, int y) { return groups[static_cast<std::size_t>(x)][0] < groups[static_cast<std::size_t>(y)][0]; });
  Reduced r;
  std::vector<int> group_to_input(groups.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto& g = groups[static_cast<std::size_t>(order[i])];
    std::int64_t d = 1;
    for (int a : g) d *= shape[static_cast<std::size_t>(keep[static_cast<std::size_t>(a)])];
    r.dims.push_back(d);
    group_to_input[static_cast<std::size_t>(order[i])] = static_cast<int>(i);
  }
  for (std::size_t k = 0; k < groups.size(); ++k) r.perm.push_back(group_to_input[k]);
  return r;
}

template <std::size_t N>
struct Item {
  std::byte b[N];
};

// Emits output bytes in chunks of about kOutChunk.
class ChunkWriter {
 public:
  ChunkWriter(const io::ByteSink& sink, std::size_t item) : sink_(sink) {
    buf_.resize(std::max(item, kOutChunk / item * item));
  }
  std::byte* reserve(std::size_t bytes) {
    if (used_ + bytes > buf_.size()) flush();
    if (bytes > buf_.size()) buf_.resize(bytes);
    std::byte* p = buf_.data() + used_;
    used_ += bytes;
    return p;
  }
  void flush() {
    if (used_) sink_(std::span<const std::byte>(buf_.data(), used_));
    used_ = 0;
  }

 private:
  const io::ByteSink& sink_;
  std::vector<std::byte> buf_;
  std::size_t used_ = 0;
};

// Input [B, R, C] → output [B, C, R], written in output order in tiles so
// reads along a column touch a few cache lines per row, not one per element.
// Narrow sources (C below a tile, as in Conv2d's [O, I, H·W]) read straight
// from the source. Wide ones copy each tile row by row into a small buffer
// and write the output column by column from it, so every touch of the source
// or the output uses whole cache lines at once: reading a column straight from
// the source instead needs its lines to survive until the next column, and
// with power-of-two row lengths (4096 floats) all of a tile's rows fall into
// the same L1 set and evict each other. Within an output chunk the tiles
// advance along source rows first, so each source page is visited once per chunk.
template <std::size_t N>
void batched_transpose(const std::byte* in, std::int64_t B, std::int64_t R, std::int64_t C, ChunkWriter& w) {
  using T = Item<N>;
  constexpr std::int64_t kTile = N >= 16 ? 8 : static_cast<std::int64_t>(128 / N);
  const auto* src = reinterpret_cast<const T*>(in);
  const std::int64_t row_bytes = R * static_cast<std::int64_t>(N);
  const bool wide = C >= kTile && R >= kTile;
  const std::size_t chunk = wide ? kTransposeChunk : kOutChunk;
  const std::int64_t rows_per_chunk = std::max<std::int64_t>(1, static_cast<std::int64_t>(chunk) / row_bytes);
  T tile[kTile][kTile];
  for (std::int64_t b = 0; b < B; ++b) {
    const T* sb = src + b * R * C;
    for (std::int64_t c0 = 0; c0 < C; c0 += rows_per_chunk) {
      const std::int64_t c1 = std::min(C, c0 + rows_per_chunk);
      auto* out = reinterpret_cast<T*>(w.reserve(static_cast<std::size_t>((c1 - c0) * row_bytes)));
      for (std::int64_t rb = 0; rb < R; rb += kTile) {
        const std::int64_t rn = std::min(R - rb, kTile);
        for (std::int64_t cb = c0; cb < c1; cb += kTile) {
          const std::int64_t cn = std::min(c1 - cb, kTile);
          if (wide && rn == kTile && cn == kTile) {
            for (std::int64_t r = 0; r < kTile; ++r) std::memcpy(tile[r], sb + (rb + r) * C + cb, sizeof tile[r]);
            for (std::int64_t c = 0; c < kTile; ++c) {
              T* o = out + (cb + c - c0) * R + rb;
              for (std::int64_t r = 0; r < kTile; ++r) o[r] = tile[r][c];
            }
            continue;
          }
          for (std::int64_t c = cb; c < cb + cn; ++c) {
            T* o = out + (c - c0) * R;
            for (std::int64_t r = rb; r < rb + rn; ++r) o[r] = sb[r * C + c];
          }
        }
      }
    }
  }
}

// Any permutation: an odometer over output indices, innermost output axis in a tight loop.
template <std::size_t N>
void generic_permute(const std::byte* in, const Reduced& red, ChunkWriter& w) {
  using T = Item<N>;
  const auto* src = reinterpret_cast<const T*>(in);
  const std::size_t m = red.perm.size();
  std::vector<std::int64_t> in_stride(m, 1);
  for (std::size_t a = m - 1; a > 0; --a) in_stride[a - 1] = in_stride[a] * red.dims[a];
  std::vector<std::int64_t> out_dims(m), stride(m);
  for (std::size_t k = 0; k < m; ++k) {
    out_dims[k] = red.dims[static_cast<std::size_t>(red.perm[k])];
    stride[k] = in_stride[static_cast<std::size_t>(red.perm[k])];
  }
  std::int64_t outer = 1;
  for (std::size_t k = 0; k + 1 < m; ++k) outer *= out_dims[k];
  const std::int64_t inner = out_dims[m - 1], inner_stride = stride[m - 1];
  std::vector<std::int64_t> idx(m, 0);
  std::int64_t base = 0;
  for (std::int64_t o = 0; o < outer; ++o) {
    auto* out = reinterpret_cast<T*>(w.reserve(static_cast<std::size_t>(inner) * N));
    for (std::int64_t i = 0; i < inner; ++i) out[i] = src[base + i * inner_stride];
    for (std::size_t k = m - 1; k-- > 0;) {
      base += stride[k];
      if (++idx[k] < out_dims[k]) break;
      base -= stride[k] * out_dims[k];
      idx[k] = 0;
    }
  }
}

template <std::size_t N>
void run_permute(const std::byte* in, const Reduced& red, ChunkWriter& w) {
  const auto& p = red.perm;
  if (p.size() == 2 && p[0] == 1) batched_transpose<N>(in, 1, red.dims[0], red.dims[1], w);
  else if (p.size() == 3 && p[0] == 0 && p[1] == 2) batched_transpose<N>(in, red.dims[0], red.dims[1], red.dims[2], w);
  else generic_permute<N>(in, red, w);
}

class PermuteData final : public io::TensorData {
 public:
  PermuteData(io::TensorInfo src, std::vector<int> perm) : src_(std::move(src)), perm_(std::move(perm)) {}

  void stream(const io::ByteSink& sink) const override {
    const Reduced red = reduce(src_.shape, perm_);
    bool identity = true;
    for (std::size_t k = 0; k < red.perm.size(); ++k) identity = identity && red.perm[k] == static_cast<int>(k);
    if (identity || src_.nbytes == 0) {
      src_.data->stream(sink);
      return;
    }
    std::vector<std::byte> copy;
    const std::byte* in = nullptr;
    // Pages of the mapping read here would stay in our resident set: drop
    // them once the tensor is done (the page cache keeps them).
    struct Release {
      std::optional<io::TensorData::FileRange> range;
      ~Release() {
        if (range) range->file->release(range->offset, range->size);
      }
    } release;
    if (auto c = src_.data->contiguous(); c && c->size() == src_.nbytes) {
      in = c->data();
      release.range = src_.data->file_range();
    } else {
      copy = io::read_all(src_);
      in = copy.data();
    }
    const std::size_t item = io::item_size(src_.dtype);
    ChunkWriter w(sink, item);
    switch (item) {
      case 1: run_permute<1>(in, red, w); break;
      case 2: run_permute<2>(in, red, w); break;
      case 4: run_permute<4>(in, red, w); break;
      case 8: run_permute<8>(in, red, w); break;
      case 16: run_permute<16>(in, red, w); break;
      default: throw io::Error(src_.file, src_.offset, "cannot permute '" + src_.name + "': item size " + std::to_string(item) + " is not supported");
    }
    w.flush();
  }
  const io::ByteSource* source() const noexcept override { return src_.data->source(); }

 private:
  io::TensorInfo src_;
  std::vector<int> perm_;
};

std::string dtype_name(io::DType t) { return std::string(io::name(t)); }

}  // namespace

io::TensorInfo permute_tensor(const io::TensorInfo& t, std::span<const int> perm) {
  if (perm.size() != t.shape.size() || !is_permutation(perm))
    throw io::Error(t.file, io::kNoOffset, "permutation " + perm_text(perm) + " does not fit '" + t.name + "' of rank " + std::to_string(t.shape.size()));
  if (!t.data) throw io::Error(t.file, t.offset, "tensor '" + t.name + "' cannot be read, so it cannot be permuted");
  const auto item = io::item_size(t.dtype);
  if (!io::is_elementwise(t.dtype) || (item != 1 && item != 2 && item != 4 && item != 8 && item != 16))
    throw io::Error(t.file, t.offset, "tensor '" + t.name + "' is " + dtype_name(t.dtype) + ", whose elements cannot be permuted; dequantize it first");
  io::TensorInfo out = t;
  out.shape = permute_shape(t.shape, perm);
  out.data = std::make_shared<PermuteData>(t, std::vector<int>(perm.begin(), perm.end()));
  out.ggml_ne.clear();
  out.ggml_type.reset();
  out.layout_note = "permuted " + perm_text(perm);
  return out;
}

TransformResult plan_transform(const Transform& tr, const std::string& name, const io::Shape& shape, io::DType dtype) {
  TransformResult r{shape, dtype, {}};
  switch (tr.kind) {
    case Transform::Kind::Permute:
    case Transform::Kind::Transpose: {
      const auto perm = tr.kind == Transform::Kind::Transpose ? transpose_permutation(shape.size()) : tr.perm;
      if (perm.size() != shape.size() || !is_permutation(perm)) {
        r.error = "permutation " + perm_text(perm) + " does not fit '" + name + "' of rank " + std::to_string(shape.size());
      } else if (!io::is_elementwise(dtype) || io::item_size(dtype) > 16) {
        r.error = "'" + name + "' is " + dtype_name(dtype) + ", which cannot be permuted; dequantize it first";
      } else {
        r.shape = permute_shape(shape, perm);
      }
      return r;
    }
    case Transform::Kind::Cast:
      if (!io::is_cast_target(tr.dtype)) r.error = "cannot cast '" + name + "' to " + dtype_name(tr.dtype);
      else if (!io::is_floating(dtype) && !io::is_quantized(dtype))
        r.error = "'" + name + "' is " + dtype_name(dtype) + ", not a floating type, so it is not cast";
      else if (io::is_quantized(dtype) && !io::can_dequantize(dtype))
        r.error = "'" + name + "' is " + dtype_name(dtype) + ", which this build cannot dequantize";
      else r.dtype = tr.dtype;
      return r;
    case Transform::Kind::Dequantize:
      if (tr.dtype != io::DType::F16 && tr.dtype != io::DType::F32)
        r.error = "dequantize '" + name + "' to float16 or float32, not " + dtype_name(tr.dtype);
      else if (!io::is_quantized(dtype))
        r.error = "'" + name + "' is " + dtype_name(dtype) + ", not a block-quantized type";
      else if (!io::can_dequantize(dtype))
        r.error = "'" + name + "' is " + dtype_name(dtype) + ", which this build cannot dequantize";
      else r.dtype = tr.dtype;
      return r;
  }
  return r;
}

io::TensorInfo apply_transform(const Transform& tr, const io::TensorInfo& t) {
  const auto plan = plan_transform(tr, t.name, t.shape, t.dtype);
  if (!plan.error.empty()) throw io::Error(t.file, io::kNoOffset, plan.error);
  switch (tr.kind) {
    case Transform::Kind::Permute: return permute_tensor(t, tr.perm);
    case Transform::Kind::Transpose: return permute_tensor(t, transpose_permutation(t.shape.size()));
    case Transform::Kind::Cast:
    case Transform::Kind::Dequantize: return t.dtype == tr.dtype ? t : io::cast_tensor(t, tr.dtype);
  }
  return t;
}

std::string describe(const Transform& tr) {
  switch (tr.kind) {
    case Transform::Kind::Permute: return "permute " + perm_text(tr.perm);
    case Transform::Kind::Transpose: return "transpose";
    case Transform::Kind::Cast: return "cast " + dtype_name(tr.dtype);
    case Transform::Kind::Dequantize: return "dequantize " + dtype_name(tr.dtype);
  }
  return "?";
}

}  // namespace ckpt::model
