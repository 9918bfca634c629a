#pragma once
// The small fixed checkpoint the name-map and spec harnesses work on: a bit of
// everything the model layer treats specially — conv weights of rank 3, 4 and
// 5, tied weights (one storage, two names), an MLX quantized triple, a GGUF
// Q8_0 tensor, buffers the presets drop, f16/bf16/f64/int/bool, a scalar and
// an empty tensor. Data lives in memory, so mapped tensors stream for real.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "io/float_convert.h"
#include "io/tensor.h"

namespace ckpt::fuzz {

inline io::TensorInfo fixture_tensor(std::string name, io::DType dtype, io::Shape shape,
                                     std::shared_ptr<const io::TensorData> data = nullptr) {
  io::TensorInfo t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  std::int64_t n = 1;
  for (auto d : t.shape) n *= d;
  t.nbytes = *io::byte_size(dtype, n);
  if (!data) {
    std::vector<std::byte> bytes(t.nbytes);
    const std::size_t item = io::item_size(dtype);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>((i * 37 + 11) & 0x7f);
    // Whole-byte floats get finite, varied values.
    for (std::size_t e = 0; item && e < bytes.size() / item; ++e) {
      const float f = static_cast<float>(e % 13) * 0.25f - 1.5f;
      std::uint8_t* p = reinterpret_cast<std::uint8_t*>(bytes.data()) + e * item;
      if (dtype == io::DType::F32) std::memcpy(p, &f, 4);
      else if (dtype == io::DType::F64) { const double d = f; std::memcpy(p, &d, 8); }
      else if (dtype == io::DType::F16) { const auto h = io::f32_to_f16(f); std::memcpy(p, &h, 2); }
      else if (dtype == io::DType::BF16) { const auto h = io::f32_to_bf16(f); std::memcpy(p, &h, 2); }
      else if (dtype == io::DType::Bool) p[0] = e % 2;
    }
    if (dtype == io::DType::Q8_0)  // blocks of f16 scale + 32 int8 codes; keep the scales small and finite
      for (std::size_t b = 0; b + 34 <= bytes.size(); b += 34) {
        const auto h = io::f32_to_f16(0.01f * static_cast<float>(b / 34 + 1));
        std::memcpy(bytes.data() + b, &h, 2);
      }
    data = io::make_memory_data(std::move(bytes));
  }
  t.data = std::move(data);
  return t;
}

inline const std::vector<io::TensorInfo>& fixture_checkpoint() {
  static const std::vector<io::TensorInfo> tensors = [] {
    using io::DType;
    std::vector<io::TensorInfo> v;
    v.push_back(fixture_tensor("conv1.weight", DType::F32, {4, 3, 3, 3}));
    v.push_back(fixture_tensor("conv1.bias", DType::F32, {4}));
    v.push_back(fixture_tensor("bn1.running_mean", DType::F32, {4}));
    v.push_back(fixture_tensor("bn1.num_batches_tracked", DType::I64, {}));
    v.push_back(fixture_tensor("encoder.conv1d.weight", DType::F16, {2, 3, 5}));
    v.push_back(fixture_tensor("encoder.conv3d.weight", DType::F32, {2, 1, 2, 2, 3}));
    v.push_back(fixture_tensor("model.layers.0.attn.q_proj.weight", DType::BF16, {8, 6}));
    v.push_back(fixture_tensor("model.layers.0.attn.q_proj.bias", DType::F64, {8}));
    v.push_back(fixture_tensor("model.layers.0.mlp.up.weight", DType::F32, {6, 8}));
    v.push_back(fixture_tensor("model.embed_tokens.weight", DType::F32, {5, 4}));
    v.push_back(fixture_tensor("lm_head.weight", DType::F32, {5, 4}, v.back().data));  // tied to the embedding
    v.push_back(fixture_tensor("q.weight", DType::U32, {4, 8}));   // MLX 4-bit, group 64: 64 inputs
    v.push_back(fixture_tensor("q.scales", DType::F16, {4, 1}));
    v.push_back(fixture_tensor("q.biases", DType::F16, {4, 1}));
    v.push_back(fixture_tensor("blk.0.ffn_down.weight", DType::Q8_0, {2, 64}));
    v.push_back(fixture_tensor("rotary_emb.inv_freq", DType::F32, {4}));
    v.push_back(fixture_tensor("model.position_ids", DType::I64, {1, 4}));
    v.push_back(fixture_tensor("mask", DType::Bool, {3}));
    v.push_back(fixture_tensor("scale", DType::F64, {}));
    v.push_back(fixture_tensor("empty", DType::F32, {0, 3}));
    v.push_back(fixture_tensor("counts", DType::I32, {2, 2, 2}));
    return v;
  }();
  return tensors;
}

}  // namespace ckpt::fuzz
