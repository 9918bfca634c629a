// Decoding of ggml block types to float32, following the block layouts of
// ggml-common.h and the reference dequantize_row_* routines of ggml-quants.c.
// The arithmetic is done in float32 in the same order as ggml and gguf-py
// (scale × sub-scale first, then × quant, then − min), so results match
// gguf-py's dequantize() bit for bit.
//
// Block layouts (all scalars little-endian; "h" = IEEE half):
//   Q4_0   h d; u8 qs[16]                          x = (nibble − 8)·d
//   Q4_1   h d; h m; u8 qs[16]                     x = nibble·d + m
//   Q5_0   h d; u32 qh; u8 qs[16]                  x = ((nibble | bit<<4) − 16)·d
//   Q5_1   h d; h m; u32 qh; u8 qs[16]             x = (nibble | bit<<4)·d + m
//   Q8_0   h d; i8 qs[32]                          x = q·d
//   Q8_1   h d; h s; i8 qs[32]                     x = q·d (s is a cached sum)
//   IQ4_NL h d; u8 qs[16]                          x = table[nibble]·d
//   MXFP4  u8 e (E8M0); u8 qs[16]                  x = table[nibble]·2^(e−128)
//   In the 32-element types, low nibbles hold elements 0–15, high 16–31.
//   Q2_K   u8 scales[16]; u8 qs[64]; h d; h dmin            (256 elements)
//   Q3_K   u8 hmask[32]; u8 qs[64]; u8 scales[12]; h d
//   Q4_K   h d; h dmin; u8 scales[12]; u8 qs[128]
//   Q5_K   h d; h dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
//   Q6_K   u8 ql[128]; u8 qh[64]; i8 scales[16]; h d
#include "io/formats/ggml_quants.h"

#include <cmath>
#include <cstring>

#include "io/endian.h"
#include "io/float_convert.h"

namespace ckpt::io {
namespace {

using u8 = std::uint8_t;

inline const u8* bytes_of(const std::byte* p) { return reinterpret_cast<const u8*>(p); }
inline float half_at(const u8* p) { return f16_to_f32(load_le<std::uint16_t>(p)); }

// The 16 non-uniform levels of IQ4_NL (ggml's kvalues_iq4nl).
constexpr std::int8_t kIq4nlLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
// FP4 E2M1 values doubled, so they are integers; MXFP4's scale is halved to match.
constexpr std::int8_t kMxfp4Levels[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

void q4_0(const u8* b, float* y) {
  const float d = half_at(b);
  const u8* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0xF) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

void q4_1(const u8* b, float* y) {
  const float d = half_at(b), m = half_at(b + 2);
  const u8* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 0xF) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// The fifth bit of element j is bit j of qh.
void q5_0(const u8* b, float* y) {
  const float d = half_at(b);
  const std::uint32_t qh = load_le<std::uint32_t>(b + 2);
  const u8* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    const int lo = (qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1u) << 4);
    const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
    y[j] = static_cast<float>(lo - 16) * d;
    y[j + 16] = static_cast<float>(hi - 16) * d;
  }
}

void q5_1(const u8* b, float* y) {
  const float d = half_at(b), m = half_at(b + 2);
  const std::uint32_t qh = load_le<std::uint32_t>(b + 4);
  const u8* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    const int lo = (qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1u) << 4);
    const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
    y[j] = static_cast<float>(lo) * d + m;
    y[j + 16] = static_cast<float>(hi) * d + m;
  }
}

void q8(const u8* b, float* y, int header) {
  const float d = half_at(b);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<std::int8_t>(b[header + j])) * d;
}

void iq4_nl(const u8* b, float* y) {
  const float d = half_at(b);
  const u8* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(kIq4nlLevels[qs[j] & 0xF]);
    y[j + 16] = d * static_cast<float>(kIq4nlLevels[qs[j] >> 4]);
  }
}

void mxfp4(const u8* b, float* y) {
  // E8M0 exponent e stands for 2^(e−127); half of it because the levels are doubled.
  const float d = std::ldexp(1.0f, static_cast<int>(b[0]) - 128);
  const u8* qs = b + 1;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(kMxfp4Levels[qs[j] & 0xF]);
    y[j + 16] = d * static_cast<float>(kMxfp4Levels[qs[j] >> 4]);
  }
}

// 16 sub-blocks of 16; each scale byte holds a 4-bit scale (low) and min (high).
// Each 32-byte run of qs holds four 2-bit planes; plane p covers 32 elements.
void q2_k(const u8* b, float* y) {
  const u8* scales = b;
  const u8* q = b + 16;
  const float d = half_at(b + 80), dmin = half_at(b + 82);
  int is = 0;
  for (int half = 0; half < 2; ++half, q += 32) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int part = 0; part < 2; ++part) {
        const u8 sc = scales[is++];
        const float dl = d * static_cast<float>(sc & 0xF);
        const float ml = dmin * static_cast<float>(sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[16 * part + l] >> shift) & 3) - ml;
      }
    }
  }
}

// Sixteen 6-bit signed scales (biased by 32) packed into 12 bytes: the low
// 4 bits of scale k sit in bytes 0–7 (nibble k/8), the high 2 bits in bytes 8–11.
void unpack_q3k_scales(const u8* s, int* out) {
  for (int k = 0; k < 16; ++k) {
    const int low = k < 8 ? (s[k] & 0xF) : (s[k - 8] >> 4);
    const int high = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
    out[k] = (low | (high << 4)) - 32;
  }
}

void q3_k(const u8* b, float* y) {
  const u8* hmask = b;
  const u8* q = b + 32;
  int scales[16];
  unpack_q3k_scales(b + 96, scales);
  const float d = half_at(b + 108);
  int is = 0;
  u8 m = 1;
  for (int half = 0; half < 2; ++half, q += 32) {
    for (int shift = 0; shift < 8; shift += 2, m = static_cast<u8>(m << 1)) {
      for (int part = 0; part < 2; ++part) {
        const float dl = d * static_cast<float>(scales[is++]);
        for (int l = 0; l < 16; ++l) {
          const int i = 16 * part + l;
          const int v = ((q[i] >> shift) & 3) - ((hmask[i] & m) ? 0 : 4);
          *y++ = dl * static_cast<float>(v);
        }
      }
    }
  }
}

// Eight 6-bit scales and eight 6-bit mins in 12 bytes (Q4_K and Q5_K):
// entries 0–3 are the low 6 bits of bytes 0–3 (scales) and 4–7 (mins);
// entries 4–7 take their low 4 bits from bytes 8–11 and their top 2 bits
// from the spare top bits of bytes 0–7.
void k_scale_min(int j, const u8* q, u8* sc, u8* mn) {
  if (j < 4) {
    *sc = q[j] & 63;
    *mn = q[j + 4] & 63;
  } else {
    *sc = static_cast<u8>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *mn = static_cast<u8>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void q4_k(const u8* b, float* y) {
  const float d = half_at(b), dmin = half_at(b + 2);
  const u8* scales = b + 4;
  const u8* q = b + 16;
  for (int g = 0; g < 4; ++g, q += 32) {
    u8 sc, mn;
    k_scale_min(2 * g, scales, &sc, &mn);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(mn);
    k_scale_min(2 * g + 1, scales, &sc, &mn);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(mn);
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
  }
}

void q5_k(const u8* b, float* y) {
  const float d = half_at(b), dmin = half_at(b + 2);
  const u8* scales = b + 4;
  const u8* qh = b + 16;
  const u8* q = b + 48;
  for (int g = 0; g < 4; ++g, q += 32) {
    u8 sc, mn;
    k_scale_min(2 * g, scales, &sc, &mn);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(mn);
    k_scale_min(2 * g + 1, scales, &sc, &mn);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(mn);
    const u8 bit1 = static_cast<u8>(1u << (2 * g)), bit2 = static_cast<u8>(2u << (2 * g));
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((q[l] & 0xF) + ((qh[l] & bit1) ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((q[l] >> 4) + ((qh[l] & bit2) ? 16 : 0)) - m2;
  }
}

// Each 128-element half: ql holds low nibbles for elements l and l+64 (via
// the two nibbles of bytes 0–63), qh the top 2 bits of four elements per byte.
void q6_k(const u8* b, float* y) {
  const u8* ql = b;
  const u8* qh = b + 128;
  const auto* sc = reinterpret_cast<const std::int8_t*>(b + 192);
  const float d = half_at(b + 208);
  for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
      y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
  }
}

using BlockFn = void (*)(const u8*, float*);

BlockFn decoder(DType t) noexcept {
  switch (t) {
    case DType::Q4_0: return q4_0;
    case DType::Q4_1: return q4_1;
    case DType::Q5_0: return q5_0;
    case DType::Q5_1: return q5_1;
    case DType::Q8_0: return [](const u8* b, float* y) { q8(b, y, 2); };
    case DType::Q8_1: return [](const u8* b, float* y) { q8(b, y, 4); };
    case DType::Q2_K: return q2_k;
    case DType::Q3_K: return q3_k;
    case DType::Q4_K: return q4_k;
    case DType::Q5_K: return q5_k;
    case DType::Q6_K: return q6_k;
    case DType::IQ4_NL: return iq4_nl;
    case DType::MXFP4: return mxfp4;
    default: return nullptr;
  }
}

// ---- fast decoders -------------------------------------------------------------
//
// The same arithmetic in the same order as above, restated so GCC vectorises
// it at -O2: fixed trip counts of 16 or 32 (its "very cheap" cost model takes
// only loops with no scalar remainder), no branches in the element loops, and
// one loop per run of contiguous outputs. Each decoder is inlined into a
// whole-tensor loop instantiated twice, for the baseline ISA (SSE2 on x86-64)
// and for AVX2; without FMA in either target no multiply-add is contracted,
// so every rounding is the reference's. `__restrict` tells it the output
// floats never overlap the input bytes (char pointers may alias anything,
// and the cost model allows no run-time overlap check). Table lookups (IQ4_NL, MXFP4) stay
// scalar but lose the per-block indirect call.

namespace fast {

#define CKPT_INLINE inline __attribute__((always_inline))

struct Q4_0 {
  static constexpr int kElems = 32, kBytes = 18;
  static CKPT_INLINE void run(const u8* __restrict b, float* __restrict y) {
    const float d = half_at(b);
    const u8* qs = b + 2;
    for (int j = 0; j < 16; ++j) y[j] = static_cast<float>((qs[j] & 0xF) - 8) * d;
    for (int j = 0; j < 16; ++j) y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
};

struct Q4_1 {
  static constexpr int kElems = 32, kBytes = 20;
  static CKPT_INLINE void run(const u8* __restrict b, float* __restrict y) {
    const float d = half_at(b), m = half_at(b + 2);
    const u8* qs = b + 4;
    for (int j = 0; j < 16; ++j) y[j] = static_cast<float>(qs[j] & 0xF) * d + m;
    for (int j = 0; j < 16; ++j) y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
};

struct Q5_0 {
  static constexpr int kElems = 32, kBytes = 22;
  static CKPT_INLINE void run(const u8* __restrict b, float* __restrict y) {
    const float d = half_at(b);
    const std::uint32_t qh = load_le<std::uint32_t>(b + 2);
    const u8* qs = b + 6;
    for (int j = 0; j < 16; ++j)
      y[j] = static_cast<float>(static_cast<int>((qs[j] & 0xFu) | (((qh >> j) & 1u) << 4)) - 16) * d;
    for (int j = 0; j < 16; ++j)
      y[j + 16] = static_cast<float>(static_cast<int>((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16) * d;
  }
};

struct Q5_1 {
  static constexpr int kElems = 32, kBytes = 24;
  static CKPT_INLINE void run(const u8* __restrict b, float* __restrict y) {
    const float d = half_at(b), m = half_at(b + 2);
    const std::uint32_t qh = load_le<std::uint32_t>(b + 4);
    const u8* qs = b + 8;
    for (int j = 0; j < 16; ++j) y[j] = static_cast<float>((qs[j] & 0xFu) | (((qh >> j) & 1u) << 4)) * d + m;
    for (int j = 0; j < 16; ++j) y[j + 16] = static_cast<float>((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4)) * d + m;
  }
};

template <int Header>
struct Q8 {
  static constexpr int kElems = 32, kBytes = Header + 32;
  static CKPT_INLINE void run(const u8* __restrict b, float* __restrict y) {
    const float d = half_at(b);
    const auto* q = reinterpret_cast<const std::int8_t*>(b + Header);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(q[j]) * d;
  }
};

struct IQ4_NL {
  static constexpr int kElems = 32, kBytes = 18;
  static CKPT_INLINE void run(const u8* __restrict b, float* __restrict y) { iq4_nl(b, y); }
};

struct MXFP4 {
  static constexpr int kElems = 32, kBytes = 17;
  static CKPT_INLINE void run(const u8* __restrict b, float* __restrict y) { mxfp4(b, y); }
};

struct Q2_K {
  static constexpr int kElems = 256, kBytes = 84;
  static CKPT_INLINE void run(const u8* __restrict b, float* __restrict y) {
    const u8* scales = b;
    const u8* q = b + 16;
    const float d = half_at(b + 80), dmin = half_at(b + 82);
    for (int half = 0; half < 2; ++half, q += 32)
      for (int shift = 0; shift < 8; shift += 2)
        for (int part = 0; part < 2; ++part, y += 16) {
          const u8 sc = *scales++;
          const float dl = d * static_cast<float>(sc & 0xF);
          const float ml = dmin * static_cast<float>(sc >> 4);
          const u8* qp = q + 16 * part;
          for (int l = 0; l < 16; ++l) y[l] = dl * static_cast<float>((qp[l] >> shift) & 3) - ml;
        }
  }
};

struct Q3_K {
  static constexpr int kElems = 256, kBytes = 110;
  static CKPT_INLINE void run(const u8* __restrict b, float* __restrict y) {
    const u8* hmask = b;
    const u8* q = b + 32;
    int scales[16];
    unpack_q3k_scales(b + 96, scales);
    const float d = half_at(b + 108);
    int is = 0, bit = 0;
    for (int half = 0; half < 2; ++half, q += 32)
      for (int shift = 0; shift < 8; shift += 2, ++bit)
        for (int part = 0; part < 2; ++part, y += 16) {
          const float dl = d * static_cast<float>(scales[is++]);
          const u8* qp = q + 16 * part;
          const u8* hp = hmask + 16 * part;
          // A clear high bit subtracts 4.
          for (int l = 0; l < 16; ++l)
            y[l] = dl * static_cast<float>(((qp[l] >> shift) & 3) - 4 + (((hp[l] >> bit) & 1) << 2));
        }
  }
};

struct Q4_K {
  static constexpr int kElems = 256, kBytes = 144;
  static CKPT_INLINE void run(const u8* __restrict b, float* __restrict y) {
    const float d = half_at(b), dmin = half_at(b + 2);
    const u8* scales = b + 4;
    const u8* q = b + 16;
    for (int g = 0; g < 4; ++g, q += 32, y += 64) {
      u8 sc, mn;
      k_scale_min(2 * g, scales, &sc, &mn);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(mn);
      k_scale_min(2 * g + 1, scales, &sc, &mn);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(mn);
      for (int l = 0; l < 32; ++l) y[l] = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) y[l + 32] = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
};

struct Q5_K {
  static constexpr int kElems = 256, kBytes = 176;
  static CKPT_INLINE void run(const u8* __restrict b, float* __restrict y) {
    const float d = half_at(b), dmin = half_at(b + 2);
    const u8* scales = b + 4;
    const u8* qh = b + 16;
    const u8* q = b + 48;
    for (int g = 0; g < 4; ++g, q += 32, y += 64) {
      u8 sc, mn;
      k_scale_min(2 * g, scales, &sc, &mn);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(mn);
      k_scale_min(2 * g + 1, scales, &sc, &mn);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(mn);
      const int bit = 2 * g;
      for (int l = 0; l < 32; ++l) y[l] = d1 * static_cast<float>((q[l] & 0xF) | (((qh[l] >> bit) & 1) << 4)) - m1;
      for (int l = 0; l < 32; ++l) y[l + 32] = d2 * static_cast<float>((q[l] >> 4) | (((qh[l] >> (bit + 1)) & 1) << 4)) - m2;
    }
  }
};

// The reference multiplies d·scale first, so the products are formed once per 16.
struct Q6_K {
  static constexpr int kElems = 256, kBytes = 210;
  static CKPT_INLINE void run(const u8* __restrict b, float* __restrict y) {
    const u8* ql = b;
    const u8* qh = b + 128;
    const auto* sc = reinterpret_cast<const std::int8_t*>(b + 192);
    const float d = half_at(b + 208);
    for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8)
      for (int s = 0; s < 2; ++s) {
        const int o = 16 * s;
        const float d1 = d * static_cast<float>(sc[s]), d2 = d * static_cast<float>(sc[s + 2]);
        const float d3 = d * static_cast<float>(sc[s + 4]), d4 = d * static_cast<float>(sc[s + 6]);
        for (int l = 0; l < 16; ++l)
          y[o + l] = d1 * static_cast<float>(((ql[o + l] & 0xF) | ((qh[o + l] & 3) << 4)) - 32);
        for (int l = 0; l < 16; ++l)
          y[o + l + 32] = d2 * static_cast<float>(((ql[o + l + 32] & 0xF) | (((qh[o + l] >> 2) & 3) << 4)) - 32);
        for (int l = 0; l < 16; ++l)
          y[o + l + 64] = d3 * static_cast<float>(((ql[o + l] >> 4) | (((qh[o + l] >> 4) & 3) << 4)) - 32);
        for (int l = 0; l < 16; ++l)
          y[o + l + 96] = d4 * static_cast<float>(((ql[o + l + 32] >> 4) | (((qh[o + l] >> 6) & 3) << 4)) - 32);
      }
  }
};

#undef CKPT_INLINE

using RowsFn = void (*)(const u8*, float*, std::int64_t);

template <class K>
void rows(const u8* p, float* out, std::int64_t nb) {
  for (std::int64_t k = 0; k < nb; ++k) K::run(p + k * K::kBytes, out + k * K::kElems);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
template <class K>
__attribute__((target("avx2"))) void rows_avx2(const u8* p, float* out, std::int64_t nb) {
  for (std::int64_t k = 0; k < nb; ++k) K::run(p + k * K::kBytes, out + k * K::kElems);
}
#else
template <class K>
void rows_avx2(const u8* p, float* out, std::int64_t nb) { rows<K>(p, out, nb); }
#endif

// The same switch as the casts (io::detail::uses_avx2), so one knob selects the portable path everywhere.
template <class K>
RowsFn pick() {
  return detail::uses_avx2() ? rows_avx2<K> : rows<K>;
}

RowsFn rows_for(DType t) noexcept {
  switch (t) {
    case DType::Q4_0: return pick<Q4_0>();
    case DType::Q4_1: return pick<Q4_1>();
    case DType::Q5_0: return pick<Q5_0>();
    case DType::Q5_1: return pick<Q5_1>();
    case DType::Q8_0: return pick<Q8<2>>();
    case DType::Q8_1: return pick<Q8<4>>();
    case DType::Q2_K: return pick<Q2_K>();
    case DType::Q3_K: return pick<Q3_K>();
    case DType::Q4_K: return pick<Q4_K>();
    case DType::Q5_K: return pick<Q5_K>();
    case DType::Q6_K: return pick<Q6_K>();
    case DType::IQ4_NL: return pick<IQ4_NL>();
    case DType::MXFP4: return pick<MXFP4>();
    default: return nullptr;
  }
}

}  // namespace fast

}  // namespace

bool can_dequantize(DType t) noexcept { return decoder(t) != nullptr; }

void detail::dequantize_reference(DType t, const std::byte* blocks, float* out, std::int64_t n) {
  const BlockFn fn = decoder(t);
  const auto& ti = info(t);
  // Misuse of our own API, not a bad file: callers size buffers from the type table.
  if (!fn || n < 0 || n % ti.block_elems != 0) __builtin_trap();
  const std::int64_t nb = n / ti.block_elems;
  const u8* p = bytes_of(blocks);
  for (std::int64_t k = 0; k < nb; ++k) fn(p + k * ti.block_bytes, out + k * ti.block_elems);
}

void dequantize(DType t, const std::byte* blocks, float* out, std::int64_t n) {
  const fast::RowsFn fn = fast::rows_for(t);
  const auto& ti = info(t);
  if (!fn || n < 0 || n % ti.block_elems != 0) __builtin_trap();
  fn(bytes_of(blocks), out, n / ti.block_elems);
}

}  // namespace ckpt::io
