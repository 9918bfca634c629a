// Module specs: both JSON forms, errors that name the parameter, specs from
// checkpoints, and the canonical JSON round trip.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <fstream>

#include "io/error.h"
#include "io/open.h"
#include "model/module_spec.h"
#include "tests/support/support.h"

using namespace ckpt;
using ::testing::HasSubstr;

namespace {

std::string error_of(const std::string& json) {
  try {
    (void)model::parse_spec(json, "spec.json");
  } catch (const io::Error& e) {
    return e.what();
  }
  return "(no error)";
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

}  // namespace

TEST(ModuleSpec, ParsesShortAndLongFormsInFileOrder) {
  const auto spec = model::parse_spec(R"({"parameters": {
      "layers.10.weight": {"shape": [64, 3, 3, 3], "dtype": "float32"},
      "layers.0.bias": [64],
      "scalar": [],
      "emb": {"shape": [10, 4]}}})",
                                      "s.json");
  EXPECT_EQ(spec.source, "s.json");
  ASSERT_EQ(spec.params.size(), 4u);
  EXPECT_EQ(spec.params[0].name, "layers.10.weight");  // file order, not sorted
  EXPECT_EQ(spec.params[0].shape, (io::Shape{64, 3, 3, 3}));
  EXPECT_EQ(spec.params[0].dtype, io::DType::F32);
  EXPECT_EQ(spec.params[1].name, "layers.0.bias");
  EXPECT_EQ(spec.params[1].shape, (io::Shape{64}));
  EXPECT_FALSE(spec.params[1].dtype);
  EXPECT_TRUE(spec.params[2].shape.empty());
  EXPECT_FALSE(spec.params[3].dtype);
}

TEST(ModuleSpec, HeaderFieldsAndTorchDtypeNames) {
  const auto spec = model::parse_spec(
      R"({"format": "ckpt-spec", "version": 1, "source": "mymodel.Model",
          "parameters": {"a": {"shape": [2], "dtype": "torch.bfloat16"}, "b": {"shape": [2], "dtype": "float16"}}})",
      "x.json");
  EXPECT_EQ(spec.source, "mymodel.Model");
  EXPECT_EQ(spec.params[0].dtype, io::DType::BF16);
  EXPECT_EQ(spec.params[1].dtype, io::DType::F16);
}

TEST(ModuleSpec, EmptySpec) {
  EXPECT_TRUE(model::parse_spec(R"({"parameters": {}})", "e.json").params.empty());
}

TEST(ModuleSpec, ErrorsNameTheParameter) {
  EXPECT_THAT(error_of(R"({"parameters": {"w": [3, -1]}})"), HasSubstr("spec.json: parameter 'w': dimension -1 is negative"));
  EXPECT_THAT(error_of(R"({"parameters": {"w": {"shape": [3], "dtype": "float33"}}})"),
              HasSubstr("parameter 'w': unknown dtype \"float33\""));
  EXPECT_THAT(error_of(R"({"parameters": {"w": [3], "v": [1], "w": [4]}})"), HasSubstr("parameter 'w' is listed twice"));
  EXPECT_THAT(error_of(R"({"parameters": {"w": {"dtype": "float32"}}})"), HasSubstr("parameter 'w' has no \"shape\""));
  EXPECT_THAT(error_of(R"({"parameters": {"w": [2.5]}})"), HasSubstr("parameter 'w': dimension 2.5 is not an integer"));
  EXPECT_THAT(error_of(R"({"parameters": {"w": "64"}})"), HasSubstr("parameter 'w': expected a shape array"));
  EXPECT_THAT(error_of(R"({"parameters": {"w": {"shape": [1], "dtyp": "f32"}}})"), HasSubstr("parameter 'w': unknown key \"dtyp\""));
  EXPECT_THAT(error_of(R"({"parameters": {"w": [1]})"), HasSubstr("spec.json: at byte"));
  EXPECT_THAT(error_of(R"({"parameters": {"w": [1]})"), HasSubstr("not valid JSON"));
  EXPECT_THAT(error_of(R"([1, 2])"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(error_of(R"({"params": {}})"), HasSubstr("needs a \"parameters\" object"));
  EXPECT_THAT(error_of(R"({"format": "other", "parameters": {}})"), HasSubstr("expected \"ckpt-spec\""));
  EXPECT_THAT(error_of(R"({"version": 2, "parameters": {}})"), HasSubstr("version 2 is not supported"));
}

TEST(ModuleSpec, DuplicateKeyInsideAParameterIsNotADuplicateParameter) {
  // Only names directly under "parameters" must be unique.
  const auto spec = model::parse_spec(R"({"parameters": {"a": {"shape": [1]}, "b": {"shape": [1]}}})", "s.json");
  EXPECT_EQ(spec.params.size(), 2u);
}

TEST(ModuleSpec, JsonRoundTrip) {
  model::ModuleSpec spec;
  spec.source = "model.pt";
  spec.params = {{"z.weight", {4, 3, 3, 3}, io::DType::F16}, {"a.bias", {4}, std::nullopt}, {"s", {}, io::DType::I64}};
  const auto text = model::to_json(spec);
  EXPECT_THAT(text, HasSubstr("\"format\": \"ckpt-spec\""));
  EXPECT_THAT(text, HasSubstr("\n    \"z.weight\": {\"shape\":[4,3,3,3],\"dtype\":\"float16\"},\n"));
  const auto back = model::parse_spec(text, "ignored.json");
  EXPECT_EQ(back.source, "model.pt");
  ASSERT_EQ(back.params.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(back.params[k].name, spec.params[k].name);
    EXPECT_EQ(back.params[k].shape, spec.params[k].shape);
    EXPECT_EQ(back.params[k].dtype, spec.params[k].dtype);
  }
  EXPECT_EQ(model::to_json(back), text);
}

TEST(ModuleSpec, FromCheckpointAndLoadSpec) {
  test::TempDir dir;
  std::vector<io::TensorInfo> t{test::random_tensor("conv.weight", io::DType::F16, {8, 3, 3, 3}, 1),
                                test::random_tensor("conv.bias", io::DType::F32, {8}, 2),
                                test::random_tensor("steps", io::DType::I64, {}, 3)};
  const auto st = dir.file("m.safetensors");
  io::write_checkpoint(st, io::Format::Safetensors, t, {}, {});
  const auto from_ck = model::load_spec(st);
  EXPECT_EQ(from_ck.source, st);
  ASSERT_EQ(from_ck.params.size(), 3u);
  // safetensors stores names sorted; the spec takes the checkpoint's own order.
  const auto ck = io::open_checkpoint(st);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(from_ck.params[k].name, ck.tensors[k].name);
    EXPECT_EQ(from_ck.params[k].shape, ck.tensors[k].shape);
    EXPECT_EQ(from_ck.params[k].dtype, ck.tensors[k].dtype);
  }

  const auto direct = model::spec_from_tensors(t, "mem");
  EXPECT_EQ(direct.params[0].name, "conv.weight");
  EXPECT_EQ(direct.params[0].dtype, io::DType::F16);

  // A JSON spec file, with and without the .json extension.
  const auto js = dir.file("spec.json");
  write_file(js, model::to_json(direct));
  EXPECT_EQ(model::load_spec(js).params.size(), 3u);
  const auto txt = dir.file("spec.txt");
  write_file(txt, R"({"parameters": {"w": [2, 2]}})");
  EXPECT_EQ(model::load_spec(txt).params[0].shape, (io::Shape{2, 2}));

  // A bad .json spec reports the spec error, not "unknown format".
  const auto bad = dir.file("bad.json");
  write_file(bad, R"({"parameters": {"w": [-2]}})");
  try {
    (void)model::load_spec(bad);
    FAIL() << "no error";
  } catch (const io::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("parameter 'w': dimension -2 is negative"));
  }
  EXPECT_THROW((void)model::load_spec(dir.file("absent.json")), io::Error);
}

TEST(ModuleSpec, ShardIndexIsACheckpointNotASpec) {
  test::TempDir dir;
  std::vector<io::TensorInfo> t{test::random_tensor("a", io::DType::F32, {64, 64}, 1),
                                test::random_tensor("b", io::DType::F32, {64, 64}, 2)};
  io::WriteOptions opt;
  opt.max_shard_bytes = 20000;
  const auto p = dir.file("model.safetensors");
  io::write_checkpoint(p, io::Format::Safetensors, t, {}, opt);
  const auto index = dir.file("model.safetensors.index.json");
  ASSERT_TRUE(std::filesystem::exists(index));
  const auto spec = model::load_spec(index);
  ASSERT_EQ(spec.params.size(), 2u);
  EXPECT_EQ(spec.params[0].shape, (io::Shape{64, 64}));
}
