// Permutations checked element by element against a naive reference; casts,
// dequantization; MLX affine triples and GGUF Q4_0/Q4_1/Q8_0 → MLX.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "io/convert.h"
#include "io/error.h"
#include "io/float_convert.h"
#include "io/formats/ggml_quants.h"
#include "model/quantized.h"
#include "model/transforms.h"
#include "tests/support/support.h"

using namespace ckpt;

namespace {

// Same bytes, but no contiguous(): forces the copy path of the permute.
class OpaqueData final : public io::TensorData {
 public:
  explicit OpaqueData(std::vector<std::byte> b) : b_(std::move(b)) {}
  void stream(const io::ByteSink& sink) const override {
    // Odd chunk sizes, to catch code that assumes aligned chunks.
    for (std::size_t at = 0; at < b_.size(); at += 777) sink(std::span<const std::byte>(b_).subspan(at, std::min<std::size_t>(777, b_.size() - at)));
  }

 private:
  std::vector<std::byte> b_;
};

std::vector<std::byte> naive_permute(const std::vector<std::byte>& in, const io::Shape& shape, const std::vector<int>& perm, std::size_t item) {
  const std::size_t n = shape.size();
  std::vector<std::int64_t> stride(n, 1);
  for (std::size_t a = n; a-- > 1;) stride[a - 1] = stride[a] * shape[a];
  const auto out_shape = model::permute_shape(shape, perm);
  std::int64_t total = 1;
  for (auto d : shape) total *= d;
  std::vector<std::byte> out(in.size());
  std::vector<std::int64_t> idx(n, 0);
  for (std::int64_t o = 0; o < total; ++o) {
    std::int64_t rem = o, src = 0;
    for (std::size_t k = n; k-- > 0;) {
      idx[k] = rem % out_shape[k];
      rem /= out_shape[k];
      src += idx[k] * stride[static_cast<std::size_t>(perm[k])];
    }
    std::memcpy(out.data() + o * static_cast<std::int64_t>(item), in.data() + src * static_cast<std::int64_t>(item), item);
  }
  return out;
}

struct Case {
  io::Shape shape;
  std::vector<int> perm;
};

}  // namespace

TEST(Permute, MatchesNaiveReferenceForEveryItemSizeAndRank) {
  const std::vector<Case> cases = {
      {{5}, {0}},
      {{7, 9}, {1, 0}},
      {{300, 257}, {1, 0}},
      {{4, 3, 5}, {0, 2, 1}},
      {{4, 3, 5}, {1, 2, 0}},
      {{4, 3, 5}, {2, 0, 1}},
      {{6, 3, 5, 7}, {0, 2, 3, 1}},
      {{6, 5, 7, 3}, {0, 3, 1, 2}},
      {{3, 6, 5, 7}, {1, 2, 3, 0}},
      {{2, 3, 1, 4}, {3, 1, 0, 2}},
      {{4, 3, 2, 5, 3}, {0, 2, 3, 4, 1}},
      {{4, 3, 2, 5, 3}, {4, 2, 0, 3, 1}},
      {{1, 1, 1}, {2, 0, 1}},
      {{0, 3}, {1, 0}},
  };
  for (auto dt : {io::DType::U8, io::DType::F16, io::DType::BF16, io::DType::F32, io::DType::I64, io::DType::C128}) {
    for (const auto& c : cases) {
      for (bool opaque : {false, true}) {
        auto t = test::random_tensor("x", dt, c.shape, 7);
        const auto bytes = io::read_all(t);
        if (opaque) t.data = std::make_shared<OpaqueData>(bytes);
        const auto p = model::permute_tensor(t, c.perm);
        EXPECT_EQ(p.shape, model::permute_shape(c.shape, c.perm));
        EXPECT_EQ(p.nbytes, t.nbytes);
        const auto got = io::read_all(p);
        const auto want = naive_permute(bytes, c.shape, c.perm, io::item_size(dt));
        EXPECT_TRUE(got == want) << io::name(dt) << " " << model::perm_text(c.perm) << (opaque ? " opaque" : "");
      }
    }
  }
}

TEST(Permute, LargeTensorsStreamInBoundedChunks) {
  auto t = test::random_tensor("w", io::DType::F32, {64, 96, 9, 9}, 3);  // 2 MiB: several output chunks
  const auto bytes = io::read_all(t);
  const std::vector<int> perm{0, 2, 3, 1};
  const auto p = model::permute_tensor(t, perm);
  std::size_t largest = 0, total = 0;
  std::vector<std::byte> got;
  p.data->stream([&](std::span<const std::byte> b) {
    largest = std::max(largest, b.size());
    total += b.size();
    got.insert(got.end(), b.begin(), b.end());
  });
  EXPECT_EQ(total, t.nbytes);
  EXPECT_LE(largest, std::size_t{1} << 20);
  EXPECT_TRUE(got == naive_permute(bytes, t.shape, perm, 4));
  // Applying the inverse gives back the original bytes.
  const auto back = model::permute_tensor(p, model::inverse_permutation(perm));
  EXPECT_TRUE(io::read_all(back) == bytes);
}

TEST(Permute, RefusesWrongRankAndBlockTypes) {
  const auto t = test::random_tensor("fc.weight", io::DType::F32, {4, 8}, 1);
  try {
    (void)model::permute_tensor(t, std::vector<int>{0, 2, 3, 1});
    FAIL() << "expected an error";
  } catch (const io::Error& e) {
    EXPECT_NE(std::string(e.what()).find("permutation (0, 2, 3, 1) does not fit 'fc.weight' of rank 2"), std::string::npos) << e.what();
  }
  const auto q = test::random_tensor("q", io::DType::Q8_0, {2, 32}, 1);
  EXPECT_THROW((void)model::permute_tensor(q, std::vector<int>{1, 0}), io::Error);
  model::Transform deq{model::Transform::Kind::Dequantize, {}, io::DType::F32};
  model::Transform perm{model::Transform::Kind::Permute, {1, 0}, io::DType::F32};
  const auto d = model::apply_transform(deq, q);
  const auto p = model::apply_transform(perm, d);
  EXPECT_EQ(p.shape, (io::Shape{32, 2}));
  EXPECT_EQ(p.dtype, io::DType::F32);
}

TEST(Transforms, TransposeReversesAxes) {
  EXPECT_EQ(model::transpose_permutation(2), (std::vector<int>{1, 0}));
  EXPECT_EQ(model::transpose_permutation(3), (std::vector<int>{2, 1, 0}));
  const auto t = test::random_tensor("x", io::DType::F16, {3, 4, 5}, 2);
  const auto r = model::apply_transform({model::Transform::Kind::Transpose, {}, io::DType::F32}, t);
  EXPECT_EQ(r.shape, (io::Shape{5, 4, 3}));
  EXPECT_TRUE(io::read_all(r) == naive_permute(io::read_all(t), t.shape, {2, 1, 0}, 2));
}

TEST(Transforms, CastRoundsLikeNumpyAndDequantizeMatchesTheCore) {
  std::vector<float> v{1.0f, 0.1f, -3.14159f, 65504.0f, 1e-8f, 70000.0f};
  std::vector<std::byte> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  const auto t = test::memory_tensor("x", io::DType::F32, {6}, b);
  const auto h = model::apply_transform({model::Transform::Kind::Cast, {}, io::DType::F16}, t);
  ASSERT_EQ(h.dtype, io::DType::F16);
  const auto hb = io::read_all(h);
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::uint16_t x;
    std::memcpy(&x, hb.data() + 2 * i, 2);
    EXPECT_EQ(x, io::f32_to_f16(v[i]));
  }
  const auto back = model::apply_transform({model::Transform::Kind::Cast, {}, io::DType::F32}, h);
  EXPECT_EQ(back.nbytes, 24u);
  // Cast of an integer tensor is an error in the plan.
  const auto plan = model::plan_transform({model::Transform::Kind::Cast, {}, io::DType::F16}, "i", {2}, io::DType::I32);
  EXPECT_FALSE(plan.error.empty());

  const auto q = test::random_tensor("q", io::DType::Q4_1, {2, 64}, 5);
  const auto d = model::apply_transform({model::Transform::Kind::Dequantize, {}, io::DType::F32}, q);
  const auto qb = io::read_all(q);
  std::vector<float> ref(128);
  io::dequantize(io::DType::Q4_1, qb.data(), ref.data(), 128);
  const auto db = io::read_all(d);
  EXPECT_EQ(std::memcmp(db.data(), ref.data(), db.size()), 0);
  EXPECT_FALSE(model::plan_transform({model::Transform::Kind::Dequantize, {}, io::DType::F32}, "f", {2}, io::DType::F32).error.empty());
}

namespace {

// Packs codes the way MLX does: code i of a row at bit i·bits, little-endian.
std::vector<std::byte> pack_row(const std::vector<unsigned>& codes, int bits) {
  std::vector<std::byte> out(codes.size() * static_cast<std::size_t>(bits) / 8, std::byte{0});
  for (std::size_t i = 0; i < codes.size(); ++i)
    for (int k = 0; k < bits; ++k)
      if (codes[i] >> k & 1u) {
        const std::size_t bit = i * static_cast<std::size_t>(bits) + static_cast<std::size_t>(k);
        out[bit / 8] |= std::byte(1u << (bit % 8));
      }
  return out;
}

std::vector<std::byte> f16_bytes(const std::vector<float>& v) {
  std::vector<std::byte> b(v.size() * 2);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::uint16_t h = io::f32_to_f16(v[i]);
    std::memcpy(b.data() + 2 * i, &h, 2);
  }
  return b;
}

std::vector<float> f32_values(const io::TensorInfo& t) {
  const auto b = io::read_all(t);
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), b.size());
  return v;
}

}  // namespace

TEST(Quantized, CandidatesFromShapes) {
  // in = 4096 at 4 bits/group 64 → weight 512 columns, 64 groups.
  auto c = model::quant_candidates(512, 64);
  ASSERT_FALSE(c.empty());
  EXPECT_EQ(c.front(), (model::QuantParams{4, 64}));
  // 8 bits / group 32 reads the same shapes; it is listed as an alternative.
  EXPECT_NE(std::find(c.begin(), c.end(), model::QuantParams{8, 32}), c.end());
  EXPECT_EQ(model::quant_candidates(96, 32).front(), (model::QuantParams{3, 32}));  // in 1024 → 3 bits: 96 words
  EXPECT_TRUE(model::quant_candidates(5, 7).empty());
}

TEST(Quantized, TriplesFoundAndDequantizedWithKnownValues) {
  for (int bits : {2, 3, 4, 6, 8}) {
    const int group = 32, in = 128, out = 3;
    std::vector<std::byte> wbytes;
    std::vector<float> scales, biases, expect;
    for (int r = 0; r < out; ++r) {
      std::vector<unsigned> codes(in);
      for (int i = 0; i < in; ++i) codes[static_cast<std::size_t>(i)] = static_cast<unsigned>(i * 7 + r * 3) % (1u << bits);
      auto row = pack_row(codes, bits);
      wbytes.insert(wbytes.end(), row.begin(), row.end());
      for (int g = 0; g < in / group; ++g) {
        scales.push_back(0.5f + static_cast<float>(g + r));
        biases.push_back(-1.0f - static_cast<float>(g));
      }
      for (int i = 0; i < in; ++i) {
        const std::size_t g = static_cast<std::size_t>(r * (in / group) + i / group);
        expect.push_back(scales[g] * static_cast<float>(codes[static_cast<std::size_t>(i)]) + biases[g]);
      }
    }
    std::vector<io::TensorInfo> ts{
        test::memory_tensor("l.weight", io::DType::U32, {out, in * bits / 32}, wbytes),
        test::memory_tensor("l.scales", io::DType::F16, {out, in / group}, f16_bytes(scales)),
        test::memory_tensor("l.biases", io::DType::F16, {out, in / group}, f16_bytes(biases)),
        test::random_tensor("other.weight", io::DType::F32, {2, 2}, 1),
    };
    const auto found = model::find_quantized_triples(ts);
    ASSERT_EQ(found.size(), 1u) << bits;
    EXPECT_EQ(found[0].prefix, "l");
    const model::QuantParams want{bits, group};
    EXPECT_NE(std::find(found[0].candidates.begin(), found[0].candidates.end(), want), found[0].candidates.end()) << bits;
    const auto d = model::dequantize_triple(ts[0], ts[1], ts[2], want, io::DType::F32);
    EXPECT_EQ(d.shape, (io::Shape{out, in}));
    EXPECT_EQ(f32_values(d), expect) << bits;
  }
  const auto w = test::random_tensor("w", io::DType::U32, {2, 16}, 1);
  const auto s = test::random_tensor("s", io::DType::F16, {2, 3}, 1);
  EXPECT_THROW((void)model::dequantize_triple(w, s, s, {4, 32}, io::DType::F32), io::Error);
}

namespace {

// GGUF blocks with scales of either sign in a realistic range and random codes.
io::TensorInfo ggml_tensor(io::DType dt, io::Shape shape, float scale_max) {
  const auto& inf = io::info(dt);
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  const std::size_t blocks = static_cast<std::size_t>(n) / inf.block_elems;
  std::vector<std::byte> b(blocks * inf.block_bytes);
  unsigned x = 12345;
  auto next = [&] { return (x = x * 1103515245u + 12345u) >> 8; };
  for (std::size_t k = 0; k < blocks; ++k) {
    std::byte* blk = b.data() + k * inf.block_bytes;
    for (std::size_t i = 0; i < inf.block_bytes; ++i) blk[i] = std::byte(next() & 0xff);
    const float d = scale_max * (static_cast<float>(next() % 2001) / 1000.0f - 1.0f);
    const std::uint16_t h = io::f32_to_f16(d), m = io::f32_to_f16(-d * 3.0f);
    std::memcpy(blk, &h, 2);
    if (dt == io::DType::Q4_1) std::memcpy(blk + 2, &m, 2);
  }
  return test::memory_tensor("blk.0.attn_q.weight", dt, std::move(shape), std::move(b));
}

}  // namespace

TEST(Quantized, GgufBlocksBecomeMlxTriplesLosslessly) {
  for (auto dt : {io::DType::Q4_0, io::DType::Q4_1, io::DType::Q8_0}) {
    const auto t = ggml_tensor(dt, {3, 96}, 0.05f);
    const auto q = model::ggml_to_mlx_quantized(t);
    EXPECT_EQ(q.weight.name, "blk.0.attn_q.weight");
    EXPECT_EQ(q.scales.name, "blk.0.attn_q.scales");
    EXPECT_EQ(q.biases.name, "blk.0.attn_q.biases");
    const int bits = dt == io::DType::Q8_0 ? 8 : 4;
    EXPECT_EQ(q.weight.shape, (io::Shape{3, 96 * bits / 32}));
    EXPECT_EQ(q.scales.shape, (io::Shape{3, 3}));
    EXPECT_EQ(q.params, (model::QuantParams{bits, 32}));
    EXPECT_EQ(io::read_all(q.weight).size(), q.weight.nbytes);
    // Both sides dequantized: identical bits.
    const auto tb = io::read_all(t);
    std::vector<float> ref(3 * 96);
    io::dequantize(dt, tb.data(), ref.data(), static_cast<std::int64_t>(ref.size()));
    const auto mine = f32_values(model::dequantize_triple(q.weight, q.scales, q.biases, q.params, io::DType::F32));
    ASSERT_EQ(mine.size(), ref.size());
    // Bit for bit, except that the affine form gives +0 where ggml's (q − 8)·d
    // gives −0 for a negative d (MLX's own loader does the same).
    for (std::size_t i = 0; i < ref.size(); ++i) {
      if (mine[i] == 0.0f && ref[i] == 0.0f) continue;
      std::uint32_t a, b;
      std::memcpy(&a, &mine[i], 4);
      std::memcpy(&b, &ref[i], 4);
      if (a != b) {
        ADD_FAILURE() << io::name(dt) << " element " << i << ": " << mine[i] << " vs " << ref[i];
        break;
      }
    }
    std::vector<io::TensorInfo> trip{q.weight, q.scales, q.biases};
    EXPECT_EQ(model::find_quantized_triples(trip).size(), 1u);
  }
  EXPECT_THROW((void)model::ggml_to_mlx_quantized(test::random_tensor("x", io::DType::Q4_K, {1, 256}, 1)), io::Error);
  // A Q8_0 scale above 511.9 has no float16 bias −128·d: an error, not a silent infinity.
  const auto big = model::ggml_to_mlx_quantized(ggml_tensor(io::DType::Q8_0, {1, 32}, 60000.0f));
  EXPECT_THROW((void)io::read_all(big.biases), io::Error);
}
