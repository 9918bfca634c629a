// The tiled transposes against a plain index computation, on shapes that
// leave partial tiles at both edges, span several output chunks, and use
// every item size the kernel has (each picks its own tile width).
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "io/tensor.h"
#include "model/transforms.h"

namespace {

using ckpt::io::DType;
namespace io = ckpt::io;

std::vector<std::byte> naive_permute(const std::vector<std::byte>& in, const io::Shape& shape, const std::vector<int>& perm,
                                     std::size_t item) {
  const std::size_t rank = shape.size();
  std::vector<std::int64_t> stride(rank, 1);
  for (std::size_t a = rank - 1; a > 0; --a) stride[a - 1] = stride[a] * shape[a];
  std::int64_t numel = 1;
  for (auto d : shape) numel *= d;
  std::vector<std::byte> out(in.size());
  std::vector<std::int64_t> idx(rank, 0);  // output index
  for (std::int64_t o = 0; o < numel; ++o) {
    std::int64_t src = 0;
    for (std::size_t k = 0; k < rank; ++k) src += idx[k] * stride[static_cast<std::size_t>(perm[k])];
    std::memcpy(out.data() + static_cast<std::size_t>(o) * item, in.data() + static_cast<std::size_t>(src) * item, item);
    for (std::size_t k = rank; k-- > 0;) {
      if (++idx[k] < shape[static_cast<std::size_t>(perm[k])]) break;
      idx[k] = 0;
    }
  }
  return out;
}

struct Case {
  DType dtype;
  io::Shape shape;
  std::vector<int> perm;
};

TEST(FastPermute, TiledTransposesMatchIndexArithmetic) {
  const Case cases[] = {
      {DType::F32, {37, 45}, {1, 0}},           {DType::F16, {130, 67}, {1, 0}},
      {DType::U8, {300, 170}, {1, 0}},          {DType::F64, {5, 33, 40}, {0, 2, 1}},
      {DType::C128, {20, 9}, {1, 0}},           {DType::C128, {17, 23}, {1, 0}},
      {DType::F32, {4096, 300}, {1, 0}},        {DType::BF16, {64, 40, 3, 3}, {0, 2, 3, 1}},
      {DType::F32, {40, 64, 3, 3}, {1, 2, 3, 0}}, {DType::F32, {2, 50, 7, 33}, {0, 3, 1, 2}},
  };
  std::mt19937 rng(3);
  for (const auto& c : cases) {
    io::TensorInfo t;
    t.name = "w";
    t.dtype = c.dtype;
    t.shape = c.shape;
    const std::size_t item = io::item_size(c.dtype);
    t.nbytes = static_cast<std::uint64_t>(t.numel()) * item;
    std::vector<std::byte> bytes(t.nbytes);
    for (auto& b : bytes) b = std::byte(static_cast<unsigned char>(rng()));
    t.data = io::make_memory_data(bytes);
    const auto p = ckpt::model::permute_tensor(t, c.perm);
    EXPECT_EQ(io::read_all(p), naive_permute(bytes, c.shape, c.perm, item))
        << io::name(c.dtype) << " " << ckpt::model::perm_text(c.perm);
  }
}

}  // namespace
