// Every input the container-format fuzzers (tests/fuzz/fuzz_{npy,npz,
// safetensors,safetensors_index,gguf}.cpp) found to crash, hang or exhaust
// memory, replayed through the same open-and-touch path the harness uses.
// Each must now open cleanly or fail with io::Error; a crash, sanitizer report
// or violated invariant fails the test run.
//
// Inputs live in tests/fuzz/regressions/<harness>/, one file each, named
// after what they exercise; adding a file adds a test case. Inputs that crash
// in code outside the readers (reported to its owners, not yet fixed) wait in
// tests/fuzz/regressions/pending/<harness>/ and run only as DISABLED_ tests
// (--gtest_also_run_disabled_tests); moving one up once fixed enables it.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/formats/safetensors.h"
#include "tests/support/support.h"

// The fuzz support library is built only in the fuzz configuration; the
// replay needs the very same touch logic, so its sources are compiled here.
#include "tests/fuzz/support/fuzz_support.cpp"  // NOLINT(bugprone-suspicious-include)
#include "tests/fuzz/support/index_shards.cpp"  // NOLINT(bugprone-suspicious-include)

namespace {

namespace fs = std::filesystem;
using ckpt::io::Format;

const fs::path kRegressions = fs::path(CKPT_SOURCE_DIR) / "tests" / "fuzz" / "regressions";

struct Case {
  std::string harness;
  fs::path file;
};

std::vector<Case> cases(const fs::path& root) {
  std::vector<Case> out;
  for (const char* h : {"npy", "npz", "safetensors", "safetensors_index", "gguf"}) {
    const fs::path dir = root / h;
    if (!fs::is_directory(dir)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (auto& f : files) out.push_back({h, std::move(f)});
  }
  return out;
}

std::string case_name(const testing::TestParamInfo<Case>& info) {
  std::string n = info.param.harness + "_" + info.param.file.stem().string();
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

// What the harness does with one input; true when it opened.
bool replay(const Case& c) {
  const auto bytes = ckpt::test::read_file_bytes(c.file.string());
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  if (c.harness == "npy") return ckpt::fuzz::open_and_touch(data, bytes.size(), Format::Npy);
  if (c.harness == "npz") return ckpt::fuzz::open_and_touch(data, bytes.size(), Format::Npz);
  if (c.harness == "gguf") return ckpt::fuzz::open_and_touch(data, bytes.size(), Format::Gguf);
  if (c.harness == "safetensors") {
    ckpt::fuzz::check_safetensors_paths_agree(data, bytes.size());
    return ckpt::fuzz::open_and_touch(data, bytes.size(), Format::Safetensors);
  }
  // safetensors_index: the index beside the shards the harness provides.
  ckpt::test::TempDir dir;
  (void)ckpt::fuzz::make_index_shards(dir.path());
  const std::string index = dir.file(ckpt::fuzz::kIndexFileName);
  ckpt::test::write_file_bytes(index, bytes);
  try {
    const auto ck = ckpt::io::safetensors::open(index);
    ckpt::fuzz::touch_checkpoint(ck);
    return true;
  } catch (const ckpt::io::Error&) {
    return false;
  }
}

void expect_clean(const Case& c) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_NO_THROW((void)replay(c));
  // The fuzzers run with -timeout=10; a former hang must now be quick even
  // under the sanitizers.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

class FuzzRegression : public testing::TestWithParam<Case> {};
TEST_P(FuzzRegression, OpensOrFailsCleanly) { expect_clean(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Inputs, FuzzRegression, testing::ValuesIn(cases(kRegressions)), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(FuzzRegression);

class PendingFuzzRegression : public testing::TestWithParam<Case> {};
TEST_P(PendingFuzzRegression, DISABLED_OpensOrFailsCleanly) { expect_clean(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Inputs, PendingFuzzRegression, testing::ValuesIn(cases(kRegressions / "pending")), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PendingFuzzRegression);

}  // namespace
