#pragma once
// Little/big-endian loads and stores that work on unaligned bytes.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace ckpt::io {

template <class T>
[[nodiscard]] constexpr T byteswap(T v) noexcept {
  static_assert(std::is_integral_v<T>);
  if constexpr (sizeof(T) == 1) return v;
  else if constexpr (sizeof(T) == 2) return static_cast<T>(__builtin_bswap16(static_cast<std::uint16_t>(v)));
  else if constexpr (sizeof(T) == 4) return static_cast<T>(__builtin_bswap32(static_cast<std::uint32_t>(v)));
  else return static_cast<T>(__builtin_bswap64(static_cast<std::uint64_t>(v)));
}

template <class T>
[[nodiscard]] inline T load_le(const void* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = byteswap(v);
  return v;
}

template <class T>
[[nodiscard]] inline T load_be(const void* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::little) v = byteswap(v);
  return v;
}

template <class T>
inline void store_le(void* p, T v) noexcept {
  if constexpr (std::endian::native == std::endian::big) v = byteswap(v);
  std::memcpy(p, &v, sizeof v);
}

// Reverses the bytes of each `item`-byte element in place (complex types swap each half).
void swap_elements_inplace(std::byte* data, std::size_t count, std::size_t item) noexcept;

}  // namespace ckpt::io
