// The ckpt command line: info text and JSON, convert, and exit codes.
#include <gtest/gtest.h>
#include <gmock/gmock.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "io/open.h"
#include "tests/support/support.h"

using namespace ckpt;
using ::testing::HasSubstr;

namespace {

using Run = test::CliRun;
using test::ckpt_cli;

std::string write_sample(const test::TempDir& dir) {
  std::vector<io::TensorInfo> t{test::random_tensor("model.layers.0.weight", io::DType::F16, {4, 8}, 1),
                                test::random_tensor("model.layers.10.bias", io::DType::F32, {4}, 2),
                                test::random_tensor("scalar", io::DType::I64, {}, 3)};
  io::Metadata meta{{"note", io::MetaValue::string("hello")}};
  const std::string p = dir.file("s.safetensors");
  io::write_checkpoint(p, io::Format::Safetensors, t, meta, {});
  return p;
}

}  // namespace

TEST(Cli, InfoJsonIsStable) {
  test::TempDir dir;
  const auto p = write_sample(dir);
  const auto r = ckpt_cli("info --json '" + p + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["path"], p);
  EXPECT_EQ(j["format"], "safetensors");
  EXPECT_EQ(j["metadata"]["note"], "hello");
  EXPECT_EQ(j["metadata"]["format"], "pt");
  ASSERT_EQ(j["tensors"].size(), 3u);
  bool seen = false;
  for (const auto& t : j["tensors"]) {
    if (t["name"] != "model.layers.0.weight") continue;
    seen = true;
    EXPECT_EQ(t["dtype"], "float16");
    EXPECT_EQ(t["shape"], nlohmann::json::array({4, 8}));
    EXPECT_EQ(t["nbytes"], 64);
    EXPECT_TRUE(t.contains("offset"));
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(j["totals"]["tensors"], 3);
  EXPECT_EQ(j["totals"]["parameters"], 32 + 4 + 1);
  EXPECT_EQ(j["totals"]["nbytes"], 64 + 16 + 8);
}

TEST(Cli, InfoGgufJsonHasNeAndTypes) {
  test::TempDir dir;
  std::vector<io::TensorInfo> t{test::random_tensor("blk.0.attn_q.weight", io::DType::Q8_0, {2, 64}, 1)};
  io::Metadata meta{{"general.architecture", io::MetaValue::string("llama")},
                    {"llama.context_length", io::MetaValue::unsigned_int(io::MetaType::U32, 4096)}};
  const std::string p = dir.file("m.gguf");
  io::write_checkpoint(p, io::Format::Gguf, t, meta, {});
  const auto r = ckpt_cli("info --json '" + p + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "gguf");
  EXPECT_EQ(j["tensors"][0]["dtype"], "q8_0");
  EXPECT_EQ(j["tensors"][0]["shape"], nlohmann::json::array({2, 64}));
  EXPECT_EQ(j["tensors"][0]["ggml_ne"], nlohmann::json::array({64, 2}));
  EXPECT_EQ(j["tensors"][0]["ggml_type"], 8);
  EXPECT_EQ(j["metadata"]["llama.context_length"], 4096);
  EXPECT_EQ(j["metadata_types"]["llama.context_length"], "uint32");
}

// Names are written by hand, not by a JSON DOM: every kind of character
// must still come out exactly as nlohmann's dump writes it.
TEST(Cli, InfoJsonEscapesNamesLikeTheJsonLibrary) {
  test::TempDir dir;
  // Well-formed UTF-8 is copied as it is; everything at or past its edges
  // (overlong forms, surrogates, past U+10FFFF, cut short) is left to the
  // library, and both must agree.
  const std::vector<std::string> names{"plain.weight", "quote\"d", "back\\slash", "tab\there", "ctl\x01",
                                       "unicode.\xc3\xa9\xe2\x82\xac", "bad.\xff\xfe", "del\x7f",
                                       "arrow \xe2\x86\x92 note", "emoji.\xf0\x9f\x98\x80", "max.\xf4\x8f\xbf\xbf",
                                       "past.\xf4\x90\x80\x80", "overlong.\xc0\xaf", "overlong3.\xe0\x80\xaf",
                                       "surrogate.\xed\xa0\x80", "cut.\xe2\x86", "cut4.\xf0\x9f\x98", "lone.\x80",
                                       "c1.\xc2\x80", "last.\xef\xbf\xbf"};
  std::vector<io::TensorInfo> t;
  for (std::size_t k = 0; k < names.size(); ++k)
    t.push_back(test::random_tensor(names[k], io::DType::F32, {2}, static_cast<unsigned>(k + 1)));
  const std::string p = dir.file("names.gguf");  // GGUF names may be any bytes
  io::write_checkpoint(p, io::Format::Gguf, t, {}, {});
  const auto r = ckpt_cli("info --json '" + p + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  for (const auto& n : names) {
    const std::string want = "{\"name\":" + nlohmann::json(n).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + ",";
    EXPECT_NE(r.out.find(want), std::string::npos) << "missing " << want;
  }
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["tensors"].size(), names.size());
  EXPECT_EQ(j["tensors"][1]["name"], "quote\"d");
  EXPECT_EQ(j["tensors"][5]["name"], "unicode.\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(j["tensors"][6]["name"], "bad.\xef\xbf\xbd\xef\xbf\xbd");  // each invalid byte → U+FFFD
}

// Tensors are formatted in runs on all cores and written in order: the
// listing is the same byte for byte on one thread or several, across the
// runs' edges (2,048 tensors each) and with names that need escaping.
TEST(Cli, InfoJsonIsTheSameOnAnyNumberOfThreads) {
  test::TempDir dir;
  std::vector<io::TensorInfo> ts;
  for (int i = 0; i < 5000; ++i) {
    const std::string name = "t" + std::to_string(100000 + i) + (i % 7 == 0 ? ".q\"uote" : i % 11 == 0 ? ".\xff" : ".w");
    ts.push_back(test::random_tensor(name, io::DType::F32, {1 + i % 3}, 1u + static_cast<unsigned>(i)));
  }
  const std::string p = dir.file("runs.gguf");  // GGUF keeps the tensors in the order given
  io::write_checkpoint(p, io::Format::Gguf, ts, {}, {});
  const auto one = ckpt_cli("info --json '" + p + "'", dir, "CKPT_THREADS=1 ");
  const auto three = ckpt_cli("info --json '" + p + "'", dir, "CKPT_THREADS=3 ");
  ASSERT_EQ(one.code, 0) << one.err;
  ASSERT_EQ(three.code, 0) << three.err;
  EXPECT_EQ(one.out, three.out);
  const auto j = nlohmann::json::parse(three.out);
  ASSERT_EQ(j["tensors"].size(), 5000u);
  for (int i : {0, 2047, 2048, 4095, 4096, 4999}) {
    EXPECT_EQ(j["tensors"][i]["name"].get<std::string>().substr(0, 7), "t" + std::to_string(100000 + i));
    EXPECT_EQ(j["tensors"][i]["shape"], nlohmann::json::array({1 + i % 3}));
  }
  EXPECT_EQ(j["totals"]["tensors"], 5000);
}

TEST(Cli, InfoText) {
  test::TempDir dir;
  const auto p = write_sample(dir);
  const auto r = ckpt_cli("info '" + p + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("format:     safetensors"));
  EXPECT_THAT(r.out, HasSubstr("tensors:    3"));
  EXPECT_THAT(r.out, HasSubstr("model.layers.0.weight"));
  EXPECT_THAT(r.out, HasSubstr("[4, 8]"));
  EXPECT_THAT(r.out, HasSubstr("note: hello"));
}

TEST(Cli, ConvertAndVerify) {
  test::TempDir dir;
  const auto p = write_sample(dir);
  const std::string out = dir.file("out.gguf");
  auto r = ckpt_cli("convert '" + p + "' '" + out + "' --verify", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("verified"));
  const auto ck = io::open_checkpoint(out);
  EXPECT_EQ(ck.tensors.size(), 3u);
  r = ckpt_cli("convert '" + out + "' '" + dir.file("half.npz") + "' --dtype float16 --compress", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  for (const auto& t : io::open_checkpoint(dir.file("half.npz")).tensors)
    if (t.name != "scalar") { EXPECT_EQ(t.dtype, io::DType::F16) << t.name; }
}

TEST(Cli, ErrorsExitTwoWithAMessage) {
  test::TempDir dir;
  auto r = ckpt_cli("info '" + dir.file("missing.safetensors") + "'", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot open the file"));
  {
    std::FILE* f = std::fopen(dir.file("junk.bin").c_str(), "wb");
    std::fputs("this is not a checkpoint", f);
    std::fclose(f);
  }
  r = ckpt_cli("info '" + dir.file("junk.dat") + "'", dir);
  EXPECT_EQ(r.code, 2);
  std::filesystem::copy_file(dir.file("junk.bin"), dir.file("junk.dat"));
  r = ckpt_cli("info '" + dir.file("junk.dat") + "'", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("supported formats are .npy, .npz, .safetensors"));
  const auto p = write_sample(dir);
  r = ckpt_cli("convert '" + p + "' '" + dir.file("x.npz") + "' --dtype int4", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--dtype must be float16, bfloat16, float32 or float64"));
  r = ckpt_cli("convert '" + p + "' '" + dir.file("x.unknown") + "'", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot tell the output format"));
  r = ckpt_cli("frobnicate", dir);
  EXPECT_EQ(r.code, 2);
  // A truncated file: an error, never a signal.
  std::filesystem::copy_file(p, dir.file("cut.safetensors"));
  std::filesystem::resize_file(dir.file("cut.safetensors"), std::filesystem::file_size(p) - 5);
  r = ckpt_cli("info '" + dir.file("cut.safetensors") + "'", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(r.err.empty());
}

TEST(Cli, PyTorchTrainingCheckpointWithRoot) {
  const auto fx = test::fixtures_dir();
  if (!fx) GTEST_SKIP() << "shared fixtures not found at ../shared/fixtures";
  test::TempDir dir;
  const std::string pt = (*fx / "torch" / "train_checkpoint_nested.pt").string();
  auto r = ckpt_cli("info --json --root model '" + pt + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "pytorch");
  ASSERT_EQ(j["tensors"].size(), 9u);  // the model's 9 tensors, not the optimizer's 6
  EXPECT_EQ(j["tensors"][0]["name"], "features.0.weight");
  EXPECT_EQ(j["tensors"][6]["name"], "features.1.num_batches_tracked");
  EXPECT_EQ(j["tensors"][8]["name"], "head.bias");
  // The weights alone, to safetensors and back to .pt.
  const std::string st = dir.file("model.safetensors");
  r = ckpt_cli("convert --root model '" + pt + "' '" + st + "' --verify", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string back = dir.file("back.pt");
  r = ckpt_cli("convert '" + st + "' '" + back + "' --verify", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(io::open_checkpoint(back).tensors.size(), io::open_checkpoint(pt, {"model"}).tensors.size());
}

TEST(Cli, SampleCheckpointOpens) {
  const std::string sample = std::string(CKPT_SOURCE_DIR) + "/resources/sample.safetensors";
  ASSERT_TRUE(std::filesystem::exists(sample));
  test::TempDir dir;
  const auto r = ckpt_cli("info --json '" + sample + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["totals"]["tensors"].get<int>(), 20);
}

TEST(Cli, ConvertJsonAndGgufToMlxQuantized) {
  test::TempDir dir;
  // One Q8_0 tensor (2 rows of 64) and one float tensor.
  std::vector<io::TensorInfo> t{test::random_tensor("blk.0.ffn.weight", io::DType::Q8_0, {2, 64}, 1),
                                test::random_tensor("norm.weight", io::DType::F32, {8}, 2)};
  // random bytes may hold NaN/Inf scales; give every block a small finite scale.
  auto bytes = io::read_all(t[0]);
  for (std::size_t b = 0; b < bytes.size(); b += 34) {
    bytes[b] = std::byte{0x00};
    bytes[b + 1] = std::byte{0x2C};  // float16 0.0625
  }
  t[0] = test::memory_tensor("blk.0.ffn.weight", io::DType::Q8_0, {2, 64}, bytes);
  const std::string g = dir.file("q.gguf");
  io::write_checkpoint(g, io::Format::Gguf, t, {}, {});
  const std::string out = dir.file("mlx.safetensors");
  const auto r = ckpt_cli("convert --json --mlx-quantized '" + g + "' '" + out + "' --verify", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tensors"], 4);
  EXPECT_EQ(j["verified"], true);
  EXPECT_THAT(j["notes"][0].get<std::string>(), HasSubstr("1 GGUF tensors became MLX quantized triples (group size 32, 8 bits)"));
  const auto ck = io::open_checkpoint(out);
  std::map<std::string, io::TensorInfo> by;
  for (const auto& x : ck.tensors) by[x.name] = x;
  ASSERT_TRUE(by.count("blk.0.ffn.weight") && by.count("blk.0.ffn.scales") && by.count("blk.0.ffn.biases"));
  EXPECT_EQ(by["blk.0.ffn.weight"].dtype, io::DType::U32);
  EXPECT_EQ(by["blk.0.ffn.weight"].shape, (io::Shape{2, 16}));
  EXPECT_EQ(by["blk.0.ffn.scales"].dtype, io::DType::F16);
  EXPECT_EQ(by["blk.0.ffn.scales"].shape, (io::Shape{2, 2}));
}

// ckpt ends without tearing down what it opened (app/cli_exit.h): whatever
// it printed must still arrive whole, with the right exit code, including
// output far larger than stdio's buffer and the summary after a convert.
TEST(Cli, OutputArrivesWholeWhenTheProcessEndsWithoutTeardown) {
  test::TempDir dir;
  std::vector<io::TensorInfo> ts;
  for (int i = 0; i < 3000; ++i)
    ts.push_back(test::random_tensor("model.layers." + std::to_string(i) + ".weight", io::DType::F32, {3}, 1u + static_cast<unsigned>(i)));
  const std::string p = dir.file("many.safetensors");
  io::write_checkpoint(p, io::Format::Safetensors, ts, {}, {});
  const auto r = ckpt_cli("info --json '" + p + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_GT(r.out.size(), std::size_t{200000});
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tensors"].size(), 3000u);
  EXPECT_EQ(j["tensors"][2999]["name"], "model.layers.999.weight");  // sorted by name, the last one
  const auto c = ckpt_cli("convert --json --no-sync '" + p + "' '" + dir.file("many.gguf") + "'", dir);
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(nlohmann::json::parse(c.out)["tensors"], 3000);
  const auto e = ckpt_cli("info '" + dir.file("missing.gguf") + "'", dir);
  EXPECT_EQ(e.code, 2);
  EXPECT_THAT(e.err, HasSubstr("missing.gguf"));
}

// Asked for huge pages, ckpt starts itself once more with glibc's huge-page
// heap (app/cli_heap.h): whatever the environment, a command runs once,
// prints once, and keeps the exit code; GLIBC_TUNABLES the user set survives.
TEST(Cli, RunsOnceWhateverTheHeapEnvironment) {
  test::TempDir dir;
  const auto p = write_sample(dir);
  for (const std::string env : {"", "CKPT_HUGE_PAGES=0 ", "CKPT_HUGE_PAGES=1 ",
                                "CKPT_HUGE_PAGES=1 GLIBC_TUNABLES=glibc.malloc.check=0 ",
                                "CKPT_HUGE_PAGES=1 GLIBC_TUNABLES=glibc.malloc.hugetlb=0 ",
                                "CKPT_HUGE_PAGES=1 CKPT_HEAP_RESTARTED=1 "}) {
    SCOPED_TRACE(env);
    const auto r = ckpt_cli("info --json '" + p + "'", dir, env);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["tensors"].size(), 3u);  // parses: printed exactly once
    const auto e = ckpt_cli("info '" + dir.file("nope.gguf") + "'", dir, env);
    EXPECT_EQ(e.code, 2);
    EXPECT_EQ(std::count(e.err.begin(), e.err.end(), '\n'), 1) << e.err;
  }
}
