#include "io/formats/safetensors_fast_header.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "io/checked.h"

namespace ckpt::io::safetensors::detail {
namespace {

// What a byte means inside a JSON string. Anything below 0x20 ends the fast
// path: JSON forbids raw control characters and nlohmann reports them.
enum : std::uint8_t { kPlain, kQuote, kBackslash, kControl, kNonAscii };

constexpr std::array<std::uint8_t, 256> kStringClass = [] {
  std::array<std::uint8_t, 256> c{};
  for (int b = 0; b < 256; ++b) {
    if (b < 0x20) c[b] = kControl;
    else if (b == '"') c[b] = kQuote;
    else if (b == '\\') c[b] = kBackslash;
    else if (b < 0x80) c[b] = kPlain;
    else c[b] = kNonAscii;
  }
  return c;
}();

// Bytes of the well-formed UTF-8 sequence starting at p[0] (a byte >= 0x80),
// or 0. These are RFC 3629's ranges (no overlong forms, no surrogates,
// nothing above U+10FFFF), the same ones nlohmann's lexer enforces.
std::size_t utf8_sequence(const unsigned char* p, std::size_t avail) {
  auto in = [&](std::size_t k, unsigned lo, unsigned hi) { return k < avail && p[k] >= lo && p[k] <= hi; };
  const unsigned b = p[0];
  if (b >= 0xC2 && b <= 0xDF) return in(1, 0x80, 0xBF) ? 2 : 0;
  if (b == 0xE0) return in(1, 0xA0, 0xBF) && in(2, 0x80, 0xBF) ? 3 : 0;
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) ? 3 : 0;
  if (b == 0xED) return in(1, 0x80, 0x9F) && in(2, 0x80, 0xBF) ? 3 : 0;
  if (b == 0xF0) return in(1, 0x90, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  if (b >= 0xF1 && b <= 0xF3) return in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  if (b == 0xF4) return in(1, 0x80, 0x8F) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  return 0;
}

void append_utf8(std::string& s, std::uint32_t cp) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Duplicate detection for a header's keys. Writers usually emit names in
// sorted order (the safetensors crate sorts by dtype, then name; MLX by
// name), and a strictly increasing sequence cannot repeat a key, so the set
// only compares each key with the previous one until the order breaks. Then
// it falls back to an open-addressing table of 8-byte slots (32 bits of
// hash, 32 bits of index into `keys_`): a flat array rather than a node per
// key, since a header can hold hundreds of thousands of names, with hash bits
// that let most probes and every rehash skip the string itself. The views
// must outlive the set (they point into the header text or into storage
// that never moves).
class KeySet {
 public:
  explicit KeySet(std::size_t expected = 4) : expected_(expected) {}

  // False when `k` is already present.
  bool insert(std::string_view k) {
    if (sorted_) {
      if (keys_.empty() || keys_.back() < k) {
        keys_.push_back(k);
        return true;
      }
      sorted_ = false;
      std::size_t n = 16;
      while (n < std::max(expected_, keys_.size() + 1) * 2) n *= 2;
      slots_.assign(n, 0);
      for (std::size_t i = 0; i < keys_.size(); ++i) place(tag_of(keys_[i]), i + 1);
    }
    if ((keys_.size() + 1) * 2 > slots_.size()) grow();
    const std::uint32_t tag = tag_of(k);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = tag & mask;; i = (i + 1) & mask) {
      const std::uint64_t s = slots_[i];
      if (s == 0) break;
      if ((s >> 32) == tag && keys_[(s & 0xFFFF'FFFFu) - 1] == k) return false;
    }
    keys_.push_back(k);
    place(tag, keys_.size());
    return true;
  }

 private:
  static std::uint32_t tag_of(std::string_view k) {
    return static_cast<std::uint32_t>(std::hash<std::string_view>{}(k));
  }
  // `index` counts from 1 (0 marks an empty slot); a 100 MB header cannot
  // hold 2^32 keys, so it fits.
  void place(std::uint32_t tag, std::size_t index) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = tag & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = (std::uint64_t{tag} << 32) | index;
  }
  void grow() {
    std::vector<std::uint64_t> old(slots_.size() * 2, 0);
    old.swap(slots_);
    for (const std::uint64_t s : old)
      if (s != 0) place(static_cast<std::uint32_t>(s >> 32), s & 0xFFFF'FFFFu);
  }

  std::size_t expected_;
  bool sorted_ = true;
  std::vector<std::string_view> keys_;
  std::vector<std::uint64_t> slots_;  // 0 = empty; unused while sorted_
};

class FastParser {
 public:
  FastParser(std::string_view text, std::uint64_t data_size)
      : p_(reinterpret_cast<const unsigned char*>(text.data())), end_(p_ + text.size()), data_size_(data_size) {}

  bool header(Header& out) {
    // The caller has checked that the text starts with '{'; leading
    // whitespace would be valid JSON but is not a .safetensors header.
    if (p_ == end_ || *p_ != '{') return false;
    ++p_;
    std::vector<HeaderTensor> tensors;
    Metadata metadata;
    bool has_metadata = false;
    // Should the names come out of order, the set's table starts at a guess
    // of their count (tensor entries take 50-150 bytes of text) to save
    // most rehashing; it grows when the guess is short.
    KeySet names(static_cast<std::size_t>(end_ - p_) / 128);
    // Room for as many tensors as the text could describe at 64 bytes each
    // (they take 50-150): growing by doubling instead mapped and zeroed
    // fresh pages for every copy, 10 MB of them for 50,000 tensors. What
    // is reserved and never reached is never touched, so never resident.
    tensors.reserve(static_cast<std::size_t>(end_ - p_) / 64);
    if (!eat('}')) {
      do {
        std::string_view key;
        if (!stable_string(key) || !names.insert(key) || !eat(':')) return false;
        if (key == "__metadata__") {
          has_metadata = true;
          if (!metadata_value(metadata)) return false;
        } else {
          HeaderTensor t;
          if (!tensor_value(t)) return false;
          t.name = key;
          tensors.push_back(std::move(t));
        }
      } while (eat(','));
      if (!eat('}')) return false;
    }
    skip_ws();
    if (p_ != end_) return false;  // trailing bytes other than whitespace
    out.tensors = std::move(tensors);
    out.metadata = std::move(metadata);
    out.has_metadata_key = has_metadata;
    return true;
  }

 private:
  void skip_ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool eat(char c) {
    skip_ws();
    if (p_ == end_ || *p_ != static_cast<unsigned char>(c)) return false;
    ++p_;
    return true;
  }

  bool literal(std::string_view word) {
    skip_ws();
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::string_view(reinterpret_cast<const char*>(p_), word.size()) != word)
      return false;
    p_ += word.size();
    return true;
  }

  // A string's decoded value. Without escapes it is a view of the text;
  // with escapes it lives in `scratch_` until the next call (`decoded`).
  bool string(std::string_view& out, bool& decoded) {
    if (!eat('"')) return false;
    const unsigned char* start = p_;
    skip_plain();
    while (p_ != end_) {
      switch (kStringClass[*p_]) {
        case kPlain: ++p_; break;
        case kQuote:
          out = std::string_view(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p_ - start));
          ++p_;
          decoded = false;
          return true;
        case kNonAscii: {
          const std::size_t n = utf8_sequence(p_, static_cast<std::size_t>(end_ - p_));
          if (n == 0) return false;
          p_ += n;
          break;
        }
        case kBackslash:
          scratch_.assign(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p_ - start));
          if (!escaped_rest()) return false;
          out = scratch_;
          decoded = true;
          return true;
        default: return false;  // a control character
      }
    }
    return false;  // unterminated
  }

  // Skips plain string bytes (printable ASCII other than '"' and '\\') eight
  // at a time; the byte loop takes over at the first word holding anything
  // else. Each test may also flag bytes after a real hit (borrows), never
  // miss one, so stopping early is the only error it can make.
  void skip_plain() {
    constexpr std::uint64_t ones = 0x0101'0101'0101'0101u, high = 0x8080'8080'8080'8080u;
    auto has_zero = [&](std::uint64_t v) { return (v - ones) & ~v & high; };
    while (end_ - p_ >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p_, 8);
      const std::uint64_t below_space = (w - ones * 0x20) & ~w & high;
      if ((below_space | has_zero(w ^ (ones * '"')) | has_zero(w ^ (ones * '\\')) | (w & high)) != 0) return;
      p_ += 8;
    }
  }

  // Keys must stay valid while their value is parsed and, at the top level,
  // for the rest of the header: decoded ones move to storage that never
  // relocates its strings.
  bool stable_string(std::string_view& out) {
    bool decoded = false;
    if (!string(out, decoded)) return false;
    if (decoded) out = kept_.emplace_back(out);
    return true;
  }

  // The rest of a string from its first backslash, decoded into scratch_.
  bool escaped_rest() {
    while (p_ != end_) {
      const unsigned char c = *p_;
      switch (kStringClass[c]) {
        case kPlain: scratch_ += static_cast<char>(c); ++p_; break;
        case kQuote: ++p_; return true;
        case kNonAscii: {
          const std::size_t n = utf8_sequence(p_, static_cast<std::size_t>(end_ - p_));
          if (n == 0) return false;
          scratch_.append(reinterpret_cast<const char*>(p_), n);
          p_ += n;
          break;
        }
        case kBackslash:
          ++p_;
          if (!escape()) return false;
          break;
        default: return false;
      }
    }
    return false;
  }

  // One escape after its backslash: the eight single-character ones and
  // \uXXXX, where a high surrogate must be followed by an escaped low one.
  bool escape() {
    if (p_ == end_) return false;
    const unsigned char c = *p_++;
    switch (c) {
      case '"': scratch_ += '"'; return true;
      case '\\': scratch_ += '\\'; return true;
      case '/': scratch_ += '/'; return true;
      case 'b': scratch_ += '\b'; return true;
      case 'f': scratch_ += '\f'; return true;
      case 'n': scratch_ += '\n'; return true;
      case 'r': scratch_ += '\r'; return true;
      case 't': scratch_ += '\t'; return true;
      case 'u': break;
      default: return false;
    }
    std::uint32_t cp = 0;
    if (!hex4(cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate alone
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      std::uint32_t low = 0;
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
      p_ += 2;
      if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(scratch_, cp);
    return true;
  }

  bool hex4(std::uint32_t& v) {
    if (end_ - p_ < 4) return false;
    v = 0;
    for (int k = 0; k < 4; ++k) {
      const unsigned char c = *p_++;
      std::uint32_t d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else return false;
      v = v * 16 + d;
    }
    return true;
  }

  // A plain unsigned decimal integer that fits 64 bits. A leading '0' is
  // the whole number, so "01" leaves a digit the caller's grammar refuses;
  // likewise '.', 'e' or 'E' after the digits. A sign is not a digit.
  bool number(std::uint64_t& v) {
    skip_ws();
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
    if (*p_ == '0') {
      ++p_;
      v = 0;
      return true;
    }
    std::uint64_t r = 0;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
      if (__builtin_mul_overflow(r, 10u, &r) || __builtin_add_overflow(r, static_cast<unsigned>(*p_ - '0'), &r))
        return false;
      ++p_;
    }
    v = r;
    return true;
  }

  bool metadata_value(Metadata& out) {
    if (literal("null")) return true;
    if (!eat('{')) return false;
    if (eat('}')) return true;
    KeySet keys;
    do {
      std::string_view key, value;
      bool decoded = false;
      if (!stable_string(key) || !keys.insert(key) || !eat(':') || !string(value, decoded)) return false;
      out.push_back({std::string(key), MetaValue::string(std::string(value))});
    } while (eat(','));
    return eat('}');
  }

  bool tensor_value(HeaderTensor& t) {
    if (!eat('{')) return false;
    constexpr unsigned kDtype = 1, kShape = 2, kOffsets = 4;
    unsigned seen = 0;
    do {
      std::string_view key;
      bool decoded = false;
      if (!string(key, decoded)) return false;
      const unsigned which = key == "dtype" ? kDtype : key == "shape" ? kShape : key == "data_offsets" ? kOffsets : 0;
      if (which == 0 || (seen & which) || !eat(':')) return false;
      seen |= which;
      if (which == kDtype) {
        std::string_view name;
        if (!string(name, decoded) || !dtype(name, t.dtype)) return false;
      } else if (which == kShape) {
        if (!eat('[')) return false;
        if (!eat(']')) {
          do {
            std::uint64_t d = 0;
            if (!number(d) || d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
            t.shape.push_back(static_cast<std::int64_t>(d));
          } while (eat(','));
          if (!eat(']')) return false;
        }
      } else {
        if (!eat('[') || !number(t.begin) || !eat(',') || !number(t.end) || !eat(']')) return false;
      }
    } while (eat(','));
    if (!eat('}') || seen != (kDtype | kShape | kOffsets)) return false;

    // The reference's per-tensor rules; any failure is left to it to report.
    const auto numel = checked_numel(t.shape);
    if (!numel || t.end < t.begin) return false;
    const auto want = byte_size(t.dtype, *numel);
    return want && t.end - t.begin == *want && t.end <= data_size_;
  }

  // Headers repeat a handful of dtype names; remembering the last one skips
  // the table search for almost every tensor.
  bool dtype(std::string_view name, DType& out) {
    if (!last_dtype_name_.empty() && name == last_dtype_name_) {
      out = last_dtype_;
      return true;
    }
    const auto d = from_safetensors(name);
    if (!d) return false;
    last_dtype_name_ = name;
    last_dtype_ = *d;
    out = *d;
    return true;
  }

  const unsigned char* p_;
  const unsigned char* end_;
  std::uint64_t data_size_;
  std::string scratch_;
  std::deque<std::string> kept_;
  std::string last_dtype_name_;
  DType last_dtype_ = DType::U8;
};

}  // namespace

bool parse_header_fast(std::string_view text, std::uint64_t data_size, Header& out) {
  return FastParser(text, data_size).header(out);
}

}  // namespace ckpt::io::safetensors::detail
