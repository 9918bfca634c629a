#include <gtest/gtest.h>

#include <cmath>

#include "io/dtype.h"
#include "io/float_convert.h"

using namespace ckpt::io;

TEST(DType, TableNamesRoundTrip) {
  for (int k = 0; k < kDTypeCount; ++k) {
    auto t = static_cast<DType>(k);
    if (t == DType::GgmlUnknown) continue;
    EXPECT_EQ(from_name(name(t)), t) << name(t);
    if (!info(t).safetensors.empty()) { EXPECT_EQ(from_safetensors(info(t).safetensors), t); }
    if (info(t).ggml_id >= 0) { EXPECT_EQ(from_ggml(static_cast<std::uint32_t>(info(t).ggml_id)), t); }
  }
}

TEST(DType, GgmlSizesMatchGgmlTable) {
  // Block elements and bytes per ggml's type_traits.
  struct Row { std::uint32_t id, block, bytes; };
  const Row rows[] = {{0, 1, 4}, {1, 1, 2}, {2, 32, 18}, {3, 32, 20}, {6, 32, 22}, {7, 32, 24}, {8, 32, 34},
                      {9, 32, 36}, {10, 256, 84}, {11, 256, 110}, {12, 256, 144}, {13, 256, 176}, {14, 256, 210},
                      {15, 256, 292}, {16, 256, 66}, {17, 256, 74}, {18, 256, 98}, {19, 256, 50}, {20, 32, 18},
                      {21, 256, 110}, {22, 256, 82}, {23, 256, 136}, {24, 1, 1}, {25, 1, 2}, {26, 1, 4},
                      {27, 1, 8}, {28, 1, 8}, {29, 256, 56}, {30, 1, 2}, {34, 256, 54}, {35, 256, 66}, {39, 32, 17}};
  for (const auto& r : rows) {
    auto t = from_ggml(r.id);
    ASSERT_TRUE(t) << r.id;
    EXPECT_EQ(info(*t).block_elems, r.block) << r.id;
    EXPECT_EQ(info(*t).block_bytes, r.bytes) << r.id;
  }
  for (std::uint32_t removed : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 40u, 1000u}) EXPECT_FALSE(from_ggml(removed)) << removed;
}

TEST(DType, ByteSize) {
  EXPECT_EQ(byte_size(DType::F32, 10), 40u);
  EXPECT_EQ(byte_size(DType::Q4_0, 64), 36u);
  EXPECT_FALSE(byte_size(DType::Q4_0, 33));
  EXPECT_EQ(byte_size(DType::F4_E2M1, 4), 2u);
  EXPECT_FALSE(byte_size(DType::F6_E2M3, 2));  // 12 bits are not whole bytes
  EXPECT_EQ(byte_size(DType::F6_E2M3, 8), 6u);
  EXPECT_FALSE(byte_size(DType::F64, std::int64_t{1} << 62));  // overflows 64 bits
}

TEST(FloatConvert, HalfExhaustiveRoundTrip) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    float f = f16_to_f32(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    EXPECT_EQ(f32_to_f16(f), h) << h;
  }
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // rounds to inf like NumPy
  EXPECT_EQ(f32_to_f16(1.0f + 1.0f / 2048), 0x3C00);  // tie to even
  EXPECT_EQ(f32_to_f16(1.0f + 3.0f / 2048), 0x3C02);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // half of the smallest subnormal ties to 0
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
}

TEST(FloatConvert, BFloat16) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3F80);  // tie to even
  EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3F82);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(FloatConvert, Float8) {
  EXPECT_EQ(f8_to_f32(DType::F8_E4M3, 0x7E), 448.0f);
  EXPECT_TRUE(std::isnan(f8_to_f32(DType::F8_E4M3, 0x7F)));
  EXPECT_EQ(f8_to_f32(DType::F8_E4M3, 0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(f8_to_f32(DType::F8_E5M2, 0x7B), 57344.0f);
  EXPECT_TRUE(std::isinf(f8_to_f32(DType::F8_E5M2, 0x7C)));
  EXPECT_TRUE(std::isnan(f8_to_f32(DType::F8_E4M3FNUZ, 0x80)));
  EXPECT_EQ(f8_to_f32(DType::F8_E4M3FNUZ, 0x7F), 240.0f);
  EXPECT_EQ(f8_to_f32(DType::F8_E5M2FNUZ, 0x7F), 57344.0f);
  EXPECT_EQ(f8_to_f32(DType::F8_E8M0, 127), 1.0f);
  for (DType t : {DType::F8_E4M3, DType::F8_E5M2, DType::F8_E4M3FNUZ, DType::F8_E5M2FNUZ}) {
    for (int b = 0; b < 256; ++b) {
      float f = f8_to_f32(t, static_cast<std::uint8_t>(b));
      if (std::isnan(f)) continue;
      if (f == 0 && t != DType::F8_E4M3 && t != DType::F8_E5M2 && b == 0x80) continue;
      EXPECT_EQ(f32_to_f8(t, f), b) << name(t) << " " << b;
    }
  }
  EXPECT_TRUE(std::isnan(f8_to_f32(DType::F8_E4M3, f32_to_f8(DType::F8_E4M3, 1000.0f))));
}

TEST(FloatConvert, SubByte) {
  const std::byte packed[] = {std::byte{0x72}};  // F4: element 0 = 0x2 (1.0), element 1 = 0x7 (6.0)
  EXPECT_EQ(subbyte_to_f32(DType::F4_E2M1, packed, 0), 1.0f);
  EXPECT_EQ(subbyte_to_f32(DType::F4_E2M1, packed, 1), 6.0f);
  const std::byte six[] = {std::byte{0x1F}, std::byte{0x00}, std::byte{0x00}};  // F6_E2M3 element 0 = 0b011111 = 7.5
  EXPECT_EQ(subbyte_to_f32(DType::F6_E2M3, six, 0), 7.5f);
}
