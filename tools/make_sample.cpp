// Writes resources/sample.safetensors: a small, deterministic checkpoint shaped
// like a real model (a tiny transformer plus a conv stem with batch norm), in
// mixed dtypes, so the app has something real to open with no file given.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/formats/safetensors.h"
#include "tools/synthetic.h"

using ckpt::io::DType;
using ckpt::tools::synthetic_tensor;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: ckpt_make_sample OUT.safetensors\n");
    return 2;
  }
  const std::int64_t vocab = 128, hidden = 32, inter = 64;
  std::vector<ckpt::io::TensorInfo> t;
  std::uint64_t seed = 1;
  t.push_back(synthetic_tensor("model.embed_tokens.weight", DType::BF16, {vocab, hidden}, seed++, 0.02f));
  for (int layer = 0; layer < 3; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "o_proj"})
      t.push_back(synthetic_tensor(p + "self_attn." + proj + ".weight", DType::F16, {hidden, hidden}, seed++));
    t.push_back(synthetic_tensor(p + "mlp.gate_proj.weight", DType::F16, {inter, hidden}, seed++));
    t.push_back(synthetic_tensor(p + "mlp.up_proj.weight", DType::F16, {inter, hidden}, seed++));
    t.push_back(synthetic_tensor(p + "mlp.down_proj.weight", DType::F16, {hidden, inter}, seed++));
    t.push_back(synthetic_tensor(p + "input_layernorm.weight", DType::F32, {hidden}, seed++, 1.0f));
    t.push_back(synthetic_tensor(p + "post_attention_layernorm.weight", DType::F32, {hidden}, seed++, 1.0f));
  }
  t.push_back(synthetic_tensor("model.norm.weight", DType::F32, {hidden}, seed++, 1.0f));
  t.push_back(synthetic_tensor("vision.conv1.weight", DType::F32, {16, 3, 3, 3}, seed++, 0.1f));
  for (const char* s : {"weight", "bias", "running_mean", "running_var"})
    t.push_back(synthetic_tensor(std::string("vision.bn1.") + s, DType::F32, {16}, seed++, 1.0f));
  t.push_back(synthetic_tensor("vision.bn1.num_batches_tracked", DType::I64, {}, seed++));
  ckpt::io::Metadata meta{{"description", ckpt::io::MetaValue::string("Checkpoint Inspector sample: a tiny transformer and conv stem")},
                          {"generator", ckpt::io::MetaValue::string("tools/make_sample.cpp")}};
  try {
    ckpt::io::safetensors::write(argv[1], t, meta, {});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ckpt_make_sample: %s\n", e.what());
    return 2;
  }
  return 0;
}
