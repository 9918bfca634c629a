// The first bytes of a raw deflate stream; why and what for: the header.
//
// The format (RFC 1951 §3.2), restated. A stream is a sequence of blocks;
// fields are packed from each byte's least significant bit, Huffman codes
// from their most significant bit. A block starts with BFINAL (1 bit) and
// BTYPE (2 bits: 0 stored, 1 fixed Huffman, 2 dynamic Huffman, 3 invalid).
// - Stored: skip to a byte boundary, LEN and NLEN (16 bits each, NLEN the
//   one's complement of LEN), then LEN bytes as they are.
// - Huffman: symbols of the literal/length code: 0-255 a literal byte, 256
//   the end of the block, 257-285 a length (base + extra bits) followed by a
//   distance code 0-29 (base + extra bits): copy `length` bytes starting
//   `distance` back in the output, overlapping when distance < length.
//   The fixed code has 288 literal/length symbols (7, 8 or 9 bits) and 32
//   distance symbols (5 bits); 286, 287, 30 and 31 are invalid.
// - Dynamic: HLIT (5 bits, + 257 ≤ 286), HDIST (5 bits, + 1 ≤ 30), HCLEN
//   (4 bits, + 4), HCLEN 3-bit lengths of the code-length code in the order
//   kCodeLengthOrder, then HLIT + HDIST code lengths in that code (0-15 a
//   length; 16 the previous length 3-6 times; 17 zero 3-10 times; 18 zero
//   11-138 times), one sequence across both codes.
// Codes are canonical: from the lengths alone, the codes of each length are
// consecutive numbers in symbol order, shorter lengths first.
#include "io/inflate_prefix.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "io/endian.h"

namespace ckpt::io {
namespace {

constexpr unsigned kMaxCodeBits = 15;
constexpr unsigned kEndOfBlock = 256;
constexpr unsigned kFirstLength = 257;

constexpr std::array<std::uint16_t, 29> kLengthBase{3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                                    31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr std::array<std::uint8_t, 29> kLengthExtra{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                                    2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr std::array<std::uint16_t, 30> kDistBase{1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,    65,    97,    129,
                                                  193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr std::array<std::uint8_t, 30> kDistExtra{0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                                  6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
constexpr std::array<std::uint8_t, 19> kCodeLengthOrder{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
static_assert(kLengthBase.size() == 286 - kFirstLength && kLengthExtra.size() == kLengthBase.size());
static_assert(kDistExtra.size() == kDistBase.size());

constexpr unsigned kReverseBits = 10;  // the longest first-level table index

constexpr std::array<std::uint16_t, 1u << kReverseBits> make_reverse() {
  std::array<std::uint16_t, 1u << kReverseBits> t{};
  for (unsigned v = 0; v < t.size(); ++v) {
    unsigned r = 0;
    for (unsigned b = 0; b < kReverseBits; ++b) r |= ((v >> b) & 1u) << (kReverseBits - 1 - b);
    t[v] = static_cast<std::uint16_t>(r);
  }
  return t;
}
constexpr auto kReverse = make_reverse();

// The low `n` bits of `v` (1 ≤ n ≤ kReverseBits, v < 2^n) in reverse order:
// codes are sent from their top bit, and tables are indexed by input bits
// as they come.
unsigned reverse(unsigned v, unsigned n) { return kReverse[v << (kReverseBits - n)]; }

// t[half, 2 * half) = t[0, half), half a power of two: in 16-byte moves
// the compiler inlines, where a memcpy call per length cost more than the
// copying for these small tables.
[[gnu::always_inline]] inline void repeat_first_half(std::uint16_t* t, unsigned half) noexcept {
  if (half < 8) {
    for (unsigned i = 0; i < half; ++i) t[half + i] = t[i];
    return;
  }
  for (unsigned i = 0; i < half; i += 8) std::memcpy(t + half + i, t + i, 16);
}

// A canonical Huffman code. `fast` is indexed by the next fast_bits input
// bits and holds symbol << 6 | length for codes up to fast_bits long, 0
// where a longer code starts. Those are decoded a bit at a time from the
// counts: a header's few long codes cost less so than filling second-level
// tables for every block would. Symbols are kept in one bucket per length,
// in symbol order, so the code lengths can be added while they are decoded
// (that loop waits on its loads, leaving room for the stores) and no
// separate sorting pass is needed.
template <unsigned FastCap, unsigned Symbols>
struct Huffman {
  static_assert(Symbols <= 1024, "an entry is symbol << 6 | length in 16 bits");
  static_assert(FastCap <= kReverseBits);
  std::array<std::uint16_t, std::size_t{1} << FastCap> fast;
  std::array<std::uint16_t, kMaxCodeBits + 1> count;
  std::array<std::uint16_t, kMaxCodeBits + 1> first;  // the first code of each length
  std::array<std::uint16_t, (kMaxCodeBits + 1) * Symbols> bucket;  // [length * Symbols + k]
  unsigned fast_bits;
  unsigned max_len;

  void clear() noexcept { count.fill(0); }
  // Symbols in increasing order; len ≤ 15.
  void add(unsigned sym, unsigned len) noexcept {
    bucket[len * Symbols + count[len]++] = static_cast<std::uint16_t>(sym);
  }

  // False for an over-subscribed or incomplete set of lengths. zlib accepts
  // two incomplete ones (a lone one-bit code; no distance codes at all); no
  // zlib encoder writes them, so they go to zlib.
  bool finish() noexcept {
    count[0] = 0;
    int left = 1;  // codes still unassigned at the current length
    max_len = 0;
    unsigned code = 0;
    for (unsigned len = 1; len <= kMaxCodeBits; ++len) {
      left = 2 * left - count[len];
      if (left < 0) return false;
      if (count[len] != 0) max_len = len;
      first[len] = static_cast<std::uint16_t>(code);
      code = (code + count[len]) << 1;
    }
    if (left != 0) return false;
    // Built one length at a time: the table for codes up to `len` bits is
    // the one for len - 1 twice over (the new bit does not matter to a
    // shorter code), plus the codes of that length. Copying doubles is a
    // few wide stores where a stride per code would be 2^fast_bits narrow ones.
    fast_bits = std::min(max_len, FastCap);
    fast[0] = 0;
    for (unsigned len = 1; len <= fast_bits; ++len) {
      repeat_first_half(fast.data(), 1u << (len - 1));
      // Locals: the table's stores could otherwise change them, as far as
      // the compiler knows, and it would reload them for every code.
      const std::uint16_t* syms = &bucket[len * Symbols];
      const unsigned n = count[len];
      const unsigned code0 = first[len];
      for (unsigned k = 0; k < n; ++k)
        fast[reverse(code0 + k, len)] = static_cast<std::uint16_t>(syms[k] << 6 | len);
    }
    return true;
  }

  bool build(const std::uint8_t* lens, unsigned n) noexcept {
    clear();
    for (unsigned s = 0; s < n; ++s) add(s, lens[s]);
    return finish();
  }

  // symbol << 6 | length of the code at the bottom of `bits`, 0 if none.
  // The length in the low 6 bits can shift the bit buffer unmasked.
  [[nodiscard]] std::uint32_t decode(std::uint64_t bits) const noexcept {
    const unsigned peek = static_cast<unsigned>(bits) & ((1u << fast_bits) - 1);
    const std::uint16_t e = fast[peek];
    if (e != 0) return e;
    unsigned code = reverse(peek, fast_bits);
    for (unsigned len = fast_bits + 1; len <= max_len; ++len) {
      code = code << 1 | (static_cast<unsigned>(bits >> (len - 1)) & 1u);
      const unsigned i = code - first[len];  // wraps to large below the length's first code
      if (i < count[len]) return std::uint32_t{bucket[len * Symbols + i]} << 6 | len;
    }
    return 0;
  }
};

using LitLenCode = Huffman<10, 288>;
using DistCode = Huffman<8, 32>;
using CodeLengthCode = Huffman<7, 19>;

struct FixedCodes {
  LitLenCode lit{};
  DistCode dist{};
};

const FixedCodes& fixed_codes() {
  static const FixedCodes codes = [] {
    FixedCodes c;
    std::array<std::uint8_t, 288> lens{};
    std::fill(lens.begin(), lens.begin() + 144, std::uint8_t{8});
    std::fill(lens.begin() + 144, lens.begin() + 256, std::uint8_t{9});
    std::fill(lens.begin() + 256, lens.begin() + 280, std::uint8_t{7});
    std::fill(lens.begin() + 280, lens.end(), std::uint8_t{8});
    std::array<std::uint8_t, 32> dist{};
    dist.fill(5);
    (void)c.lit.build(lens.data(), 288);
    (void)c.dist.build(dist.data(), 32);
    return c;
  }();
  return codes;
}

// Input bits from the low end of `buf`. Above `cnt` the bits are zeros or
// already the next input bits (a whole word is loaded at once), so loading
// again ORs in the same values.
struct Reader {
  const std::uint8_t* in = nullptr;
  std::size_t size = 0;
  std::size_t pos = 0;  // the next byte not yet counted in `cnt`
  std::uint64_t buf = 0;
  unsigned cnt = 0;

  // At least 56 bits, or all the input has left.
  void refill() noexcept {
    if (size - pos >= 8) {
      buf |= load_le<std::uint64_t>(in + pos) << cnt;
      pos += (63 - cnt) >> 3;
      cnt |= 56;
    } else {
      while (cnt < 56 && pos < size) {
        buf |= std::uint64_t{in[pos++]} << cnt;
        cnt += 8;
      }
    }
  }
  void drop(unsigned n) noexcept {
    buf >>= n;
    cnt -= n;
  }
  // n ≤ cnt.
  unsigned take(unsigned n) noexcept {
    const auto v = static_cast<unsigned>(buf & ((std::uint64_t{1} << n) - 1));
    drop(n);
    return v;
  }
  // To the next byte boundary, with whole bytes still in `buf` given back,
  // so a stored block reads straight from the input.
  void to_byte_boundary() noexcept {
    drop(cnt & 7);
    pos -= cnt >> 3;
    buf = 0;
    cnt = 0;
  }
};

enum class Mode : std::uint8_t { Header, Stored, Codes, Done };

// Copies `n` bytes from `dist` back; byte by byte when they overlap, since
// each then repeats the ones just written.
void copy_match(std::uint8_t* to, std::size_t dist, std::size_t n) noexcept {
  const std::uint8_t* from = to - dist;
  if (dist == 1) {
    std::memset(to, *from, n);
  } else if (dist >= n) {
    std::memcpy(to, from, n);
  } else {
    for (std::size_t i = 0; i < n; ++i) to[i] = from[i];
  }
}

}  // namespace

struct InflatePrefix::State {
  Reader r;
  Mode mode = Mode::Header;
  bool final = false;  // the current block is the stream's last
  bool cant = false;
  std::size_t produced = 0;
  // An item decoded ahead (as zlib does once the output is full) and not
  // yet written: a literal, the rest of a match, the rest of a stored block.
  int literal = -1;
  std::size_t copy_left = 0;
  std::size_t copy_dist = 0;
  std::size_t stored_left = 0;
  const LitLenCode* lit = nullptr;
  const DistCode* dist = nullptr;
  LitLenCode dyn_lit;
  DistCode dyn_dist;
};

namespace {

using State = InflatePrefix::State;

bool read_dynamic_codes(Reader& in, LitLenCode& lit, DistCode& dist) noexcept {
  // A copy the compiler can keep in registers: through the reference, every
  // byte store below might change it, and it would go through memory.
  Reader r = in;
  r.refill();
  if (r.cnt < 14) return false;
  const unsigned nlen = r.take(5) + kFirstLength;
  const unsigned ndist = r.take(5) + 1;
  const unsigned ncode = r.take(4) + 4;
  if (nlen > 286 || ndist > 30) return false;
  std::array<std::uint8_t, 19> cl{};
  for (unsigned i = 0; i < ncode; ++i) {
    if (r.cnt < 3) {
      r.refill();
      if (r.cnt < 3) return false;
    }
    cl[kCodeLengthOrder[i]] = static_cast<std::uint8_t>(r.take(3));
  }
  CodeLengthCode clc;
  if (!clc.build(cl.data(), 19)) return false;

  // The literal/length code's lengths go into its buckets as they come.
  std::array<std::uint8_t, 286 + 30> lens;
  lit.clear();
  const unsigned total = nlen + ndist;
  unsigned i = 0;
  while (i < total) {
    // A refill's load waits on the bits just taken: only when a symbol
    // and its extra bits (7 + 7) might not be there.
    if (r.cnt < 14) r.refill();
    // The code-length code's table covers all its codes (at most 7 bits).
    const std::uint16_t e = clc.fast[r.buf & ((1u << clc.fast_bits) - 1)];
    const unsigned len = e & 63u;
    if (len > r.cnt) return false;
    r.drop(len);
    const unsigned sym = e >> 6;
    if (sym < 16) {
      lens[i] = static_cast<std::uint8_t>(sym);
      if (i < nlen) lit.add(i, sym);
      ++i;
      continue;
    }
    unsigned value = 0;
    unsigned repeat = 0;
    if (sym == 16) {
      if (i == 0 || r.cnt < 2) return false;
      value = lens[i - 1];
      repeat = 3 + r.take(2);
    } else if (sym == 17) {
      if (r.cnt < 3) return false;
      repeat = 3 + r.take(3);
    } else {
      if (r.cnt < 7) return false;
      repeat = 11 + r.take(7);
    }
    if (repeat > total - i) return false;
    std::memset(lens.data() + i, static_cast<int>(value), repeat);
    if (value != 0)
      for (unsigned k = i; k < i + repeat && k < nlen; ++k) lit.add(k, value);
    i += repeat;
  }
  in = r;
  if (lens[kEndOfBlock] == 0) return false;
  return lit.finish() && dist.build(lens.data() + nlen, ndist);
}

bool read_block_header(Reader& r, State& s) noexcept {
  r.refill();
  if (r.cnt < 3) return false;
  const unsigned h = r.take(3);
  s.final = (h & 1) != 0;
  switch (h >> 1) {
    case 0: {
      r.to_byte_boundary();
      if (r.size - r.pos < 4) return false;
      const unsigned len = load_le<std::uint16_t>(r.in + r.pos);
      const unsigned nlen = load_le<std::uint16_t>(r.in + r.pos + 2);
      if (len != (~nlen & 0xFFFFu)) return false;
      r.pos += 4;
      s.stored_left = len;
      s.mode = Mode::Stored;
      return true;
    }
    case 1:
      s.lit = &fixed_codes().lit;
      s.dist = &fixed_codes().dist;
      s.mode = Mode::Codes;
      return true;
    case 2:
      if (!read_dynamic_codes(r, s.dyn_lit, s.dyn_dist)) return false;
      s.lit = &s.dyn_lit;
      s.dist = &s.dyn_dist;
      s.mode = Mode::Codes;
      return true;
    default:
      return false;
  }
}

// Symbols of the current Huffman block into o[n, want), until the block
// ends or the output is full and the next item is in hand. False when the
// data is malformed or ends.
bool decode_symbols(Reader& in, State& s, std::uint8_t* o, std::size_t& n, std::size_t want) noexcept {
  const LitLenCode& lit = *s.lit;
  const DistCode& dist = *s.dist;
  Reader r = in;  // in registers, as in read_dynamic_codes
  bool ok = false;
  for (;;) {
    // A refill's load waits on the bits just taken, so only when a whole
    // match might not be there: 15 + 5 extra + 15 + 13 extra bits.
    if (r.cnt < 48) r.refill();
    std::uint32_t e = lit.decode(r.buf);
    unsigned len = e & 63u;
    if (len == 0 || len > r.cnt) break;
    r.drop(len);
    const unsigned sym = e >> 6;
    if (sym < kEndOfBlock) {
      if (n == want) {
        s.literal = static_cast<int>(sym);
        ok = true;
        break;
      }
      o[n++] = static_cast<std::uint8_t>(sym);
      continue;
    }
    if (sym == kEndOfBlock) {
      s.mode = s.final ? Mode::Done : Mode::Header;
      ok = true;
      break;
    }
    const unsigned li = sym - kFirstLength;
    if (li >= kLengthBase.size()) break;
    unsigned extra = kLengthExtra[li];
    if (extra > r.cnt) break;
    const std::size_t length = kLengthBase[li] + r.take(extra);
    e = dist.decode(r.buf);
    len = e & 63u;
    if (len == 0 || len > r.cnt) break;
    r.drop(len);
    const unsigned di = e >> 6;
    if (di >= kDistBase.size()) break;
    extra = kDistExtra[di];
    if (extra > r.cnt) break;
    const std::size_t distance = kDistBase[di] + r.take(extra);
    if (distance > n) break;
    s.copy_dist = distance;
    const std::size_t now = std::min(length, want - n);
    copy_match(o + n, distance, now);
    n += now;
    if (now < length) {
      s.copy_left = length - now;
      ok = true;
      break;
    }
  }
  in = r;
  return ok;
}

}  // namespace

InflatePrefix::InflatePrefix() : s_(std::make_unique<State>()) {}
InflatePrefix::~InflatePrefix() = default;

void InflatePrefix::start(std::span<const std::byte> in) noexcept {
  State& s = *s_;
  s.r = Reader{reinterpret_cast<const std::uint8_t*>(in.data()), in.size()};
  s.mode = Mode::Header;
  s.final = false;
  s.cant = false;
  s.produced = 0;
  s.literal = -1;
  s.copy_left = 0;
  s.copy_dist = 0;
  s.stored_left = 0;
  s.lit = nullptr;
  s.dist = nullptr;
}

std::size_t InflatePrefix::produced() const noexcept { return s_->produced; }

InflatePrefix::Status InflatePrefix::extend(std::span<std::byte> out, std::size_t want) noexcept {
  State& s = *s_;
  if (want > out.size() || want > kInflatePrefixMaxBytes) s.cant = true;
  if (s.cant) return Status::Cant;
  if (want <= s.produced) return Status::Filled;
  auto* o = reinterpret_cast<std::uint8_t*>(out.data());
  Reader r = s.r;  // a local copy stays in registers across the byte stores
  std::size_t n = s.produced;
  Status result = Status::Cant;
  for (;;) {
    // The item in hand first; once the output is full, decoding goes on
    // only until there is one.
    if (s.literal >= 0) {
      if (n == want) {
        result = Status::Filled;
        break;
      }
      o[n++] = static_cast<std::uint8_t>(s.literal);
      s.literal = -1;
    }
    if (s.copy_left > 0) {
      if (n == want) {
        result = Status::Filled;
        break;
      }
      const std::size_t now = std::min(s.copy_left, want - n);
      copy_match(o + n, s.copy_dist, now);
      n += now;
      s.copy_left -= now;
      continue;
    }
    if (s.mode == Mode::Stored) {
      if (s.stored_left == 0) {
        s.mode = s.final ? Mode::Done : Mode::Header;
        continue;
      }
      if (n == want) {
        result = Status::Filled;
        break;
      }
      const std::size_t now = std::min({s.stored_left, want - n, r.size - r.pos});
      if (now == 0) break;  // the stored bytes are cut off
      std::memcpy(o + n, r.in + r.pos, now);
      r.pos += now;
      n += now;
      s.stored_left -= now;
      continue;
    }
    if (s.mode == Mode::Done) {
      result = Status::Ended;
      break;
    }
    const bool ok = s.mode == Mode::Header ? read_block_header(r, s) : decode_symbols(r, s, o, n, want);
    if (!ok) break;
  }
  s.r = r;
  s.produced = n;
  if (result == Status::Cant) s.cant = true;
  return result;
}

std::optional<std::size_t> inflate_prefix(std::span<const std::byte> in, std::span<std::byte> out) {
  InflatePrefix d;
  d.start(in);
  if (d.extend(out, out.size()) == InflatePrefix::Status::Cant) return std::nullopt;
  return d.produced();
}

}  // namespace ckpt::io
