#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace ckpt::test {

// Incremental SHA-256 (FIPS 180-4), to compare tensor bytes with fixture manifests.
class Sha256 {
 public:
  Sha256();
  void update(std::span<const std::byte> data);
  [[nodiscard]] std::string hex();  // finishes the hash

 private:
  void block(const std::uint8_t* p);
  std::uint32_t h_[8];
  std::uint8_t buf_[64];
  std::size_t fill_ = 0;
  std::uint64_t bits_ = 0;
};

[[nodiscard]] std::string sha256_hex(std::span<const std::byte> data);

}  // namespace ckpt::test
