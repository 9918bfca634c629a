// ckpt checksum: the same CRC-32 per tensor in every format, equal to
// Python's zlib.crc32 of the array's bytes, and whatever the thread count.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <map>
#include <nlohmann/json.hpp>

#include "io/open.h"
#include "tests/support/support.h"

using namespace ckpt;
using ::testing::HasSubstr;

namespace {

using test::ckpt_cli;

std::vector<io::TensorInfo> model_tensors() {
  std::vector<io::TensorInfo> t;
  // 9 MiB + 4 bytes: more than one 8 MiB piece, so the pieces are combined.
  t.push_back(test::random_tensor("big", io::DType::F32, {(9 << 18) + 1}, 1));
  t.push_back(test::random_tensor("half", io::DType::F16, {3, 5}, 2));
  t.push_back(test::random_tensor("empty", io::DType::F32, {0, 4}, 3));
  t.push_back(test::random_tensor("ints", io::DType::I64, {7}, 4));
  return t;
}

std::map<std::string, std::string> crcs_of(const std::string& json_text) {
  std::map<std::string, std::string> m;
  for (const auto& o : nlohmann::json::parse(json_text)) m[o["name"].get<std::string>()] = o["crc32"].get<std::string>();
  return m;
}

}  // namespace

TEST(CliChecksum, SameInEveryFormatAndThreadCount) {
  test::TempDir dir;
  const auto tensors = model_tensors();
  io::WriteOptions wo;
  wo.sync = false;
  std::map<std::string, std::string> first;
  for (const char* ext : {"safetensors", "gguf", "npz", "pt"}) {
    const std::string p = dir.file(std::string("m.") + ext);
    io::WriteOptions o = wo;
    o.compress = std::string(ext) == "npz";
    io::write_checkpoint(p, *io::format_from_extension(p), tensors, {}, o);
    for (const char* threads : {"1", "2", "5"}) {
      const auto r = ckpt_cli(std::string("checksum --json --threads ") + threads + " '" + p + "'", dir);
      ASSERT_EQ(r.code, 0) << ext << ": " << r.err;
      const auto m = crcs_of(r.out);
      ASSERT_EQ(m.size(), tensors.size()) << ext;
      if (first.empty()) first = m;
      EXPECT_EQ(m, first) << ext << " with " << threads << " threads";
    }
  }
  EXPECT_EQ(first["empty"], "00000000");
}

TEST(CliChecksum, TextOutputAndNamedTensors) {
  test::TempDir dir;
  const std::string p = dir.file("m.safetensors");
  io::WriteOptions wo;
  wo.sync = false;
  io::write_checkpoint(p, io::Format::Safetensors, model_tensors(), {}, wo);
  const auto r = ckpt_cli("checksum '" + p + "' half ints", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::MatchesRegex("[0-9a-f]{8}  half\n[0-9a-f]{8}  ints\n"));
  const auto bad = ckpt_cli("checksum '" + p + "' hlaf", dir);
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, HasSubstr("no tensor named 'hlaf'; did you mean half?"));
}

TEST(CliChecksum, AgreesWithPythonZlib) {
  if (!test::have_python_numpy()) GTEST_SKIP() << "Debian's python3-numpy is not installed (/usr/bin/python3 -c 'import numpy')";
  test::TempDir dir;
  const std::string p = dir.file("m.npz");
  io::WriteOptions wo;
  wo.sync = false;
  io::write_checkpoint(p, io::Format::Npz, model_tensors(), {}, wo);
  std::string py;
  ASSERT_EQ(test::run_python("import sys, zlib, numpy as np\n"
                             "z = np.load(sys.argv[1])\n"
                             "for k in z.files: print('%08x  %s' % (zlib.crc32(np.ascontiguousarray(z[k]).tobytes()), k))\n",
                             {p}, &py),
            0);
  const auto r = ckpt_cli("checksum '" + p + "'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, py);
}
