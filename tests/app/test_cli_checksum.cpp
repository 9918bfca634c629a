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

// Small tensors are checked many at a time on all cores: the lines come out
// in the checkpoint's order whatever the thread count, and a corrupt one
// among them is reported in its place (the others still checked) with exit
// code 2.
TEST(CliChecksum, ManySmallTensorsInOrderWithACorruptOne) {
  test::TempDir dir;
  std::vector<io::TensorInfo> ts;
  for (int i = 0; i < 3000; ++i)
    ts.push_back(test::random_tensor("t" + std::to_string(10000 + i), io::DType::F32, {2 + i % 5}, 1u + static_cast<unsigned>(i)));
  const std::string p = dir.file("many.npz");
  io::WriteOptions wo;
  wo.sync = false;
  io::write_checkpoint(p, io::Format::Npz, ts, {}, wo);
  const auto good = ckpt_cli("checksum '" + p + "'", dir, "CKPT_THREADS=1 ");
  ASSERT_EQ(good.code, 0) << good.err;
  // Flip a data byte of tensor 1,700 (its offset is where its data starts).
  const auto ck = io::open_checkpoint(p);
  auto bytes = test::read_file_bytes(p);
  bytes[ck.tensors[1700].offset + 3] ^= std::byte{0x10};
  test::write_file_bytes(dir.file("bad.npz"), bytes);
  std::string want_bad;
  for (const char* threads : {"1", "2", "4"}) {
    SCOPED_TRACE(threads);
    const auto r = ckpt_cli(std::string("checksum --threads ") + threads + " '" + dir.file("bad.npz") + "'", dir);
    EXPECT_EQ(r.code, 2);
    std::vector<std::string> lines;
    for (std::size_t at = 0, nl; (nl = r.out.find('\n', at)) != std::string::npos; at = nl + 1) lines.push_back(r.out.substr(at, nl - at));
    ASSERT_EQ(lines.size(), 3000u);
    EXPECT_THAT(lines[1700], ::testing::MatchesRegex("-  +t11700  \\(.*CRC-32 mismatch in member 't11700.npy'.*\\)"));
    EXPECT_EQ(lines[1699].substr(10), "t11699");
    EXPECT_EQ(lines[2999].substr(10), "t12999");
    if (want_bad.empty()) want_bad = r.out;
    EXPECT_EQ(r.out, want_bad);
  }
  // Every line but the corrupt one is the good file's.
  std::string expected = good.out;
  const std::size_t line_start = expected.find("  t11700\n") - 8;
  expected.replace(line_start, 8 + 9, want_bad.substr(want_bad.find("-"), want_bad.find('\n', want_bad.find("t11700")) + 1 - want_bad.find("-")));
  EXPECT_EQ(want_bad, expected);
}
