#pragma once
// The core's one error type: a bad file is reported with the file, the byte
// offset where the problem was found and one plain sentence.
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace ckpt::io {

inline constexpr std::uint64_t kNoOffset = std::numeric_limits<std::uint64_t>::max();

class Error : public std::runtime_error {
 public:
  Error(std::string file, std::uint64_t offset, std::string sentence);

  [[nodiscard]] const std::string& file() const noexcept { return file_; }
  [[nodiscard]] std::uint64_t offset() const noexcept { return offset_; }
  [[nodiscard]] const std::string& sentence() const noexcept { return sentence_; }

 private:
  std::string file_;
  std::uint64_t offset_;
  std::string sentence_;
};

}  // namespace ckpt::io
