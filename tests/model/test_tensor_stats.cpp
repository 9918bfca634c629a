// TensorStats: exact statistics on small tensors of every dtype family,
// thread-count independence, real files (mapped, deflated, Fortran order,
// GGUF blocks), cancellation, and value windows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>

#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/float_convert.h"
#include "io/formats/ggml_quants.h"
#include "io/open.h"
#include "model/tensor_stats.h"
#include "tests/support/support.h"

using namespace ckpt;
using io::DType;

namespace {

template <class T>
std::vector<std::byte> bytes_of(const std::vector<T>& v) {
  std::vector<std::byte> b(v.size() * sizeof(T));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

template <class T>
io::TensorInfo tensor(DType dt, io::Shape shape, const std::vector<T>& v) {
  return test::memory_tensor("t", dt, std::move(shape), bytes_of(v));
}

model::StatsOptions bins(int n, unsigned threads = 1) {
  model::StatsOptions o;
  o.bins = n;
  o.threads = threads;
  return o;
}

std::uint64_t sum(const std::vector<std::uint64_t>& h) { return std::accumulate(h.begin(), h.end(), std::uint64_t{0}); }

std::vector<float> arange(std::size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}

// A Q4_0 block: scale d, element j (j<16) from the low nibble of byte j,
// element j+16 from its high nibble.
std::vector<std::byte> q4_0_block(float d, const std::array<int, 32>& nibbles) {
  std::vector<std::byte> b(18);
  const std::uint16_t h = io::f32_to_f16(d);
  std::memcpy(b.data(), &h, 2);
  for (int j = 0; j < 16; ++j) b[2 + j] = std::byte(static_cast<std::uint8_t>(nibbles[j] | (nibbles[j + 16] << 4)));
  return b;
}

}  // namespace

TEST(TensorStats, Float32WithNanInfAndZeros) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const auto s = model::compute_stats(tensor<float>(DType::F32, {8}, {1, 2, nan, inf, -inf, 0, -0.0f, -3}), bins(5));
  EXPECT_EQ(s.count, 8u);
  EXPECT_EQ(s.nan, 1u);
  EXPECT_EQ(s.inf, 2u);
  EXPECT_EQ(s.zeros, 2u);
  EXPECT_EQ(s.min, -3);
  EXPECT_EQ(s.max, 2);
  EXPECT_DOUBLE_EQ(s.mean, 0);
  EXPECT_DOUBLE_EQ(s.std, std::sqrt(14.0 / 5));
  EXPECT_EQ(s.histogram, (std::vector<std::uint64_t>{1, 0, 0, 2, 2}));
}

// max - min overflows a double: the histogram still spans [min, max]
// (found by fuzzing: the bin index was NaN, cast to an integer).
TEST(TensorStats, RangeWiderThanADouble) {
  const auto s = model::compute_stats(tensor<double>(DType::F64, {4}, {-1e308, 1e308, 0, 5e307}), bins(4));
  EXPECT_EQ(s.min, -1e308);
  EXPECT_EQ(s.max, 1e308);
  EXPECT_EQ(s.histogram, (std::vector<std::uint64_t>{1, 0, 1, 2}));
}

TEST(TensorStats, HalfAndBfloat) {
  std::vector<std::uint16_t> h{io::f32_to_f16(1.5f), io::f32_to_f16(-2.0f), io::f32_to_f16(0.5f), 0x7e00};
  auto s = model::compute_stats(tensor(DType::F16, {2, 2}, h), bins(4));
  EXPECT_EQ(s.nan, 1u);
  EXPECT_EQ(s.min, -2);
  EXPECT_EQ(s.max, 1.5);
  EXPECT_DOUBLE_EQ(s.mean, 0);
  EXPECT_EQ(sum(s.histogram), 3u);
  std::vector<std::uint16_t> b{io::f32_to_bf16(256.0f), io::f32_to_bf16(-1.0f), 0x7f80 /* +inf */};
  s = model::compute_stats(tensor(DType::BF16, {3}, b), bins(4));
  EXPECT_EQ(s.inf, 1u);
  EXPECT_EQ(s.min, -1);
  EXPECT_EQ(s.max, 256);
  EXPECT_DOUBLE_EQ(s.mean, 127.5);
  EXPECT_DOUBLE_EQ(s.std, 128.5);
}

TEST(TensorStats, Integers) {
  auto s = model::compute_stats(tensor<std::int8_t>(DType::I8, {4}, {-128, 127, 0, 5}), bins(2));
  EXPECT_EQ(s.min, -128);
  EXPECT_EQ(s.max, 127);
  EXPECT_DOUBLE_EQ(s.mean, 1);
  EXPECT_EQ(s.zeros, 1u);
  EXPECT_EQ(s.histogram, (std::vector<std::uint64_t>{1, 3}));
  // 2^60 + 3 is not a float; it must not be rounded through one.
  const std::uint64_t big = (std::uint64_t{1} << 60) + 4096;
  s = model::compute_stats(tensor<std::uint64_t>(DType::U64, {3}, {big, 0, 3}), bins(3));
  EXPECT_EQ(s.max, static_cast<double>(big));
  EXPECT_EQ(s.min, 0);
  EXPECT_DOUBLE_EQ(s.mean, (static_cast<double>(big) + 3) / 3);
  EXPECT_EQ(s.histogram, (std::vector<std::uint64_t>{2, 0, 1}));
}

TEST(TensorStats, BoolAndComplex) {
  auto s = model::compute_stats(tensor<std::uint8_t>(DType::Bool, {4}, {1, 0, 1, 1}), bins(2));
  EXPECT_DOUBLE_EQ(s.mean, 0.75);
  EXPECT_EQ(s.zeros, 1u);
  EXPECT_EQ(s.histogram, (std::vector<std::uint64_t>{1, 3}));
  // Magnitudes: 5, 0, NaN, inf.
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  s = model::compute_stats(tensor<float>(DType::C64, {4}, {3, 4, 0, 0, nan, 1, inf, 0}), bins(2));
  EXPECT_EQ(s.count, 4u);
  EXPECT_EQ(s.nan, 1u);
  EXPECT_EQ(s.inf, 1u);
  EXPECT_EQ(s.zeros, 1u);
  EXPECT_EQ(s.min, 0);
  EXPECT_EQ(s.max, 5);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
}

TEST(TensorStats, Q8_0AndQ4_0Blocks) {
  std::vector<std::byte> q8(34);
  const std::uint16_t half = io::f32_to_f16(0.5f);
  std::memcpy(q8.data(), &half, 2);
  for (int j = 0; j < 32; ++j) q8[2 + j] = std::byte(static_cast<std::uint8_t>(static_cast<std::int8_t>(j - 16)));
  auto s = model::compute_stats(test::memory_tensor("q8", DType::Q8_0, {32}, q8), bins(4));
  EXPECT_EQ(s.count, 32u);
  EXPECT_EQ(s.min, -8);
  EXPECT_EQ(s.max, 7.5);
  EXPECT_DOUBLE_EQ(s.mean, -0.25);
  EXPECT_EQ(s.zeros, 1u);
  EXPECT_EQ(sum(s.histogram), 32u);

  std::array<int, 32> nib{};
  for (int j = 0; j < 16; ++j) {
    nib[j] = j;
    nib[j + 16] = 15 - j;
  }
  auto b = q4_0_block(2.0f, nib);
  auto two = b;
  two.insert(two.end(), b.begin(), b.end());
  s = model::compute_stats(test::memory_tensor("q4", DType::Q4_0, {2, 32}, two), bins(2));
  EXPECT_EQ(s.count, 64u);
  EXPECT_EQ(s.min, -16);
  EXPECT_EQ(s.max, 14);
  EXPECT_DOUBLE_EQ(s.mean, -1);
  EXPECT_EQ(s.zeros, 4u);
  EXPECT_EQ(s.histogram, (std::vector<std::uint64_t>{32, 32}));
}

TEST(TensorStats, ConstantAndEmptyTensors) {
  auto s = model::compute_stats(tensor<float>(DType::F32, {3}, {2, 2, 2}), bins(4));
  EXPECT_EQ(s.min, 2);
  EXPECT_EQ(s.std, 0);
  EXPECT_EQ(s.histogram, (std::vector<std::uint64_t>{0, 0, 3, 0}));  // numpy's middle bin
  s = model::compute_stats(tensor<float>(DType::F32, {0, 4}, {}), bins(4));
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(sum(s.histogram), 0u);
}

TEST(TensorStats, UndecodableDtypeNamesIt) {
  const auto t = test::memory_tensor("iq", DType::IQ2_XXS, {256}, std::vector<std::byte>(66));
  try {
    (void)model::compute_stats(t);
    FAIL() << "expected an error";
  } catch (const io::Error& e) {
    EXPECT_NE(std::string(e.what()).find(std::string(io::name(DType::IQ2_XXS))), std::string::npos) << e.what();
  }
}

TEST(TensorStats, HistogramSumsToFiniteCountAndThreadsAgree) {
  auto t = test::random_tensor("big", DType::F32, {10'000'000}, 7);
  {
    // A few non-finite values so the counts matter.
    auto bytes = io::read_all(t);
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    std::memcpy(bytes.data() + 4 * 12345, &nan, 4);
    std::memcpy(bytes.data() + 4 * 9'999'999, &inf, 4);
    t = test::memory_tensor("big", DType::F32, {10'000'000}, std::move(bytes));
  }
  const auto one = model::compute_stats(t, bins(100, 1));
  const auto four = model::compute_stats(t, bins(100, 4));
  EXPECT_EQ(one.nan, 1u);
  EXPECT_EQ(one.inf, 1u);
  EXPECT_EQ(sum(one.histogram), one.count - one.nan - one.inf);
  EXPECT_EQ(one.min, four.min);
  EXPECT_EQ(one.max, four.max);
  EXPECT_EQ(one.mean, four.mean);  // bit-identical: chunks merge in the same order
  EXPECT_EQ(one.std, four.std);
  EXPECT_EQ(one.histogram, four.histogram);
  EXPECT_NEAR(one.mean, 0, 0.01);
  EXPECT_NEAR(one.std, 4 / std::sqrt(12.0), 0.01);
}

TEST(TensorStats, ProgressAndCancellation) {
  const auto t = test::random_tensor("t", DType::F32, {3'000'000}, 3);
  auto o = bins(8, 2);
  std::uint64_t last = 0, total = 0;
  o.progress = [&](std::uint64_t d, std::uint64_t n) {
    last = std::max(last, d);
    total = n;
  };
  (void)model::compute_stats(t, o);
  EXPECT_EQ(last, total);
  EXPECT_EQ(total, 6'000'000u);

  int polls = 0;
  o.cancelled = [&] { return ++polls > 1; };
  try {
    (void)model::compute_stats(t, o);
    FAIL() << "expected cancellation";
  } catch (const io::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cancelled"), std::string::npos) << e.what();
  }
}

TEST(TensorStats, RealFilesAgreeWithNumpy) {
  test::TempDir dir;
  std::vector<io::TensorInfo> ts{test::random_tensor("w", DType::F32, {1000, 300}, 11),
                                 test::random_tensor("h", DType::F16, {64, 33}, 12)};
  const auto path = dir.file("a.npz");
  io::WriteOptions wo;
  wo.compress = true;  // deflated members: the streamed path
  wo.sync = false;
  io::write_checkpoint(path, io::Format::Npz, ts, {}, wo);
  io::write_checkpoint(dir.file("a.safetensors"), io::Format::Safetensors, ts, {}, wo);
  const auto npz = io::open_checkpoint(path);
  const auto st = io::open_checkpoint(dir.file("a.safetensors"));
  for (std::size_t k = 0; k < ts.size(); ++k) {
    const auto mem = model::compute_stats(ts[k], bins(10, 3));
    for (const auto* ck : {&npz, &st}) {
      const auto it = std::find_if(ck->tensors.begin(), ck->tensors.end(), [&](auto& t) { return t.name == ts[k].name; });
      ASSERT_NE(it, ck->tensors.end());
      const auto f = model::compute_stats(*it, bins(10, 3));
      EXPECT_EQ(f.mean, mem.mean);
      EXPECT_EQ(f.std, mem.std);
      EXPECT_EQ(f.histogram, mem.histogram);
    }
  }
  if (!test::have_python_numpy()) {
    GTEST_SKIP() << "python3 with numpy not available; NumPy comparison skipped";
  }
  std::string out;
  const int rc = test::run_python(
      "import sys, json, numpy as np\n"
      "z = np.load(sys.argv[1])\n"
      "r = {}\n"
      "for k in z.files:\n"
      "  a = z[k].astype(np.float64)\n"
      "  h, _ = np.histogram(a, bins=10, range=(a.min(), a.max()))\n"
      "  r[k] = dict(min=a.min(), max=a.max(), mean=a.mean(), std=a.std(), hist=h.tolist())\n"
      "print(json.dumps(r))\n",
      {path}, &out);
  ASSERT_EQ(rc, 0) << out;
  const auto j = nlohmann::json::parse(out);
  for (const auto& t : npz.tensors) {
    const auto s = model::compute_stats(t, bins(10));
    const auto& r = j[t.name];
    EXPECT_EQ(s.min, r["min"].get<double>());
    EXPECT_EQ(s.max, r["max"].get<double>());
    EXPECT_NEAR(s.mean, r["mean"].get<double>(), 1e-12);
    EXPECT_NEAR(s.std, r["std"].get<double>(), 1e-12);
    const auto h = r["hist"].get<std::vector<std::uint64_t>>();
    ASSERT_EQ(h.size(), s.histogram.size());
    for (std::size_t b = 0; b < h.size(); ++b) EXPECT_NEAR(double(h[b]), double(s.histogram[b]), 2) << t.name << " bin " << b;
  }
}

TEST(ReadWindow, ScalarsAndVectors) {
  auto w = model::read_window(tensor<float>(DType::F32, {}, {4.5f}), {});
  EXPECT_EQ(w.rows, 1);
  EXPECT_EQ(w.cols, 1);
  EXPECT_EQ(w.values, std::vector<double>{4.5});
  model::Window win;
  win.col0 = 3;
  win.cols = 4;
  w = model::read_window(tensor(DType::F32, {10}, arange(10)), win);
  EXPECT_EQ(w.rows, 1);
  EXPECT_EQ(w.values, (std::vector<double>{3, 4, 5, 6}));
  win.col0 = 8;  // clipped at the end
  w = model::read_window(tensor(DType::F32, {10}, arange(10)), win);
  EXPECT_EQ(w.values, (std::vector<double>{8, 9}));
}

TEST(ReadWindow, MatrixTransposedAndClipped) {
  const auto t = tensor(DType::F32, {5, 7}, arange(35));
  model::Window win;
  win.row0 = 1;
  win.col0 = 2;
  win.rows = 2;
  win.cols = 3;
  auto w = model::read_window(t, win);
  EXPECT_EQ(w.values, (std::vector<double>{9, 10, 11, 16, 17, 18}));
  win.row_axis = 1;
  win.col_axis = 0;
  w = model::read_window(t, win);  // rows run along axis 1
  EXPECT_EQ(w.values, (std::vector<double>{15, 22, 29, 16, 23, 30}));
  win = {};
  win.row0 = 3;
  win.col0 = 5;
  win.rows = 100;
  win.cols = 100;
  w = model::read_window(t, win);
  EXPECT_EQ(w.rows, 2);
  EXPECT_EQ(w.cols, 2);
  EXPECT_EQ(w.values, (std::vector<double>{26, 27, 33, 34}));
}

TEST(ReadWindow, FourDimensionalAndErrors) {
  const auto t = tensor(DType::F32, {2, 3, 4, 5}, arange(120));
  model::Window win;
  win.row_axis = 1;
  win.col_axis = 3;
  win.index = {1, 0, 2, 0};
  auto w = model::read_window(t, win);
  ASSERT_EQ(w.rows, 3);
  ASSERT_EQ(w.cols, 5);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 5; ++c) EXPECT_EQ(w.values[r * 5 + c], ((1 * 3 + r) * 4 + 2) * 5 + c);
  auto bad = win;
  bad.col_axis = 1;
  EXPECT_THROW((void)model::read_window(t, bad), io::Error);
  bad = win;
  bad.col_axis = 4;
  EXPECT_THROW((void)model::read_window(t, bad), io::Error);
  bad = win;
  bad.index = {2, 0, 0, 0};
  EXPECT_THROW((void)model::read_window(t, bad), io::Error);
  bad = win;
  bad.index = {0, 0};
  EXPECT_THROW((void)model::read_window(t, bad), io::Error);
  bad = win;
  bad.rows = -1;
  EXPECT_THROW((void)model::read_window(t, bad), io::Error);
}

TEST(ReadWindow, FortranOrderNpyAndDeflatedNpz) {
  test::TempDir dir;
  // Hand-written Fortran-order .npy: element (r, c) of a 3×4 array stored at c*3 + r.
  std::string dict = "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }";
  while ((10 + dict.size() + 1) % 64) dict += ' ';
  dict += '\n';
  std::string file = std::string("\x93NUMPY\x01\x00", 8);
  file += static_cast<char>(dict.size() & 0xff);
  file += static_cast<char>(dict.size() >> 8);
  file += dict;
  std::vector<float> data(12);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) data[c * 3 + r] = static_cast<float>(r * 4 + c);
  file.append(reinterpret_cast<const char*>(data.data()), 48);
  {
    std::ofstream(dir.file("f.npy"), std::ios::binary) << file;
  }
  const auto ck = io::open_checkpoint(dir.file("f.npy"));
  ASSERT_EQ(ck.tensors.size(), 1u);
  model::Window win;
  win.row0 = 1;
  win.rows = 2;
  win.col0 = 1;
  win.cols = 2;
  auto w = model::read_window(ck.tensors[0], win);
  EXPECT_EQ(w.values, (std::vector<double>{5, 6, 9, 10}));
  EXPECT_DOUBLE_EQ(model::compute_stats(ck.tensors[0]).mean, 5.5);

  std::vector<io::TensorInfo> ts{tensor(DType::F32, {40, 50}, arange(2000))};
  ts[0].name = "m";
  io::WriteOptions wo;
  wo.compress = true;
  wo.sync = false;
  io::write_checkpoint(dir.file("d.npz"), io::Format::Npz, ts, {}, wo);
  const auto z = io::open_checkpoint(dir.file("d.npz"));
  ASSERT_FALSE(z.tensors[0].data->contiguous());
  win = {};
  win.row0 = 38;
  win.col0 = 47;
  w = model::read_window(z.tensors[0], win);
  EXPECT_EQ(w.rows, 2);
  EXPECT_EQ(w.cols, 3);
  EXPECT_EQ(w.values, (std::vector<double>{1947, 1948, 1949, 1997, 1998, 1999}));
  win.row_axis = 1;
  win.col_axis = 0;
  win.row0 = 0;
  win.col0 = 0;
  win.rows = 2;
  win.cols = 2;
  w = model::read_window(z.tensors[0], win);
  EXPECT_EQ(w.values, (std::vector<double>{0, 50, 1, 51}));
}

TEST(ReadWindow, GgufQ4_0AndComplexRealParts) {
  test::TempDir dir;
  // 4 rows of 64: each row two blocks, scale = row + 1, nibble j → element j.
  std::vector<std::byte> raw;
  std::array<int, 32> nib{};
  for (int j = 0; j < 32; ++j) nib[j] = j % 16;
  for (int r = 0; r < 4; ++r)
    for (int b = 0; b < 2; ++b) {
      const auto blk = q4_0_block(static_cast<float>(r + 1), nib);
      raw.insert(raw.end(), blk.begin(), blk.end());
    }
  std::vector<float> expect(256);
  io::dequantize(DType::Q4_0, raw.data(), expect.data(), 256);
  std::vector<io::TensorInfo> ts{test::memory_tensor("blk.0.q", DType::Q4_0, {4, 64}, raw)};
  io::WriteOptions wo;
  wo.sync = false;
  io::write_checkpoint(dir.file("q.gguf"), io::Format::Gguf, ts, {}, wo);
  const auto ck = io::open_checkpoint(dir.file("q.gguf"));
  ASSERT_EQ(ck.tensors.size(), 1u);
  ASSERT_EQ(ck.tensors[0].dtype, DType::Q4_0);
  model::Window win;
  win.row0 = 1;
  win.col0 = 30;
  win.rows = 2;
  win.cols = 4;  // crosses a block boundary
  auto w = model::read_window(ck.tensors[0], win);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 4; ++c) EXPECT_EQ(w.values[r * 4 + c], expect[(1 + r) * 64 + 30 + c]);
  win.row_axis = 1;
  win.col_axis = 0;
  win.row0 = 5;
  win.col0 = 0;
  win.rows = 1;
  win.cols = 4;
  w = model::read_window(ck.tensors[0], win);
  for (int c = 0; c < 4; ++c) EXPECT_EQ(w.values[c], expect[c * 64 + 5]);
  const auto s = model::compute_stats(ck.tensors[0], bins(8, 2));
  double m = 0;
  for (float v : expect) m += v;
  EXPECT_DOUBLE_EQ(s.mean, m / 256);

  w = model::read_window(tensor<double>(DType::C128, {2}, {1.5, 9, -2, 9}), {});
  EXPECT_EQ(w.values, (std::vector<double>{1.5, -2}));
}
