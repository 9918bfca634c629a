#pragma once
// The CLI's commands, kept apart from argument parsing so each stays small.
#include <cstdint>
#include <string>

namespace ckpt::app {

struct InfoArgs {
  std::string path;
  bool json = false;
  std::string root;
  std::size_t max_items = 8;
};

struct ConvertArgs {
  std::string input, output;
  std::string dtype;
  std::string root;
  std::string format;
  std::string map;  // name map file or preset, applied before casting
  std::string st_tag = "pt";
  std::string shard_size;
  std::uint32_t alignment = 32;
  bool compress = false;
  bool verify = false;
  bool quiet = false;
  bool no_sync = false;
  bool json = false;
  bool mlx_quantized = false;
};

int run_info(const InfoArgs& args);
int run_convert(const ConvertArgs& args);

// "5GB", "500MiB", "1e9", "123" → bytes; throws std::invalid_argument.
std::uint64_t parse_size(const std::string& text);
// 1536 → "1.5 KiB".
std::string human_bytes(std::uint64_t n);
// 7241732096 → "7.24 B".
std::string human_count(std::uint64_t n);

}  // namespace ckpt::app
