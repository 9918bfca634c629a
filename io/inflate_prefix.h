#pragma once
// The first bytes of a raw deflate stream (RFC 1951), for reading the npy
// headers at the start of 50,000 small deflated .npz members: zlib spends
// ~3 µs per member setting up its tables for a dynamic block and going
// through its small-output path, several times what producing ~128 bytes
// should cost. This decoder sets up cheaply (a first-level table of at most
// 2^10 entries, longer codes decoded from the code-length counts; the fixed
// block's tables built once) and keeps its state between calls, so asking
// for 12 bytes and then for the rest decodes each byte once.
//
// It only ever says "can't" or gives the bytes zlib would: anything it does
// not handle (incomplete code sets, truncated input, more than
// kInflatePrefixMaxBytes) is "can't" as much as malformed data is, and the
// caller then uses zlib. Like zlib's inflate(), once the output is full it
// decodes ahead to the next item that produces output (a literal, a match,
// a stored block's bytes) or the end of the stream, and says "can't" if
// anything on the way is malformed: so wherever zlib would report an error
// for the same request, this decoder has already declined.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

namespace ckpt::io {

// Beyond this much output zlib's own fast loop is the better decoder.
inline constexpr std::size_t kInflatePrefixMaxBytes = std::size_t{64} << 10;

class InflatePrefix {
 public:
  enum class Status : std::uint8_t {
    Filled,  // produced() == the bytes asked for
    Ended,   // the stream's final block ended; produced() may be fewer
    Cant,    // malformed, truncated or unsupported: use zlib (sticky until start())
  };

  InflatePrefix();
  ~InflatePrefix();
  InflatePrefix(const InflatePrefix&) = delete;
  InflatePrefix& operator=(const InflatePrefix&) = delete;

  // Begins the stream `in`, which must outlive the calls to extend().
  void start(std::span<const std::byte> in) noexcept;
  // Decodes up to byte `want` into out[produced(), want). out[0, produced())
  // must still hold what earlier calls wrote: matches copy from it.
  // want > out.size() is a caller error and returns Cant.
  [[nodiscard]] Status extend(std::span<std::byte> out, std::size_t want) noexcept;
  [[nodiscard]] std::size_t produced() const noexcept;

  struct State;  // defined in the .cpp

 private:
  std::unique_ptr<State> s_;
};

// One-shot form: the number of bytes written to `out` (out.size(), or fewer
// when the stream ends first), or nullopt where InflatePrefix says Cant.
[[nodiscard]] std::optional<std::size_t> inflate_prefix(std::span<const std::byte> in, std::span<std::byte> out);

}  // namespace ckpt::io
