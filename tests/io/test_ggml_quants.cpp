#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "io/dtype.h"
#include "io/endian.h"
#include "io/float_convert.h"
#include "io/formats/ggml_quants.h"
#include "tests/support/support.h"

using namespace ckpt::io;

namespace {

const std::vector<DType> kDecodable = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,
                                       DType::Q8_1, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K,
                                       DType::Q6_K, DType::IQ4_NL, DType::MXFP4};

// Byte offsets of each type's f16 scale fields (d, and m / dmin / s where present).
std::vector<std::size_t> half_fields(DType t) {
  switch (t) {
    case DType::Q4_1: case DType::Q5_1: case DType::Q8_1: case DType::Q4_K: case DType::Q5_K: return {0, 2};
    case DType::Q2_K: return {80, 82};
    case DType::Q3_K: return {108};
    case DType::Q6_K: return {208};
    case DType::MXFP4: return {};
    default: return {0};
  }
}

// Random blocks whose scales are finite halves (and MXFP4 exponents in a tame range).
std::vector<std::byte> random_blocks(DType t, std::size_t blocks, unsigned seed) {
  std::mt19937 rng(seed);
  const std::size_t bb = info(t).block_bytes;
  std::vector<std::byte> b(blocks * bb);
  for (auto& x : b) x = static_cast<std::byte>(rng() & 0xFF);
  std::uniform_real_distribution<float> uni(-1.5f, 1.5f);
  for (std::size_t k = 0; k < blocks; ++k) {
    for (std::size_t off : half_fields(t)) store_le(b.data() + k * bb + off, f32_to_f16(uni(rng)));
    if (t == DType::MXFP4) b[k * bb] = static_cast<std::byte>(100 + rng() % 50);
  }
  return b;
}

// An independent NumPy decoder written from ggml's block layouts
// (ggml-common.h): vectorised over blocks with index arithmetic, rather than
// the nested loops of the C++ decoder.
const char* kReference = R"PY(
import sys, numpy as np
typ, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
raw = np.fromfile(src, dtype=np.uint8)
f32 = np.float32
def half(b, o): return b[:, o:o+2].copy().view('<f2').astype(f32)          # (nb, 1)
def u32(b, o, n=1): return b[:, o:o+4*n].copy().view('<u4')                # (nb, n)
def nibbles(qs): return np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.int32)
def fifth_bits(qh): return ((qh >> np.arange(32, dtype=np.uint32)) & 1).astype(np.int32)

if typ == 'q4_0':
    b = raw.reshape(-1, 18); y = (nibbles(b[:, 2:18]) - 8).astype(f32) * half(b, 0)
elif typ == 'q4_1':
    b = raw.reshape(-1, 20); y = nibbles(b[:, 4:20]).astype(f32) * half(b, 0) + half(b, 2)
elif typ == 'q5_0':
    b = raw.reshape(-1, 22); q = nibbles(b[:, 6:22]) | (fifth_bits(u32(b, 2)) << 4)
    y = (q - 16).astype(f32) * half(b, 0)
elif typ == 'q5_1':
    b = raw.reshape(-1, 24); q = nibbles(b[:, 8:24]) | (fifth_bits(u32(b, 4)) << 4)
    y = q.astype(f32) * half(b, 0) + half(b, 2)
elif typ == 'q8_0':
    b = raw.reshape(-1, 34); y = b[:, 2:34].view(np.int8).astype(f32) * half(b, 0)
elif typ == 'q8_1':
    b = raw.reshape(-1, 36); y = b[:, 4:36].view(np.int8).astype(f32) * half(b, 0)
elif typ == 'iq4_nl':
    lv = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], dtype=f32)
    b = raw.reshape(-1, 18); y = half(b, 0) * lv[nibbles(b[:, 2:18])]
elif typ == 'mxfp4':
    lv = np.array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12], dtype=f32)
    b = raw.reshape(-1, 17); d = np.ldexp(f32(1), b[:, 0:1].astype(np.int32) - 128).astype(f32)
    y = d * lv[nibbles(b[:, 1:17])]
elif typ in ('q2_k', 'q3_k'):
    # 256 elements = 2 halves x 4 two-bit planes x 32; byte r of a half's 32 qs bytes.
    e = np.arange(256); half_i = e // 128; w = e % 128; plane = w // 32; r = w % 32
    qi = half_i * 32 + r; shift = (2 * plane).astype(np.uint8)
    if typ == 'q2_k':
        b = raw.reshape(-1, 84); sc = b[:, 0:16][:, e // 16]; q = (b[:, 16:80][:, qi] >> shift) & 3
        y = (half(b, 80) * (sc & 15).astype(f32)) * q.astype(f32) - half(b, 82) * (sc >> 4).astype(f32)
    else:
        b = raw.reshape(-1, 110)
        a = u32(b, 96, 3); a0, a1, tmp = a[:, 0], a[:, 1], a[:, 2]
        k1, k2 = np.uint32(0x03030303), np.uint32(0x0f0f0f0f)
        s = np.stack([(a0 & k2) | (((tmp >> 0) & k1) << 4), (a1 & k2) | (((tmp >> 2) & k1) << 4),
                      ((a0 >> 4) & k2) | (((tmp >> 4) & k1) << 4), ((a1 >> 4) & k2) | (((tmp >> 6) & k1) << 4)], axis=1)
        s = s.astype('<u4').view(np.uint8).astype(np.int32) - 32          # (nb, 16)
        hbit = (1 << (half_i * 4 + plane)).astype(np.uint8)
        low = ((b[:, 32:96][:, qi] >> shift) & 3).astype(np.int32)
        q = low - np.where(b[:, 0:32][:, r] & hbit, 0, 4)
        y = (half(b, 108) * s[:, e // 16].astype(f32)) * q.astype(f32)
elif typ in ('q4_k', 'q5_k'):
    bs = 144 if typ == 'q4_k' else 176
    b = raw.reshape(-1, bs); s = b[:, 4:16].astype(np.int32)
    sc = np.empty((b.shape[0], 8), np.int32); mn = np.empty_like(sc)
    for j in range(8):
        if j < 4:
            sc[:, j] = s[:, j] & 63; mn[:, j] = s[:, j + 4] & 63
        else:
            sc[:, j] = (s[:, j + 4] & 15) | ((s[:, j - 4] >> 6) << 4)
            mn[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
    e = np.arange(256); g = e // 64; hi = (e % 64) // 32; l = e % 32
    qs = b[:, 16:144] if typ == 'q4_k' else b[:, 48:176]
    byte = qs[:, g * 32 + l].astype(np.int32)
    q = np.where(hi == 1, byte >> 4, byte & 15)
    if typ == 'q5_k':
        bit = 1 << (2 * g + hi)
        q = q + np.where(b[:, 16:48][:, l].astype(np.int32) & bit, 16, 0)
    si = 2 * g + hi
    y = (half(b, 0) * sc[:, si].astype(f32)) * q.astype(f32) - half(b, 2) * mn[:, si].astype(f32)
elif typ == 'q6_k':
    b = raw.reshape(-1, 210)
    e = np.arange(256); h = e // 128; w = e % 128; quarter = w // 32; l = w % 32
    lb = b[:, h * 64 + l + 32 * (quarter % 2)].astype(np.int32)
    low = np.where(quarter >= 2, lb >> 4, lb & 15)
    high = (b[:, 128 + h * 32 + l].astype(np.int32) >> (2 * quarter)) & 3
    q = (low | (high << 4)) - 32
    sc = b[:, 192:208].view(np.int8)[:, h * 8 + l // 16 + 2 * quarter].astype(f32)
    y = (half(b, 208) * sc) * q.astype(f32)
else:
    sys.exit('unknown type ' + typ)
y.astype(f32).reshape(-1).tofile(dst)
)PY";

}  // namespace

TEST(GgmlQuants, WhichTypesDecode) {
  for (DType t : kDecodable) EXPECT_TRUE(can_dequantize(t)) << name(t);
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_K, DType::IQ2_XXS, DType::IQ1_M, DType::TQ1_0,
                  DType::GgmlUnknown})
    EXPECT_FALSE(can_dequantize(t)) << name(t);
}

TEST(GgmlQuants, HandDecodedBlocks) {
  // Q4_0 with d = 0.5: byte k = (k+1) << 4 | k, so element k is (k − 8)/2
  // and element 16+k is (k + 1 − 8)/2.
  std::vector<std::byte> q4(18);
  store_le(q4.data(), f32_to_f16(0.5f));
  for (int k = 0; k < 16; ++k) q4[2 + k] = static_cast<std::byte>(((k + 1) & 15) << 4 | k);
  float y[32];
  dequantize(DType::Q4_0, q4.data(), y, 32);
  for (int k = 0; k < 16; ++k) {
    EXPECT_EQ(y[k], (k - 8) * 0.5f) << k;
    EXPECT_EQ(y[16 + k], (((k + 1) & 15) - 8) * 0.5f) << k;
  }
  // Q8_0 with d = −2: value = q × d.
  std::vector<std::byte> q8(34);
  store_le(q8.data(), f32_to_f16(-2.0f));
  for (int k = 0; k < 32; ++k) q8[2 + k] = static_cast<std::byte>(static_cast<std::int8_t>(k - 16));
  dequantize(DType::Q8_0, q8.data(), y, 32);
  for (int k = 0; k < 32; ++k) EXPECT_EQ(y[k], (k - 16) * -2.0f) << k;
  // Q4_1 with d = 1, m = −0.25: value = nibble + m.
  std::vector<std::byte> q41(20);
  store_le(q41.data(), f32_to_f16(1.0f));
  store_le(q41.data() + 2, f32_to_f16(-0.25f));
  for (int k = 0; k < 16; ++k) q41[4 + k] = static_cast<std::byte>(0xF0 | k);
  dequantize(DType::Q4_1, q41.data(), y, 32);
  for (int k = 0; k < 16; ++k) {
    EXPECT_EQ(y[k], k - 0.25f);
    EXPECT_EQ(y[16 + k], 15 - 0.25f);
  }
  // Zero elements decode to nothing.
  dequantize(DType::Q6_K, nullptr, nullptr, 0);
}

TEST(GgmlQuants, MatchIndependentNumpyDecoder) {
  if (!ckpt::test::have_python_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is needed for the reference decoder";
  ckpt::test::TempDir tmp;
  unsigned seed = 11;
  for (DType t : kDecodable) {
    SCOPED_TRACE(std::string(name(t)));
    const std::size_t blocks = 64;
    const auto bytes = random_blocks(t, blocks, seed++);
    const std::string src = tmp.file("blocks.bin"), dst = tmp.file("ref.f32");
    {
      std::ofstream out(src, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    std::string log;
    ASSERT_EQ(ckpt::test::run_python(kReference, {std::string(name(t)), src, dst}, &log), 0) << log;
    const std::size_t n = blocks * info(t).block_elems;
    std::vector<float> want(n);
    {
      std::ifstream in(dst, std::ios::binary);
      in.read(reinterpret_cast<char*>(want.data()), static_cast<std::streamsize>(n * 4));
      ASSERT_EQ(static_cast<std::size_t>(in.gcount()), n * 4);
    }
    std::vector<float> got(n);
    dequantize(t, bytes.data(), got.data(), static_cast<std::int64_t>(n));
    std::size_t mismatches = 0;
    for (std::size_t k = 0; k < n; ++k) {
      // Same float32 operations in the same order: the results agree exactly.
      if (got[k] != want[k] && mismatches++ < 5) ADD_FAILURE() << "element " << k << ": " << got[k] << " vs " << want[k];
    }
    EXPECT_EQ(mismatches, 0u);
  }
}
