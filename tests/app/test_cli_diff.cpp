// ckpt spec and ckpt diff, run as the real binary: exit codes, JSON counts,
// text rows, and a PyTorch → MLX port of torchvision's resnet18.
#include <gtest/gtest.h>
#include <gmock/gmock.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "io/open.h"
#include "tests/support/support.h"

using namespace ckpt;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

using Run = test::CliRun;
using test::ckpt_cli;

std::string q(const std::string& s) { return "'" + s + "'"; }

std::vector<io::TensorInfo> sample_tensors(unsigned seed) {
  return {test::random_tensor("conv.weight", io::DType::F32, {8, 3, 3, 3}, seed),
          test::random_tensor("conv.bias", io::DType::F32, {8}, seed + 1),
          test::random_tensor("fc.weight", io::DType::F16, {4, 8}, seed + 2),
          test::random_tensor("bn.num_batches_tracked", io::DType::I64, {}, seed + 3)};
}

std::string write(const test::TempDir& dir, const std::string& name, const std::vector<io::TensorInfo>& t) {
  const auto p = dir.file(name);
  io::write_checkpoint(p, io::Format::Safetensors, t, {}, {});
  return p;
}

}  // namespace

TEST(CliDiff, SpecThenDiffAgainstItself) {
  test::TempDir dir;
  const auto ck = write(dir, "m.safetensors", sample_tensors(1));
  const auto spec = dir.file("spec.json");
  auto r = ckpt_cli("spec " + q(ck) + " -o " + q(spec), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("wrote 4 parameters"));
  r = ckpt_cli("diff " + q(ck) + " --spec " + q(spec), dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "would load");
  EXPECT_THAT(r.out, Not(HasSubstr("\033[")));  // no colour when not a terminal

  // Printed to stdout, the spec is the same JSON.
  r = ckpt_cli("spec " + q(ck), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "ckpt-spec");
  EXPECT_EQ(j["parameters"].size(), 4u);
  EXPECT_EQ(j["parameters"]["fc.weight"]["dtype"], "float16");

  // A checkpoint as the spec, and as B.
  EXPECT_EQ(ckpt_cli("diff " + q(ck) + " --spec " + q(ck), dir).code, 0);
  r = ckpt_cli("diff " + q(ck) + " " + q(ck) + " --values", dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("values: 4 compared, 4 identical"));
}

TEST(CliDiff, ModifiedCheckpointCountsInJson) {
  test::TempDir dir;
  const auto ck = write(dir, "m.safetensors", sample_tensors(1));
  const auto spec = dir.file("spec.json");
  ASSERT_EQ(ckpt_cli("spec " + q(ck) + " -o " + q(spec), dir).code, 0);

  std::vector<io::TensorInfo> changed{test::random_tensor("conv.weight", io::DType::F32, {8, 3, 3, 3}, 1),  // kept
                                      test::random_tensor("fc.weight", io::DType::F32, {8, 4}, 3),         // transposed, f32
                                      test::random_tensor("conv.bias", io::DType::F32, {9}, 2),            // wrong size
                                      test::random_tensor("extra", io::DType::F32, {2}, 5)};
  const auto mod = write(dir, "changed.safetensors", changed);
  auto r = ckpt_cli("diff " + q(mod) + " --spec " + q(spec) + " --json", dir);
  ASSERT_EQ(r.code, 1) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["strict_load_ok"], false);
  EXPECT_EQ(j["counts"]["match"], 1);
  EXPECT_EQ(j["counts"]["missing"], 1);
  EXPECT_EQ(j["counts"]["unexpected"], 1);
  EXPECT_EQ(j["counts"]["shape"], 1);
  EXPECT_EQ(j["counts"]["layout"], 1);
  EXPECT_EQ(j["counts"]["dtype"], 0);
  EXPECT_EQ(j["verdict"], "would fail: 1 missing, 1 unexpected, 2 shape mismatches (1 a layout permutation)");
  ASSERT_EQ(j["rows"].size(), 5u);
  bool saw_layout = false;
  for (const auto& row : j["rows"]) {
    if (row["category"] != "layout") continue;
    saw_layout = true;
    EXPECT_EQ(row["name"], "fc.weight");
    EXPECT_EQ(row["permutation"], nlohmann::json::array({1, 0}));
    EXPECT_EQ(row["have_shape"], nlohmann::json::array({8, 4}));
    EXPECT_EQ(row["want_shape"], nlohmann::json::array({4, 8}));
  }
  EXPECT_TRUE(saw_layout);
  EXPECT_EQ(j["rows"].back()["name"], "extra");  // unexpected names come last

  // --only filters rows but not counts.
  r = ckpt_cli("diff " + q(mod) + " --spec " + q(spec) + " --json --only missing,unexpected", dir);
  const auto k = nlohmann::json::parse(r.out);
  EXPECT_EQ(k["rows"].size(), 2u);
  EXPECT_EQ(k["counts"]["layout"], 1);

  // Text: verdict first, rows grouped by category with both shapes.
  r = ckpt_cli("diff " + q(mod) + " --spec " + q(spec), dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.rfind("would fail: 1 missing", 0), 0u) << r.out;
  EXPECT_THAT(r.out, HasSubstr("have [8, 4] float32  want [4, 8] float16  permute (1, 0)"));
  EXPECT_THAT(r.out, HasSubstr("want [] int64"));
  EXPECT_LT(r.out.find("missing ("), r.out.find("unexpected ("));
}

TEST(CliDiff, ValuesAndTolerance) {
  test::TempDir dir;
  const std::vector<float> base{1.0f, 2.0f, 3.0f, 4.0f};
  std::vector<float> near = base;
  near[1] = 2.0f + 1.0f / 512;
  auto tensor = [](const std::vector<float>& v) {
    std::vector<std::byte> b(v.size() * 4);
    std::memcpy(b.data(), v.data(), b.size());
    return test::memory_tensor("w", io::DType::F32, {4}, std::move(b));
  };
  const auto a = write(dir, "a.safetensors", {tensor(base)});
  const auto b = write(dir, "b.safetensors", {tensor(near)});
  // Same names and shapes: loads, but the values differ.
  EXPECT_EQ(ckpt_cli("diff " + q(a) + " " + q(b), dir).code, 0);
  auto r = ckpt_cli("diff " + q(a) + " " + q(b) + " --values", dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_THAT(r.out, HasSubstr("would load"));
  EXPECT_THAT(r.out, HasSubstr("DIFFERS"));
  // --only takes one value, so B may follow it.
  r = ckpt_cli("diff " + q(a) + " --only match " + q(b) + " --values", dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_THAT(r.out, HasSubstr("DIFFERS"));
  r = ckpt_cli("diff " + q(a) + " " + q(b) + " --values --tolerance 0.01", dir);
  EXPECT_EQ(r.code, 0) << r.err;
  r = ckpt_cli("diff " + q(a) + " " + q(b) + " --values --json", dir);
  EXPECT_EQ(r.code, 1);
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["rows"][0]["agreement"]["max_abs_diff"].get<double>(), 1.0 / 512);
  EXPECT_EQ(j["rows"][0]["agreement"]["identical"], false);
  EXPECT_EQ(j["values"]["beyond_tolerance"], 1);
}

TEST(CliDiff, ErrorsExitTwo) {
  test::TempDir dir;
  const auto ck = write(dir, "m.safetensors", sample_tensors(1));
  auto r = ckpt_cli("diff " + q(dir.file("absent.safetensors")) + " --spec " + q(ck), dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("ckpt: "));
  r = ckpt_cli("diff " + q(ck), dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("give either a second checkpoint B or --spec"));
  EXPECT_EQ(ckpt_cli("diff " + q(ck) + " " + q(ck) + " --spec " + q(ck), dir).code, 2);
  EXPECT_EQ(ckpt_cli("diff " + q(ck) + " --spec " + q(ck) + " --values", dir).code, 2);
  EXPECT_EQ(ckpt_cli("diff " + q(ck) + " --spec " + q(ck) + " --only bogus", dir).code, 2);
  const auto bad = dir.file("bad.json");
  std::ofstream(bad) << R"({"parameters": {"conv.weight": [8, -3]}})";
  r = ckpt_cli("diff " + q(ck) + " --spec " + q(bad), dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("parameter 'conv.weight': dimension -3 is negative"));
  EXPECT_EQ(ckpt_cli("spec " + q(dir.file("nothing.pt")), dir).code, 2);
}

TEST(CliDiff, TorchResnet18AgainstAnMlxSpec) {
  if (test::run_python("import torch, torchvision", {}) != 0) {
    GTEST_SKIP() << "Debian python3-torch / python3-torchvision not importable by /usr/bin/python3";
  }
  test::TempDir dir;
  const auto pt = dir.file("model.pt");
  const auto spec = dir.file("mlx_spec.json");
  // The spec an MLX port of resnet18 expects: channels-last conv weights and
  // no num_batches_tracked buffers.
  const std::string script = R"PY(
import json, sys, torch, torchvision
torch.manual_seed(0)
sd = torchvision.models.resnet18(weights=None).state_dict()
torch.save(sd, sys.argv[1])
params = {}
for k, v in sd.items():
    if k.endswith("num_batches_tracked"):
        continue
    s = list(v.shape)
    if v.dim() == 4:
        s = [s[0], s[2], s[3], s[1]]
    params[k] = {"shape": s, "dtype": "float32"}
json.dump({"parameters": params}, open(sys.argv[2], "w"))
)PY";
  std::string out;
  ASSERT_EQ(test::run_python(script, {pt, spec}, &out), 0) << out;

  auto r = ckpt_cli("diff " + q(pt) + " --spec " + q(spec) + " --json", dir);
  ASSERT_EQ(r.code, 1) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["counts"]["layout"], 20);       // conv1, 16 block convs, 3 downsample convs
  EXPECT_EQ(j["counts"]["unexpected"], 20);   // one num_batches_tracked per BatchNorm
  EXPECT_EQ(j["counts"]["missing"], 0);
  EXPECT_EQ(j["counts"]["shape"], 0);
  for (const auto& row : j["rows"]) {
    if (row["category"] == "layout") {
      EXPECT_EQ(row["permutation"], nlohmann::json::array({0, 2, 3, 1})) << row["name"];
    } else if (row["category"] == "unexpected") {
      EXPECT_THAT(row["name"].get<std::string>(), HasSubstr("num_batches_tracked"));
    }
  }
  EXPECT_EQ(j["verdict"], "would fail: 20 unexpected, 20 shape mismatches (20 layout permutations)");

  r = ckpt_cli("diff " + q(pt) + " --spec " + q(spec) + " --map pytorch-to-mlx --json", dir);
  EXPECT_EQ(r.code, 0) << r.err << r.out;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["verdict"], "would load");
  EXPECT_EQ(j["counts"]["match"], j["rows"].size());

  // The same weights through convert: every value identical.
  const auto st = dir.file("model.safetensors");
  ASSERT_EQ(ckpt_cli("convert -q " + q(pt) + " " + q(st), dir).code, 0);
  r = ckpt_cli("diff " + q(pt) + " " + q(st) + " --values", dir);
  EXPECT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("122 compared, 122 identical"));

  // MLX-layout weights written by NumPy: layout pairs compare after permuting,
  // and through the preset map every value is identical.
  const auto npz = dir.file("mlx.npz");
  const std::string to_npz = R"PY(
import sys, numpy as np, torch
sd = torch.load(sys.argv[1])
np.savez(sys.argv[2], **{k: (v.permute(0, 2, 3, 1) if v.dim() == 4 else v).contiguous().numpy()
                        for k, v in sd.items() if not k.endswith("num_batches_tracked")})
)PY";
  ASSERT_EQ(test::run_python(to_npz, {pt, npz}, &out), 0) << out;
  r = ckpt_cli("diff " + q(pt) + " " + q(npz) + " --values", dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_THAT(r.out, HasSubstr("values: 102 compared, 102 identical"));
  r = ckpt_cli("diff " + q(pt) + " " + q(npz) + " --values --map pytorch-to-mlx", dir);
  EXPECT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("would load\nvalues: 102 compared, 102 identical"));
}
