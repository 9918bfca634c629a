#include "io/error.h"

namespace ckpt::io {
namespace {
std::string compose(const std::string& file, std::uint64_t offset, const std::string& sentence) {
  std::string out = file.empty() ? std::string("<memory>") : file;
  if (offset != kNoOffset) out += ": at byte " + std::to_string(offset);
  out += ": " + sentence;
  return out;
}
}  // namespace

Error::Error(std::string file, std::uint64_t offset, std::string sentence)
    : std::runtime_error(compose(file, offset, sentence)),
      file_(std::move(file)),
      offset_(offset),
      sentence_(std::move(sentence)) {}

}  // namespace ckpt::io
