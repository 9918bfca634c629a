// Cross-format conversion: every format converted to every other keeps every
// value; dtype casts round like NumPy; refusals name the tensor and a fix.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <unistd.h>

#include "io/convert.h"
#include "io/error.h"
#include "io/float_convert.h"
#include "io/open.h"
#include "tests/support/support.h"

using namespace ckpt;
using ckpt::test::random_tensor;
using ::testing::HasSubstr;

namespace {

const io::Format kFormats[] = {io::Format::Npz, io::Format::Safetensors, io::Format::Gguf, io::Format::PyTorch};
const char* ext(io::Format f) {
  switch (f) {
    case io::Format::Npy: return ".npy";
    case io::Format::Npz: return ".npz";
    case io::Format::Safetensors: return ".safetensors";
    case io::Format::Gguf: return ".gguf";
    case io::Format::PyTorch: return ".pt";
    default: return ".bin";
  }
}

// Tensors every multi-tensor format can hold.
std::vector<io::TensorInfo> common_tensors() {
  std::vector<io::TensorInfo> t;
  t.push_back(random_tensor("embed.weight", io::DType::F32, {16, 8}, 1));
  t.push_back(random_tensor("layers.0.attn.q.weight", io::DType::F16, {8, 8}, 2));
  t.push_back(random_tensor("layers.0.attn.k.weight", io::DType::BF16, {8, 8}, 3));
  t.push_back(random_tensor("layers.0.norm.weight", io::DType::F64, {8}, 4));
  t.push_back(random_tensor("layers.1.idx", io::DType::I32, {2, 3, 4, 5}, 5));
  t.push_back(random_tensor("layers.1.small", io::DType::I8, {7}, 6));
  t.push_back(random_tensor("layers.1.wide", io::DType::I64, {3}, 7));
  t.push_back(random_tensor("layers.1.half", io::DType::I16, {4, 2}, 8));
  t.push_back(random_tensor("big", io::DType::F32, {1000, 1000}, 9));
  return t;
}

void expect_same_tensors(const std::vector<io::TensorInfo>& want, const io::Checkpoint& got, const std::string& what) {
  ASSERT_EQ(got.tensors.size(), want.size()) << what;
  for (const auto& w : want) {
    auto it = std::find_if(got.tensors.begin(), got.tensors.end(), [&](const io::TensorInfo& g) { return g.name == w.name; });
    ASSERT_NE(it, got.tensors.end()) << what << ": " << w.name;
    EXPECT_EQ(it->dtype, w.dtype) << what << ": " << w.name;
    EXPECT_EQ(it->shape, w.shape) << what << ": " << w.name;
    EXPECT_TRUE(io::read_all(*it) == io::read_all(w)) << what << ": values of " << w.name;
  }
}

}  // namespace

TEST(Convert, EveryFormatToEveryOther) {
  test::TempDir dir;
  const auto tensors = common_tensors();
  for (auto a : kFormats) {
    const std::string pa = dir.file(std::string("a") + ext(a));
    io::write_checkpoint(pa, a, tensors, {}, {});
    const auto ca = io::open_checkpoint(pa);
    expect_same_tensors(tensors, ca, std::string("write ") + io::format_name(a));
    for (auto b : kFormats) {
      for (bool compress : {false, true}) {
        if (compress && b != io::Format::Npz) continue;
        io::WriteOptions opt;
        opt.compress = compress;
        const std::string pb = dir.file(std::string("b_") + io::format_name(a) + (compress ? "_z" : "") + ext(b));
        io::convert(ca, pb, b, std::nullopt, opt);
        const auto cb = io::open_checkpoint(pb);
        expect_same_tensors(tensors, cb, std::string(io::format_name(a)) + " -> " + io::format_name(b));
        EXPECT_TRUE(io::verify_written(io::prepare_tensors(ca, b, std::nullopt), cb).empty());
      }
    }
  }
}

TEST(Convert, NpyToAndFromEveryFormat) {
  test::TempDir dir;
  const auto t = random_tensor("", io::DType::F32, {3, 4, 5}, 11);
  const std::string npy = dir.file("x.npy");
  io::write_checkpoint(npy, io::Format::Npy, std::vector{t}, {}, {});
  const auto c = io::open_checkpoint(npy);
  for (auto b : kFormats) {
    const std::string out = dir.file(std::string("x") + ext(b));
    io::convert(c, out, b, std::nullopt, {});
    const auto cb = io::open_checkpoint(out);
    ASSERT_EQ(cb.tensors.size(), 1u);
    EXPECT_EQ(io::read_all(cb.tensors[0]), io::read_all(t)) << io::format_name(b);
    const std::string back = dir.file(std::string("back_") + io::format_name(b) + ".npy");
    io::convert(cb, back, io::Format::Npy, std::nullopt, {});
    EXPECT_EQ(io::read_all(io::open_checkpoint(back).tensors[0]), io::read_all(t)) << io::format_name(b);
  }
}

TEST(Convert, CastToHalfRoundsLikeNumPy) {
  if (!test::have_python_numpy()) GTEST_SKIP() << "Debian python3-numpy is not installed (/usr/bin/python3 cannot import numpy)";
  test::TempDir dir;
  // float32 and float64 sources with values near half/bfloat16 rounding ties.
  std::vector<float> f32;
  std::vector<double> f64;
  for (int k = 0; k < 20000; ++k) {
    const double v = std::ldexp(1.0 + k / 20000.0, (k % 40) - 20) * ((k & 1) ? -1 : 1);
    f32.push_back(static_cast<float>(v) + static_cast<float>(k % 3) * 1e-7f);
    f64.push_back(v + (k % 5) * 1e-12);
  }
  f64.push_back(1.0 + 1.0 / 2048 + 1e-15);  // just above a float16 tie: float32 alone would round it to the tie
  std::vector<std::byte> b32(f32.size() * 4), b64(f64.size() * 8);
  std::memcpy(b32.data(), f32.data(), b32.size());
  std::memcpy(b64.data(), f64.data(), b64.size());
  std::vector<io::TensorInfo> src{test::memory_tensor("a", io::DType::F32, {static_cast<std::int64_t>(f32.size())}, b32),
                                  test::memory_tensor("b", io::DType::F64, {static_cast<std::int64_t>(f64.size())}, b64)};
  const std::string in = dir.file("in.npz");
  io::write_checkpoint(in, io::Format::Npz, src, {}, {});
  const auto ck = io::open_checkpoint(in);
  const std::string out = dir.file("out.npz");
  io::convert(ck, out, io::Format::Npz, io::DType::F16, {});
  std::string msg;
  const int rc = test::run_python(
      "import numpy as np, sys\n"
      "a = np.load(sys.argv[1]); b = np.load(sys.argv[2])\n"
      "for k in ('a', 'b'):\n"
      "    want = a[k].astype(np.float16)\n"
      "    got = b[k]\n"
      "    assert got.dtype == np.float16, got.dtype\n"
      "    bad = np.nonzero(want.view(np.uint16) != got.view(np.uint16))[0]\n"
      "    assert len(bad) == 0, (k, bad[:5], a[k][bad[:5]], want[bad[:5]], got[bad[:5]])\n"
      "print('ok')\n",
      {in, out}, &msg);
  EXPECT_EQ(rc, 0) << msg;
}

TEST(Convert, CastFloatsOnlyAndDequantize) {
  test::TempDir dir;
  std::vector<io::TensorInfo> src{random_tensor("w", io::DType::F32, {4, 32}, 1), random_tensor("ids", io::DType::I32, {5}, 2)};
  // A Q8_0 tensor: 2 blocks of (f16 scale 0.5, int8 values k - 16).
  std::vector<std::byte> q(68);
  for (int blk = 0; blk < 2; ++blk) {
    const std::uint16_t d = io::f32_to_f16(0.5f);
    std::memcpy(q.data() + 34 * blk, &d, 2);
    for (int k = 0; k < 32; ++k) q[static_cast<std::size_t>(34 * blk + 2 + k)] = std::byte(static_cast<std::uint8_t>(k - 16));
  }
  src.push_back(test::memory_tensor("q", io::DType::Q8_0, {2, 32}, q));
  const std::string g = dir.file("in.gguf");
  io::write_checkpoint(g, io::Format::Gguf, src, {}, {});
  const auto ck = io::open_checkpoint(g);
  const std::string out = dir.file("out.safetensors");
  io::convert(ck, out, io::Format::Safetensors, io::DType::F32, {});
  const auto got = io::open_checkpoint(out);
  for (const auto& t : got.tensors) {
    if (t.name == "ids") {
      EXPECT_EQ(t.dtype, io::DType::I32);
    } else {
      EXPECT_EQ(t.dtype, io::DType::F32) << t.name;
    }
  }
  auto it = std::find_if(got.tensors.begin(), got.tensors.end(), [](const io::TensorInfo& t) { return t.name == "q"; });
  ASSERT_NE(it, got.tensors.end());
  EXPECT_EQ(it->shape, (io::Shape{2, 32}));
  const auto bytes = io::read_all(*it);
  for (int k = 0; k < 64; ++k) {
    float v;
    std::memcpy(&v, bytes.data() + 4 * k, 4);
    EXPECT_EQ(v, 0.5f * static_cast<float>((k % 32) - 16)) << k;
  }
}

TEST(Convert, RefusalsNameTheTensorAndAFix) {
  test::TempDir dir;
  std::vector<io::TensorInfo> src{random_tensor("mask", io::DType::Bool, {4}, 1)};
  const std::string in = dir.file("in.safetensors");
  io::write_checkpoint(in, io::Format::Safetensors, src, {}, {});
  const auto ck = io::open_checkpoint(in);
  try {
    io::convert(ck, dir.file("out.gguf"), io::Format::Gguf, std::nullopt, {});
    FAIL() << "expected an error";
  } catch (const io::Error& e) {
    EXPECT_THAT(e.sentence(), HasSubstr("tensor 'mask' has dtype bool, which .gguf cannot store"));
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("out.gguf")));
  std::vector<io::TensorInfo> q{random_tensor("q", io::DType::Q4_K, {1, 256}, 1)};
  const std::string g = dir.file("q.gguf");
  io::write_checkpoint(g, io::Format::Gguf, q, {}, {});
  try {
    io::convert(io::open_checkpoint(g), dir.file("q.safetensors"), io::Format::Safetensors, std::nullopt, {});
    FAIL() << "expected an error";
  } catch (const io::Error& e) {
    EXPECT_THAT(e.sentence(), HasSubstr("tensor 'q' has dtype q4_k, which .safetensors cannot store; pass --dtype"));
  }
  // Several tensors into one .npy is refused before anything is written.
  std::vector<io::TensorInfo> two{random_tensor("a", io::DType::F32, {2}, 1), random_tensor("b", io::DType::F32, {2}, 2)};
  io::write_checkpoint(dir.file("two.npz"), io::Format::Npz, two, {}, {});
  try {
    io::convert(io::open_checkpoint(dir.file("two.npz")), dir.file("two.npy"), io::Format::Npy, std::nullopt, {});
    FAIL() << "expected an error";
  } catch (const io::Error& e) {
    EXPECT_THAT(e.sentence(), HasSubstr("a .npy file holds exactly one array"));
  }
}

// Nothing to cast: the source's records are written as they are, not
// copied; with a cast, copies, and the same checks either way.
TEST(Convert, TensorsToWriteCopyOnlyWhatIsCast) {
  test::TempDir dir;
  std::vector<io::TensorInfo> src{random_tensor("w", io::DType::F32, {3, 2}, 1), random_tensor("i", io::DType::I32, {4}, 2)};
  const std::string in = dir.file("in.safetensors");
  io::write_checkpoint(in, io::Format::Safetensors, src, {}, {});
  const auto ck = io::open_checkpoint(in);
  std::vector<io::TensorInfo> copies;
  const auto same = io::tensors_to_write(ck, io::Format::Npz, std::nullopt, copies);
  EXPECT_EQ(same.data(), ck.tensors.data());
  EXPECT_EQ(same.size(), 2u);
  EXPECT_TRUE(copies.empty());
  const auto f32 = io::tensors_to_write(ck, io::Format::Npz, io::DType::F32, copies);  // already float32
  EXPECT_EQ(f32.data(), ck.tensors.data());
  const auto half = io::tensors_to_write(ck, io::Format::Npz, io::DType::F16, copies);
  ASSERT_EQ(half.size(), 2u);
  EXPECT_EQ(half.data(), copies.data());
  EXPECT_EQ(half[0].dtype, io::DType::F16);
  EXPECT_EQ(half[1].dtype, io::DType::I32);  // integers are never cast
  const auto expected = io::prepare_tensors(ck, io::Format::Npz, io::DType::F16);
  for (std::size_t k = 0; k < expected.size(); ++k) {
    EXPECT_EQ(half[k].name, expected[k].name);
    EXPECT_EQ(half[k].shape, expected[k].shape);
    EXPECT_EQ(io::read_all(half[k]), io::read_all(expected[k]));
  }
  std::vector<io::TensorInfo> none;
  try {
    (void)io::tensors_to_write(ck, io::Format::Npy, std::nullopt, none);
    FAIL() << "expected an error";
  } catch (const io::Error& e) {
    EXPECT_THAT(e.sentence(), HasSubstr("a .npy file holds exactly one array but the checkpoint has 2 tensors"));
  }
}

TEST(Convert, RefusesToOverwriteItsInput) {
  test::TempDir dir;
  std::vector<io::TensorInfo> src{random_tensor("w", io::DType::F32, {64}, 1)};
  const std::string p = dir.file("w.safetensors");
  io::write_checkpoint(p, io::Format::Safetensors, src, {}, {});
  std::ifstream before(p, std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(before)), {});
  const auto ck = io::open_checkpoint(p);
  try {
    io::convert(ck, p, io::Format::Safetensors, io::DType::F16, {});
    FAIL() << "expected an error";
  } catch (const io::Error& e) {
    EXPECT_THAT(e.sentence(), HasSubstr("refusing to write over"));
  }
  std::ifstream after(p, std::ios::binary);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(after)), {}), original);
}

TEST(Convert, MetadataCarriesAcrossFormats) {
  test::TempDir dir;
  std::vector<io::TensorInfo> src{random_tensor("w", io::DType::F32, {32}, 1)};
  io::Metadata meta{{"general.architecture", io::MetaValue::string("llama")},
                    {"llama.block_count", io::MetaValue::unsigned_int(io::MetaType::U32, 32)},
                    {"tokenizer.ggml.tokens", io::MetaValue::array(io::MetaType::String, {io::MetaValue::string("a"), io::MetaValue::string("b")})}};
  const std::string g = dir.file("m.gguf");
  io::write_checkpoint(g, io::Format::Gguf, src, meta, {});
  const auto ck = io::open_checkpoint(g);
  const std::string s = dir.file("m.safetensors");
  const auto r = io::convert(ck, s, io::Format::Safetensors, std::nullopt, {});
  EXPECT_FALSE(r.notes.empty());
  const auto st = io::open_checkpoint(s);
  ASSERT_NE(io::find(st.metadata, "llama.block_count"), nullptr);
  EXPECT_EQ(io::find(st.metadata, "llama.block_count")->s, "32");
  EXPECT_EQ(io::find(st.metadata, "tokenizer.ggml.tokens")->s, R"(["a","b"])");
  // GGUF → GGUF keeps the types.
  const std::string g2 = dir.file("m2.gguf");
  io::convert(ck, g2, io::Format::Gguf, std::nullopt, {});
  const auto back = io::open_checkpoint(g2);
  ASSERT_NE(io::find(back.metadata, "llama.block_count"), nullptr);
  EXPECT_EQ(io::find(back.metadata, "llama.block_count")->type, io::MetaType::U32);
  EXPECT_EQ(*io::find(back.metadata, "tokenizer.ggml.tokens"), meta[2].value);
}

TEST(Convert, KernelCopyAcrossFilesystemsAndOffsets) {
  // Same-dtype conversions copy file ranges in the kernel; across
  // filesystems (tmpfs → the temp folder) the copy falls back to buffers.
  test::TempDir dir;
  std::vector<std::string> sources{dir.file("src.safetensors")};
  if (std::filesystem::is_directory("/dev/shm")) sources.push_back("/dev/shm/ckpt-test-src-" + std::to_string(::getpid()) + ".safetensors");
  std::vector<io::TensorInfo> src{random_tensor("a", io::DType::F32, {3, 1000}, 1), random_tensor("b", io::DType::F16, {7}, 2),
                                  random_tensor("c", io::DType::F64, {400, 400}, 3)};
  for (const auto& s : sources) {
    io::write_checkpoint(s, io::Format::Safetensors, src, {}, {});
    const auto ck = io::open_checkpoint(s);
    ASSERT_TRUE(ck.tensors[0].data->file_range().has_value());
    for (auto target : {io::Format::Gguf, io::Format::Safetensors, io::Format::Npz}) {
      const std::string out = dir.file(std::string("out") + ext(target));
      io::convert(ck, out, target, std::nullopt, {});
      expect_same_tensors(src, io::open_checkpoint(out), s + " -> " + io::format_name(target));
    }
    // NumPy's zipfile checks each member's CRC-32 as it reads it to the end.
    if (test::have_python_numpy()) {
      std::string msg;
      EXPECT_EQ(test::run_python("import numpy as np, sys\n"
                                 "z = np.load(sys.argv[1])\n"
                                 "assert z['a'].shape == (3, 1000) and z['c'].shape == (400, 400)\n"
                                 "assert abs(float(z['a'].astype(np.float64).sum())) < 1e9\n",
                                 {dir.file("out.npz")}, &msg),
                0)
          << msg;
    }
    if (s.rfind("/dev/shm/", 0) == 0) std::filesystem::remove(s);
  }
}

TEST(Open, RootSelectsASubtree) {
  test::TempDir dir;
  std::vector<io::TensorInfo> src{random_tensor("model.layers.0.w", io::DType::F32, {2}, 1),
                                  random_tensor("model.head", io::DType::F32, {3}, 2),
                                  random_tensor("optimizer.state.0.exp_avg", io::DType::F32, {2}, 3)};
  io::Metadata meta{{"model.note", io::MetaValue::string("kept")}, {"epoch", io::MetaValue::string("3")}};
  const std::string p = dir.file("ck.safetensors");
  io::write_checkpoint(p, io::Format::Safetensors, src, meta, {});
  const auto ck = io::open_checkpoint(p, {"model"});
  ASSERT_EQ(ck.tensors.size(), 2u);
  EXPECT_EQ(ck.tensors[0].name == "layers.0.w" || ck.tensors[1].name == "layers.0.w", true);
  ASSERT_EQ(ck.metadata.size(), 1u);
  EXPECT_EQ(ck.metadata[0].key, "note");
  EXPECT_EQ(io::read_all(*std::find_if(ck.tensors.begin(), ck.tensors.end(), [](const auto& t) { return t.name == "head"; })),
            io::read_all(src[1]));
  try {
    (void)io::open_checkpoint(p, {"modle"});
    FAIL() << "expected an error";
  } catch (const io::Error& e) {
    EXPECT_THAT(e.sentence(), HasSubstr("no tensor lies under 'modle'; the top-level names are"));
    EXPECT_THAT(e.sentence(), HasSubstr("'model'"));
    EXPECT_THAT(e.sentence(), HasSubstr("'optimizer'"));
  }
}
