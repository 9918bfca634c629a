// PyTorch interop against Debian's torch 1.13 and torchvision 0.14: real
// models saved by torch.save (zip and legacy, f32/f16/bf16) read exactly as
// torch itself loads them, and our .pt files load with
// torch.load(weights_only=True) into the same tensors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/formats/pytorch.h"
#include "tests/support/sha256.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using ckpt::test::TempDir;

namespace {

bool have_torch() {
  static const bool ok = ckpt::test::run_python("import torch, torchvision", {}) == 0;
  return ok;
}

#define SKIP_WITHOUT_TORCH()                                                                       \
  if (!have_torch()) {                                                                             \
    GTEST_SKIP() << "/usr/bin/python3 cannot import torch and torchvision (Debian python3-torch, " \
                    "python3-torchvision): PyTorch interop not tested";                           \
  }

// Shared by both scripts: what torch itself sees in a loaded object, flattened
// the way our reader names things.
const char* kPyFlatten = R"PY(
import hashlib, json, sys, collections, torch
def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()
def flatten(obj, path, out):
    if isinstance(obj, torch.Tensor):
        out[path] = {"dtype": str(obj.dtype).replace("torch.", ""), "shape": list(obj.shape),
                     "sha256": hashlib.sha256(tensor_bytes(obj)).hexdigest()}
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{path}.{k}" if path else str(k), out)
    elif isinstance(obj, (list, tuple)) and any(isinstance(v, (torch.Tensor, dict, list, tuple)) for v in obj):
        for i, v in enumerate(obj):
            flatten(v, f"{path}.{i}" if path else str(i), out)
)PY";

// Builds the models and special objects, saves each in both formats, and
// writes a manifest of what torch.load gives back.
const char* kPyMake = R"PY(
import os, torchvision
from torch import nn
out_dir = sys.argv[1]
manifest = {}
def save(obj, name):
    for fmt, zipped in (("zip", True), ("legacy", False)):
        path = os.path.join(out_dir, f"{name}_{fmt}.pt")
        torch.save(obj, path, _use_new_zipfile_serialization=zipped)
        flat = {}
        flatten(torch.load(path), "", flat)
        manifest[path] = flat
models = {
    "resnet18": lambda: torchvision.models.resnet18(weights=None),
    "mobilenet_v3_small": lambda: torchvision.models.mobilenet_v3_small(weights=None),
    "transformer": lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128), num_layers=2),
}
for name, make in models.items():
    torch.manual_seed(0)
    m = make()
    for dt in (torch.float32, torch.float16, torch.bfloat16):
        save(m.to(dt).state_dict(), f"{name}_{str(dt)[6:]}")
torch.manual_seed(0)
base = torch.arange(24, dtype=torch.float32)
special = {
    "base": base,
    "slice": base[2:10],
    "strided": base[1::3],
    "transposed": base.view(4, 6).t(),
    "scalar": torch.tensor(3.5, dtype=torch.float64),
    "empty": torch.empty(0, 3),
    "param": nn.Parameter(torch.randn(3, 2)),
    "ints": torch.arange(-5, 5, dtype=torch.int64).view(2, 5)[:, 1:4],
    "flags": torch.tensor([True, False, True]),
    "cplx": torch.randn(4, dtype=torch.complex64),
    "tuple": (torch.ones(2), torch.zeros(1, dtype=torch.int32)),
}
save(special, "special")
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for _ in range(2):
    opt.zero_grad()
    model(torch.randn(5, 4)).sum().backward()
    opt.step()
save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 7,
      "args": {"lr": 0.001, "name": "run-1", "betas": (0.9, 0.999), "resume": None, "amp": False}}, "train")
with open(os.path.join(out_dir, "manifest.json"), "w") as f:
    json.dump(manifest, f)
)PY";

// Loads our file with weights_only=True and reports what it holds; with a
// reference file, checks every tensor equals it and a fresh model accepts it.
const char* kPyLoad = R"PY(
import os, torchvision
path, report = sys.argv[1], sys.argv[2]
sd = torch.load(path, weights_only=True)
assert type(sd) is collections.OrderedDict, type(sd)
flat = {}
flatten(sd, "", flat)
assert all(not t.requires_grad for t in sd.values())
if len(sys.argv) > 3:
    ref = torch.load(sys.argv[3])
    assert list(ref.keys()) == list(sd.keys())
    for k in ref:
        assert ref[k].dtype == sd[k].dtype and torch.equal(ref[k], sd[k]), k
    m = torchvision.models.resnet18(weights=None)
    m.load_state_dict(sd, strict=True)
with open(report, "w") as f:
    json.dump(flat, f)
)PY";

std::string sha_of(const TensorInfo& t) { return ckpt::test::sha256_hex(read_all(t)); }

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

class TorchInterop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_torch()) return;
    dir_ = new TempDir;
    std::string out;
    status_ = ckpt::test::run_python(std::string(kPyFlatten) + kPyMake, {dir_->path().string()}, &out);
    log_ = out;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static TempDir* dir_;
  static int status_;
  static std::string log_;
};
TempDir* TorchInterop::dir_ = nullptr;
int TorchInterop::status_ = -1;
std::string TorchInterop::log_;

TEST_F(TorchInterop, EveryTensorEqualsWhatTorchLoads) {
  SKIP_WITHOUT_TORCH();
  ASSERT_EQ(status_, 0) << log_;
  const auto manifest = read_json(dir_->file("manifest.json"));
  ASSERT_EQ(manifest.size(), 2u * (9 + 2));
  for (const auto& [path, want] : manifest.items()) {
    SCOPED_TRACE(path);
    const Checkpoint ck = pytorch::open(path);
    ASSERT_EQ(ck.tensors.size(), want.size());
    for (const auto& [name, w] : want.items()) {
      const TensorInfo* t = nullptr;
      for (const auto& c : ck.tensors)
        if (c.name == name) t = &c;
      ASSERT_NE(t, nullptr) << name;
      EXPECT_EQ(std::string(info(t->dtype).torch), w["dtype"].get<std::string>()) << name;
      EXPECT_EQ(t->shape, w["shape"].get<Shape>()) << name;
      EXPECT_EQ(sha_of(*t), w["sha256"].get<std::string>()) << name;
    }
    EXPECT_THAT(ck.format_detail, ::testing::HasSubstr(path.find("_legacy") != std::string::npos ? "legacy" : "zip"));
  }
}

TEST_F(TorchInterop, TensorOrderIsPickleOrder) {
  SKIP_WITHOUT_TORCH();
  ASSERT_EQ(status_, 0) << log_;
  // nlohmann::json sorts keys, so compare against the ordered manifest.
  std::ifstream in(dir_->file("manifest.json"));
  const auto manifest = nlohmann::ordered_json::parse(in);
  for (const auto& [path, want] : manifest.items()) {
    const Checkpoint ck = pytorch::open(path);
    std::vector<std::string> names, expected;
    for (const auto& t : ck.tensors) names.push_back(t.name);
    for (const auto& [name, w] : want.items()) expected.push_back(name);
    EXPECT_EQ(names, expected) << path;
  }
}

TEST_F(TorchInterop, SpecialTensorsAndTrainingCheckpoint) {
  SKIP_WITHOUT_TORCH();
  ASSERT_EQ(status_, 0) << log_;
  for (const char* fmt : {"zip", "legacy"}) {
    SCOPED_TRACE(fmt);
    const Checkpoint sp = pytorch::open(dir_->file(std::string("special_") + fmt + ".pt"));
    auto find_t = [&](const std::string& n) -> const TensorInfo& {
      for (const auto& t : sp.tensors)
        if (t.name == n) return t;
      throw std::runtime_error("no tensor " + n);
    };
    EXPECT_EQ(find_t("slice").layout_note, "shares storage with 'base', storage offset 2");
    EXPECT_EQ(find_t("transposed").layout_note, "shares storage with 'base', strided view");
    EXPECT_EQ(find_t("scalar").shape, Shape{});
    EXPECT_EQ(find_t("empty").shape, (Shape{0, 3}));
    EXPECT_EQ(find_t("tuple.1").dtype, DType::I32);

    const Checkpoint tr = pytorch::open(dir_->file(std::string("train_") + fmt + ".pt"));
    auto meta = [&](const std::string& k) {
      const MetaValue* v = find(tr.metadata, k);
      return v ? to_json(*v) : nlohmann::json("<missing>");
    };
    EXPECT_EQ(meta("epoch"), 7);
    EXPECT_EQ(meta("args.lr"), 0.001);
    EXPECT_EQ(meta("args.name"), "run-1");
    EXPECT_EQ(meta("args.betas"), nlohmann::json::parse("[0.9, 0.999]"));
    EXPECT_EQ(meta("args.resume"), nullptr);
    EXPECT_EQ(meta("args.amp"), false);
    EXPECT_EQ(meta("optimizer.param_groups.0.params"), nlohmann::json::parse("[0, 1, 2, 3]"));
    EXPECT_NE(find(tr.metadata, "optimizer.param_groups.0.amsgrad"), nullptr);
  }
}

TEST_F(TorchInterop, OurFilesLoadWithWeightsOnly) {
  SKIP_WITHOUT_TORCH();
  ASSERT_EQ(status_, 0) << log_;
  // Every dtype torch can store, in shapes torch handles specially.
  std::vector<TensorInfo> tensors;
  unsigned seed = 7;
  for (DType t : {DType::Bool, DType::U8, DType::I8, DType::I16, DType::I32, DType::I64, DType::F16, DType::BF16, DType::F32,
                  DType::F64, DType::C64, DType::C128})
    for (const Shape& s : {Shape{}, Shape{5}, Shape{2, 0, 3}, Shape{3, 1, 2, 4}}) {
      const unsigned k = seed++;
      tensors.push_back(ckpt::test::random_tensor(std::string(name(t)) + ".s" + std::to_string(s.size()) + "_" + std::to_string(k), t, s, k));
    }
  const std::string ours = dir_->file("ours.pt");
  WriteOptions opt;
  opt.sync = false;
  pytorch::write(ours, tensors, {}, opt);
  std::string out;
  ASSERT_EQ(ckpt::test::run_python(std::string(kPyFlatten) + kPyLoad, {ours, dir_->file("ours.json")}, &out), 0) << out;
  const auto report = read_json(dir_->file("ours.json"));
  ASSERT_EQ(report.size(), tensors.size());
  for (const auto& t : tensors) {
    SCOPED_TRACE(t.name);
    ASSERT_TRUE(report.contains(t.name));
    EXPECT_EQ(report[t.name]["dtype"].get<std::string>(), std::string(info(t.dtype).torch));
    EXPECT_EQ(report[t.name]["shape"].get<Shape>(), t.shape);
    EXPECT_EQ(report[t.name]["sha256"].get<std::string>(), sha_of(t));
  }
}

TEST_F(TorchInterop, RewrittenModelLoadsIntoAFreshModel) {
  SKIP_WITHOUT_TORCH();
  ASSERT_EQ(status_, 0) << log_;
  for (const char* src : {"resnet18_float32_zip.pt", "resnet18_bfloat16_legacy.pt"}) {
    SCOPED_TRACE(src);
    const Checkpoint ck = pytorch::open(dir_->file(src));
    const std::string ours = dir_->file("resnet_ours.pt");
    WriteOptions opt;
    opt.sync = false;
    pytorch::write(ours, ck.tensors, ck.metadata, opt);
    std::string out;
    ASSERT_EQ(ckpt::test::run_python(std::string(kPyFlatten) + kPyLoad, {ours, dir_->file("resnet_ours.json"), dir_->file(src)}, &out), 0)
        << out;
  }
}

}  // namespace
