// Every writer refuses two tensors that would get the same name in the file,
// before writing a byte, naming the repeated one, and reports the first
// problem in tensor order when there are several (io/first_repeat.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/first_repeat.h"
#include "io/open.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;
using ::testing::HasSubstr;

namespace {

struct Target {
  Format format;
  const char* ext;
  std::string repeated;  // the sentence for a tensor named "x.y" twice
};

std::vector<Target> targets() {
  return {{Format::Safetensors, ".safetensors", "tensor 'x.y' appears more than once"},
          {Format::Gguf, ".gguf", "the tensor name 'x.y' appears twice"},
          {Format::Npz, ".npz", "two tensors would both be stored as member 'x.y.npy'"},
          {Format::PyTorch, ".pt", "two tensors are both named 'x.y'"}};
}

std::string error_of(const std::string& path, Format f, const std::vector<TensorInfo>& ts) {
  try {
    write_checkpoint(path, f, ts, {}, {});
  } catch (const Error& e) {
    return e.sentence();
  }
  return "";
}

TEST(WriterNames, RepeatedNameIsRefusedBeforeWriting) {
  TempDir dir;
  for (const auto& t : targets()) {
    std::vector<TensorInfo> ts;
    for (int i = 0; i < 3000; ++i) ts.push_back(ckpt::test::random_tensor("layer." + std::to_string(i), DType::F32, {2}, 1u + i));
    ts.push_back(ckpt::test::random_tensor("x.y", DType::F32, {2}, 7));
    ts.push_back(ckpt::test::random_tensor("layer.3000", DType::F32, {2}, 8));
    ts.push_back(ckpt::test::random_tensor("x.y", DType::F32, {3}, 9));
    const std::string path = dir.file(std::string("out") + t.ext);
    EXPECT_EQ(error_of(path, t.format, ts), t.repeated) << t.ext;
    EXPECT_FALSE(std::filesystem::exists(path)) << t.ext;
    EXPECT_EQ(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) << t.ext;
    ts.pop_back();  // without the repeat the same tensors write
    EXPECT_EQ(error_of(path, t.format, ts), "") << t.ext;
    std::filesystem::remove(path);
  }
}

// A problem in an earlier tensor is reported first, as before the repeat check
// moved out of the loop: here tensor 1 has a dtype no writer but GGUF stores
// (Q4_0), and tensor 2 repeats tensor 0's name.
TEST(WriterNames, EarlierProblemComesFirst) {
  TempDir dir;
  for (const auto& t : targets()) {
    if (t.format == Format::Gguf) continue;
    std::vector<TensorInfo> ts{ckpt::test::random_tensor("x.y", DType::F32, {2}, 1),
                               ckpt::test::random_tensor("q", DType::Q4_0, {32}, 2),
                               ckpt::test::random_tensor("x.y", DType::F32, {2}, 3)};
    EXPECT_THAT(error_of(dir.file(std::string("out") + t.ext), t.format, ts), HasSubstr("'q' has dtype")) << t.ext;
  }
}

// NumPy names an unnamed array by its position; a tensor already named so
// collides with it.
TEST(WriterNames, PositionalNpzNameCollides) {
  TempDir dir;
  std::vector<TensorInfo> ts{ckpt::test::random_tensor("arr_1", DType::F32, {2}, 1),
                             ckpt::test::random_tensor("", DType::F32, {2}, 2)};
  EXPECT_EQ(error_of(dir.file("out.npz"), Format::Npz, ts), "two tensors would both be stored as member 'arr_1.npy'");
}

TEST(FirstRepeat, FindsTheFirstRepeatAndHonoursSkip) {
  const std::vector<std::string> names{"a", "b", "c", "b", "a", ""};
  const auto name = [&](std::size_t k) -> const std::string& { return names[k]; };
  EXPECT_EQ(first_repeat(names.size(), name), 3u);
  EXPECT_EQ(first_repeat(names.size(), name, [](std::size_t k) { return k == 1; }), 4u);
  EXPECT_EQ(first_repeat(3, name), kNoRepeat);
  EXPECT_EQ(first_repeat(0, name), kNoRepeat);
  std::vector<std::string> many;
  for (int i = 0; i < 100000; ++i) many.push_back(std::to_string(i * 7919 % 100003));
  EXPECT_EQ(first_repeat(many.size(), [&](std::size_t k) -> const std::string& { return many[k]; }), kNoRepeat);
  many.push_back(many[12345]);
  EXPECT_EQ(first_repeat(many.size(), [&](std::size_t k) -> const std::string& { return many[k]; }), many.size() - 1);
}

}  // namespace
