// ckpt tree, stats and show: text and --json output from the real binary, and error exits.
#include <gtest/gtest.h>
#include <gmock/gmock.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include <nlohmann/json.hpp>

#include "io/open.h"
#include "tests/support/support.h"

using namespace ckpt;
using ::testing::HasSubstr;

namespace {

using Run = test::CliRun;
using test::ckpt_cli;

io::TensorInfo arange_tensor(std::string name, io::Shape shape, float offset = 0) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<float> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), offset);
  std::vector<std::byte> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return test::memory_tensor(std::move(name), io::DType::F32, std::move(shape), std::move(b));
}

// Four identical layers (foldable), an embedding and a 3-d tensor.
std::string write_model(const test::TempDir& dir) {
  std::vector<io::TensorInfo> t;
  for (int i = 0; i < 4; ++i) {
    t.push_back(arange_tensor("model.layers." + std::to_string(i) + ".attn.weight", {4, 6}, static_cast<float>(i)));
    t.push_back(test::random_tensor("model.layers." + std::to_string(i) + ".norm", io::DType::F16, {6}, i + 1));
  }
  t.push_back(arange_tensor("model.embed", {10, 6}));
  t.push_back(arange_tensor("cube", {2, 3, 4}));
  const std::string p = dir.file("m.safetensors");
  io::WriteOptions wo;
  wo.sync = false;
  io::write_checkpoint(p, io::Format::Safetensors, t, {}, wo);
  return p;
}

}  // namespace

TEST(CliInspect, TreeTextFoldsIdenticalLayers) {
  test::TempDir dir;
  const auto p = write_model(dir);
  auto r = ckpt_cli("tree '" + p + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("layers.0…3 (4 ×)"));
  EXPECT_THAT(r.out, HasSubstr("weight  [4, 6] float32"));
  EXPECT_THAT(r.out, HasSubstr("10 tensors"));
  EXPECT_THAT(r.out, HasSubstr("mixed"));
  r = ckpt_cli("tree --no-fold '" + p + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("(4 ×)")));
  r = ckpt_cli("tree --depth 1 '" + p + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("layers")));
}

TEST(CliInspect, TreeJsonIsNested) {
  test::TempDir dir;
  const auto p = write_model(dir);
  const auto r = ckpt_cli("tree --json --root model '" + p + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tensors"], 9);
  EXPECT_EQ(j["parameters"], 4 * 24 + 4 * 6 + 60);
  const nlohmann::json* layers = nullptr;
  for (const auto& c : j["children"])
    if (c["name"] == "layers") layers = &c;
  ASSERT_NE(layers, nullptr);
  EXPECT_EQ((*layers)["is_list"], true);
  ASSERT_EQ((*layers)["children"].size(), 4u);
  const auto& attn = (*layers)["children"][2]["children"][0];
  EXPECT_EQ(attn["name"], "attn");
  EXPECT_EQ(attn["children"][0]["shape"], nlohmann::json::array({4, 6}));
  EXPECT_EQ(attn["children"][0]["dtype"], "float32");
  EXPECT_EQ(attn["children"][0]["path"], "layers.2.attn.weight");
}

TEST(CliInspect, StatsTextAndJson) {
  test::TempDir dir;
  const auto p = write_model(dir);
  auto r = ckpt_cli("stats '" + p + "' model.embed --bins 6", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("model.embed"));
  EXPECT_THAT(r.out, HasSubstr("max 59"));
  EXPECT_THAT(r.out, HasSubstr("mean 29.5"));
  r = ckpt_cli("stats --json --bins 6 '" + p + "' model.embed cube", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["name"], "model.embed");
  EXPECT_EQ(j[0]["count"], 60);
  EXPECT_EQ(j[0]["min"], 0.0);
  EXPECT_EQ(j[0]["max"], 59.0);
  EXPECT_DOUBLE_EQ(j[0]["mean"].get<double>(), 29.5);
  EXPECT_EQ(j[0]["histogram"], nlohmann::json::array({10, 10, 10, 10, 10, 10}));
  EXPECT_EQ(j[1]["name"], "cube");
  r = ckpt_cli("stats --json '" + p + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).size(), 10u);
}

TEST(CliInspect, StatsUnknownNameListsCloseNames) {
  test::TempDir dir;
  const auto p = write_model(dir);
  const auto r = ckpt_cli("stats '" + p + "' model.embde", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("no tensor named 'model.embde'"));
  EXPECT_THAT(r.err, HasSubstr("model.embed"));
}

TEST(CliInspect, ShowTextAndJson) {
  test::TempDir dir;
  const auto p = write_model(dir);
  auto r = ckpt_cli("show '" + p + "' model.embed", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("model.embed  float32 [10, 6]"));
  EXPECT_THAT(r.out, HasSubstr("42"));           // row 7, column 0: inside the default 8 × 8
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("  48")));  // row 8 is outside it
  r = ckpt_cli("show --json '" + p + "' cube --slice '1,:,1:3'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["rows"], 3);
  EXPECT_EQ(j["cols"], 2);
  EXPECT_EQ(j["values"], nlohmann::json::parse("[[13,14],[17,18],[21,22]]"));
  r = ckpt_cli("show --json --transpose '" + p + "' cube --slice '1,:,1:3'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["values"], nlohmann::json::parse("[[13,17,21],[14,18,22]]"));
  r = ckpt_cli("show --json --rows 2 --cols 3 '" + p + "' cube --slice '-1,:,:'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["values"], nlohmann::json::parse("[[12,13,14],[16,17,18]]"));
}

TEST(CliInspect, ShowErrorsExitTwo) {
  test::TempDir dir;
  const auto p = write_model(dir);
  for (const std::string bad : {"'1,:'", "'5,:,:'", "'1,:,:,:'", "'1,2,:'", "':,:,:'", "'x,:,:'"}) {
    const auto r = ckpt_cli("show '" + p + "' cube --slice " + bad, dir);
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_THAT(r.err, HasSubstr("--slice")) << bad;
  }
  auto r = ckpt_cli("show '" + p + "' nope", dir);
  EXPECT_EQ(r.code, 2);
  r = ckpt_cli("tree '" + dir.file("missing.safetensors") + "'", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("ckpt: "));
  r = ckpt_cli("show '" + p + "'", dir);  // NAME missing: a usage error
  EXPECT_EQ(r.code, 2);
}

TEST(CliInspect, HelpExitsZero) {
  test::TempDir dir;
  for (const std::string c : {"tree", "stats", "show"}) {
    const auto r = ckpt_cli(c + " --help", dir);
    EXPECT_EQ(r.code, 0) << c;
    EXPECT_THAT(r.out, HasSubstr("--json")) << c;
  }
}

// From an .npz only the named members are read; the output and the
// unknown-name error are those of opening the whole archive.
TEST(CliInspect, StatsAndShowOfOneNpzTensor) {
  test::TempDir dir;
  std::vector<io::TensorInfo> t;
  for (int i = 0; i < 300; ++i) t.push_back(arange_tensor("l." + std::to_string(i) + ".w", {2, 3}, static_cast<float>(i)));
  const std::string p = dir.file("m.npz");
  io::WriteOptions wo;
  wo.sync = false;
  wo.compress = true;
  io::write_checkpoint(p, io::Format::Npz, t, {}, wo);
  auto r = ckpt_cli("stats --json '" + p + "' l.7.w l.250.w", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["name"], "l.7.w");
  EXPECT_EQ(j[0]["min"], 7.0);
  EXPECT_EQ(j[1]["name"], "l.250.w");
  EXPECT_EQ(j[1]["max"], 255.0);
  r = ckpt_cli("show '" + p + "' l.9.w", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("l.9.w  float32 [2, 3]"));
  EXPECT_THAT(r.out, HasSubstr("14"));
  r = ckpt_cli("show '" + p + "' l.9.x", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("no tensor named 'l.9.x'; did you mean l.9.w"));
}
