// NumPy .npy (numpy/lib/format.py):
//
//   6 bytes   magic "\x93NUMPY"
//   u8, u8    major, minor version (1.0, 2.0 or 3.0)
//   u16 LE    header length (v1.0), or u32 LE (v2.0, v3.0)
//   header    a Python dict literal (latin-1; UTF-8 in v3.0), e.g.
//             {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//             padded with spaces and ended by '\n'. NumPy aligns the data to
//             64 bytes, older writers and MLX to 16; any offset is accepted.
//   data      elements in C order (or Fortran order when fortran_order is
//             True), in the byte order the descr names.
//
// The dict is tokenized as a Python literal, never read at fixed positions:
// keys come in any order with any spacing and trailing commas.
#include "io/formats/npy.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>
#include <variant>

#include "io/atomic_file.h"
#include "io/checked.h"
#include "io/endian.h"
#include "io/error.h"

namespace ckpt::io::npy {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicLen = 6;
constexpr std::uint64_t kAlign = 64;
// NumPy leaves room for the growth axis to reach this many digits.
constexpr std::size_t kGrowthAxisDigits = 21;
constexpr int kMaxNesting = 16;

// ---- A Python literal: the subset a .npy header can hold. ----

struct DictEntry;

struct Value {
  enum class Kind { Str, Int, Bool, None, Tuple, List, Dict } kind = Kind::None;
  std::string s;
  std::int64_t i = 0;
  bool b = false;
  // Tuple, List. A sequence of integers only (a shape) keeps them in `ints`
  // instead, 8 bytes each rather than a whole Value.
  std::vector<Value> items;
  std::vector<std::int64_t> ints;
  // Dict, in text order. Not std::pair<std::string, Value>: a pair needs a
  // complete Value, which libstdc++ 12 under clang (the fuzz build) enforces.
  std::vector<DictEntry> dict;
};

struct DictEntry {
  std::string first;
  Value second;
};

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::Str: return "a string";
    case Value::Kind::Int: return "an integer";
    case Value::Kind::Bool: return "a boolean";
    case Value::Kind::None: return "None";
    case Value::Kind::Tuple: return "a tuple";
    case Value::Kind::List: return "a list";
    case Value::Kind::Dict: return "a dict";
  }
  return "a value";
}

class LiteralParser {
 public:
  LiteralParser(std::string_view text, const std::string& label, std::uint64_t base)
      : t_(text), label_(label), base_(base) {}

  Value parse_all() {
    Value v = parse(0);
    skip_ws();
    if (pos_ < t_.size()) fail("unexpected text after the header dict");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& sentence) const {
    throw Error(label_, base_ + pos_, ".npy header: " + sentence);
  }
  void skip_ws() {
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\t' || t_[pos_] == '\n' || t_[pos_] == '\r')) ++pos_;
  }
  bool eat(char c) {
    skip_ws();
    if (pos_ < t_.size() && t_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  // Every Value kept costs ~100 bytes whatever its text: counted against a
  // cap so a header of "(),(),()…" cannot take 50 times its size.
  void count_values(std::size_t n) {
    values_ += n;
    if (values_ > kMaxNpyHeaderValues)
      fail("the header holds more than " + std::to_string(kMaxNpyHeaderValues) + " values (the limit)");
  }

  Value parse(int depth) {
    if (depth > kMaxNesting) fail("the header nests too deeply");
    skip_ws();
    if (pos_ >= t_.size()) fail("the header dict ends early");
    const char c = t_[pos_];
    if (c == '{') return parse_dict(depth);
    if (c == '(' || c == '[') return parse_sequence(depth);
    if (c == '\'' || c == '"') return parse_string();
    if ((c == 'u' || c == 'b') && pos_ + 1 < t_.size() && (t_[pos_ + 1] == '\'' || t_[pos_ + 1] == '"')) {
      ++pos_;  // Python 2 era u'…' / b'…' prefixes
      return parse_string();
    }
    if (c == '-' || c == '+' || (c >= '0' && c <= '9')) return parse_int();
    if (std::isalpha(static_cast<unsigned char>(c))) return parse_name();
    fail(std::string("unexpected character '") + c + "'");
  }

  Value parse_dict(int depth) {
    ++pos_;
    Value v;
    v.kind = Value::Kind::Dict;
    count_values(1);
    while (!eat('}')) {
      Value key = parse(depth + 1);
      if (key.kind != Value::Kind::Str) fail("a header dict key is " + std::string(kind_name(key.kind)) + ", not a string");
      if (!eat(':')) fail("expected ':' after the key '" + key.s + "'");
      Value val = parse(depth + 1);
      // Python keeps the last of repeated keys.
      auto it = std::find_if(v.dict.begin(), v.dict.end(), [&](const auto& kv) { return kv.first == key.s; });
      if (it != v.dict.end()) {
        it->second = std::move(val);
      } else {
        // Repeated keys are looked up linearly: a header dict holds three.
        if (v.dict.size() == kMaxNpyHeaderDictKeys)
          fail("the header dict has more than " + std::to_string(kMaxNpyHeaderDictKeys) + " keys (the limit)");
        v.dict.push_back(DictEntry{std::move(key.s), std::move(val)});
      }
      if (eat('}')) break;
      if (!eat(',')) fail("expected ',' or '}' in the header dict");
    }
    return v;
  }

  Value parse_sequence(int depth) {
    const char close = t_[pos_] == '(' ? ')' : ']';
    Value v;
    v.kind = close == ')' ? Value::Kind::Tuple : Value::Kind::List;
    count_values(1);
    ++pos_;
    bool trailing_comma = false;
    while (!eat(close)) {
      Value item = parse(depth + 1);
      if (item.kind == Value::Kind::Int && v.items.empty()) {
        v.ints.push_back(item.i);
      } else {
        if (!v.ints.empty()) {  // not integers only after all: they become Values too
          count_values(v.ints.size());
          for (std::int64_t n : v.ints) v.items.push_back(int_value(n));
          v.ints.clear();
          v.ints.shrink_to_fit();
        }
        if (item.kind == Value::Kind::Int) count_values(1);
        v.items.push_back(std::move(item));
      }
      trailing_comma = false;
      if (eat(close)) break;
      if (!eat(',')) fail(std::string("expected ',' or '") + close + "'");
      trailing_comma = true;
    }
    // "(3)" is just 3 in Python; "(3,)" is a one-element tuple.
    if (v.kind == Value::Kind::Tuple && v.items.size() + v.ints.size() == 1 && !trailing_comma)
      return v.ints.empty() ? std::move(v.items[0]) : int_value(v.ints[0]);
    return v;
  }

  static Value int_value(std::int64_t n) {
    Value v;
    v.kind = Value::Kind::Int;
    v.i = n;
    return v;
  }

  Value parse_string() {
    const char q = t_[pos_++];
    Value v;
    v.kind = Value::Kind::Str;
    count_values(1);
    while (true) {
      if (pos_ >= t_.size()) fail("a string in the header is not closed");
      char c = t_[pos_++];
      if (c == q) break;
      if (c == '\\') {
        if (pos_ >= t_.size()) fail("a string in the header is not closed");
        c = t_[pos_++];
        if (c == 'n') c = '\n';
        else if (c == 't') c = '\t';
        else if (c != '\\' && c != '\'' && c != '"') v.s += '\\';
      }
      v.s += c;
    }
    return v;
  }

  Value parse_int() {
    const std::size_t start = pos_;
    bool neg = false;
    if (t_[pos_] == '-' || t_[pos_] == '+') neg = t_[pos_++] == '-';
    if (pos_ >= t_.size() || !(t_[pos_] >= '0' && t_[pos_] <= '9')) fail("a sign is not followed by digits");
    std::int64_t n = 0;
    while (pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9') {
      if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, t_[pos_] - '0', &n)) {
        pos_ = start;
        fail("an integer in the header is too large");
      }
      ++pos_;
    }
    if (pos_ < t_.size() && (t_[pos_] == 'L' || t_[pos_] == 'l')) ++pos_;  // Python 2 long suffix
    Value v;
    v.kind = Value::Kind::Int;
    v.i = neg ? -n : n;
    return v;
  }

  Value parse_name() {
    const std::size_t start = pos_;
    while (pos_ < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[pos_])) || t_[pos_] == '_')) ++pos_;
    const auto word = t_.substr(start, pos_ - start);
    Value v;
    count_values(1);
    if (word == "True" || word == "False") {
      v.kind = Value::Kind::Bool;
      v.b = word == "True";
    } else if (word == "None") {
      v.kind = Value::Kind::None;
    } else {
      pos_ = start;
      fail("unexpected name '" + std::string(word) + "' (a header may hold only literals)");
    }
    return v;
  }

  std::string_view t_;
  const std::string& label_;
  std::uint64_t base_;
  std::size_t pos_ = 0;
  std::size_t values_ = 0;
};

// ---- descr ----

// Byte order and type of a descr such as "<f4"; Error naming it otherwise.
void parse_descr(const std::string& descr, Header& h, const std::string& label, std::uint64_t at) {
  std::string_view body = descr;
  char order = '=';
  if (!body.empty() && (body[0] == '<' || body[0] == '>' || body[0] == '|' || body[0] == '=')) {
    order = body[0];
    body.remove_prefix(1);
  }
  const auto dt = from_npy(body);
  if (!dt)
    throw Error(label, at, "array dtype '" + descr +
                               "' is not supported (only bool, integers, float16/32/64, complex64/128 and bfloat16 as V2)");
  h.dtype = *dt;
  const bool native_big = std::endian::native == std::endian::big;
  h.big_endian = item_size(*dt) > 1 && (order == '>' || (order == '=' && native_big));
}

std::uint64_t preamble_len(int major) { return major == 1 ? 10 : 12; }

// The three fields of a header, wherever they came from.
struct Fields {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

// NumPy's writer always emits one layout, "{'descr': '<f4', 'fortran_order':
// False, 'shape': (3, 4), }" padded with spaces to a newline. Only exactly
// that is read here (listing 50,000 .npz members spent a fifth of its time
// in the literal parser); anything else, valid or not, goes to the parser,
// which also words the errors.
std::optional<Fields> canonical_fields(std::string_view t) {
  const auto eat = [&](std::string_view lit) {
    if (t.substr(0, lit.size()) != lit) return false;
    t.remove_prefix(lit.size());
    return true;
  };
  Fields f;
  if (!eat("{'descr': '")) return std::nullopt;
  const std::size_t quote = t.find('\'');
  if (quote == std::string_view::npos || t.substr(0, quote).find('\\') != std::string_view::npos) return std::nullopt;
  f.descr.assign(t.substr(0, quote));
  t.remove_prefix(quote + 1);
  if (!eat(", 'fortran_order': ")) return std::nullopt;
  if (eat("False")) f.fortran_order = false;
  else if (eat("True")) f.fortran_order = true;
  else return std::nullopt;
  if (!eat(", 'shape': (")) return std::nullopt;
  while (!eat(")")) {
    std::size_t digits = 0;
    std::int64_t d = 0;
    const auto digit_at = [&](std::size_t k) { return k < t.size() && t[k] >= '0' && t[k] <= '9'; };
    while (digits < 18 && digit_at(digits)) d = d * 10 + (t[digits++] - '0');
    // No sign, and at most 18 digits (no overflow): the parser judges the rest.
    if (digits == 0 || digit_at(digits)) return std::nullopt;
    t.remove_prefix(digits);
    f.shape.push_back(d);
    if (eat(")")) {
      if (f.shape.size() == 1) return std::nullopt;  // "(3)" is an int, not a tuple
      break;
    }
    if (eat(",)")) break;
    if (!eat(", ")) return std::nullopt;
  }
  if (!eat(", }")) return std::nullopt;
  if (t.empty() || t.back() != '\n' || t.find_first_not_of(' ') != t.size() - 1) return std::nullopt;
  return f;
}

// The general route: any Python literal dict a .npy header may hold.
Fields parsed_fields(std::string_view text, const std::string& label, std::uint64_t text_at) {
  const Value dict = LiteralParser(text, label, text_at).parse_all();
  if (dict.kind != Value::Kind::Dict)
    throw Error(label, text_at, ".npy header is " + std::string(kind_name(dict.kind)) + ", not a dict");
  const Value* descr = nullptr;
  const Value* fortran = nullptr;
  const Value* shape = nullptr;
  for (const auto& [key, val] : dict.dict) {
    if (key == "descr") descr = &val;
    else if (key == "fortran_order") fortran = &val;
    else if (key == "shape") shape = &val;
    else throw Error(label, text_at, ".npy header has an unexpected key '" + key + "'");
  }
  for (const auto& [key, ptr] : {std::pair{"descr", descr}, {"fortran_order", fortran}, {"shape", shape}})
    if (!ptr) throw Error(label, text_at, ".npy header has no '" + std::string(key) + "' key");
  if (descr->kind == Value::Kind::List)
    throw Error(label, text_at, "structured array dtypes (a descr list) are not supported");
  if (descr->kind != Value::Kind::Str)
    throw Error(label, text_at, ".npy header 'descr' is " + std::string(kind_name(descr->kind)) + ", not a string");
  if (fortran->kind != Value::Kind::Bool)
    throw Error(label, text_at, ".npy header 'fortran_order' is " + std::string(kind_name(fortran->kind)) + ", not True or False");
  if (shape->kind != Value::Kind::Tuple)
    throw Error(label, text_at, ".npy header 'shape' is " + std::string(kind_name(shape->kind)) + ", not a tuple");
  for (const auto& d : shape->items)
    if (d.kind != Value::Kind::Int)
      throw Error(label, text_at, ".npy header 'shape' holds " + std::string(kind_name(d.kind)) + ", not only integers");
  return Fields{descr->s, fortran->b, shape->ints};  // integers only: the parser kept them in `ints`
}

// Phases 1–4 over bytes available from the start of the image; data_offset
// and errors' offsets are relative to `base`.
Header parse_core(std::span<const std::byte> b, const std::string& label, std::uint64_t base) {
  Header h;
  // Phase 1: magic.
  const std::size_t have = std::min(b.size(), kMagicLen);
  if (have > 0 && std::memcmp(b.data(), kMagic, have) != 0)
    throw Error(label, base, "bad magic: this is not a .npy array (it does not start with \\x93NUMPY)");
  if (b.size() < 8)
    throw Error(label, base + b.size(), "the file ends inside the .npy magic and version (" + std::to_string(b.size()) + " bytes)");
  // Phase 2: version.
  h.major = static_cast<int>(b[6]);
  h.minor = static_cast<int>(b[7]);
  if (h.major < 1 || h.major > 3 || h.minor != 0)
    throw Error(label, base + 6, "unsupported .npy version " + std::to_string(h.major) + "." + std::to_string(h.minor) +
                                     " (1.0, 2.0 and 3.0 are known)");
  // Phase 3: header length.
  const std::uint64_t pre = preamble_len(h.major);
  if (b.size() < pre)
    throw Error(label, base + 8, "the file ends inside the .npy header length field");
  h.header_len = h.major == 1 ? load_le<std::uint16_t>(b.data() + 8) : load_le<std::uint32_t>(b.data() + 8);
  if (h.header_len > kMaxHeaderBytes)
    throw Error(label, base + 8, "the .npy header claims " + std::to_string(h.header_len) + " bytes, over the " +
                                     std::to_string(kMaxHeaderBytes) + "-byte limit");
  if (b.size() - pre < h.header_len)
    throw Error(label, base + b.size(), "the .npy header claims " + std::to_string(h.header_len) + " bytes but the file ends after " +
                                            std::to_string(b.size() - pre));
  h.data_offset = base + pre + h.header_len;

  // Phase 4: the dict.
  const std::string_view text(reinterpret_cast<const char*>(b.data() + pre), static_cast<std::size_t>(h.header_len));
  const std::uint64_t text_at = base + pre;
  auto fields = canonical_fields(text);
  if (!fields) fields = parsed_fields(text, label, text_at);
  h.descr = std::move(fields->descr);
  parse_descr(h.descr, h, label, text_at);
  h.fortran_order = fields->fortran_order;
  h.shape = std::move(fields->shape);
  for (std::int64_t d : h.shape)
    if (d < 0) throw Error(label, text_at, ".npy header 'shape' has a negative dimension " + std::to_string(d));
  const auto numel = checked_numel(h.shape);
  const auto nbytes = numel ? byte_size(h.dtype, *numel) : std::nullopt;
  if (!nbytes) throw Error(label, text_at, ".npy header 'shape' has more elements than can be addressed");
  h.nbytes = *nbytes;
  return h;
}

std::string shape_repr(const Shape& shape) {
  if (shape.empty()) return "()";
  if (shape.size() == 1) return "(" + std::to_string(shape[0]) + ",)";
  std::string s = "(";
  for (std::size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
  return s + ")";
}

}  // namespace

Header parse_header(const ByteSource& src, std::uint64_t offset, std::uint64_t limit) {
  if (offset > src.size()) throw Error(src.label(), offset, "the .npy image starts past the end of the file");
  const std::uint64_t avail = std::min(limit, src.size() - offset);
  Header h = parse_core(src.view(offset, avail, ".npy image"), src.label(), offset);
  // Phase 5: the data must be all there (MLX would silently repeat bytes).
  const std::uint64_t after = offset + avail - h.data_offset;
  if (after < h.nbytes)
    throw Error(src.label(), h.data_offset, "the array needs " + std::to_string(h.nbytes) + " data bytes but only " +
                                                std::to_string(after) + " follow the header (the file is truncated)");
  return h;
}

Header parse_header_bytes(std::span<const std::byte> bytes, const std::string& label, std::uint64_t label_offset) {
  Header h = parse_core(bytes, label, label_offset);
  h.data_offset -= label_offset;
  return h;
}

std::uint64_t header_extent(std::span<const std::byte> b) {
  if (b.size() < 10 || std::memcmp(b.data(), kMagic, kMagicLen) != 0) return 0;
  const int major = static_cast<int>(b[6]);
  if (major == 1) return 10 + std::uint64_t{load_le<std::uint16_t>(b.data() + 8)};
  if ((major == 2 || major == 3) && b.size() >= 12) return 12 + std::uint64_t{load_le<std::uint32_t>(b.data() + 8)};
  return 0;
}

std::string make_header(DType dtype, const Shape& shape) {
  const auto body = info(dtype).npy_descr;
  if (body.empty()) throw Error("", kNoOffset, "dtype " + std::string(name(dtype)) + " has no .npy descr");
  // NumPy marks one-byte types as byte-order free; MLX writes bfloat16 as '<V2'.
  const char order = item_size(dtype) == 1 ? '|' : '<';
  std::string dict = "{'descr': '" + std::string(1, order) + std::string(body) + "', 'fortran_order': False, 'shape': " +
                     shape_repr(shape) + ", }";
  if (!shape.empty()) dict.append(kGrowthAxisDigits - std::to_string(shape[0]).size(), ' ');
  // Padding counts the final '\n'; NumPy pads a full 64 when already aligned.
  const std::uint64_t hlen = dict.size() + 1;
  int major = 1;
  std::uint64_t pad = kAlign - (10 + hlen) % kAlign;
  if (hlen + pad > 0xFFFF) {
    major = 2;
    pad = kAlign - (12 + hlen) % kAlign;
  }
  const std::uint64_t total = hlen + pad;
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(major);
  out += '\0';
  char len[4];
  if (major == 1) {
    store_le<std::uint16_t>(len, static_cast<std::uint16_t>(total));
    out.append(len, 2);
  } else {
    store_le<std::uint32_t>(len, static_cast<std::uint32_t>(total));
    out.append(len, 4);
  }
  out += dict;
  out.append(static_cast<std::size_t>(pad), ' ');
  out += '\n';
  return out;
}

TensorInfo describe_array(const Header& h, std::string name, SharedText file, std::uint64_t offset) {
  TensorInfo t;
  t.name = std::move(name);
  t.dtype = h.dtype;
  t.shape = h.shape;
  t.nbytes = h.nbytes;
  t.file = std::move(file);
  t.offset = offset;
  // Order only matters where there are elements on more than one axis.
  if (h.fortran_order && h.shape.size() > 1 && h.nbytes > 0) t.layout_note = "fortran order";
  if (h.big_endian) t.layout_note += std::string(t.layout_note.empty() ? "" : ", ") + "big-endian";
  return t;
}

TensorInfo tensor_from(const std::shared_ptr<const ByteSource>& src, const Header& h, std::string name,
                       SharedText file) {
  StoredLayout l;
  l.file = src;
  l.offset = h.data_offset;
  l.stored_size = h.nbytes;
  l.dtype = h.dtype;
  l.shape = h.shape;
  l.big_endian = h.big_endian;
  const auto numel = checked_numel(h.shape).value_or(0);
  if (h.fortran_order && h.shape.size() > 1 && numel > 0) {
    // Column-major: the first axis varies fastest.
    l.strides.resize(h.shape.size());
    std::int64_t s = 1;
    for (std::size_t k = 0; k < h.shape.size(); ++k) {
      l.strides[k] = s;
      s *= h.shape[k];
    }
  }
  TensorInfo t = describe_array(h, std::move(name), std::move(file), h.data_offset);
  t.data = make_stored_data(std::move(l));
  return t;
}

Checkpoint describe(std::shared_ptr<const ByteSource> src) {
  const Header h = parse_header(*src, 0, src->size());
  Checkpoint ck;
  ck.path = src->label();
  ck.format = Format::Npy;
  ck.format_detail = "npy v" + std::to_string(h.major) + "." + std::to_string(h.minor) + " (" + h.descr + ")";
  ck.tensors.push_back(tensor_from(src, h, "", src->label()));
  ck.files.push_back(std::move(src));
  return ck;
}

Checkpoint open(const std::string& path) { return describe(MappedFile::open(path)); }

void write(const std::string& path, std::span<const TensorInfo> tensors, const Metadata&, const WriteOptions& opt) {
  if (tensors.size() != 1)
    throw Error(path, kNoOffset, "a .npy file holds exactly one array, but " + std::to_string(tensors.size()) +
                                     " tensors were given; write .npz to keep several");
  const TensorInfo& t = tensors[0];
  if (info(t.dtype).npy_descr.empty())
    throw Error(path, kNoOffset, "tensor '" + t.name + "' has dtype " + std::string(name(t.dtype)) + ", which .npy cannot store");
  const auto numel = checked_numel(t.shape);
  const auto want = numel ? byte_size(t.dtype, *numel) : std::nullopt;
  if (!want || *want != t.nbytes || !t.data)
    throw Error(path, kNoOffset, "tensor '" + t.name + "' has no readable data matching its shape and dtype");
  refuse_overwriting_inputs(path, tensors, opt);

  AtomicFile out(path, opt.sync, opt.file_mode);
  ProgressTracker progress(opt, tensors);
  const std::string header = make_header(t.dtype, t.shape);
  out.write(header.data(), header.size());
  stream_tensor(progress, 0, out);
  out.commit();
}

}  // namespace ckpt::io::npy
