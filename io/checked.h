#pragma once
// Checked arithmetic for sizes read from files: every product and sum of
// counts taken from a header goes through these before it is used.
#include <cstdint>
#include <optional>
#include <span>

namespace ckpt::io {

[[nodiscard]] inline std::optional<std::uint64_t> checked_add(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

[[nodiscard]] inline std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Number of elements of a shape, or nullopt when a dimension is negative or
// the product exceeds int64 (so it also fits every signed index we use).
[[nodiscard]] inline std::optional<std::int64_t> checked_numel(std::span<const std::int64_t> shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
  }
  return n;
}

}  // namespace ckpt::io
