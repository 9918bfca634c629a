// Spec diffs: every category, layout permutations, the verdict text, and value
// agreement between checkpoints (known numbers, mixed dtypes, GGUF blocks,
// streaming).
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <cmath>
#include <cstring>

#include "io/convert.h"
#include "io/error.h"
#include "io/float_convert.h"
#include "io/open.h"
#include "model/spec_diff.h"
#include "tests/support/support.h"

using namespace ckpt;
using model::Category;
using ::testing::ElementsAre;

namespace {

io::TensorInfo desc(std::string name, io::Shape shape, io::DType dtype = io::DType::F32) {
  io::TensorInfo t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.dtype = dtype;
  return t;
}

model::ModuleSpec spec(std::vector<model::SpecParam> params) {
  model::ModuleSpec s;
  s.source = "test";
  s.params = std::move(params);
  return s;
}

template <class T>
io::TensorInfo values_tensor(std::string name, io::DType dtype, const std::vector<T>& v) {
  std::vector<std::byte> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return test::memory_tensor(std::move(name), dtype, {static_cast<std::int64_t>(v.size())}, std::move(b));
}

io::TensorInfo f16_tensor(std::string name, const std::vector<float>& v) {
  std::vector<std::byte> b(v.size() * 2);
  io::convert_from_f32(io::DType::F16, v.data(), b.data(), v.size());
  return test::memory_tensor(std::move(name), io::DType::F16, {static_cast<std::int64_t>(v.size())}, std::move(b));
}

const model::DiffRow& row(const model::SpecDiff& d, const std::string& name) {
  for (const auto& r : d.rows)
    if (r.name == name) return r;
  throw std::runtime_error("no row " + name);
}

}  // namespace

TEST(SpecDiff, EveryCategoryInSpecOrderThenUnexpected) {
  const std::vector<io::TensorInfo> have{desc("extra.b", {2}),           desc("conv.weight", {64, 3, 7, 7}),
                                         desc("fc.weight", {10, 512}),   desc("fc.bias", {11}),
                                         desc("norm.weight", {64}, io::DType::F16), desc("extra.a", {1})};
  const auto s = spec({{"fc.weight", {10, 512}, io::DType::F32},
                       {"conv.weight", {64, 7, 7, 3}, std::nullopt},
                       {"fc.bias", {10}, std::nullopt},
                       {"norm.weight", {64}, io::DType::F32},
                       {"head.weight", {5, 5}, std::nullopt}});
  const auto d = model::diff(have, s);
  ASSERT_EQ(d.rows.size(), 7u);
  std::vector<std::string> names;
  for (const auto& r : d.rows) names.push_back(r.name);
  EXPECT_THAT(names, ElementsAre("fc.weight", "conv.weight", "fc.bias", "norm.weight", "head.weight", "extra.b", "extra.a"));
  EXPECT_EQ(d.rows[0].category, Category::Match);
  EXPECT_EQ(d.rows[1].category, Category::LayoutMismatch);
  EXPECT_THAT(d.rows[1].permutation, ElementsAre(0, 2, 3, 1));
  EXPECT_EQ(d.rows[1].have_shape, (io::Shape{64, 3, 7, 7}));
  EXPECT_EQ(d.rows[1].want_shape, (io::Shape{64, 7, 7, 3}));
  EXPECT_EQ(d.rows[2].category, Category::ShapeMismatch);
  EXPECT_EQ(d.rows[3].category, Category::DtypeDiffers);
  EXPECT_EQ(d.rows[3].have_dtype, io::DType::F16);
  EXPECT_EQ(d.rows[3].want_dtype, io::DType::F32);
  EXPECT_EQ(d.rows[4].category, Category::Missing);
  EXPECT_FALSE(d.rows[4].have_shape);
  EXPECT_EQ(d.rows[5].category, Category::Unexpected);
  EXPECT_FALSE(d.rows[5].want_shape);
  EXPECT_EQ(d.count(Category::Unexpected), 2u);
  EXPECT_FALSE(d.strict_load_ok());
  EXPECT_EQ(d.verdict(), "would fail: 1 missing, 2 unexpected, 2 shape mismatches (1 a layout permutation); also 1 dtype difference");
}

TEST(SpecDiff, VerdictTexts) {
  const std::vector<io::TensorInfo> have{desc("a", {2, 3}), desc("b", {4})};
  EXPECT_EQ(model::diff(have, spec({{"a", {2, 3}, std::nullopt}, {"b", {4}, std::nullopt}})).verdict(), "would load");
  const auto dt = model::diff(have, spec({{"a", {2, 3}, io::DType::F16}, {"b", {4}, io::DType::BF16}}));
  EXPECT_TRUE(dt.strict_load_ok());  // dtypes are cast on load
  EXPECT_EQ(dt.count(Category::DtypeDiffers), 2u);
  EXPECT_EQ(dt.verdict(), "would load (2 dtype differences)");
  const auto one = model::diff(have, spec({{"a", {2, 3}, io::DType::F16}, {"b", {4}, std::nullopt}}));
  EXPECT_EQ(one.verdict(), "would load (1 dtype difference)");
  EXPECT_EQ(model::diff(have, spec({{"a", {3, 2}, std::nullopt}})).verdict(),
            "would fail: 1 unexpected, 1 shape mismatch (1 a layout permutation)");
  EXPECT_EQ(model::diff(have, spec({{"a", {3, 2}, std::nullopt}, {"b", {5}, std::nullopt}, {"c", {1}, std::nullopt},
                                    {"d", {1}, std::nullopt}, {"e", {1}, std::nullopt}}))
                .verdict(),
            "would fail: 3 missing, 2 shape mismatches (1 a layout permutation)");
  const std::vector<io::TensorInfo> two{desc("a", {2, 3}), desc("b", {4, 5})};
  EXPECT_EQ(model::diff(two, spec({{"a", {3, 2}, std::nullopt}, {"b", {5, 4}, std::nullopt}})).verdict(),
            "would fail: 2 shape mismatches (2 layout permutations)");
}

TEST(SpecDiff, EmptySpecAndEmptyCheckpoint) {
  const std::vector<io::TensorInfo> none;
  EXPECT_EQ(model::diff(none, spec({})).verdict(), "would load");
  EXPECT_TRUE(model::diff(none, spec({})).rows.empty());
  const std::vector<io::TensorInfo> have{desc("a", {1})};
  const auto d = model::diff(have, spec({}));
  EXPECT_EQ(d.verdict(), "would fail: 1 unexpected");
  const auto m = model::diff(none, spec({{"a", {1}, std::nullopt}}));
  EXPECT_EQ(m.verdict(), "would fail: 1 missing");
}

TEST(SpecDiff, DuplicateCheckpointNamesMatchOnce) {
  const std::vector<io::TensorInfo> have{desc("a", {1}), desc("a", {1})};
  const auto d = model::diff(have, spec({{"a", {1}, std::nullopt}}));
  ASSERT_EQ(d.rows.size(), 2u);
  EXPECT_EQ(d.rows[0].category, Category::Match);
  EXPECT_EQ(d.rows[1].category, Category::Unexpected);
}

TEST(SpecDiff, KnownConvPermutations) {
  struct Case {
    io::Shape have, want;
    std::vector<int> perm;
  };
  const std::vector<Case> cases{
      {{64, 3, 7, 7}, {64, 7, 7, 3}, {0, 2, 3, 1}},          // Conv2d OIHW → OHWI
      {{32, 16, 5}, {32, 5, 16}, {0, 2, 1}},                 // Conv1d
      {{8, 4, 3, 3, 3}, {8, 3, 3, 3, 4}, {0, 2, 3, 4, 1}},   // Conv3d
      {{16, 32, 5}, {32, 5, 16}, {1, 2, 0}},                 // ConvTranspose1d (in, out, k) → (out, k, in)
      {{16, 32, 3, 3}, {32, 3, 3, 16}, {1, 2, 3, 0}},        // ConvTranspose2d
      {{10, 20}, {20, 10}, {1, 0}},                          // a transposed matrix
      {{2, 3, 5, 7, 11, 13, 17, 19}, {19, 17, 13, 11, 7, 5, 3, 2}, {7, 6, 5, 4, 3, 2, 1, 0}},  // rank 8
  };
  for (const auto& c : cases) {
    const std::vector<io::TensorInfo> have{desc("w", c.have)};
    const auto d = model::diff(have, spec({{"w", c.want, std::nullopt}}));
    ASSERT_EQ(d.rows.size(), 1u);
    EXPECT_EQ(d.rows[0].category, Category::LayoutMismatch);
    EXPECT_EQ(d.rows[0].permutation, c.perm);
  }
}

TEST(SpecDiff, AmbiguousSquareShapesPreferConvLayout) {
  // in == out channels: both (0,2,3,1) and (1,2,3,0) fit; a Conv2d port needs the first.
  const std::vector<io::TensorInfo> have{desc("w", {64, 64, 3, 3}), desc("v", {3, 3, 3, 3}), desc("m", {4, 4, 2})};
  const auto d = model::diff(have, spec({{"w", {64, 3, 3, 64}, std::nullopt},
                                         {"v", {3, 3, 3, 3}, std::nullopt},
                                         {"m", {2, 4, 4}, std::nullopt}}));
  EXPECT_THAT(row(d, "w").permutation, ElementsAre(0, 2, 3, 1));
  EXPECT_EQ(row(d, "v").category, Category::Match);  // equal shapes are never a layout mismatch
  // (4,4,2)→(2,4,4): none of the known ones fit; fewest displaced axes, then lexicographic.
  EXPECT_EQ(row(d, "m").category, Category::LayoutMismatch);
  EXPECT_THAT(row(d, "m").permutation, ElementsAre(2, 1, 0));
}

TEST(SpecDiff, ShapeMismatchWhenNoPermutationFits) {
  const std::vector<io::TensorInfo> have{desc("a", {2, 3}), desc("b", {6}), desc("c", {2, 3, 4})};
  const auto d = model::diff(have, spec({{"a", {2, 4}, std::nullopt}, {"b", {2, 3}, std::nullopt}, {"c", {4, 3}, std::nullopt}}));
  for (const auto& r : d.rows) {
    EXPECT_EQ(r.category, Category::ShapeMismatch) << r.name;
    EXPECT_TRUE(r.permutation.empty());
  }
}

TEST(SpecDiff, CategoryNames) {
  EXPECT_STREQ(model::category_name(Category::Match), "match");
  EXPECT_STREQ(model::category_name(Category::Missing), "missing");
  EXPECT_STREQ(model::category_name(Category::Unexpected), "unexpected");
  EXPECT_STREQ(model::category_name(Category::ShapeMismatch), "shape");
  EXPECT_STREQ(model::category_name(Category::LayoutMismatch), "layout");
  EXPECT_STREQ(model::category_name(Category::DtypeDiffers), "dtype");
}

TEST(Agreement, KnownNumbers) {
  const std::vector<float> x{1.0f, -2.0f, 3.0f, 0.5f};
  std::vector<float> tiny = x, flip = x;
  tiny[2] = 3.0f + 1.0f / 1024;  // exactly representable
  for (auto& v : flip) v = -v;
  const std::vector<io::TensorInfo> a{values_tensor("same", io::DType::F32, x), values_tensor("tiny", io::DType::F32, tiny),
                                      values_tensor("flip", io::DType::F32, flip)};
  const std::vector<io::TensorInfo> b{values_tensor("same", io::DType::F32, x), values_tensor("tiny", io::DType::F32, x),
                                      values_tensor("flip", io::DType::F32, x)};
  const auto d = model::diff_checkpoints(a, b, true);
  EXPECT_EQ(d.verdict(), "would load");
  const auto& same = *row(d, "same").agreement;
  EXPECT_TRUE(same.identical);
  EXPECT_EQ(same.max_abs_diff, 0);
  EXPECT_EQ(same.max_rel_error, 0);
  EXPECT_DOUBLE_EQ(same.cosine, 1);
  const auto& t = *row(d, "tiny").agreement;
  EXPECT_FALSE(t.identical);
  EXPECT_DOUBLE_EQ(t.max_abs_diff, 1.0 / 1024);
  EXPECT_DOUBLE_EQ(t.max_rel_error, 1.0 / 1024 / 3);
  EXPECT_GT(t.cosine, 0.99999);
  EXPECT_LT(t.cosine, 1.0);
  const auto& f = *row(d, "flip").agreement;
  EXPECT_FALSE(f.identical);
  EXPECT_DOUBLE_EQ(f.cosine, -1);
  EXPECT_DOUBLE_EQ(f.max_abs_diff, 6);
  EXPECT_DOUBLE_EQ(f.max_rel_error, 2);

  // Without compare_values no agreement is computed.
  EXPECT_FALSE(model::diff_checkpoints(a, b, false).rows[0].agreement);
}

TEST(Agreement, ZerosNanAndIntegers) {
  const std::vector<io::TensorInfo> a{values_tensor("z", io::DType::F32, std::vector<float>{0, 0}),
                                      values_tensor("n", io::DType::F64, std::vector<double>{NAN, 1.0}),
                                      values_tensor("m", io::DType::F64, std::vector<double>{NAN, 1.0}),
                                      values_tensor("i", io::DType::I64, std::vector<std::int64_t>{-3, 7})};
  const std::vector<io::TensorInfo> b{values_tensor("z", io::DType::F32, std::vector<float>{0, 0}),
                                      values_tensor("n", io::DType::F64, std::vector<double>{NAN, 1.0}),
                                      values_tensor("m", io::DType::F64, std::vector<double>{0.0, 1.0}),
                                      values_tensor("i", io::DType::I32, std::vector<std::int32_t>{-3, 7})};
  const auto d = model::diff_checkpoints(a, b, true);
  EXPECT_TRUE(row(d, "z").agreement->identical);
  EXPECT_DOUBLE_EQ(row(d, "z").agreement->cosine, 1);
  EXPECT_TRUE(row(d, "n").agreement->identical);  // NaN where the other has NaN agrees
  EXPECT_FALSE(row(d, "m").agreement->identical);
  EXPECT_TRUE(std::isinf(row(d, "m").agreement->max_abs_diff));
  EXPECT_EQ(row(d, "i").category, Category::DtypeDiffers);
  EXPECT_TRUE(row(d, "i").agreement->identical);
}

TEST(Agreement, MixedDtypesOfTheSameValues) {
  std::vector<float> v(1000);
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = static_cast<float>(static_cast<int>(k) - 500) / 8.0f;  // f16-exact
  const std::vector<io::TensorInfo> a{f16_tensor("w", v)};
  const std::vector<io::TensorInfo> b{values_tensor("w", io::DType::F32, v)};
  const auto d = model::diff_checkpoints(a, b, true);
  ASSERT_EQ(d.rows.size(), 1u);
  EXPECT_EQ(d.rows[0].category, Category::DtypeDiffers);
  EXPECT_EQ(d.verdict(), "would load (1 dtype difference)");
  ASSERT_TRUE(d.rows[0].agreement);
  EXPECT_TRUE(d.rows[0].agreement->identical);

  // Rounded to f16: close but not identical.
  std::vector<float> w(v.size());
  for (std::size_t k = 0; k < w.size(); ++k) w[k] = 0.1f * static_cast<float>(k);
  const std::vector<io::TensorInfo> c{f16_tensor("w", w)};
  const std::vector<io::TensorInfo> e{values_tensor("w", io::DType::F32, w)};
  const auto g = *model::diff_checkpoints(c, e, true).rows[0].agreement;
  EXPECT_FALSE(g.identical);
  EXPECT_LT(g.max_rel_error, 1e-3);
  EXPECT_GT(g.cosine, 0.999999);
}

TEST(Agreement, GgufQ8_0AgainstItsDequantizedCopy) {
  test::TempDir dir;
  const std::vector<io::TensorInfo> q{test::random_tensor("blk.0.w", io::DType::Q8_0, {4, 64}, 3)};
  const auto gguf = dir.file("q.gguf");
  io::write_checkpoint(gguf, io::Format::Gguf, q, {}, {});
  const auto qck = io::open_checkpoint(gguf);
  const std::vector<io::TensorInfo> deq{io::cast_tensor(qck.tensors[0], io::DType::F32)};
  const auto st = dir.file("f.safetensors");
  io::write_checkpoint(st, io::Format::Safetensors, deq, {}, {});
  const auto fck = io::open_checkpoint(st);
  const auto d = model::diff_checkpoints(qck.tensors, fck.tensors, true);
  ASSERT_EQ(d.rows.size(), 1u);
  EXPECT_EQ(d.rows[0].category, Category::DtypeDiffers);
  ASSERT_TRUE(d.rows[0].agreement);
  EXPECT_TRUE(d.rows[0].agreement->identical);
  EXPECT_EQ(d.rows[0].agreement->max_abs_diff, 0);
}

namespace {

// Values generated on the fly in odd-sized chunks, so chunk edges split
// elements and no tensor is ever held whole.
class GeneratedData : public io::TensorData {
 public:
  GeneratedData(io::DType dtype, std::int64_t n, std::size_t chunk, float bump_at)
      : dtype_(dtype), n_(n), chunk_(chunk), bump_at_(bump_at) {}
  void stream(const io::ByteSink& sink) const override {
    const std::size_t item = io::item_size(dtype_);
    const std::uint64_t total = static_cast<std::uint64_t>(n_) * item;
    std::vector<std::byte> buf(chunk_);
    std::vector<std::byte> elem(item);
    for (std::uint64_t pos = 0; pos < total;) {
      const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_, total - pos));
      for (std::size_t k = 0; k < len; ++k) {
        const std::uint64_t at = pos + k;
        const std::uint64_t index = at / item;
        if (at % item == 0 || k == 0) value(index, elem.data());
        buf[k] = elem[at % item];
      }
      sink(std::span<const std::byte>(buf.data(), len));
      pos += len;
    }
  }

 private:
  void value(std::uint64_t i, std::byte* out) const {
    float f = static_cast<float>(i % 1000) - 500.0f;
    if (static_cast<float>(i) == bump_at_) f += 0.5f;
    if (dtype_ == io::DType::F64) {
      const double d = f;
      std::memcpy(out, &d, 8);
    } else {
      std::memcpy(out, &f, 4);
    }
  }
  io::DType dtype_;
  std::int64_t n_;
  std::size_t chunk_;
  float bump_at_;
};

io::TensorInfo generated(io::DType dtype, std::int64_t n, std::size_t chunk, float bump_at = -1) {
  io::TensorInfo t;
  t.name = "big";
  t.dtype = dtype;
  t.shape = {n};
  t.nbytes = static_cast<std::uint64_t>(n) * io::item_size(dtype);
  t.data = std::make_shared<GeneratedData>(dtype, n, chunk, bump_at);
  return t;
}

}  // namespace

TEST(Agreement, StreamsTenMillionElements) {
  constexpr std::int64_t n = 10'000'000;
  const std::vector<io::TensorInfo> a{generated(io::DType::F32, n, 1'000'003)};
  const std::vector<io::TensorInfo> b{generated(io::DType::F64, n, std::size_t{4} << 20)};
  const auto same = model::diff_checkpoints(a, b, true);
  ASSERT_TRUE(same.rows[0].agreement);
  EXPECT_TRUE(same.rows[0].agreement->identical);

  const std::vector<io::TensorInfo> c{generated(io::DType::F32, n, 777'777, 9'999'000.0f)};
  const auto off = model::diff_checkpoints(c, b, true);
  ASSERT_TRUE(off.rows[0].agreement);
  EXPECT_FALSE(off.rows[0].agreement->identical);
  EXPECT_DOUBLE_EQ(off.rows[0].agreement->max_abs_diff, 0.5);
}

TEST(Agreement, ReadErrorPropagates) {
  class Failing : public io::TensorData {
   public:
    void stream(const io::ByteSink& sink) const override {
      std::vector<std::byte> b(64);
      sink(b);
      throw io::Error("broken.bin", 64, "truncated tensor data");
    }
  };
  io::TensorInfo bad;
  bad.name = "w";
  bad.dtype = io::DType::F32;
  bad.shape = {1000};
  bad.nbytes = 4000;
  bad.data = std::make_shared<Failing>();
  const std::vector<io::TensorInfo> good{generated(io::DType::F32, 1000, 4096)};
  std::vector<io::TensorInfo> g2 = good;
  g2[0].name = "w";
  const std::vector<io::TensorInfo> a{bad};
  EXPECT_THROW((void)model::diff_checkpoints(a, g2, true), io::Error);  // the failing side on the helper thread
  EXPECT_THROW((void)model::diff_checkpoints(g2, a, true), io::Error);  // and on this one
}

TEST(Agreement, LayoutPairsCompareAfterPermuting) {
  // a: [2, 3, 4] holding 0..23; b = a.transpose(0, 2, 1): b[i, j, k] = a[i, k, j].
  std::vector<float> a(24), b(24), wrong(24);
  for (std::size_t k = 0; k < a.size(); ++k) a[k] = static_cast<float>(k);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) b[static_cast<std::size_t>(i * 12 + j * 3 + k)] = a[static_cast<std::size_t>(i * 12 + k * 4 + j)];
  wrong = b;
  wrong[5] += 1;
  auto shaped = [](std::string name, const std::vector<float>& v, io::Shape s) {
    std::vector<std::byte> bytes(v.size() * 4);
    std::memcpy(bytes.data(), v.data(), bytes.size());
    return test::memory_tensor(std::move(name), io::DType::F32, std::move(s), std::move(bytes));
  };
  const std::vector<io::TensorInfo> have{shaped("w", a, {2, 3, 4}), shaped("v", a, {2, 3, 4})};
  const std::vector<io::TensorInfo> want{shaped("w", b, {2, 4, 3}), shaped("v", wrong, {2, 4, 3})};
  const auto d = model::diff_checkpoints(have, want, true);
  EXPECT_EQ(row(d, "w").category, Category::LayoutMismatch);
  EXPECT_THAT(row(d, "w").permutation, ElementsAre(0, 2, 1));
  ASSERT_TRUE(row(d, "w").agreement);
  EXPECT_TRUE(row(d, "w").agreement->identical);
  ASSERT_TRUE(row(d, "v").agreement);
  EXPECT_FALSE(row(d, "v").agreement->identical);
  EXPECT_DOUBLE_EQ(row(d, "v").agreement->max_abs_diff, 1);

  // Data that is not one mapped span is not read at random: no agreement.
  std::vector<io::TensorInfo> streamed{generated(io::DType::F32, 24, 10)};
  streamed[0].name = "w";
  streamed[0].shape = {2, 3, 4};
  const auto s = model::diff_checkpoints(streamed, want, true);
  EXPECT_EQ(row(s, "w").category, Category::LayoutMismatch);
  EXPECT_FALSE(row(s, "w").agreement);
}
