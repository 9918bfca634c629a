// `ckpt convert` killed with SIGKILL in the middle of a write leaves no file
// at the destination, only its clearly named temporary, which the next
// conversion to the same destination removes. Also: convert onto its own
// source is refused with the source intact.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "io/atomic_file.h"
#include "io/open.h"
#include "tests/support/sha256.h"
#include "tests/support/support.h"

using namespace ckpt;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

extern char** environ;

namespace {

std::string cli_path() {
  const char* cli = std::getenv("CKPT_CLI");
  return cli ? cli : std::string(CKPT_BINARY_DIR) + "/app/ckpt";
}

// A .safetensors of one float32 tensor of `count` zeros whose data section is
// a hole: instant to make, and as slow to convert as real data.
void write_sparse_safetensors(const std::string& path, std::int64_t count) {
  std::string header = "{\"big\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string(count) +
                       "],\"data_offsets\":[0," + std::to_string(count * 4) + "]}}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  for (int k = 0; k < 8; ++k) bytes[static_cast<std::size_t>(k)] = static_cast<char>((header.size() >> (8 * k)) & 0xFF);
  bytes += header;
  test::write_file_bytes(path, std::as_bytes(std::span<const char>(bytes)));
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(bytes.size() + static_cast<std::uint64_t>(count) * 4)), 0);
}

pid_t spawn_quiet(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

}  // namespace

TEST(KillConvert, SigkillMidwayLeavesOnlyATemporaryThatTheNextRunRemoves) {
  test::TempDir dir;
  const std::string in = dir.file("in.safetensors");
  const std::string out = dir.file("out.safetensors");
  write_sparse_safetensors(in, std::int64_t{64} << 20);  // 256 MiB of float32
  const auto in_stat = fs::file_size(in);

  // Cast to float16 so the conversion streams through our own code (a plain
  // copy would run at kernel speed and could finish before the kill).
  const std::vector<std::string> args{cli_path(), "convert", in, out, "--dtype", "float16", "--no-sync", "-q"};
  const pid_t pid = spawn_quiet(args);
  ASSERT_GT(pid, 0) << "cannot start " << args[0];

  // Wait until the temporary holds some data, so the kill lands mid-write.
  const std::string prefix = fs::path(io::temp_prefix(out)).filename().string();
  std::string temp;
  bool exited = false;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& name : listing(dir.path())) {
      if (name.rfind(prefix, 0) != 0) continue;
      std::error_code ec;
      if (fs::file_size(dir.path() / name, ec) >= (std::uint64_t{8} << 20) && !ec) temp = name;
    }
    if (!temp.empty()) break;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_FALSE(exited) << "ckpt convert ended (status " << status << ") before it could be killed mid-write";
  ASSERT_FALSE(temp.empty()) << "no temporary with data appeared within two minutes";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

  // Nothing at the destination; only the killed run's temporary, named for it.
  EXPECT_FALSE(fs::exists(out));
  const auto left = listing(dir.path());
  ASSERT_EQ(left.size(), 2u);
  EXPECT_TRUE(left.count("in.safetensors"));
  const std::regex temp_name(R"(\.out\.safetensors\.ckpt-tmp-)" + std::to_string(pid) + R"(-[A-Za-z0-9]{6})");
  EXPECT_TRUE(std::regex_match(temp, temp_name)) << temp;
  EXPECT_TRUE(left.count(temp));
  EXPECT_EQ(fs::file_size(in), in_stat);

  // The same conversion again succeeds and removes the dead run's temporary.
  const auto r = test::ckpt_cli("convert '" + in + "' '" + out + "' --dtype float16 --no-sync -q", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(listing(dir.path()), (std::set<std::string>{"in.safetensors", "out.safetensors", "stderr.txt"}));
  const io::Checkpoint done = io::open_checkpoint(out);
  ASSERT_EQ(done.tensors.size(), 1u);
  EXPECT_EQ(done.tensors[0].dtype, io::DType::F16);
  EXPECT_EQ(done.tensors[0].shape, (io::Shape{std::int64_t{64} << 20}));
}

TEST(KillConvert, ConvertOntoItsOwnSourceIsRefused) {
  test::TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const std::vector<io::TensorInfo> ts{test::random_tensor("w", io::DType::F32, {16, 16}, 1)};
  io::write_checkpoint(path, io::Format::Safetensors, ts, {}, {});
  const std::string sha = test::sha256_hex(test::read_file_bytes(path));
  for (const std::string& target : {path, dir.file("./model.safetensors")}) {
    const auto r = test::ckpt_cli("convert '" + path + "' '" + target + "'", dir);
    EXPECT_EQ(r.code, 2);
    EXPECT_THAT(r.err, HasSubstr("refusing to write over"));
    EXPECT_EQ(test::sha256_hex(test::read_file_bytes(path)), sha);
    EXPECT_EQ(listing(dir.path()), (std::set<std::string>{"model.safetensors", "stderr.txt"}));
  }
}
