#include "io/dtype.h"

#include <array>

#include "io/checked.h"

namespace ckpt::io {
namespace {

using K = DTypeKind;
// Block sizes and bytes of the ggml types follow ggml's type_traits table
// (ggml.c) and gguf-py's GGML_QUANT_SIZES.
constexpr std::array<DTypeInfo, kDTypeCount> kTable{{
    {DType::Bool, "bool", K::Bool, 1, 1, "b1", "BOOL", -1, "bool"},
    {DType::U8, "uint8", K::Unsigned, 1, 1, "u1", "U8", -1, "uint8"},
    {DType::U16, "uint16", K::Unsigned, 1, 2, "u2", "U16", -1, "uint16"},
    {DType::U32, "uint32", K::Unsigned, 1, 4, "u4", "U32", -1, "uint32"},
    {DType::U64, "uint64", K::Unsigned, 1, 8, "u8", "U64", -1, "uint64"},
    {DType::I8, "int8", K::Signed, 1, 1, "i1", "I8", 24, "int8"},
    {DType::I16, "int16", K::Signed, 1, 2, "i2", "I16", 25, "int16"},
    {DType::I32, "int32", K::Signed, 1, 4, "i4", "I32", 26, "int32"},
    {DType::I64, "int64", K::Signed, 1, 8, "i8", "I64", 27, "int64"},
    {DType::F16, "float16", K::Float, 1, 2, "f2", "F16", 1, "float16"},
    {DType::BF16, "bfloat16", K::Float, 1, 2, "V2", "BF16", 30, "bfloat16"},
    {DType::F32, "float32", K::Float, 1, 4, "f4", "F32", 0, "float32"},
    {DType::F64, "float64", K::Float, 1, 8, "f8", "F64", 28, "float64"},
    {DType::C64, "complex64", K::Complex, 1, 8, "c8", "C64", -1, "complex64"},
    {DType::C128, "complex128", K::Complex, 1, 16, "c16", "", -1, "complex128"},
    {DType::F8_E4M3, "float8_e4m3fn", K::Float, 1, 1, "", "F8_E4M3", -1, "float8_e4m3fn"},
    {DType::F8_E5M2, "float8_e5m2", K::Float, 1, 1, "", "F8_E5M2", -1, "float8_e5m2"},
    {DType::F8_E8M0, "float8_e8m0fnu", K::Float, 1, 1, "", "F8_E8M0", -1, "float8_e8m0fnu"},
    {DType::F8_E4M3FNUZ, "float8_e4m3fnuz", K::Float, 1, 1, "", "F8_E4M3FNUZ", -1, "float8_e4m3fnuz"},
    {DType::F8_E5M2FNUZ, "float8_e5m2fnuz", K::Float, 1, 1, "", "F8_E5M2FNUZ", -1, "float8_e5m2fnuz"},
    // Sub-byte floats pack whole bytes: 4 six-bit values in 3 bytes, 2 four-bit values in 1.
    {DType::F6_E2M3, "float6_e2m3fn", K::Float, 4, 3, "", "F6_E2M3", -1, ""},
    {DType::F6_E3M2, "float6_e3m2fn", K::Float, 4, 3, "", "F6_E3M2", -1, ""},
    {DType::F4_E2M1, "float4_e2m1fn", K::Float, 2, 1, "", "F4", -1, "float4_e2m1fn_x2"},
    {DType::Q4_0, "q4_0", K::Quantized, 32, 18, "", "", 2, ""},
    {DType::Q4_1, "q4_1", K::Quantized, 32, 20, "", "", 3, ""},
    {DType::Q5_0, "q5_0", K::Quantized, 32, 22, "", "", 6, ""},
    {DType::Q5_1, "q5_1", K::Quantized, 32, 24, "", "", 7, ""},
    {DType::Q8_0, "q8_0", K::Quantized, 32, 34, "", "", 8, ""},
    {DType::Q8_1, "q8_1", K::Quantized, 32, 36, "", "", 9, ""},
    {DType::Q2_K, "q2_k", K::Quantized, 256, 84, "", "", 10, ""},
    {DType::Q3_K, "q3_k", K::Quantized, 256, 110, "", "", 11, ""},
    {DType::Q4_K, "q4_k", K::Quantized, 256, 144, "", "", 12, ""},
    {DType::Q5_K, "q5_k", K::Quantized, 256, 176, "", "", 13, ""},
    {DType::Q6_K, "q6_k", K::Quantized, 256, 210, "", "", 14, ""},
    {DType::Q8_K, "q8_k", K::Quantized, 256, 292, "", "", 15, ""},
    {DType::IQ2_XXS, "iq2_xxs", K::Quantized, 256, 66, "", "", 16, ""},
    {DType::IQ2_XS, "iq2_xs", K::Quantized, 256, 74, "", "", 17, ""},
    {DType::IQ3_XXS, "iq3_xxs", K::Quantized, 256, 98, "", "", 18, ""},
    {DType::IQ1_S, "iq1_s", K::Quantized, 256, 50, "", "", 19, ""},
    {DType::IQ4_NL, "iq4_nl", K::Quantized, 32, 18, "", "", 20, ""},
    {DType::IQ3_S, "iq3_s", K::Quantized, 256, 110, "", "", 21, ""},
    {DType::IQ2_S, "iq2_s", K::Quantized, 256, 82, "", "", 22, ""},
    {DType::IQ4_XS, "iq4_xs", K::Quantized, 256, 136, "", "", 23, ""},
    {DType::IQ1_M, "iq1_m", K::Quantized, 256, 56, "", "", 29, ""},
    {DType::TQ1_0, "tq1_0", K::Quantized, 256, 54, "", "", 34, ""},
    {DType::TQ2_0, "tq2_0", K::Quantized, 256, 66, "", "", 35, ""},
    {DType::MXFP4, "mxfp4", K::Quantized, 32, 17, "", "", 39, ""},
    {DType::GgmlUnknown, "ggml_unknown", K::Unknown, 1, 0, "", "", -1, ""},
}};

constexpr bool table_in_enum_order() {
  for (int i = 0; i < kDTypeCount; ++i)
    if (static_cast<int>(kTable[i].dtype) != i) return false;
  return true;
}
static_assert(table_in_enum_order(), "dtype table rows must follow the DType enum order");
static_assert(kTable.size() == static_cast<std::size_t>(DType::Count_));

template <class Pred>
std::optional<DType> find(Pred pred) {
  for (const auto& row : kTable)
    if (pred(row)) return row.dtype;
  return std::nullopt;
}

}  // namespace

const DTypeInfo& info(DType t) { return kTable[static_cast<std::size_t>(t)]; }

std::optional<std::uint64_t> byte_size(DType t, std::int64_t elements) {
  const auto& i = info(t);
  if (elements < 0 || i.kind == K::Unknown) return std::nullopt;
  auto n = static_cast<std::uint64_t>(elements);
  if (n % i.block_elems != 0) return std::nullopt;
  return checked_mul(n / i.block_elems, i.block_bytes);
}

std::optional<DType> from_name(std::string_view s) {
  return find([&](const DTypeInfo& r) { return r.name == s && r.kind != K::Unknown; });
}
std::optional<DType> from_safetensors(std::string_view s) {
  return find([&](const DTypeInfo& r) { return !r.safetensors.empty() && r.safetensors == s; });
}
std::optional<DType> from_ggml(std::uint32_t id) {
  return find([&](const DTypeInfo& r) { return r.ggml_id >= 0 && static_cast<std::uint32_t>(r.ggml_id) == id; });
}
std::optional<DType> from_npy(std::string_view d) {
  return find([&](const DTypeInfo& r) { return !r.npy_descr.empty() && r.npy_descr == d; });
}
std::optional<DType> from_torch(std::string_view s) {
  return find([&](const DTypeInfo& r) { return !r.torch.empty() && r.torch == s; });
}

}  // namespace ckpt::io
