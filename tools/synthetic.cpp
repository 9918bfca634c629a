#include "tools/synthetic.h"

#include <algorithm>
#include <iterator>
#include <cstring>

#include "io/float_convert.h"

namespace ckpt::tools {
namespace {

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class SyntheticData final : public io::TensorData {
 public:
  SyntheticData(io::DType dtype, std::int64_t numel, std::uint64_t seed, float scale)
      : dtype_(dtype), numel_(numel), seed_(seed), scale_(scale) {}

  void stream(const io::ByteSink& sink) const override {
    const std::size_t item = io::item_size(dtype_);
    const std::size_t per = (std::size_t{1} << 20) / item;
    std::vector<float> f(per);
    std::vector<std::byte> out(per * item);
    for (std::int64_t start = 0; start < numel_; start += static_cast<std::int64_t>(per)) {
      const auto n = static_cast<std::size_t>(std::min<std::int64_t>(static_cast<std::int64_t>(per), numel_ - start));
      if (io::is_floating(dtype_)) {
        for (std::size_t k = 0; k < n; ++k) {
          const std::uint64_t r = mix(seed_ + static_cast<std::uint64_t>(start) + k);
          const float mag = 0.5f + static_cast<float>(r & 0xFFFFFF) / float(1 << 25);
          f[k] = ((r >> 63) ? -mag : mag) * scale_;
        }
        io::convert_from_f32(dtype_, f.data(), out.data(), n);
      } else {
        for (std::size_t k = 0; k < n; ++k) {
          const std::uint64_t v = mix(seed_ + static_cast<std::uint64_t>(start) + k) % 7;
          std::memcpy(out.data() + k * item, &v, item);  // little-endian hosts: low bytes first
        }
      }
      sink(std::span<const std::byte>(out.data(), n * item));
    }
  }

 private:
  io::DType dtype_;
  std::int64_t numel_;
  std::uint64_t seed_;
  float scale_;
};

}  // namespace

io::TensorInfo synthetic_tensor(std::string name, io::DType dtype, io::Shape shape, std::uint64_t seed, float scale) {
  io::TensorInfo t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.nbytes = io::byte_size(dtype, t.numel()).value();
  t.data = std::make_shared<SyntheticData>(dtype, t.numel(), mix(seed), scale);
  return t;
}

std::vector<io::TensorInfo> synthetic_checkpoint(std::size_t count, std::uint64_t total_bytes, io::DType dtype, bool conv) {
  std::vector<io::TensorInfo> out;
  const std::uint64_t item = io::item_size(dtype);
  const std::uint64_t per_tensor = std::max<std::uint64_t>(item, total_bytes / count);
  const std::int64_t elems = static_cast<std::int64_t>(per_tensor / item);
  const std::int64_t cols = std::min<std::int64_t>(1024, elems);
  const std::int64_t rows = std::max<std::int64_t>(1, elems / cols);
  out.reserve(count);
  if (conv) {
    // Square channel counts: out = in = sqrt(elements / 9).
    std::int64_t c = 1;
    while ((c + 1) * (c + 1) * 9 <= elems) ++c;
    for (std::size_t k = 0; k < count; ++k)
      out.push_back(synthetic_tensor("features." + std::to_string(k) + ".conv.weight", dtype, {c, c, 3, 3}, k));
    return out;
  }
  for (std::size_t k = 0; k < count; ++k)
    out.push_back(synthetic_tensor("layers." + std::to_string(k) + ".weight", dtype, {rows, cols}, k));
  return out;
}

std::string transformer_name(std::size_t k) {
  static constexpr const char* kParts[] = {
      "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
      "mlp.up_proj",      "mlp.down_proj",    "input_layernorm",  "post_attention_layernorm",
  };
  constexpr std::size_t n = std::size(kParts);
  return "model.layers." + std::to_string(k / n) + "." + kParts[k % n] + ".weight";
}

}  // namespace ckpt::tools
