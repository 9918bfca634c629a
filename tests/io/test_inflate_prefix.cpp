// The prefix decoder (io/inflate_prefix.h) against zlib: streams zlib wrote
// (levels, strategies, flushes, stored blocks) decode to their input at
// every prefix length; truncated, bit-flipped and hand-built malformed
// streams are either declined or decoded exactly as zlib decodes them, with
// zlib reporting no error for that request (the rule PrefixReader relies on
// when it falls back to zlib); and PrefixReader answers the same with and
// without the decoder. The .npz-level check is in test_npz_prefix_decoder.cpp.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "io/byte_source.h"
#include "io/error.h"
#include "io/formats/zip.h"
#include "io/inflate_prefix.h"

using namespace ckpt::io;

namespace {

using Bytes = std::vector<std::uint8_t>;

std::span<const std::byte> bytes_of(const Bytes& b) { return std::as_bytes(std::span(b)); }

// ---- streams written by zlib ----

struct Piece {
  Bytes data;
  int flush = Z_NO_FLUSH;  // after this piece (the last one always finishes)
  int level = -2;          // switch to this level before the piece; -2: keep
};

Bytes deflate_pieces(const std::vector<Piece>& pieces, int level, int strategy) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, level, Z_DEFLATED, -15, 8, strategy), Z_OK);
  Bytes out;
  std::array<std::uint8_t, 4096> buf{};
  const auto drain = [&](int flush) {
    int rc = Z_OK;
    do {
      z.next_out = buf.data();
      z.avail_out = static_cast<uInt>(buf.size());
      rc = deflate(&z, flush);
      EXPECT_NE(rc, Z_STREAM_ERROR);
      out.insert(out.end(), buf.data(), buf.data() + (buf.size() - z.avail_out));
    } while (z.avail_out == 0);
    return rc;
  };
  for (std::size_t k = 0; k < pieces.size(); ++k) {
    const Piece& p = pieces[k];
    if (p.level != -2) {
      z.next_out = buf.data();
      z.avail_out = static_cast<uInt>(buf.size());
      EXPECT_EQ(deflateParams(&z, p.level, strategy), Z_OK);
      out.insert(out.end(), buf.data(), buf.data() + (buf.size() - z.avail_out));
    }
    z.next_in = const_cast<Bytef*>(p.data.data());
    z.avail_in = static_cast<uInt>(p.data.size());
    const bool last = k + 1 == pieces.size();
    const int rc = drain(last ? Z_FINISH : p.flush);
    if (last) {
      EXPECT_EQ(rc, Z_STREAM_END);
    }
  }
  deflateEnd(&z);
  return out;
}

Bytes deflate_one(const Bytes& in, int level, int strategy = Z_DEFAULT_STRATEGY) {
  return deflate_pieces({Piece{in}}, level, strategy);
}

Bytes random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

Bytes text(std::size_t n, unsigned seed) {
  static const char* const kWords[] = {"the ", "weights ", "of ", "layer ", "attention ", "norm ", "0.25, ", "\n"};
  std::mt19937 rng(seed);
  Bytes b;
  while (b.size() < n) {
    const std::string w = kWords[rng() % std::size(kWords)];
    b.insert(b.end(), w.begin(), w.end());
  }
  b.resize(n);
  return b;
}

// A .npy member as np.savez_compressed writes it: header padded with spaces
// to a multiple of 64, then float32 data.
Bytes npy_member(std::size_t floats, unsigned seed) {
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(floats) + ",), }";
  while ((10 + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  Bytes b = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<std::uint8_t>(h.size()), static_cast<std::uint8_t>(h.size() >> 8)};
  b.insert(b.end(), h.begin(), h.end());
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (std::size_t k = 0; k < floats; ++k) {
    const float f = normal(rng);
    const auto* p = reinterpret_cast<const std::uint8_t*>(&f);
    b.insert(b.end(), p, p + 4);
  }
  return b;
}

std::vector<std::pair<std::string, Bytes>> sample_inputs() {
  std::vector<std::pair<std::string, Bytes>> v;
  v.emplace_back("empty", Bytes{});
  v.emplace_back("one byte", Bytes{'x'});
  v.emplace_back("two bytes", Bytes{0, 255});
  for (std::size_t n : {3u, 57u, 300u, 1000u, 5000u}) v.emplace_back("random " + std::to_string(n), random_bytes(n, static_cast<unsigned>(n)));
  v.emplace_back("text", text(3000, 1));
  v.emplace_back("npy header and 256 floats", npy_member(256, 2));
  v.emplace_back("npy header and 4 floats", npy_member(4, 3));
  v.emplace_back("zeros", Bytes(2000, 0));
  v.emplace_back("spaces then data", [] {
    Bytes b(400, ' ');
    const Bytes r = random_bytes(300, 4);
    b.insert(b.end(), r.begin(), r.end());
    return b;
  }());
  v.emplace_back("abab", [] {
    Bytes b;
    for (int k = 0; k < 700; ++k) b.push_back(k % 2 ? 'b' : 'a');
    return b;
  }());
  return v;
}

struct Config {
  int level;
  int strategy;
};
constexpr std::array<Config, 8> kConfigs{{{0, Z_DEFAULT_STRATEGY},
                                          {1, Z_DEFAULT_STRATEGY},
                                          {6, Z_DEFAULT_STRATEGY},
                                          {9, Z_DEFAULT_STRATEGY},
                                          {6, Z_FIXED},
                                          {6, Z_HUFFMAN_ONLY},
                                          {6, Z_RLE},
                                          {9, Z_FILTERED}}};

// ---- the two decoders, called the way PrefixReader calls them ----

// One call's answer: bytes, or (zlib) an error, or (ours) declined.
struct Answer {
  bool error = false;
  Bytes bytes;
};

std::vector<Answer> zlib_answers(const Bytes& in, const std::vector<std::size_t>& wants) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, -15), Z_OK);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  Bytes out;
  std::size_t produced = 0;
  bool ended = false;
  bool failed = false;
  std::vector<Answer> answers;
  for (const std::size_t want : wants) {
    if (!failed && (want <= produced || ended)) {
      answers.push_back({false, Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(std::min(want, produced)))});
      continue;
    }
    if (!failed) {
      out.resize(std::max(out.size(), want));
      z.next_out = out.data() + produced;
      z.avail_out = static_cast<uInt>(want - produced);
      while (z.avail_out > 0) {
        const int rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
          ended = true;
          break;
        }
        if (rc != Z_OK) {
          failed = true;
          break;
        }
      }
      produced = want - z.avail_out;
    }
    if (failed) answers.push_back({true, {}});
    else answers.push_back({false, Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(produced))});
  }
  inflateEnd(&z);
  return answers;
}

// nullopt from the first call the decoder declines.
std::vector<std::optional<Bytes>> our_answers(const Bytes& in, const std::vector<std::size_t>& wants) {
  InflatePrefix d;
  d.start(bytes_of(in));
  std::vector<std::byte> out;
  bool ended = false;
  bool declined = false;
  std::vector<std::optional<Bytes>> answers;
  for (const std::size_t want : wants) {
    if (!declined && !ended && want > d.produced()) {
      out.resize(std::max(out.size(), want));
      const auto st = d.extend(out, want);
      declined = st == InflatePrefix::Status::Cant;
      ended = st == InflatePrefix::Status::Ended;
    }
    if (declined) {
      answers.emplace_back(std::nullopt);
      continue;
    }
    const auto* p = reinterpret_cast<const std::uint8_t*>(out.data());
    answers.emplace_back(Bytes(p, p + std::min(want, d.produced())));
  }
  return answers;
}

// The rule: wherever ours answers, zlib answers the same bytes without an
// error. Returns how many calls ours answered.
std::size_t expect_agrees(const Bytes& in, const std::vector<std::size_t>& wants, const std::string& what) {
  const auto z = zlib_answers(in, wants);
  const auto ours = our_answers(in, wants);
  std::size_t answered = 0;
  for (std::size_t k = 0; k < wants.size(); ++k) {
    if (!ours[k]) break;
    ++answered;
    EXPECT_FALSE(z[k].error) << what << ": call " << k << " (want " << wants[k] << ") zlib reports an error, ours gave bytes";
    if (!z[k].error) {
      EXPECT_EQ(*ours[k], z[k].bytes) << what << ": call " << k << " (want " << wants[k] << ")";
    }
  }
  return answered;
}

Bytes prefix(const Bytes& b, std::size_t n) { return Bytes(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(std::min(n, b.size()))); }

std::optional<Bytes> one_shot(const Bytes& in, std::size_t n) {
  std::vector<std::byte> out(n);
  const auto got = inflate_prefix(bytes_of(in), out);
  if (!got) return std::nullopt;
  const auto* p = reinterpret_cast<const std::uint8_t*>(out.data());
  return Bytes(p, p + *got);
}

// Every prefix length up to 300, some beyond, and PrefixReader's two calls.
void expect_decodes_every_prefix(const Bytes& original, const Bytes& z, const std::string& what) {
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= std::min<std::size_t>(original.size(), 300); ++n) lengths.push_back(n);
  for (std::size_t n : {original.size(), original.size() + 1, std::size_t{1000}, std::size_t{4096}}) lengths.push_back(n);
  for (const std::size_t n : lengths) {
    const auto got = one_shot(z, n);
    ASSERT_TRUE(got.has_value()) << what << ": declined a zlib stream at length " << n;
    ASSERT_EQ(*got, prefix(original, n)) << what << ": length " << n;
  }
  const std::size_t extent = std::min<std::size_t>(original.size(), 128);
  const auto steps = our_answers(z, {12, extent, 12, original.size()});
  ASSERT_TRUE(steps[0] && steps[1] && steps[2] && steps[3]) << what;
  EXPECT_EQ(*steps[0], prefix(original, 12)) << what;
  EXPECT_EQ(*steps[1], prefix(original, extent)) << what;
  EXPECT_EQ(*steps[3], original) << what;
}

// ---- hand-built streams ----

class BitWriter {
 public:
  void put(std::uint32_t v, unsigned n) {  // a field, least significant bit first
    for (unsigned i = 0; i < n; ++i) bit((v >> i) & 1u);
  }
  void code(std::uint32_t c, unsigned n) {  // a Huffman code, most significant bit first
    for (unsigned i = n; i-- > 0;) bit((c >> i) & 1u);
  }
  void align() {
    while (used_ % 8 != 0) bit(0);
  }
  void byte(std::uint8_t b) { put(b, 8); }
  [[nodiscard]] Bytes done() const { return bytes_; }

 private:
  void bit(unsigned b) {
    if (used_ % 8 == 0) bytes_.push_back(0);
    bytes_.back() = static_cast<std::uint8_t>(bytes_.back() | b << (used_ % 8));
    ++used_;
  }
  Bytes bytes_;
  std::size_t used_ = 0;
};

// Canonical codes for the lengths (RFC 1951 §3.2.2).
std::vector<std::uint32_t> canonical(const std::vector<std::uint8_t>& lens) {
  std::array<std::uint32_t, 16> count{};
  for (auto l : lens) ++count[l];
  count[0] = 0;
  std::array<std::uint32_t, 16> next{};
  std::uint32_t code = 0;
  for (unsigned b = 1; b < 16; ++b) {
    code = (code + count[b - 1]) << 1;
    next[b] = code;
  }
  std::vector<std::uint32_t> codes(lens.size());
  for (std::size_t s = 0; s < lens.size(); ++s)
    if (lens[s] != 0) codes[s] = next[lens[s]]++;
  return codes;
}

// Fixed-code symbols (RFC 1951 §3.2.6).
void fixed_symbol(BitWriter& w, unsigned s) {
  if (s < 144) w.code(0x30 + s, 8);
  else if (s < 256) w.code(0x190 + s - 144, 9);
  else if (s < 280) w.code(s - 256, 7);
  else w.code(0xC0 + s - 280, 8);
}

constexpr std::array<std::uint8_t, 19> kOrder{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

// A dynamic block header. `cl` are the code-length code's lengths by
// symbol; `script` the code-length symbols with their extra bits.
struct ClSymbol {
  unsigned sym;
  unsigned extra = 0;
};
void dynamic_header(BitWriter& w, bool final, unsigned nlen, unsigned ndist, const std::array<std::uint8_t, 19>& cl,
                    const std::vector<ClSymbol>& script) {
  w.put(final ? 1 : 0, 1);
  w.put(2, 2);
  w.put(nlen - 257, 5);
  w.put(ndist - 1, 5);
  w.put(19 - 4, 4);
  for (auto s : kOrder) w.put(cl[s], 3);
  const auto codes = canonical(std::vector<std::uint8_t>(cl.begin(), cl.end()));
  for (const auto& c : script) {
    w.code(codes[c.sym], cl[c.sym]);
    if (c.sym == 16) w.put(c.extra, 2);
    if (c.sym == 17) w.put(c.extra, 3);
    if (c.sym == 18) w.put(c.extra, 7);
  }
}

// A complete code-length code for every symbol: 0-12 at 4 bits (13/16),
// 13-18 at 5 (6/32).
constexpr std::array<std::uint8_t, 19> kCl = [] {
  std::array<std::uint8_t, 19> a{};
  for (unsigned s = 0; s < 13; ++s) a[s] = 4;  // 13/16
  for (unsigned s = 13; s < 19; ++s) a[s] = 5;  // 6/32: 26/32 + 6/32 = 1
  return a;
}();

// The script sending `lens` one by one (no repeats).
std::vector<ClSymbol> plain(const std::vector<std::uint8_t>& lens) {
  std::vector<ClSymbol> v;
  for (auto l : lens) v.push_back({l});
  return v;
}

// Literal/length lengths: 'a', 'b', 256, 257 (length 3) at 2 bits.
std::vector<std::uint8_t> small_lit_lens() {
  std::vector<std::uint8_t> l(258, 0);
  l['a'] = l['b'] = l[256] = l[257] = 2;
  return l;
}

}  // namespace

// ---- zlib-written streams decode to their input ----

TEST(InflatePrefix, ZlibStreamsDecodeToTheirInputAtEveryLength) {
  for (const auto& [name, input] : sample_inputs()) {
    for (const auto& c : kConfigs) {
      const std::string what = name + ", level " + std::to_string(c.level) + ", strategy " + std::to_string(c.strategy);
      expect_decodes_every_prefix(input, deflate_one(input, c.level, c.strategy), what);
    }
  }
}

TEST(InflatePrefix, MultiBlockStreamsWithFlushesAndStoredBlocks) {
  const Bytes a = npy_member(64, 5);
  const Bytes b = text(500, 6);
  const Bytes r = random_bytes(400, 7);
  const std::vector<std::pair<std::string, std::vector<Piece>>> cases = {
      {"sync flush", {{a, Z_SYNC_FLUSH}, {b}}},
      {"full flush", {{a, Z_FULL_FLUSH}, {b, Z_FULL_FLUSH}, {r}}},
      {"partial flush", {{prefix(a, 20), Z_PARTIAL_FLUSH}, {b, Z_PARTIAL_FLUSH}, {r}}},
      {"block flush", {{prefix(a, 7), Z_BLOCK}, {b, Z_BLOCK}, {r}}},
      {"empty stored blocks", {{a, Z_SYNC_FLUSH}, {{}, Z_SYNC_FLUSH}, {{}, Z_FULL_FLUSH}, {b}}},
      {"empty stream then sync", {{{}, Z_SYNC_FLUSH}, {a}}},
      {"stored between compressed", {{prefix(a, 30), Z_SYNC_FLUSH}, {r, Z_SYNC_FLUSH, 0}, {b, Z_SYNC_FLUSH, 6}, {a}}},
      {"stored first", {{prefix(a, 5), Z_SYNC_FLUSH, 0}, {a, Z_SYNC_FLUSH, 9}, {b}}},
      {"ends with a sync flush", {{a, Z_SYNC_FLUSH}, {{}}}},
      {"one byte per block", {{{'x'}, Z_SYNC_FLUSH}, {{'y'}, Z_FULL_FLUSH}, {{'z'}, Z_SYNC_FLUSH}, {{'x'}}}},
  };
  for (const auto& [name, pieces] : cases) {
    Bytes whole;
    for (const auto& p : pieces) whole.insert(whole.end(), p.data.begin(), p.data.end());
    for (const auto& c : kConfigs) {
      if (c.level == 0 && name.find("stored") != std::string::npos) continue;  // level switches need a compressing start
      const std::string what = name + ", level " + std::to_string(c.level) + ", strategy " + std::to_string(c.strategy);
      expect_decodes_every_prefix(whole, deflate_pieces(pieces, c.level, c.strategy), what);
    }
  }
}

TEST(InflatePrefix, ResumesAcrossManySmallRequests) {
  const Bytes input = text(5000, 9);
  const Bytes z = deflate_one(input, 6);
  std::mt19937 rng(10);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::size_t> wants;
    std::size_t at = 0;
    while (at < 6000) {
      at += rng() % 300;
      wants.push_back(at);
      if (rng() % 4 == 0) wants.push_back(at / 2);  // an earlier length again
    }
    const auto ours = our_answers(z, wants);
    for (std::size_t k = 0; k < wants.size(); ++k) {
      ASSERT_TRUE(ours[k].has_value()) << "round " << round << " call " << k;
      ASSERT_EQ(*ours[k], prefix(input, wants[k])) << "round " << round << " call " << k;
    }
    expect_agrees(z, wants, "round " + std::to_string(round));
  }
}

TEST(InflatePrefix, EndsEarlyAsZlibDoes) {
  const Bytes input = text(100, 11);
  const Bytes z = deflate_one(input, 6);
  InflatePrefix d;
  d.start(bytes_of(z));
  std::vector<std::byte> out(500);
  EXPECT_EQ(d.extend(out, 500), InflatePrefix::Status::Ended);
  EXPECT_EQ(d.produced(), 100u);
  EXPECT_EQ(d.extend(out, 500), InflatePrefix::Status::Ended);
  EXPECT_EQ(expect_agrees(z, {50, 100, 101, 500}, "ends early"), 4u);
  // Bytes after the final block are not read.
  Bytes trailing = z;
  trailing.insert(trailing.end(), {0xFF, 0xFF, 0x00});
  EXPECT_EQ(one_shot(trailing, 500), input);
}

TEST(InflatePrefix, DeclinesRequestsBeyondItsLimit) {
  const Bytes input = random_bytes(kInflatePrefixMaxBytes + 100, 12);
  const Bytes z = deflate_one(input, 1);
  EXPECT_EQ(one_shot(z, kInflatePrefixMaxBytes), prefix(input, kInflatePrefixMaxBytes));
  EXPECT_FALSE(one_shot(z, kInflatePrefixMaxBytes + 1).has_value());
  InflatePrefix d;
  d.start(bytes_of(z));
  std::vector<std::byte> out(10);
  EXPECT_EQ(d.extend(out, 11), InflatePrefix::Status::Cant);  // more than the buffer
  EXPECT_EQ(d.extend(out, 5), InflatePrefix::Status::Cant);   // sticky until start()
  d.start(bytes_of(z));
  EXPECT_EQ(d.extend(out, 5), InflatePrefix::Status::Filled);
}

// ---- malformed streams: declined, or exactly zlib's bytes ----

TEST(InflatePrefix, TruncatedStreamsAgreeWithZlib) {
  std::vector<std::pair<std::string, Bytes>> streams;
  const Bytes npy = npy_member(200, 13);
  for (const auto& c : kConfigs) streams.emplace_back("npy level " + std::to_string(c.level), deflate_one(npy, c.level, c.strategy));
  streams.emplace_back("multi-block", deflate_pieces({{prefix(npy, 50), Z_SYNC_FLUSH}, {{}, Z_SYNC_FLUSH}, {npy}}, 6, Z_DEFAULT_STRATEGY));
  std::size_t answered = 0;
  for (const auto& [name, z] : streams) {
    for (std::size_t cut = 0; cut < z.size(); ++cut) {
      const Bytes t = prefix(z, cut);
      for (const auto& wants : std::vector<std::vector<std::size_t>>{{12, 128}, {1}, {900}, {128, 12, 900}})
        answered += expect_agrees(t, wants, name + " cut at " + std::to_string(cut));
    }
  }
  EXPECT_GT(answered, 0u);  // the header is all there long before the stream ends
}

TEST(InflatePrefix, FlippedBitsAgreeWithZlib) {
  std::vector<std::pair<std::string, Bytes>> streams;
  const Bytes npy = npy_member(100, 14);
  for (const auto& c : kConfigs) streams.emplace_back("npy level " + std::to_string(c.level), deflate_one(npy, c.level, c.strategy));
  streams.emplace_back("text", deflate_one(text(600, 15), 9));
  std::mt19937 rng(16);
  std::size_t answered = 0;
  std::size_t cases = 0;
  for (const auto& [name, z] : streams) {
    std::vector<std::size_t> bits;
    for (std::size_t b = 0; b < std::min<std::size_t>(z.size(), 160) * 8; ++b) bits.push_back(b);  // the headers
    for (int k = 0; k < 200; ++k) bits.push_back(rng() % (z.size() * 8));
    for (const std::size_t b : bits) {
      Bytes f = z;
      f[b / 8] = static_cast<std::uint8_t>(f[b / 8] ^ (1u << (b % 8)));
      for (const auto& wants : std::vector<std::vector<std::size_t>>{{12, 128}, {1}, {600}}) {
        answered += expect_agrees(f, wants, name + " bit " + std::to_string(b));
        ++cases;
      }
      if (rng() % 4 == 0) {  // and a second flip
        const std::size_t b2 = rng() % (z.size() * 8);
        f[b2 / 8] = static_cast<std::uint8_t>(f[b2 / 8] ^ (1u << (b2 % 8)));
        answered += expect_agrees(f, {12, 128, 600}, name + " bits " + std::to_string(b) + ", " + std::to_string(b2));
      }
    }
  }
  EXPECT_GT(answered, cases / 10);  // many flips only change data bytes
}

TEST(InflatePrefix, HandBuiltStreamsDecodeLikeZlib) {
  {  // a match reaching back exactly to the start, then overlapping runs
    BitWriter w;
    w.put(1, 1);
    w.put(1, 2);
    fixed_symbol(w, 'a');
    fixed_symbol(w, 'b');
    fixed_symbol(w, 257);  // length 3
    w.code(1, 5);          // distance 2
    fixed_symbol(w, 285);  // length 258
    w.code(0, 5);          // distance 1
    fixed_symbol(w, 256);
    const Bytes z = w.done();
    Bytes want = {'a', 'b', 'a', 'b', 'a'};
    want.insert(want.end(), 258, 'a');
    EXPECT_EQ(one_shot(z, 1000), want);
    expect_agrees(z, {1, 2, 3, 4, 5, 6, 100, 263, 264}, "overlapping copies");
  }
  {  // stored, empty stored, fixed, then a dynamic final block
    BitWriter w;
    w.put(0, 1);
    w.put(0, 2);
    w.align();
    w.put(3, 16);
    w.put(0xFFFF ^ 3, 16);
    for (char c : std::string("xyz")) w.byte(static_cast<std::uint8_t>(c));
    w.put(0, 1);
    w.put(0, 2);
    w.align();
    w.put(0, 16);
    w.put(0xFFFF, 16);
    w.put(0, 1);
    w.put(1, 2);
    fixed_symbol(w, 'q');
    fixed_symbol(w, 256);
    auto lit = small_lit_lens();
    const std::vector<std::uint8_t> dist = {1, 1};
    auto script = plain(lit);
    for (auto l : dist) script.push_back({l});
    dynamic_header(w, true, 258, 2, kCl, script);
    const auto lc = canonical(lit);
    w.code(lc['a'], 2);
    w.code(lc['b'], 2);
    w.code(lc[257], 2);
    w.code(1, 1);  // distance code 1: distance 2
    w.code(lc[256], 2);
    const Bytes z = w.done();
    EXPECT_EQ(one_shot(z, 100), (Bytes{'x', 'y', 'z', 'q', 'a', 'b', 'a', 'b', 'a'}));
    for (std::size_t n = 0; n <= 10; ++n) expect_agrees(z, {n}, "mixed blocks, " + std::to_string(n));
    expect_agrees(z, {2, 3, 4, 5, 9, 10}, "mixed blocks in steps");
  }
}

TEST(InflatePrefix, HandBuiltMalformedStreamsAreDeclined) {
  const auto lit = small_lit_lens();
  const std::vector<std::uint8_t> dist = {1, 1};
  const auto with = [](std::vector<std::uint8_t> l, unsigned sym, std::uint8_t len) {
    l[sym] = len;
    return l;
  };
  const auto dynamic = [&](unsigned nlen, unsigned ndist, const std::array<std::uint8_t, 19>& cl, std::vector<ClSymbol> script) {
    BitWriter w;
    dynamic_header(w, true, nlen, ndist, cl, script);
    for (int k = 0; k < 8; ++k) w.byte(0x00);  // symbols, whatever they decode to
    return w.done();
  };
  const auto lens_script = [&](const std::vector<std::uint8_t>& l, const std::vector<std::uint8_t>& d) {
    auto s = plain(l);
    for (auto x : d) s.push_back({x});
    return s;
  };
  std::vector<std::pair<std::string, Bytes>> bad;
  {
    BitWriter w;  // stored LEN/NLEN disagree
    w.put(1, 1);
    w.put(0, 2);
    w.align();
    w.put(5, 16);
    w.put(0x1234, 16);
    for (int k = 0; k < 5; ++k) w.byte('s');
    bad.emplace_back("stored LEN/NLEN mismatch", w.done());
  }
  {
    BitWriter w;  // reserved block type
    w.put(1, 1);
    w.put(3, 2);
    w.put(0, 16);
    bad.emplace_back("block type 3", w.done());
  }
  {
    BitWriter w;  // fixed literal/length symbol 286
    w.put(1, 1);
    w.put(1, 2);
    fixed_symbol(w, 286);
    w.put(0, 16);
    bad.emplace_back("literal/length 286", w.done());
  }
  {
    BitWriter w;  // fixed symbol 287
    w.put(1, 1);
    w.put(1, 2);
    fixed_symbol(w, 287);
    w.put(0, 16);
    bad.emplace_back("literal/length 287", w.done());
  }
  for (unsigned d : {30u, 31u}) {
    BitWriter w;  // fixed distance code 30 / 31
    w.put(1, 1);
    w.put(1, 2);
    fixed_symbol(w, 'a');
    fixed_symbol(w, 257);
    w.code(d, 5);
    w.put(0, 16);
    bad.emplace_back("distance code " + std::to_string(d), w.done());
  }
  {
    BitWriter w;  // distance past the start of the output
    w.put(1, 1);
    w.put(1, 2);
    fixed_symbol(w, 'a');
    fixed_symbol(w, 257);
    w.code(1, 5);  // distance 2, one byte produced
    fixed_symbol(w, 256);
    bad.emplace_back("distance too far back", w.done());
  }
  {
    BitWriter w;  // the stored block's bytes are cut off
    w.put(1, 1);
    w.put(0, 2);
    w.align();
    w.put(50, 16);
    w.put(0xFFFF ^ 50, 16);
    for (int k = 0; k < 10; ++k) w.byte('s');
    bad.emplace_back("stored block truncated", w.done());
  }
  {
    auto lit288 = lit;
    lit288.resize(288, 0);
    bad.emplace_back("HLIT 288", dynamic(288, 2, kCl, lens_script(lit288, dist)));
  }
  bad.emplace_back("HDIST 31", dynamic(258, 31, kCl, lens_script(lit, std::vector<std::uint8_t>(31, 0))));
  bad.emplace_back("HDIST 32", dynamic(258, 32, kCl, lens_script(lit, std::vector<std::uint8_t>(32, 0))));
  {
    std::array<std::uint8_t, 19> over{};
    over.fill(1);
    bad.emplace_back("code-length code over-subscribed", dynamic(258, 2, over, {}));
    std::array<std::uint8_t, 19> incomplete{};
    for (unsigned s = 0; s < 8; ++s) incomplete[s] = 4;
    bad.emplace_back("code-length code incomplete", dynamic(258, 2, incomplete, {}));
  }
  bad.emplace_back("repeat with nothing before", dynamic(258, 2, kCl, {{16, 0}}));
  {
    auto s = lens_script(lit, {1});
    s.push_back({18, 127});  // 138 zeros where one length is left
    bad.emplace_back("repeat past the last length", dynamic(258, 2, kCl, s));
  }
  bad.emplace_back("no end-of-block code", dynamic(258, 2, kCl, lens_script(with(with(lit, 256, 0), 'c', 2), dist)));
  bad.emplace_back("literal code over-subscribed", dynamic(258, 2, kCl, lens_script(with(lit, 'c', 1), dist)));
  bad.emplace_back("literal code incomplete", dynamic(258, 2, kCl, lens_script(with(lit, 257, 3), dist)));
  bad.emplace_back("distance code over-subscribed", dynamic(258, 3, kCl, lens_script(lit, {1, 1, 1})));
  bad.emplace_back("distance code incomplete", dynamic(258, 3, kCl, lens_script(lit, {1, 2, 0})));
  for (const auto& [name, z] : bad) {
    EXPECT_FALSE(one_shot(z, 100).has_value()) << name;
    EXPECT_TRUE(zlib_answers(z, {100})[0].error) << name << ": the test stream should be one zlib refuses";
  }

  // Two that zlib accepts (no zlib encoder writes them) and ours declines.
  std::vector<std::pair<std::string, Bytes>> odd;
  odd.emplace_back("one distance code of one bit", dynamic(258, 1, kCl, lens_script(lit, {1})));
  odd.emplace_back("no distance codes", dynamic(258, 1, kCl, lens_script(lit, {0})));
  for (const auto& [name, z] : odd) {
    EXPECT_FALSE(one_shot(z, 3).has_value()) << name;
    EXPECT_FALSE(zlib_answers(z, {3})[0].error) << name;
  }
}

// Once the output is full, zlib decodes on to the next item producing
// output and reports what is wrong on the way; the decoder declines there.
TEST(InflatePrefix, DeclinesWhereZlibLooksAheadIntoAnError) {
  const auto fixed_ab_then = [](auto tail) {
    BitWriter w;
    w.put(0, 1);  // not final: a block may follow
    w.put(1, 2);
    fixed_symbol(w, 'a');
    fixed_symbol(w, 'b');
    tail(w);
    w.put(0, 16);
    return w.done();
  };
  const Bytes bad_symbol = fixed_ab_then([](BitWriter& w) { fixed_symbol(w, 286); });
  const Bytes bad_block = fixed_ab_then([](BitWriter& w) {
    fixed_symbol(w, 256);
    w.put(1, 1);
    w.put(3, 2);
  });
  const Bytes bad_stored = fixed_ab_then([](BitWriter& w) {
    fixed_symbol(w, 256);
    w.put(1, 1);
    w.put(0, 2);
    w.align();
    w.put(4, 16);
    w.put(4, 16);
  });
  const Bytes empty_stored_then_bad = fixed_ab_then([](BitWriter& w) {
    fixed_symbol(w, 256);
    w.put(0, 1);
    w.put(0, 2);
    w.align();
    w.put(0, 16);
    w.put(0xFFFF, 16);
    w.put(1, 1);
    w.put(3, 2);
  });
  for (const auto& [name, z] : std::vector<std::pair<std::string, Bytes>>{{"invalid symbol", bad_symbol},
                                                                          {"invalid block type", bad_block},
                                                                          {"bad stored lengths", bad_stored},
                                                                          {"after an empty stored block", empty_stored_then_bad}}) {
    EXPECT_EQ(one_shot(z, 1), (Bytes{'a'})) << name;  // the next item is the literal 'b'
    EXPECT_TRUE(zlib_answers(z, {2})[0].error) << name;
    EXPECT_FALSE(one_shot(z, 2).has_value()) << name;
    EXPECT_EQ(expect_agrees(z, {1, 2}, name), 1u) << name;
  }
}

// ---- PrefixReader: the same with and without the decoder ----

namespace {

struct DecoderSwitch {
  explicit DecoderSwitch(bool on) { zip::set_prefix_decoder_enabled(on); }
  ~DecoderSwitch() { zip::set_prefix_decoder_enabled(true); }
  DecoderSwitch(const DecoderSwitch&) = delete;
  DecoderSwitch& operator=(const DecoderSwitch&) = delete;
};

std::vector<std::string> reader_answers(const Bytes& z, std::uint64_t size, const std::vector<std::size_t>& wants, bool decoder) {
  const DecoderSwitch on(decoder);
  std::vector<std::byte> data(reinterpret_cast<const std::byte*>(z.data()), reinterpret_cast<const std::byte*>(z.data()) + z.size());
  MemorySource src(std::move(data), "mem");
  zip::Member m;
  m.name = "w.npy";
  m.method = zip::kDeflated;
  m.size = size;
  m.compressed_size = z.size();
  zip::PrefixReader reader;
  reader.start(src, m);
  std::vector<std::string> out;
  for (const std::size_t want : wants) {
    try {
      const auto got = reader.first(want);
      out.emplace_back("bytes:" + std::string(reinterpret_cast<const char*>(got.data()), got.size()));
    } catch (const Error& e) {
      out.emplace_back(std::string("error:") + e.what());
    }
  }
  return out;
}

}  // namespace

TEST(InflatePrefix, PrefixReaderAnswersTheSameWithAndWithoutIt) {
  const Bytes npy = npy_member(300, 17);
  std::vector<std::pair<std::string, Bytes>> streams;
  for (const auto& c : kConfigs) streams.emplace_back("level " + std::to_string(c.level), deflate_one(npy, c.level, c.strategy));
  std::mt19937 rng(18);
  std::vector<std::pair<std::string, Bytes>> inputs;
  for (const auto& [name, z] : streams) {
    inputs.emplace_back(name, z);
    for (std::size_t cut = 0; cut < std::min<std::size_t>(z.size(), 200); cut += 3) inputs.emplace_back(name + " cut", prefix(z, cut));
    for (int k = 0; k < 300; ++k) {
      Bytes f = z;
      const std::size_t b = rng() % (std::min<std::size_t>(z.size(), 200) * 8);
      f[b / 8] = static_cast<std::uint8_t>(f[b / 8] ^ (1u << (b % 8)));
      inputs.emplace_back(name + " flipped", f);
    }
  }
  std::size_t errors = 0;
  for (const auto& [name, z] : inputs) {
    for (const std::uint64_t size : {std::uint64_t{npy.size()}, std::uint64_t{64}, std::uint64_t{1} << 20}) {
      const std::vector<std::size_t> wants = {12, 128, 12, 2000};
      const auto with = reader_answers(z, size, wants, true);
      const auto without = reader_answers(z, size, wants, false);
      ASSERT_EQ(with, without) << name;
      errors += static_cast<std::size_t>(std::count_if(with.begin(), with.end(), [](const std::string& s) { return s.rfind("error:", 0) == 0; }));
    }
  }
  EXPECT_GT(errors, 0u);  // errors were compared too, not only bytes
}
