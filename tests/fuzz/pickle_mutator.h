#pragma once
// Structure-aware mutation of pickles, shared by fuzz_pickle (whole input) and
// fuzz_torch (the data.pkl record of a zip, or the pickles of a legacy file).
//
// Byte flips rarely get past a pickle's first broken length or line, so the
// input is decoded into its opcode stream (protocols 0-5, several pickles back
// to back), one thing is changed at the level of opcodes — an integer
// argument, a declared length, a memo index, a string, a frame length, the
// opcode itself, or one opcode inserted, deleted, duplicated or repeated — and
// the stream is encoded again. Bytes that do not decode (torch's raw storage
// data after the last pickle, or plain garbage) are kept as an opaque tail.
// Decoding then encoding without a change gives back the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

namespace ckpt::fuzz::pickle_mutator {

// How an opcode's argument is written.
enum class Arg : std::uint8_t {
  None,
  U8, U16, I32, U32, U64,  // fixed-width little-endian integers
  F64,                     // BINFLOAT: big-endian IEEE double
  Len1, Len4, Len4Signed, Len8,  // length-prefixed bytes
  Line,                    // text up to '\n'
  TwoLines,                // GLOBAL / INST: module '\n' name '\n'
};

inline std::optional<Arg> arg_of(std::uint8_t op) {
  switch (op) {
    case '(': case '.': case '0': case '1': case '2': case 'N': case 'R': case 'a': case 'b': case 'd':
    case 'l': case 's': case 't': case 'Q': case '}': case 'e': case ']': case 'o': case ')': case 'u':
    case 0x81: case 0x85: case 0x86: case 0x87: case 0x88: case 0x89: case 0x8f: case 0x90: case 0x91:
    case 0x92: case 0x93: case 0x94: case 0x97: case 0x98:
      return Arg::None;
    case 0x80: case 'K': case 'h': case 'q': case 0x82: return Arg::U8;
    case 'M': case 0x83: return Arg::U16;
    case 'J': return Arg::I32;
    case 'j': case 'r': case 0x84: return Arg::U32;
    case 0x95: return Arg::U64;
    case 'G': return Arg::F64;
    case 'U': case 'C': case 0x8c: case 0x8a: return Arg::Len1;
    case 'X': case 'B': case 0x8b: return Arg::Len4;
    case 'T': return Arg::Len4Signed;
    case 0x8d: case 0x8e: case 0x96: return Arg::Len8;
    case 'F': case 'I': case 'L': case 'P': case 'S': case 'V': case 'g': case 'p': return Arg::Line;
    case 'c': case 'i': return Arg::TwoLines;
    default: return std::nullopt;
  }
}

inline std::size_t width_of(Arg a) {
  switch (a) {
    case Arg::U8: case Arg::Len1: return 1;
    case Arg::U16: return 2;
    case Arg::I32: case Arg::U32: case Arg::Len4: case Arg::Len4Signed: return 4;
    case Arg::U64: case Arg::F64: case Arg::Len8: return 8;
    default: return 0;
  }
}

inline bool is_fixed(Arg a) { return a >= Arg::U8 && a <= Arg::F64; }
inline bool is_length(Arg a) { return a >= Arg::Len1 && a <= Arg::Len8; }
inline bool is_text(Arg a) { return a == Arg::Line || a == Arg::TwoLines; }

struct Op {
  std::uint8_t code = 0;
  Arg arg = Arg::None;
  std::uint64_t number = 0;               // fixed-width argument, raw bits
  std::string payload;                    // length-prefixed bytes; line text ("module\nname" for TwoLines)
  std::optional<std::uint64_t> declared;  // a length that disagrees with the payload
};

struct Program {
  std::vector<Op> ops;
  std::string tail;  // bytes that did not decode
};

inline std::uint64_t load_uint(const std::uint8_t* p, std::size_t n, bool big_endian = false) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{p[big_endian ? n - 1 - i : i]} << (8 * i);
  return v;
}

inline void store_uint(std::string& out, std::uint64_t v, std::size_t n, bool big_endian = false) {
  for (std::size_t i = 0; i < n; ++i) out += static_cast<char>(v >> (8 * (big_endian ? n - 1 - i : i)));
}

inline Program decode(const std::uint8_t* data, std::size_t size) {
  Program p;
  std::size_t pos = 0;
  while (pos < size) {
    const std::size_t start = pos;
    const auto arg = arg_of(data[pos]);
    if (!arg) break;
    Op op;
    op.code = data[pos++];
    op.arg = *arg;
    const std::size_t w = width_of(*arg);
    bool ok = true;
    if (is_fixed(*arg)) {
      if (size - pos < w) ok = false;
      else op.number = load_uint(data + pos, w, *arg == Arg::F64), pos += w;
    } else if (is_length(*arg)) {
      if (size - pos < w) {
        ok = false;
      } else {
        const std::uint64_t n = load_uint(data + pos, w);
        if ((*arg == Arg::Len4Signed && n > 0x7fffffffu) || n > size - pos - w) ok = false;
        else op.payload.assign(reinterpret_cast<const char*>(data + pos + w), static_cast<std::size_t>(n)), pos += w + n;
      }
    } else if (is_text(*arg)) {
      for (int lines = *arg == Arg::TwoLines ? 2 : 1; ok && lines > 0; --lines) {
        const void* nl = std::memchr(data + pos, '\n', size - pos);
        if (!nl) {
          ok = false;
          break;
        }
        const std::size_t end = static_cast<std::size_t>(static_cast<const std::uint8_t*>(nl) - data);
        if (lines == 1 && *arg == Arg::TwoLines) op.payload += '\n';
        op.payload.append(reinterpret_cast<const char*>(data + pos), end - pos);
        pos = end + 1;
      }
    }
    if (!ok) {
      pos = start;
      break;
    }
    p.ops.push_back(std::move(op));
  }
  p.tail.assign(reinterpret_cast<const char*>(data + pos), size - pos);
  return p;
}

inline std::string encode(const Program& p) {
  std::string out;
  for (const Op& op : p.ops) {
    out += static_cast<char>(op.code);
    const std::size_t w = width_of(op.arg);
    if (is_fixed(op.arg)) {
      store_uint(out, op.number, w, op.arg == Arg::F64);
    } else if (is_length(op.arg)) {
      store_uint(out, op.declared.value_or(op.payload.size()), w);
      out += op.payload;
    } else if (is_text(op.arg)) {
      out += op.payload;
      out += '\n';
    }
  }
  return out + p.tail;
}

// ---- what to put in ----

inline constexpr std::string_view kTokens[] = {
    "storage", "cpu", "cuda", "cuda:0", "little_endian", "protocol_version", "type_sizes", "_metadata",
    "version", "weight", "bias", "running_mean", "num_batches_tracked", "state_dict", "model", "optimizer",
    "latin1", "utf-8", "utf8", "ascii", "", "0", "1", "-1", "a.b", "..", ".", "\xff\xfe", "\xc3\x28",
    "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "x\\u0041", "\\U0010ffff", "\\ud800", "'quoted'", "\"q\"",
    "'\\x4", "'\\777'", "'\\x41'",
};

inline constexpr std::string_view kGlobals[] = {
    "collections\nOrderedDict", "builtins\nset", "builtins\nfrozenset", "builtins\nbytearray", "builtins\nbytes",
    "builtins\nlist", "builtins\ndict", "builtins\ntuple", "_codecs\nencode", "__builtin__\nset", "copy_reg\n_reconstructor",
    "torch._utils\n_rebuild_tensor_v2", "torch._utils\n_rebuild_tensor", "torch._utils\n_rebuild_parameter",
    "torch._utils\n_rebuild_parameter_with_state", "torch._tensor\n_rebuild_from_type_v2", "torch\nSize",
    "torch\ndevice", "torch.nn.parameter\nParameter", "torch\nTensor", "torch\nfloat32", "torch\nbfloat16",
    "torch\nfloat8_e4m3fn", "torch\nuint64", "torch\nFloatStorage", "torch\nHalfStorage", "torch\nBFloat16Storage",
    "torch\nLongStorage", "torch\nBoolStorage", "torch\nComplexDoubleStorage", "torch.cuda\nFloatStorage",
    "torch\nUntypedStorage", "torch.storage\nUntypedStorage", "torch._utils\n_rebuild_tensor_v3",
    "os\nsystem", "builtins\neval", "builtins\ngetattr", "numpy.core.multiarray\n_reconstruct", "torch\n",
    "\nOrderedDict", "collections\n",
};

inline constexpr std::string_view kNumbers[] = {
    "0", "1", "-1", "00", "01", "2", "255", "256", "1001", "65535", "2147483647", "-2147483648", "4294967296",
    "9223372036854775807", "-9223372036854775808", "9223372036854775808", "99999999999999999999999", "1L",
    "9223372036854775808L", "+5", "--1", "", " 1", "0x10", "1e308", "1e309", "-0.0", "nan", "inf", "-inf",
    "1.5", "2.5e-308", "4.9e-324", "9.3e18", "-9.3e18", "1e19",
};

inline std::uint64_t interesting_uint(std::mt19937_64& rng, std::size_t width, std::uint64_t old) {
  const std::uint64_t mask = width >= 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * width)) - 1;
  const std::uint64_t half = mask >> 1;
  const std::uint64_t choices[] = {0, 1, 2, 3, 6, 7, 8, 63, 64, 127, 128, 255, 256, 1000, 1001, 1024, 65535, 65536,
                                   half, half + 1, mask, mask - 1, 0x7fffffff, 0x80000000, 0xffffffff,
                                   std::uint64_t{1} << 32, std::uint64_t{1} << 62};
  switch (rng() % 4) {
    case 0: return choices[rng() % std::size(choices)] & mask;
    case 1: return (old + 1 + rng() % 16) & mask;
    case 2: return (old - 1 - rng() % 16) & mask;
    default: return rng() & mask;
  }
}

inline std::uint64_t interesting_double_bits(std::mt19937_64& rng) {
  const double choices[] = {0.0, -0.0, 1.0, -1.0, 0.5, 1e300, -1e300, 9.3e18, -9.3e18, 9.2e18, 1.8446744073709552e19,
                            std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                            std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::denorm_min(),
                            std::numeric_limits<double>::max(), 4294967296.0, 2147483648.0};
  double d = choices[rng() % std::size(choices)];
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return bits;
}

// A plausible argument for an opcode inserted out of nothing.
inline Op make_op(std::mt19937_64& rng, std::uint8_t code) {
  Op op;
  op.code = code;
  op.arg = *arg_of(code);
  if (is_fixed(op.arg)) {
    op.number = op.arg == Arg::F64 ? interesting_double_bits(rng) : interesting_uint(rng, width_of(op.arg), rng() % 4);
    if (code == 0x80) op.number = rng() % 7;
  } else if (is_length(op.arg)) {
    if (code == 0x8a || code == 0x8b) {
      const std::size_t n = rng() % 12;
      for (std::size_t i = 0; i < n; ++i) op.payload += static_cast<char>(rng() % 3 == 0 ? 0xff : rng());
    } else {
      op.payload = std::string(kTokens[rng() % std::size(kTokens)]);
    }
  } else if (op.arg == Arg::TwoLines) {
    op.payload = std::string(kGlobals[rng() % std::size(kGlobals)]);
  } else if (op.arg == Arg::Line) {
    if (code == 'S') op.payload = "'" + std::string(kTokens[rng() % std::size(kTokens)]) + "'";
    else if (code == 'V' || code == 'P') op.payload = std::string(kTokens[rng() % std::size(kTokens)]);
    else op.payload = std::string(kNumbers[rng() % std::size(kNumbers)]);
  }
  return op;
}

// Opcodes inserted, weighted towards the ones that build and call.
inline constexpr std::uint8_t kInsertable[] = {
    '(', '(', '.', '0', '1', '2', '2', 'N', 'R', 'R', 'a', 'b', 'd', 'l', 's', 't', 't', 'Q', '}', 'e', ']',
    'o', ')', 'u', 'u', 0x81, 0x85, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x94,
    0x80, 'K', 'h', 'h', 'q', 'M', 'J', 'j', 'r', 0x95, 'G', 'U', 'C', 0x8c, 0x8c, 0x8a, 'X', 'B', 0x8b, 'T',
    0x8d, 0x8e, 0x96, 'F', 'I', 'L', 'P', 'S', 'V', 'g', 'p', 'c', 'c', 'i', 0x82, 0x97,
};

// Opcodes that can replace each other without re-making the argument.
inline std::uint8_t same_shape_opcode(std::mt19937_64& rng, const Op& op) {
  std::vector<std::uint8_t> same;
  for (std::uint8_t c : kInsertable)
    if (arg_of(c) == op.arg && c != op.code) same.push_back(c);
  return same.empty() ? op.code : same[rng() % same.size()];
}

// One change; false when nothing applicable was found.
inline bool mutate_once(Program& p, std::mt19937_64& rng, std::size_t max_size) {
  auto pick = [&](auto&& want) -> Op* {
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < p.ops.size(); ++i)
      if (want(p.ops[i])) idx.push_back(i);
    return idx.empty() ? nullptr : &p.ops[idx[rng() % idx.size()]];
  };
  const std::size_t n = p.ops.size();
  switch (rng() % 13) {
    case 0: {  // an integer argument (ints, memo indices, protocol, frame length)
      Op* op = pick([](const Op& o) { return is_fixed(o.arg); });
      if (!op) return false;
      op->number = op->arg == Arg::F64 ? interesting_double_bits(rng) : interesting_uint(rng, width_of(op->arg), op->number);
      return true;
    }
    case 1: {  // a declared length that lies
      Op* op = pick([](const Op& o) { return is_length(o.arg); });
      if (!op) return false;
      const std::uint64_t real = op->payload.size();
      const std::uint64_t choices[] = {real + 1, real ? real - 1 : 0, 0, real + 8, real * 2 + 1};
      op->declared = rng() % 2 ? choices[rng() % std::size(choices)] : interesting_uint(rng, width_of(op->arg), real);
      if (width_of(op->arg) < 8) *op->declared &= (std::uint64_t{1} << (8 * width_of(op->arg))) - 1;
      return true;
    }
    case 2: {  // a memo index: point a fetch or store at another slot
      Op* op = pick([](const Op& o) { return std::string_view("hjgqrp").find(static_cast<char>(o.code)) != std::string_view::npos; });
      if (!op) return false;
      std::vector<std::uint64_t> slots;
      for (const Op& o : p.ops) {
        if (o.code == 'q' || o.code == 'r' || o.code == 'h' || o.code == 'j') slots.push_back(o.number);
        if (o.code == 'p' || o.code == 'g') slots.push_back(std::strtoull(o.payload.c_str(), nullptr, 10));
      }
      const std::uint64_t slot = rng() % 4 ? slots[rng() % slots.size()] + rng() % 3 : interesting_uint(rng, 4, 0);
      if (op->arg == Arg::Line) op->payload = std::to_string(slot);
      else op->number = slot & (op->arg == Arg::U8 ? 0xff : 0xffffffff);
      return true;
    }
    case 3: {  // a string, bytes or line argument
      Op* op = pick([](const Op& o) { return is_length(o.arg) || is_text(o.arg); });
      if (!op) return false;
      op->declared.reset();
      const auto fresh = make_op(rng, op->code);
      if (rng() % 2 || op->payload.empty()) {
        op->payload = fresh.payload;
      } else {
        std::string buf = op->payload;
        const std::size_t cap = std::min<std::size_t>(buf.size() * 2 + 16, max_size);
        buf.resize(cap);
        buf.resize(LLVMFuzzerMutate(reinterpret_cast<std::uint8_t*>(buf.data()), op->payload.size(), cap));
        op->payload = buf;
      }
      return true;
    }
    case 4: {  // another opcode with the same kind of argument
      if (!n) return false;
      Op& op = p.ops[rng() % n];
      op.code = same_shape_opcode(rng, op);
      return true;
    }
    case 5:
    case 6: {  // insert one opcode
      const std::size_t at = n ? rng() % (n + 1) : 0;
      p.ops.insert(p.ops.begin() + static_cast<std::ptrdiff_t>(at), make_op(rng, kInsertable[rng() % std::size(kInsertable)]));
      return true;
    }
    case 7: {  // delete one to three opcodes
      if (!n) return false;
      const std::size_t at = rng() % n;
      const std::size_t len = std::min<std::size_t>(1 + rng() % 3, n - at);
      p.ops.erase(p.ops.begin() + static_cast<std::ptrdiff_t>(at), p.ops.begin() + static_cast<std::ptrdiff_t>(at + len));
      return true;
    }
    case 8:
    case 9: {  // duplicate a run of opcodes somewhere else
      if (!n) return false;
      const std::size_t from = rng() % n;
      const std::size_t len = std::min<std::size_t>(1 + rng() % 8, n - from);
      std::vector<Op> run(p.ops.begin() + static_cast<std::ptrdiff_t>(from), p.ops.begin() + static_cast<std::ptrdiff_t>(from + len));
      const std::size_t at = rng() % (n + 1);
      p.ops.insert(p.ops.begin() + static_cast<std::ptrdiff_t>(at), run.begin(), run.end());
      return true;
    }
    case 10: {  // repeat one opcode many times in place: deep nesting, long stacks, many marks
      if (!n) return false;
      const std::size_t at = rng() % n;
      const std::size_t times = std::size_t{1} << (rng() % 12);
      std::vector<Op> rep(times, p.ops[at]);
      p.ops.insert(p.ops.begin() + static_cast<std::ptrdiff_t>(at), rep.begin(), rep.end());
      return true;
    }
    case 11: {  // swap two opcodes
      if (n < 2) return false;
      std::swap(p.ops[rng() % n], p.ops[rng() % n]);
      return true;
    }
    default: {  // the undecoded tail
      if (p.tail.empty()) return false;
      std::string buf = p.tail;
      const std::size_t cap = std::min<std::size_t>(buf.size() + 64, max_size);
      buf.resize(cap);
      buf.resize(LLVMFuzzerMutate(reinterpret_cast<std::uint8_t*>(buf.data()), p.tail.size(), cap));
      p.tail = buf;
      return true;
    }
  }
}

// Mutates data[0, size) in place (up to max_size bytes); returns the new size.
inline std::size_t mutate(std::uint8_t* data, std::size_t size, std::size_t max_size, unsigned int seed) {
  std::mt19937_64 rng(seed);
  if (rng() % 8 == 0) return LLVMFuzzerMutate(data, size, max_size);
  Program p = decode(data, size);
  if (p.ops.empty()) return LLVMFuzzerMutate(data, size, max_size);
  const int rounds = 1 + static_cast<int>(rng() % 3 == 0 ? rng() % 4 : 0);
  bool changed = false;
  for (int r = 0; r < rounds; ++r)
    for (int tries = 0; tries < 8; ++tries)
      if (mutate_once(p, rng, max_size)) {
        changed = true;
        break;
      }
  if (!changed) return LLVMFuzzerMutate(data, size, max_size);
  const std::string out = encode(p);
  if (out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

// Splices a run of the second input's opcodes into the first.
inline std::size_t cross_over(const std::uint8_t* a, std::size_t a_size, const std::uint8_t* b, std::size_t b_size,
                              std::uint8_t* out, std::size_t max_out, unsigned int seed) {
  std::mt19937_64 rng(seed);
  Program pa = decode(a, a_size);
  const Program pb = decode(b, b_size);
  if (!pb.ops.empty()) {
    const std::size_t from = rng() % pb.ops.size();
    const std::size_t len = std::min<std::size_t>(1 + rng() % 16, pb.ops.size() - from);
    const std::size_t at = rng() % (pa.ops.size() + 1);
    pa.ops.insert(pa.ops.begin() + static_cast<std::ptrdiff_t>(at), pb.ops.begin() + static_cast<std::ptrdiff_t>(from),
                  pb.ops.begin() + static_cast<std::ptrdiff_t>(from + len));
  }
  std::string s = encode(pa);
  if (s.size() > max_out) s.resize(max_out);
  std::memcpy(out, s.data(), s.size());
  return s.size();
}

}  // namespace ckpt::fuzz::pickle_mutator
