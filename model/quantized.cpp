#include "model/quantized.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "io/error.h"
#include "io/float_convert.h"

namespace ckpt::model {

std::vector<QuantParams> quant_candidates(std::int64_t packed_cols, std::int64_t groups) {
  std::vector<QuantParams> out;
  if (packed_cols <= 0 || groups <= 0) return out;
  for (int bits : {4, 8, 2, 6, 3}) {
    if (packed_cols * 32 % bits != 0) continue;
    const std::int64_t in = packed_cols * 32 / bits;
    for (int g : {64, 32, 128})
      if (in % g == 0 && in / g == groups) out.push_back({bits, g});
  }
  return out;
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_scale_dtype(io::DType t) { return t == io::DType::F16 || t == io::DType::BF16 || t == io::DType::F32; }

std::string shape_text(const io::Shape& s) {
  std::string out = "[";
  for (std::size_t k = 0; k < s.size(); ++k) out += (k ? ", " : "") + std::to_string(s[k]);
  return out + "]";
}

std::vector<float> to_f32(const io::TensorInfo& t) {
  const auto bytes = io::read_all(t);
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  io::convert_to_f32(t.dtype, bytes.data(), out.data(), out.size());
  return out;
}

// Streams the dense values of an MLX affine triple, one row of the packed weight at a time.
class AffineDequantData final : public io::TensorData {
 public:
  AffineDequantData(io::TensorInfo w, io::TensorInfo s, io::TensorInfo b, QuantParams p, io::DType to, std::int64_t in)
      : w_(std::move(w)), s_(std::move(s)), b_(std::move(b)), p_(p), to_(to), in_(in) {}

  void stream(const io::ByteSink& sink) const override {
    const auto scales = to_f32(s_), biases = to_f32(b_);
    const std::size_t row_bytes = static_cast<std::size_t>(w_.shape.back()) * 4;
    const std::size_t groups = static_cast<std::size_t>(in_ / p_.group_size);
    const std::size_t out_item = io::item_size(to_);
    std::vector<std::byte> row;
    row.reserve(row_bytes);
    std::vector<float> vals(static_cast<std::size_t>(in_));
    std::vector<std::byte> out;
    const std::size_t out_row = vals.size() * out_item;
    const std::size_t rows_per_flush = std::max<std::size_t>(1, (std::size_t{1} << 20) / std::max<std::size_t>(1, out_row));
    out.reserve(rows_per_flush * out_row);
    std::size_t r = 0;
    const std::uint32_t mask = (1u << p_.bits) - 1;
    auto decode_row = [&] {
      const auto* bytes = reinterpret_cast<const unsigned char*>(row.data());
      for (std::size_t i = 0; i < vals.size(); ++i) {
        const std::size_t bit = i * static_cast<std::size_t>(p_.bits);
        // A code spans at most two bytes (bits ≤ 8).
        std::uint32_t word = bytes[bit / 8];
        if (bit / 8 + 1 < row_bytes) word |= std::uint32_t{bytes[bit / 8 + 1]} << 8;
        const std::uint32_t code = (word >> (bit % 8)) & mask;
        const std::size_t g = r * groups + i / static_cast<std::size_t>(p_.group_size);
        vals[i] = scales[g] * static_cast<float>(code) + biases[g];
      }
      const std::size_t at = out.size();
      out.resize(at + out_row);
      io::convert_from_f32(to_, vals.data(), out.data() + at, vals.size());
      if (out.size() >= rows_per_flush * out_row) {
        sink(out);
        out.clear();
      }
      ++r;
      row.clear();
    };
    w_.data->stream([&](std::span<const std::byte> chunk) {
      while (!chunk.empty()) {
        const std::size_t take = std::min(chunk.size(), row_bytes - row.size());
        row.insert(row.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(take));
        chunk = chunk.subspan(take);
        if (row.size() == row_bytes) decode_row();
      }
    });
    if (!out.empty()) sink(out);
  }
  const io::ByteSource* source() const noexcept override { return w_.data->source(); }

 private:
  io::TensorInfo w_, s_, b_;
  QuantParams p_;
  io::DType to_;
  std::int64_t in_;
};

enum class Part { Weight, Scales, Biases };

// One of the three MLX tensors read out of GGUF Q4_0/Q4_1/Q8_0 blocks.
class GgmlPartData final : public io::TensorData {
 public:
  GgmlPartData(io::TensorInfo src, Part part) : src_(std::move(src)), part_(part) {}

  void stream(const io::ByteSink& sink) const override {
    const std::size_t block = io::info(src_.dtype).block_bytes;
    const std::size_t blocks_per_batch = 4096;
    std::vector<std::byte> pending;
    pending.reserve(block * blocks_per_batch);
    std::vector<std::byte> out;
    auto flush = [&] {
      out.clear();
      for (std::size_t off = 0; off + block <= pending.size(); off += block) convert_block(pending.data() + off, out);
      sink(out);
      pending.clear();
    };
    src_.data->stream([&](std::span<const std::byte> chunk) {
      while (!chunk.empty()) {
        const std::size_t take = std::min(chunk.size(), block * blocks_per_batch - pending.size());
        pending.insert(pending.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(take));
        chunk = chunk.subspan(take);
        if (pending.size() == block * blocks_per_batch) flush();
      }
    });
    if (!pending.empty()) flush();
  }
  const io::ByteSource* source() const noexcept override { return src_.data->source(); }

 private:
  void convert_block(const std::byte* blk, std::vector<std::byte>& out) const {
    const auto* b = reinterpret_cast<const unsigned char*>(blk);
    std::uint16_t d;
    std::memcpy(&d, b, 2);
    auto put16 = [&](std::uint16_t v) {
      const std::byte two[2] = {std::byte(v & 0xff), std::byte(v >> 8)};
      out.insert(out.end(), two, two + 2);
    };
    switch (part_) {
      case Part::Scales: put16(d); return;
      case Part::Biases:
        if (src_.dtype == io::DType::Q4_1) {
          std::uint16_t m;
          std::memcpy(&m, b + 2, 2);
          put16(m);
        } else {
          // What MLX stores: −8·d (Q4_0) or −128·d (Q8_0) rounded to float16;
          // the product is exact in float32, so only the final rounding matters.
          const float k = src_.dtype == io::DType::Q4_0 ? -8.0f : -128.0f;
          const float df = io::f16_to_f32(d);
          const std::uint16_t bias = io::f32_to_f16(k * df);
          // MLX silently stores infinity here; a lossless conversion must not.
          if (std::isfinite(df) && !std::isfinite(io::f16_to_f32(bias)))
            throw io::Error(src_.file, src_.offset, "tensor '" + src_.name + "' has a block scale " + std::to_string(df) +
                                                        " whose MLX bias (" + std::to_string(k * df) + ") overflows float16");
          put16(bias);
        }
        return;
      case Part::Weight:
        if (src_.dtype == io::DType::Q8_0) {
          // int8 q → unsigned code q + 128, so that code·d + (−128·d) = q·d.
          for (int j = 0; j < 32; ++j) out.push_back(std::byte(b[2 + j] ^ 0x80));
        } else {
          // ggml: element j in the low nibble of qs[j], element 16+j in its high nibble.
          // MLX: element i in nibble i%2 of byte i/2.
          const unsigned char* qs = b + (src_.dtype == io::DType::Q4_1 ? 4 : 2);
          for (int j = 0; j < 8; ++j) out.push_back(std::byte((qs[2 * j] & 0x0f) | ((qs[2 * j + 1] & 0x0f) << 4)));
          for (int j = 0; j < 8; ++j) out.push_back(std::byte((qs[2 * j] >> 4) | (qs[2 * j + 1] & 0xf0)));
        }
        return;
    }
  }

  io::TensorInfo src_;
  Part part_;
};

}  // namespace

std::vector<QuantizedTriple> find_quantized_triples(std::span<const io::TensorInfo> tensors) {
  std::unordered_map<std::string, std::size_t> by_name;
  for (std::size_t i = 0; i < tensors.size(); ++i) by_name.emplace(tensors[i].name, i);
  std::vector<QuantizedTriple> out;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& w = tensors[i];
    if (w.dtype != io::DType::U32 || w.shape.empty() || !ends_with(w.name, ".weight")) continue;
    const std::string prefix = w.name.substr(0, w.name.size() - 7);
    auto s = by_name.find(prefix + ".scales"), b = by_name.find(prefix + ".biases");
    if (s == by_name.end() || b == by_name.end()) continue;
    const auto& st = tensors[s->second];
    const auto& bt = tensors[b->second];
    if (st.shape != bt.shape || st.dtype != bt.dtype || !is_scale_dtype(st.dtype) || st.shape.size() != w.shape.size()) continue;
    if (!std::equal(w.shape.begin(), w.shape.end() - 1, st.shape.begin())) continue;
    auto cands = quant_candidates(w.shape.back(), st.shape.back());
    if (cands.empty()) continue;
    QuantizedTriple q;
    q.prefix = prefix;
    q.weight = i;
    q.scales = s->second;
    q.biases = b->second;
    q.params = cands.front();
    q.candidates = std::move(cands);
    q.in_features = w.shape.back() * 32 / q.params.bits;
    out.push_back(std::move(q));
  }
  return out;
}

io::TensorInfo dequantize_triple(const io::TensorInfo& weight, const io::TensorInfo& scales, const io::TensorInfo& biases,
                                 QuantParams p, io::DType to) {
  auto fail = [&](const std::string& why) { return io::Error(weight.file, io::kNoOffset, "cannot dequantize '" + weight.name + "': " + why); };
  if (to != io::DType::F16 && to != io::DType::F32 && to != io::DType::BF16) throw fail("the target must be float16, bfloat16 or float32");
  if (weight.dtype != io::DType::U32 || weight.shape.empty()) throw fail("the packed weight must be a uint32 tensor of rank 1 or more");
  if (!weight.data || !scales.data || !biases.data) throw fail("its data cannot be read");
  if (p.bits != 2 && p.bits != 3 && p.bits != 4 && p.bits != 6 && p.bits != 8) throw fail("bits must be 2, 3, 4, 6 or 8");
  if (p.group_size != 32 && p.group_size != 64 && p.group_size != 128) throw fail("group size must be 32, 64 or 128");
  if (weight.shape.back() * 32 % p.bits != 0) throw fail("its packed width does not hold whole " + std::to_string(p.bits) + "-bit codes");
  const std::int64_t in = weight.shape.back() * 32 / p.bits;
  io::Shape groups_shape = weight.shape;
  groups_shape.back() = in / p.group_size;
  if (in % p.group_size != 0 || scales.shape != groups_shape || biases.shape != groups_shape || !is_scale_dtype(scales.dtype) ||
      !is_scale_dtype(biases.dtype))
    throw fail("scales and biases must be float tensors of shape " + shape_text(groups_shape) + " for " + std::to_string(p.bits) +
               " bits in groups of " + std::to_string(p.group_size));
  io::TensorInfo out = weight;
  out.dtype = to;
  out.shape.back() = in;
  out.nbytes = static_cast<std::uint64_t>(out.numel()) * io::item_size(to);
  out.data = std::make_shared<AffineDequantData>(weight, scales, biases, p, to, in);
  out.layout_note = "dequantized from " + std::to_string(p.bits) + "-bit groups of " + std::to_string(p.group_size);
  return out;
}

MlxQuantized ggml_to_mlx_quantized(const io::TensorInfo& t) {
  int bits = 0;
  if (t.dtype == io::DType::Q4_0 || t.dtype == io::DType::Q4_1) bits = 4;
  else if (t.dtype == io::DType::Q8_0) bits = 8;
  else throw io::Error(t.file, t.offset, "tensor '" + t.name + "' is " + std::string(io::name(t.dtype)) + "; only Q4_0, Q4_1 and Q8_0 map onto MLX's affine quantization");
  if (!t.data) throw io::Error(t.file, t.offset, "tensor '" + t.name + "' cannot be read");
  if (t.shape.empty() || t.shape.back() % 32 != 0)
    throw io::Error(t.file, t.offset, "tensor '" + t.name + "' has a last dimension that is not a multiple of 32");
  const std::string prefix = ends_with(t.name, ".weight") ? t.name.substr(0, t.name.size() - 7) : t.name;
  MlxQuantized q;
  q.params = {bits, 32};
  auto make = [&](std::string name, io::DType dt, io::Shape shape, Part part) {
    io::TensorInfo o;
    o.name = std::move(name);
    o.dtype = dt;
    o.shape = std::move(shape);
    o.nbytes = static_cast<std::uint64_t>(o.numel()) * io::item_size(dt);
    o.data = std::make_shared<GgmlPartData>(t, part);
    o.file = t.file;
    o.offset = t.offset;
    o.layout_note = "MLX affine from " + std::string(io::name(t.dtype));
    return o;
  };
  io::Shape ws = t.shape, gs = t.shape;
  ws.back() = t.shape.back() * bits / 32;
  gs.back() = t.shape.back() / 32;
  q.weight = make(ends_with(t.name, ".weight") ? t.name : t.name + ".weight", io::DType::U32, ws, Part::Weight);
  q.scales = make(prefix + ".scales", io::DType::F16, gs, Part::Scales);
  q.biases = make(prefix + ".biases", io::DType::F16, gs, Part::Biases);
  return q;
}

}  // namespace ckpt::model
