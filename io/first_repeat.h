#pragma once
// Duplicate names among tensors or archive members, found without copying a
// name: an open-addressed table of indices hashed by the names themselves.
// Sets of copied strings were a tenth of converting 50,000 small tensors.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace ckpt::io {

inline constexpr std::size_t kNoRepeat = SIZE_MAX;

namespace detail {
template <class Index, class Name, class Skip>
std::size_t first_repeat(std::size_t n, const Name& name, const Skip& skip) {
  constexpr Index kEmpty = static_cast<Index>(-1);
  std::size_t slots = 16;
  while (slots < 2 * n) slots *= 2;
  std::vector<Index> table(slots, kEmpty);
  const std::hash<std::string_view> hash;
  for (std::size_t k = 0; k < n; ++k) {
    if (skip(k)) continue;
    const std::string_view s = name(k);
    for (std::size_t i = hash(s) & (slots - 1);; i = (i + 1) & (slots - 1)) {
      if (table[i] == kEmpty) {
        table[i] = static_cast<Index>(k);
        break;
      }
      if (std::string_view(name(table[i])) == s) return k;
    }
  }
  return kNoRepeat;
}
}  // namespace detail

// The first index k in [0, n) whose name(k) an earlier index already has,
// or kNoRepeat. `name(k)` returns something convertible to string_view
// that stays valid during the call; `skip(k)` leaves index k out.
template <class Name, class Skip>
std::size_t first_repeat(std::size_t n, const Name& name, const Skip& skip) {
  // 4-byte slots whenever the indices fit: half the table to touch.
  if (n < UINT32_MAX) return detail::first_repeat<std::uint32_t>(n, name, skip);
  return detail::first_repeat<std::size_t>(n, name, skip);
}

template <class Name>
std::size_t first_repeat(std::size_t n, const Name& name) {
  return first_repeat(n, name, [](std::size_t) { return false; });
}

}  // namespace ckpt::io
