// `ckpt map …` and `ckpt convert --map`, run as the real binary; end to end
// against Debian's python3-torch (torchvision resnet18).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "io/open.h"
#include "model/name_map.h"
#include "tests/support/support.h"

using namespace ckpt;

namespace {

using Run = test::CliRun;
using test::ckpt_cli;

std::string write_sample(const test::TempDir& dir) {
  std::vector<io::TensorInfo> t{test::random_tensor("model.conv.weight", io::DType::F32, {4, 3, 3, 3}, 1),
                                test::random_tensor("model.bn.num_batches_tracked", io::DType::I64, {}, 2),
                                test::random_tensor("model.fc.weight", io::DType::F16, {4, 8}, 3)};
  const std::string p = dir.file("s.safetensors");
  io::write_checkpoint(p, io::Format::Safetensors, t, {}, {});
  return p;
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST(CliMap, PresetsAndInvert) {
  test::TempDir dir;
  auto r = ckpt_cli("map presets", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("pytorch-to-mlx"), std::string::npos);
  EXPECT_NE(r.out.find("mlx-to-pytorch"), std::string::npos);
  r = ckpt_cli("map invert pytorch-to-mlx", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("drops"), std::string::npos) << r.err;
  const auto inv = dir.file("inv.json");
  r = ckpt_cli("map invert mlx-to-pytorch -o '" + inv + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto m = model::load_map(inv);
  ASSERT_EQ(m.rules.size(), 3u);
  EXPECT_EQ(m.rules[1].transforms[0].perm, (std::vector<int>{0, 2, 3, 1}));
}

TEST(CliMap, ShowReportsConflictsWithExitOne) {
  test::TempDir dir;
  const auto p = write_sample(dir);
  auto r = ckpt_cli("map show pytorch-to-mlx '" + p + "' --json", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["ok"].get<bool>());
  ASSERT_EQ(j["entries"].size(), 3u);
  for (const auto& e : j["entries"]) {
    if (e["source"] == "model.conv.weight") {
      EXPECT_EQ(e["target_shape"], nlohmann::json::array({4, 3, 3, 3}));
    }
    EXPECT_EQ(e["dropped"].get<bool>(), e["source"] == "model.bn.num_batches_tracked") << e.dump();
  }
  const auto bad = dir.file("bad.json");
  write_file(bad, R"({"rules": [{"match": "regex", "pattern": "^.*weight$", "replace": "w"}, {"pattern": "nothing"}]})");
  r = ckpt_cli("map show '" + bad + "' '" + p + "'", dir);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("conflict"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unused: rule 1"), std::string::npos) << r.out;
  // convert refuses the same map.
  r = ckpt_cli("convert -q '" + p + "' '" + dir.file("o.safetensors") + "' --map '" + bad + "'", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("conflict"), std::string::npos) << r.err;
}

TEST(CliMap, SuggestAgainstACheckpointSpec) {
  test::TempDir dir;
  const auto p = write_sample(dir);
  std::vector<io::TensorInfo> spec{test::random_tensor("conv.weight", io::DType::F32, {4, 3, 3, 3}, 1),
                                   test::random_tensor("fc.weight", io::DType::F16, {4, 8}, 3)};
  const auto sp = dir.file("spec.safetensors");
  io::write_checkpoint(sp, io::Format::Safetensors, spec, {}, {});
  const auto out = dir.file("m.json");
  auto r = ckpt_cli("map suggest '" + p + "' --spec '" + sp + "' -o '" + out + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  r = ckpt_cli("convert -q '" + p + "' '" + dir.file("o.safetensors") + "' --map '" + out + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto ck = io::open_checkpoint(dir.file("o.safetensors"));
  std::vector<std::string> names;
  for (const auto& t : ck.tensors) names.push_back(t.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"conv.weight", "fc.weight"}));
}

TEST(CliMap, TorchvisionResnetToMlxLayout) {
  if (test::run_python("import torch, torchvision", {}) != 0)
    GTEST_SKIP() << "python3 -c 'import torch, torchvision' failed: install Debian python3-torch and python3-torchvision";
  test::TempDir dir;
  const auto pt = dir.file("model.pt"), out = dir.file("out.safetensors");
  std::string log;
  ASSERT_EQ(test::run_python("import sys, torch, torchvision\ntorch.manual_seed(0)\n"
                             "m = torchvision.models.resnet18(weights=None)\ntorch.save(m.state_dict(), sys.argv[1])",
                             {pt}, &log),
            0)
      << log;
  const auto r = ckpt_cli("convert -q '" + pt + "' '" + out + "' --map pytorch-to-mlx", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  // Python reads the safetensors file by hand (no safetensors package needed)
  // and compares each tensor with the torch original.
  const char* check = R"(
import sys, json, struct, torch, numpy as np
sd = torch.load(sys.argv[1], weights_only=True)
raw = open(sys.argv[2], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n]); hdr.pop("__metadata__", None)
base = 8 + n
dt = {"F32": np.float32, "I64": np.int64, "F16": np.float16}
out = {}
for k, v in hdr.items():
    b, e = v["data_offsets"]
    out[k] = torch.from_numpy(np.frombuffer(raw[base + b:base + e], dtype=dt[v["dtype"]]).reshape(v["shape"]).copy())
convs = 0
for k, w in sd.items():
    if k.endswith("num_batches_tracked"):
        assert k not in out, k
        continue
    assert k in out, k
    want = w.permute(0, 2, 3, 1) if w.dim() == 4 else w
    convs += w.dim() == 4
    assert out[k].shape == want.shape, (k, out[k].shape, want.shape)
    assert torch.equal(out[k], want.contiguous()), k
assert not any(k.endswith("num_batches_tracked") for k in out)
assert convs == 20, convs
print("ok", len(out))
)";
  std::string res;
  EXPECT_EQ(test::run_python(check, {pt, out}, &res), 0) << res;
  EXPECT_NE(res.find("ok 102"), std::string::npos) << res;
}
