#pragma once
// Every element type the core knows, with the names each format uses for it.
// One constexpr table (dtype.cpp) holds all of it; no format keeps its own
// switch of names.
#include <cstdint>
#include <optional>
#include <string_view>

namespace ckpt::io {

enum class DType : std::uint8_t {
  Bool, U8, U16, U32, U64, I8, I16, I32, I64,
  F16, BF16, F32, F64, C64, C128,
  F8_E4M3, F8_E5M2, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ,
  F6_E2M3, F6_E3M2, F4_E2M1,
  // ggml block-quantized types (GGUF), in ggml id order.
  Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1,
  Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K,
  IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S, IQ4_NL, IQ3_S, IQ2_S, IQ4_XS, IQ1_M,
  TQ1_0, TQ2_0, MXFP4,
  // A GGUF tensor whose ggml type id this build does not know: listed, never decoded.
  GgmlUnknown,
  Count_
};

inline constexpr int kDTypeCount = static_cast<int>(DType::Count_);

enum class DTypeKind : std::uint8_t { Bool, Unsigned, Signed, Float, Complex, Quantized, Unknown };

struct DTypeInfo {
  DType dtype;
  std::string_view name;          // canonical lowercase name (ckpt info --json)
  DTypeKind kind;
  std::uint32_t block_elems;      // elements per block (1 for plain types)
  std::uint32_t block_bytes;      // bytes per block
  std::string_view npy_descr;     // NumPy descr without byte order ("f4"), empty if none
  std::string_view safetensors;   // safetensors dtype string, empty if none
  std::int32_t ggml_id;           // ggml type id, -1 if none
  std::string_view torch;         // torch dtype name ("float32"), empty if none
};

[[nodiscard]] const DTypeInfo& info(DType t);
[[nodiscard]] inline std::string_view name(DType t) { return info(t).name; }

// An element type whose elements have their own bytes (not packed in blocks).
[[nodiscard]] inline bool is_elementwise(DType t) {
  const auto& i = info(t);
  return i.block_elems == 1 && i.kind != DTypeKind::Unknown;
}
[[nodiscard]] inline bool is_floating(DType t) {
  auto k = info(t).kind;
  return k == DTypeKind::Float;
}
[[nodiscard]] inline bool is_quantized(DType t) {
  return info(t).kind == DTypeKind::Quantized;
}
// Bytes of one element for elementwise types (0 for block types).
[[nodiscard]] inline std::uint32_t item_size(DType t) {
  const auto& i = info(t);
  return i.block_elems == 1 ? i.block_bytes : 0;
}
// Bytes of `elements` elements; nullopt when they do not fill whole blocks or overflow.
[[nodiscard]] std::optional<std::uint64_t> byte_size(DType t, std::int64_t elements);

[[nodiscard]] std::optional<DType> from_name(std::string_view canonical);
[[nodiscard]] std::optional<DType> from_safetensors(std::string_view s);
[[nodiscard]] std::optional<DType> from_ggml(std::uint32_t id);
// `descr_body` is a NumPy descr without its byte-order character ("f4", "V2").
// "V2" maps to bfloat16: MLX writes bfloat16 .npy files that way.
[[nodiscard]] std::optional<DType> from_npy(std::string_view descr_body);
[[nodiscard]] std::optional<DType> from_torch(std::string_view torch_name);

}  // namespace ckpt::io
