#pragma once
// A cursor over a ByteSource for parsing headers: every read is bounds-checked
// and a failure names what was being read and where.
#include <cstdint>
#include <string>
#include <string_view>

#include "io/byte_source.h"
#include "io/endian.h"
#include "io/error.h"

namespace ckpt::io {

class ByteReader {
 public:
  ByteReader(const ByteSource& src, std::uint64_t pos = 0, bool big_endian = false)
      : src_(src), pos_(pos), big_(big_endian) {}

  [[nodiscard]] std::uint64_t pos() const noexcept { return pos_; }
  void seek(std::uint64_t pos) noexcept { pos_ = pos; }
  [[nodiscard]] std::uint64_t remaining() const noexcept {
    return pos_ >= src_.size() ? 0 : src_.size() - pos_;
  }
  void set_big_endian(bool b) noexcept { big_ = b; }
  [[nodiscard]] bool big_endian() const noexcept { return big_; }
  [[nodiscard]] const ByteSource& source() const noexcept { return src_; }

  std::span<const std::byte> bytes(std::uint64_t n, std::string_view what) {
    auto v = src_.view(pos_, n, what);
    pos_ += n;
    return v;
  }
  template <class T>
  T read(std::string_view what) {
    auto v = bytes(sizeof(T), what);
    return big_ ? load_be<T>(v.data()) : load_le<T>(v.data());
  }
  std::string string(std::uint64_t n, std::string_view what) {
    auto v = bytes(n, what);
    return std::string(reinterpret_cast<const char*>(v.data()), v.size());
  }
  [[noreturn]] void fail(std::string sentence) const { throw Error(src_.label(), pos_, std::move(sentence)); }
  [[noreturn]] void fail_at(std::uint64_t at, std::string sentence) const {
    throw Error(src_.label(), at, std::move(sentence));
  }

 private:
  const ByteSource& src_;
  std::uint64_t pos_;
  bool big_;
};

}  // namespace ckpt::io
