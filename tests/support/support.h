#pragma once
// Shared test helpers: the shared fixtures folder, manifests, temp folders,
// running Debian's python3 with numpy.
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/checkpoint.h"

namespace ckpt::test {

// ../shared/fixtures (or $CKPT_FIXTURES); nullopt when absent.
[[nodiscard]] std::optional<std::filesystem::path> fixtures_dir();
// Every data file (with a manifest beside it) under fixtures/<sub> whose name ends in `ext`.
[[nodiscard]] std::vector<std::filesystem::path> fixture_files(const std::string& sub, const std::string& ext);
[[nodiscard]] nlohmann::json load_manifest(const std::filesystem::path& data_file);

// Compares a checkpoint with a fixture manifest: names, dtypes, shapes, sums,
// first values, sha256 of the bytes (or of the raw blocks and dequantized
// values for GGUF block types) and metadata. Adds GoogleTest failures.
void expect_matches_manifest(const io::Checkpoint& ck, const nlohmann::json& manifest);

// A fresh folder removed (with its contents) at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Debian's /usr/bin/python3 with numpy importable?
[[nodiscard]] bool have_python_numpy();
// Runs `/usr/bin/python3 -c script args…`; returns exit status, stdout in `out`.
int run_python(const std::string& script, const std::vector<std::string>& args, std::string* out = nullptr);

// Runs the ckpt binary ($CKPT_CLI, else the build's app/ckpt) with `args`
// (already shell-quoted); stderr goes through a file in `dir`. `env`, when
// given, is prefixed to the command ("NAME=value ").
struct CliRun {
  int code;
  std::string out, err;
};
[[nodiscard]] CliRun ckpt_cli(const std::string& args, const TempDir& dir, const std::string& env = "");

// `n` pseudo-random bytes, the same for the same seed.
[[nodiscard]] std::vector<std::byte> pattern_bytes(std::size_t n, unsigned seed);

// This process's read system calls and bytes read so far (/proc/self/io),
// for tests that bound how often a reader goes to the file.
struct ReadCounts {
  std::uint64_t calls = 0;
  std::uint64_t bytes = 0;
};
[[nodiscard]] ReadCounts read_counts();

// Whole files as bytes.
[[nodiscard]] std::vector<std::byte> read_file_bytes(const std::string& path);
void write_file_bytes(const std::string& path, std::span<const std::byte> bytes);

// Tensor with in-memory data (for round trips).
[[nodiscard]] io::TensorInfo memory_tensor(std::string name, io::DType dtype, io::Shape shape,
                                           std::vector<std::byte> bytes);
// Deterministic pseudo-random bytes of a valid tensor of this dtype and shape
// (floats finite, bools 0/1, block types with finite f16 scales).
[[nodiscard]] io::TensorInfo random_tensor(std::string name, io::DType dtype, io::Shape shape, unsigned seed = 1);

}  // namespace ckpt::test
