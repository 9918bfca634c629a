// A pickle interpreter that builds values and never runs code
// (Lib/pickle.py and Lib/pickletools.py describe the machine).
//
// The machine: a byte stream of opcodes, each one byte, some followed by an
// argument (fixed-size little-endian ints, length-prefixed bytes, or a text
// line ended by '\n' in protocol 0). It works on
//   stack      values being built;
//   metastack  MARK positions: MARK remembers the stack height, and ops such
//              as TUPLE, LIST, DICT, APPENDS, SETITEMS take every value above
//              the last mark (a mark also hides what lies below it);
//   memo       index → value, so a value written once can appear many times
//              (PUT/BINPUT/MEMOIZE store, GET/BINGET fetch the same object).
// STOP ends the pickle; the value on top of the stack is the result.
//
// Code would run at GLOBAL/STACK_GLOBAL/INST (import a name) and at
// REDUCE/NEWOBJ/OBJ/INST/BUILD (call it or set state). Here a global is only
// looked up in a fixed table of what torch.load(weights_only=True) accepts,
// and refused by name otherwise before anything could call it; a "call" of an
// allowed global builds the plain value it stands for.
//
// Everything the file claims is checked before it is used: lengths against
// what is left of the input and Limits::max_length, memo and stack sizes, and
// the nesting of values (Value::height) against Limits::max_depth. The loop
// is iterative, so hostile nesting ends in an Error, never a stack overflow.
// Cycles cannot form: a container may change only until another value holds
// it (Value::held), which every pickler honours for acyclic data.
#include "io/formats/pickle.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "io/checked.h"
#include "io/endian.h"
#include "io/error.h"

namespace ckpt::io::pickle {

namespace {

// Values are the opcode bytes (pickletools' names).
enum class Op : std::uint8_t {
  // protocol 0
  MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2', FLOAT = 'F', INT = 'I', LONG = 'L',
  NONE = 'N', PERSID = 'P', REDUCE = 'R', STRING = 'S', UNICODE = 'V', APPEND = 'a', BUILD = 'b',
  GLOBAL = 'c', DICT = 'd', GET = 'g', INST = 'i', LIST = 'l', PUT = 'p', SETITEM = 's', TUPLE = 't',
  // protocol 1
  BININT = 'J', BININT1 = 'K', BININT2 = 'M', BINPERSID = 'Q', BINSTRING = 'T', SHORT_BINSTRING = 'U',
  BINUNICODE = 'X', EMPTY_DICT = '}', APPENDS = 'e', BINGET = 'h', LONG_BINGET = 'j', EMPTY_LIST = ']',
  OBJ = 'o', BINPUT = 'q', LONG_BINPUT = 'r', EMPTY_TUPLE = ')', SETITEMS = 'u', BINFLOAT = 'G',
  // protocol 2
  PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84, TUPLE1 = 0x85, TUPLE2 = 0x86,
  TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b,
  // protocol 3
  BINBYTES = 'B', SHORT_BINBYTES = 'C',
  // protocol 4
  SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f, ADDITEMS = 0x90,
  FROZENSET = 0x91, NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95,
  // protocol 5
  BYTEARRAY8 = 0x96, NEXT_BUFFER = 0x97, READONLY_BUFFER = 0x98,
};

constexpr std::pair<std::uint8_t, std::string_view> kOpNames[] = {
    {'(', "MARK"}, {'.', "STOP"}, {'0', "POP"}, {'1', "POP_MARK"}, {'2', "DUP"}, {'F', "FLOAT"},
    {'I', "INT"}, {'L', "LONG"}, {'N', "NONE"}, {'P', "PERSID"}, {'R', "REDUCE"}, {'S', "STRING"},
    {'V', "UNICODE"}, {'a', "APPEND"}, {'b', "BUILD"}, {'c', "GLOBAL"}, {'d', "DICT"}, {'g', "GET"},
    {'i', "INST"}, {'l', "LIST"}, {'p', "PUT"}, {'s', "SETITEM"}, {'t', "TUPLE"}, {'J', "BININT"},
    {'K', "BININT1"}, {'M', "BININT2"}, {'Q', "BINPERSID"}, {'T', "BINSTRING"}, {'U', "SHORT_BINSTRING"},
    {'X', "BINUNICODE"}, {'}', "EMPTY_DICT"}, {'e', "APPENDS"}, {'h', "BINGET"}, {'j', "LONG_BINGET"},
    {']', "EMPTY_LIST"}, {'o', "OBJ"}, {'q', "BINPUT"}, {'r', "LONG_BINPUT"}, {')', "EMPTY_TUPLE"},
    {'u', "SETITEMS"}, {'G', "BINFLOAT"}, {0x80, "PROTO"}, {0x81, "NEWOBJ"}, {0x82, "EXT1"},
    {0x83, "EXT2"}, {0x84, "EXT4"}, {0x85, "TUPLE1"}, {0x86, "TUPLE2"}, {0x87, "TUPLE3"},
    {0x88, "NEWTRUE"}, {0x89, "NEWFALSE"}, {0x8a, "LONG1"}, {0x8b, "LONG4"}, {'B', "BINBYTES"},
    {'C', "SHORT_BINBYTES"}, {0x8c, "SHORT_BINUNICODE"}, {0x8d, "BINUNICODE8"}, {0x8e, "BINBYTES8"},
    {0x8f, "EMPTY_SET"}, {0x90, "ADDITEMS"}, {0x91, "FROZENSET"}, {0x92, "NEWOBJ_EX"},
    {0x93, "STACK_GLOBAL"}, {0x94, "MEMOIZE"}, {0x95, "FRAME"}, {0x96, "BYTEARRAY8"},
    {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"},
};

std::string op_name(std::uint8_t b) {
  for (const auto& [code, name] : kOpNames)
    if (code == b) return std::string(name);
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", b);
  return hex;
}

// ---- The allowed globals ----

enum class G : std::uint8_t {
  OrderedDict, Set, FrozenSet, ByteArray, Bytes, List, Dict, Tuple, CodecsEncode,
  RebuildTensorV2, RebuildTensor, RebuildParameter, RebuildParameterWithState, RebuildFromTypeV2,
  Size, Device, Parameter, TensorClass, DTypeName, StorageClass,
};

struct GlobalDef {
  std::string name;
  G what;
  DType dtype = DType::U8;
};

const std::vector<GlobalDef>& global_table() {
  static const std::vector<GlobalDef> table = [] {
    std::vector<GlobalDef> t = {
        {"collections.OrderedDict", G::OrderedDict},
        {"builtins.set", G::Set},
        {"builtins.frozenset", G::FrozenSet},
        {"builtins.bytearray", G::ByteArray},
        // Protocols 0-2 write an empty bytes object as a call of bytes().
        {"builtins.bytes", G::Bytes},
        {"builtins.list", G::List},
        {"builtins.dict", G::Dict},
        {"builtins.tuple", G::Tuple},
        {"_codecs.encode", G::CodecsEncode},
        {"torch._utils._rebuild_tensor_v2", G::RebuildTensorV2},
        {"torch._utils._rebuild_tensor", G::RebuildTensor},
        {"torch._utils._rebuild_parameter", G::RebuildParameter},
        {"torch._utils._rebuild_parameter_with_state", G::RebuildParameterWithState},
        {"torch._tensor._rebuild_from_type_v2", G::RebuildFromTypeV2},
        {"torch.Size", G::Size},
        {"torch.device", G::Device},
        {"torch.nn.parameter.Parameter", G::Parameter},
        {"torch.Tensor", G::TensorClass},
    };
    const std::pair<const char*, DType> dtypes[] = {
        {"float16", DType::F16}, {"half", DType::F16}, {"float32", DType::F32}, {"float", DType::F32},
        {"float64", DType::F64}, {"double", DType::F64}, {"bfloat16", DType::BF16},
        {"complex64", DType::C64}, {"cfloat", DType::C64}, {"complex128", DType::C128},
        {"cdouble", DType::C128}, {"int8", DType::I8}, {"int16", DType::I16}, {"short", DType::I16},
        {"int32", DType::I32}, {"int", DType::I32}, {"int64", DType::I64}, {"long", DType::I64},
        {"uint8", DType::U8}, {"bool", DType::Bool}, {"uint16", DType::U16}, {"uint32", DType::U32},
        {"uint64", DType::U64}, {"float8_e4m3fn", DType::F8_E4M3}, {"float8_e5m2", DType::F8_E5M2},
        {"float8_e4m3fnuz", DType::F8_E4M3FNUZ}, {"float8_e5m2fnuz", DType::F8_E5M2FNUZ},
        {"float8_e8m0fnu", DType::F8_E8M0},
    };
    for (const auto& [n, d] : dtypes) t.push_back({std::string("torch.") + n, G::DTypeName, d});
    const std::pair<const char*, DType> storages[] = {
        {"FloatStorage", DType::F32}, {"HalfStorage", DType::F16}, {"BFloat16Storage", DType::BF16},
        {"DoubleStorage", DType::F64}, {"ComplexFloatStorage", DType::C64},
        {"ComplexDoubleStorage", DType::C128}, {"ByteStorage", DType::U8}, {"CharStorage", DType::I8},
        {"ShortStorage", DType::I16}, {"IntStorage", DType::I32}, {"LongStorage", DType::I64},
        {"BoolStorage", DType::Bool},
    };
    for (const auto& [n, d] : storages) {
      t.push_back({std::string("torch.") + n, G::StorageClass, d});
      t.push_back({std::string("torch.cuda.") + n, G::StorageClass, d});
    }
    t.push_back({"torch.storage.UntypedStorage", G::StorageClass, DType::U8});
    t.push_back({"torch.UntypedStorage", G::StorageClass, DType::U8});
    return t;
  }();
  return table;
}

const GlobalDef* find_global(std::string_view full) {
  static const std::unordered_map<std::string_view, const GlobalDef*> by_name = [] {
    std::unordered_map<std::string_view, const GlobalDef*> m;
    for (const auto& g : global_table()) m.emplace(g.name, &g);
    return m;
  }();
  const auto it = by_name.find(full);
  return it == by_name.end() ? nullptr : it->second;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "a bool";
    case Kind::Int: return "an int";
    case Kind::Float: return "a float";
    case Kind::String: return "a str";
    case Kind::Bytes: return "a bytes object";
    case Kind::Tuple: return "a tuple";
    case Kind::List: return "a list";
    case Kind::Dict: return "a dict";
    case Kind::Set: return "a set";
    case Kind::Global: return "a global";
    case Kind::TorchDType: return "a torch dtype";
    case Kind::StorageType: return "a storage type";
    case Kind::Storage: return "a storage";
    case Kind::Tensor: return "a tensor";
  }
  return "a value";
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; }
    else return false;
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates (Python's surrogatepass) and code
    // points past Unicode are not text.
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::uint32_t> parse_hex(std::string_view s) {
  std::uint32_t v = 0;
  for (char c : s) {
    int d = hex_digit(c);
    if (d < 0) return std::nullopt;
    v = v * 16 + static_cast<std::uint32_t>(d);
  }
  return v;
}

ValuePtr make(Kind k) {
  auto v = std::make_shared<Value>();
  v->kind = k;
  return v;
}

}  // namespace

ValuePtr make_storage(DType dtype, std::string key, std::string location, std::uint64_t numel) {
  auto v = make(Kind::Storage);
  v->dtype = dtype;
  v->torch = std::make_unique<TorchParts>();
  v->torch->storage_key = std::move(key);
  v->torch->storage_location = std::move(location);
  v->torch->storage_numel = numel;
  return v;
}

namespace {

// A dict key as Python compares it. Text is viewed, not copied: it belongs
// to the key value, which the dict keeps and which nothing changes.
struct DictKey {
  char tag;             // 'N' None, 'i' int (and bools, integral floats), 'f' float, 's' str, 'b' bytes
  std::int64_t number;  // 'i': the value; 'f': the bits
  std::string_view text;
  bool operator==(const DictKey&) const = default;
};
struct DictKeyHash {
  std::size_t operator()(const DictKey& k) const {
    return std::hash<std::string_view>{}(k.text) ^ (std::hash<std::int64_t>{}(k.number) * 0x9e3779b97f4a7c15ull) ^
           static_cast<std::size_t>(k.tag);
  }
};
// An index entry's node: the key, the entry number, the next pointer, the
// cached hash and a bucket.
constexpr std::uint64_t kDictIndexEntryCost = sizeof(DictKey) + 4 * sizeof(void*);

// ---- The interpreter ----

class Machine {
 public:
  Machine(std::span<const std::byte> data, const std::string& label, std::uint64_t base, const Options& opt)
      : data_(data), label_(label), base_(base), opt_(opt) {}

  ValuePtr run(std::size_t* consumed);

 private:
  [[noreturn]] void fail(const std::string& sentence) const { throw Error(label_, base_ + op_at_, sentence); }
  std::string op() const { return op_name(op_byte_); }

  // -- reading arguments --
  std::size_t left() const { return data_.size() - pos_; }
  std::span<const std::byte> take(std::uint64_t n, const char* what) {
    if (n > left())
      fail("the pickle is cut short: " + op() + " needs " + std::to_string(n) + " bytes for its " + what +
           ", only " + std::to_string(left()) + " are left");
    auto s = data_.subspan(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  template <class T>
  T fixed(const char* what) {
    return load_le<T>(take(sizeof(T), what).data());
  }
  // A length the file claims, checked before anything is allocated for it.
  std::size_t length(std::uint64_t n) {
    if (n > opt_.limits.max_length)
      fail(op() + " claims " + std::to_string(n) + " bytes, more than the limit of " +
           std::to_string(opt_.limits.max_length));
    if (n > left())
      fail("the pickle is cut short: " + op() + " claims " + std::to_string(n) + " bytes but only " +
           std::to_string(left()) + " are left");
    return static_cast<std::size_t>(n);
  }
  std::string raw(std::uint64_t n) {
    auto s = take(length(n), "data");
    return std::string(reinterpret_cast<const char*>(s.data()), s.size());
  }
  std::string line(const char* what) {
    const auto* begin = reinterpret_cast<const char*>(data_.data()) + pos_;
    const std::size_t span = static_cast<std::size_t>(std::min<std::uint64_t>(left(), opt_.limits.max_length));
    const void* nl = std::memchr(begin, '\n', span);
    if (!nl) fail("the pickle is cut short: " + op() + "'s " + what + " has no end of line");
    std::size_t n = static_cast<std::size_t>(static_cast<const char*>(nl) - begin);
    pos_ += n + 1;
    return std::string(begin, n);
  }
  std::string text(std::string s) {
    if (!valid_utf8(s)) fail(op() + " holds text that is not valid UTF-8");
    return s;
  }
  std::int64_t decimal(std::string_view s, const char* what) {
    std::string_view digits = s;
    if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec == std::errc::result_out_of_range)
      fail(op() + " holds an integer beyond the signed 64-bit range, which is not supported");
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty())
      fail(op() + "'s " + what + " '" + std::string(s.substr(0, 40)) + "' is not a decimal integer");
    return v;
  }
  // Little-endian two's complement of any length (LONG1/LONG4).
  std::int64_t long_bytes(std::span<const std::byte> b) {
    if (b.empty()) return 0;
    const bool negative = (std::to_integer<unsigned>(b.back()) & 0x80) != 0;
    // Bytes past the eighth may only repeat the sign.
    for (std::size_t i = 8; i < b.size(); ++i)
      if (std::to_integer<unsigned>(b[i]) != (negative ? 0xffu : 0u))
        fail(op() + " holds an integer beyond the signed 64-bit range, which is not supported");
    std::uint64_t u = negative ? ~std::uint64_t{0} : 0;
    for (std::size_t i = 0; i < std::min<std::size_t>(b.size(), 8); ++i) {
      u &= ~(std::uint64_t{0xff} << (8 * i));
      u |= std::uint64_t{std::to_integer<unsigned>(b[i])} << (8 * i);
    }
    if (b.size() >= 8 && ((u >> 63) != 0) != negative)
      fail(op() + " holds an integer beyond the signed 64-bit range, which is not supported");
    return static_cast<std::int64_t>(u);
  }

  // -- the stack and the metastack --
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void need(std::size_t n) {
    if (stack_.size() - floor() < n)
      fail(op() + " needs " + std::to_string(n) + " value" + (n == 1 ? "" : "s") + " on the stack, found " +
           std::to_string(stack_.size() - floor()));
  }
  void push(ValuePtr v) {
    if (stack_.size() >= opt_.limits.max_stack)
      fail("the pickle puts more than " + std::to_string(opt_.limits.max_stack) + " values on the stack");
    stack_.push_back(std::move(v));
  }
  ValuePtr pop() {
    need(1);
    auto v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  ValuePtr& top() {
    need(1);
    return stack_.back();
  }
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) fail(op() + " needs a MARK before it, and there is none");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                                std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }

  // -- building values --
  // Counts what is built against Limits::max_built_*; see there.
  void charge(std::uint64_t bytes) {
    // Relative to the bytes read so far, not the input's size: a legacy
    // torch file hands load() the pickle followed by all the tensor data.
    const auto read = static_cast<std::uint64_t>(pos_);
    const std::uint64_t budget = checked_add(checked_mul(read, opt_.limits.max_built_per_byte).value_or(~std::uint64_t{0}),
                                             opt_.limits.max_built_floor)
                                     .value_or(~std::uint64_t{0});
    const auto total = checked_add(built_, bytes);
    if (!total || *total > budget)
      fail("the pickle builds more than " + std::to_string(budget) + " bytes of values from its first " + std::to_string(read) +
           " bytes (the limit: " + std::to_string(opt_.limits.max_built_per_byte) + " per byte plus " +
           std::to_string(opt_.limits.max_built_floor) + "); it makes or copies far more values than its size explains");
    built_ = *total;
  }
  // Every value costs its own memory too: a Value, make_shared's control
  // block and up to 48 bytes of stack (a vector of shared_ptr that doubles,
  // so briefly holds three slots per value), ~180 bytes; a tensor's
  // TorchParts ~100 more. A pickle of one-byte opcodes such as EMPTY_LIST
  // would otherwise make that much per input byte.
  static constexpr std::uint64_t kSlotCost = 3 * sizeof(ValuePtr);
  static constexpr std::uint64_t kValueCost = sizeof(Value) + 16 + kSlotCost;
  ValuePtr make(Kind k) {
    charge(kValueCost);
    auto v = pickle::make(k);
    if (k == Kind::Tensor) {
      charge(sizeof(TorchParts));
      v->torch = std::make_unique<TorchParts>();
    }
    return v;
  }
  // None, the bools, the empty tuple and the ints -5..256 are made once per
  // load and then shared, as CPython shares them: a state_dict's storage
  // offsets, strides, small sizes and requires_grad flags are mostly these,
  // and sharing is safe because load() only ever changes lists, dicts, sets
  // and tensors (changeable()). A reuse costs only its stack slot.
  static constexpr std::int64_t kMinSharedInt = -5;
  static constexpr std::int64_t kMaxSharedInt = 256;
  ValuePtr shared(ValuePtr& slot, Kind k) {
    if (slot) {
      charge(kSlotCost);
      return slot;
    }
    slot = make(k);
    return slot;
  }
  ValuePtr none() { return shared(none_, Kind::None); }
  ValuePtr empty_tuple() { return shared(empty_tuple_, Kind::Tuple); }
  ValuePtr boolean(bool b) {
    const bool fresh = !bools_[b];
    auto v = shared(bools_[b], Kind::Bool);
    if (fresh) v->boolean = b;
    return v;
  }
  ValuePtr integer(std::int64_t i) {
    if (i < kMinSharedInt || i > kMaxSharedInt) {
      auto v = make(Kind::Int);
      v->integer = i;
      return v;
    }
    auto& slot = small_ints_[static_cast<std::size_t>(i - kMinSharedInt)];
    const bool fresh = !slot;
    auto v = shared(slot, Kind::Int);
    if (fresh) v->integer = i;
    return v;
  }
  void hold(Value& parent, const ValuePtr& child) {
    charge(16);
    child->held = true;
    const std::uint32_t h = child->height + 1;
    if (h > opt_.limits.max_depth)
      fail("the pickle nests values more than " + std::to_string(opt_.limits.max_depth) + " deep (the limit)");
    parent.height = std::max(parent.height, h);
  }
  ValuePtr container(Kind k, std::vector<ValuePtr> items) {
    auto v = make(k);
    for (const auto& i : items) hold(*v, i);
    v->items = std::move(items);
    return v;
  }
  // A container may change only while nothing holds it; that keeps every
  // value a tree or DAG and its height exact.
  Value& changeable(const ValuePtr& target, Kind want, const char* verb) {
    if (target->kind != want) fail(op() + " " + verb + " " + kind_name(target->kind) + "; only " + kind_name(want) + " allowed");
    if (target->held)
      fail(op() + " changes " + kind_name(want) +
           " that is already inside another value (a reference cycle or an unusual writer); refused");
    return *target;
  }
  void add_to(Value& target, const ValuePtr& item) {
    if (item.get() == &target) fail(op() + " puts " + std::string(kind_name(target.kind)) + " inside itself; reference cycles are not supported");
    hold(target, item);
  }
  void set_item(const ValuePtr& dict, ValuePtr key, ValuePtr value);
  void set_attrs(const ValuePtr& target, const ValuePtr& state);

  // -- globals and calls --
  ValuePtr global(const std::string& module, const std::string& name);
  ValuePtr call(const ValuePtr& fn, const std::vector<ValuePtr>& args);
  ValuePtr rebuild_tensor(const std::vector<ValuePtr>& args, bool v2);
  ValuePtr as_parameter(const ValuePtr& tensor, bool requires_grad);
  void arity(const std::string& fn, const std::vector<ValuePtr>& args, std::size_t lo, std::size_t hi);
  const ValuePtr& arg(const std::string& fn, const std::vector<ValuePtr>& args, std::size_t i, Kind k);
  std::vector<std::int64_t> int_sequence(const std::string& fn, const ValuePtr& v, const char* what);

  ValuePtr persistent(ValuePtr pid) {
    if (!opt_.persistent_load)
      fail(op() + " refers to data outside the pickle (a persistent id) and no loader for it was given");
    auto v = opt_.persistent_load(pid);
    if (!v) fail(op() + ": the persistent id could not be resolved");
    return v;
  }

  // Picklers number memo entries 0, 1, 2, … so a vector indexed by the
  // number holds them; a hash map took a tenth of a large load rehashing.
  // An index far past the entries stored so far (LONG_BINPUT 4e9) goes to a
  // map instead, so a few bytes of input cannot make the vector huge: it
  // stays within twice the entries stored (or kDenseMemoFloor).
  static constexpr std::uint64_t kDenseMemoFloor = 4096;
  ValuePtr* memo_find(std::uint64_t index) {
    if (index < memo_dense_.size() && memo_dense_[index]) return &memo_dense_[index];
    if (memo_sparse_.empty()) return nullptr;
    const auto it = memo_sparse_.find(index);
    return it == memo_sparse_.end() ? nullptr : &it->second;
  }
  void memo_put(std::uint64_t index, ValuePtr v) {
    if (ValuePtr* old = memo_find(index)) {
      *old = std::move(v);
      return;
    }
    if (memo_count_ >= opt_.limits.max_memo)
      fail("the pickle stores more than " + std::to_string(opt_.limits.max_memo) + " memo entries (the limit)");
    if (index < std::max<std::uint64_t>(kDenseMemoFloor, 2 * memo_count_)) {
      if (index >= memo_dense_.size()) memo_dense_.resize(static_cast<std::size_t>(index) + 1);
      memo_dense_[index] = std::move(v);
    } else {
      memo_sparse_.emplace(index, std::move(v));
    }
    ++memo_count_;
  }
  ValuePtr memo_get(std::uint64_t index) {
    const ValuePtr* v = memo_find(index);
    if (!v) fail(op() + " asks for memo entry " + std::to_string(index) + ", which was never stored");
    return *v;
  }

  std::span<const std::byte> data_;
  const std::string& label_;
  std::uint64_t base_;
  const Options& opt_;
  std::size_t pos_ = 0;
  std::size_t op_at_ = 0;
  std::uint8_t op_byte_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<std::size_t> marks_;
  std::vector<ValuePtr> memo_dense_;
  std::unordered_map<std::uint64_t, ValuePtr> memo_sparse_;
  std::uint64_t memo_count_ = 0;
  ValuePtr none_;
  ValuePtr empty_tuple_;
  ValuePtr bools_[2];
  ValuePtr small_ints_[kMaxSharedInt - kMinSharedInt + 1];
  // Per dict being filled: key → entry index, so a repeated key replaces its
  // value as in Python. Holds the dict so its address cannot be reused.
  struct DictIndex {
    ValuePtr keep;
    std::unordered_map<DictKey, std::size_t, DictKeyHash> at;
  };
  std::unordered_map<const Value*, DictIndex> dict_index_;
  // The same for attributes set by BUILD: name → index into attrs.
  struct AttrIndex {
    ValuePtr keep;
    std::unordered_map<std::string, std::size_t> at;
  };
  std::unordered_map<const Value*, AttrIndex> attr_index_;
  std::uint64_t built_ = 0;
};

// Python hashes 1, 1.0 and True alike; scalars get a key that agrees.
std::optional<DictKey> key_of(const Value& k) {
  switch (k.kind) {
    case Kind::None: return DictKey{'N', 0, {}};
    case Kind::Bool: return DictKey{'i', k.boolean ? 1 : 0, {}};
    case Kind::Int: return DictKey{'i', k.integer, {}};
    case Kind::Float:
      // Range first: casting NaN, an infinity or a value past int64 is undefined.
      if (k.real > -9.2e18 && k.real < 9.2e18 && k.real == static_cast<double>(static_cast<std::int64_t>(k.real)))
        return DictKey{'i', static_cast<std::int64_t>(k.real), {}};
      return DictKey{'f', std::bit_cast<std::int64_t>(k.real), {}};
    case Kind::String: return DictKey{'s', 0, k.text};
    case Kind::Bytes: return DictKey{'b', 0, k.text};
    default: return std::nullopt;  // rare keys (tuples…): kept as written
  }
}

void Machine::set_item(const ValuePtr& d, ValuePtr key, ValuePtr value) {
  Value& dict = *d;
  add_to(dict, key);
  add_to(dict, value);
  if (auto k = key_of(*key)) {
    charge(kDictIndexEntryCost);
    auto& idx = dict_index_[d.get()];
    if (!idx.keep) idx.keep = d;
    auto [it, fresh] = idx.at.emplace(*k, dict.entries.size());
    if (!fresh) {
      dict.entries[it->second].second = std::move(value);
      return;
    }
  }
  dict.entries.emplace_back(std::move(key), std::move(value));
}

void Machine::set_attrs(const ValuePtr& t, const ValuePtr& state) {
  if (state->kind == Kind::None) return;
  if (state->kind != Kind::Dict) fail(op() + " sets state from " + kind_name(state->kind) + "; only a dict is allowed");
  Value& target = *t;
  // An index rather than a search of attrs: a state dict of n names would
  // otherwise cost n²/2 comparisons.
  auto& idx = attr_index_[t.get()];
  if (!target.attrs) target.attrs = std::make_unique<std::vector<std::pair<std::string, ValuePtr>>>();
  auto& attrs = *target.attrs;
  if (!idx.keep) {
    idx.keep = t;
    for (std::size_t i = 0; i < attrs.size(); ++i) idx.at.emplace(attrs[i].first, i);
  }
  for (const auto& [k, v] : state->entries) {
    if (k->kind != Kind::String) fail(op() + " sets an attribute named by " + std::string(kind_name(k->kind)) + "; names must be str");
    add_to(target, v);
    charge(2 * k->text.size());  // the name in attrs and in the index
    const auto [it, fresh] = idx.at.emplace(k->text, attrs.size());
    if (fresh) attrs.emplace_back(k->text, v);
    else attrs[it->second].second = v;
  }
}

ValuePtr Machine::global(const std::string& module, const std::string& name) {
  // Protocols 0-2 spell Python 3's module names the Python 2 way.
  std::string m = module;
  if (m == "__builtin__") m = "builtins";
  else if (m == "copy_reg") m = "copyreg";
  const std::string full = m + "." + name;
  const GlobalDef* g = find_global(full);
  if (!g)
    fail("the pickle asks for the global '" + module + "." + name +
         "', which is not allowed: checkpoints may only use tensors, containers and plain values; nothing was run");
  auto v = make(g->what == G::DTypeName ? Kind::TorchDType : g->what == G::StorageClass ? Kind::StorageType : Kind::Global);
  v->text = full;
  v->dtype = g->dtype;
  return v;
}

void Machine::arity(const std::string& fn, const std::vector<ValuePtr>& args, std::size_t lo, std::size_t hi) {
  if (args.size() < lo || args.size() > hi) {
    std::string want = lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi);
    fail(op() + " calls " + fn + " with " + std::to_string(args.size()) + " argument" + (args.size() == 1 ? "" : "s") +
         "; it takes " + want);
  }
}

const ValuePtr& Machine::arg(const std::string& fn, const std::vector<ValuePtr>& args, std::size_t i, Kind k) {
  if (args[i]->kind != k)
    fail(op() + " calls " + fn + " with " + kind_name(args[i]->kind) + " as argument " + std::to_string(i + 1) +
         " where " + kind_name(k) + " belongs");
  return args[i];
}

std::vector<std::int64_t> Machine::int_sequence(const std::string& fn, const ValuePtr& v, const char* what) {
  if (v->kind != Kind::Tuple && v->kind != Kind::List)
    fail(op() + " calls " + fn + " with " + kind_name(v->kind) + " as its " + what + "; a tuple of ints belongs there");
  std::vector<std::int64_t> out;
  out.reserve(v->items.size());
  for (const auto& i : v->items) {
    if (i->kind != Kind::Int) fail(op() + " calls " + fn + " with " + kind_name(i->kind) + " in its " + what + "; only ints belong there");
    if (i->integer < 0) fail(op() + " calls " + fn + " with a negative number in its " + what);
    out.push_back(i->integer);
  }
  return out;
}

ValuePtr Machine::rebuild_tensor(const std::vector<ValuePtr>& args, bool v2) {
  const std::string fn = v2 ? "_rebuild_tensor_v2" : "_rebuild_tensor";
  if (v2) arity(fn, args, 6, 7);
  else arity(fn, args, 4, 4);
  const auto& storage = arg(fn, args, 0, Kind::Storage);
  const auto& offset = arg(fn, args, 1, Kind::Int);
  auto t = make(Kind::Tensor);
  TorchParts& tp = *t->torch;
  tp.size = int_sequence(fn, args[2], "size");
  tp.stride = int_sequence(fn, args[3], "stride");
  charge(8 * (tp.size.size() + tp.stride.size()));
  if (tp.size.size() != tp.stride.size())
    fail(op() + " calls " + fn + " with " + std::to_string(tp.size.size()) + " sizes but " +
         std::to_string(tp.stride.size()) + " strides");
  if (offset->integer < 0) fail(op() + " calls " + fn + " with a negative storage offset");
  tp.storage_offset = offset->integer;
  tp.requires_grad = v2 ? arg(fn, args, 4, Kind::Bool)->boolean : false;
  t->dtype = storage->dtype;
  tp.storage = storage;
  hold(*t, storage);
  return t;
}

ValuePtr Machine::as_parameter(const ValuePtr& tensor, bool requires_grad) {
  // A copy without the attributes (copying them only to drop them would cost
  // their number on every call).
  auto p = make(Kind::Tensor);
  const TorchParts& from = *tensor->torch;
  TorchParts& to = *p->torch;
  p->dtype = tensor->dtype;
  to.storage = from.storage;
  to.storage_offset = from.storage_offset;
  to.size = from.size;
  to.stride = from.stride;
  p->height = tensor->height;
  charge(8 * (to.size.size() + to.stride.size()));
  to.is_parameter = true;
  to.requires_grad = requires_grad;
  return p;
}

ValuePtr Machine::call(const ValuePtr& fn, const std::vector<ValuePtr>& args) {
  if (fn->kind != Kind::Global) fail(op() + " tries to call " + std::string(kind_name(fn->kind)) + ", which cannot be called");
  const GlobalDef* g = find_global(fn->text);
  const std::string& name = fn->text;
  if (!g) fail(op() + " tries to call " + name + ", which is not an allowed global");
  // The one argument of set(), list(), … : the items of any sequence.
  auto items_of = [&](std::size_t i) -> std::vector<ValuePtr> {
    const auto& a = args[i];
    if (a->kind == Kind::Tuple || a->kind == Kind::List || a->kind == Kind::Set) return a->items;
    if (a->kind == Kind::Dict) {
      std::vector<ValuePtr> keys;
      for (const auto& e : a->entries) keys.push_back(e.first);
      return keys;
    }
    fail(op() + " calls " + name + " with " + kind_name(a->kind) + ", which is not a sequence");
  };
  auto bytes_from = [&]() -> ValuePtr {
    arity(name, args, 0, 2);
    auto b = make(Kind::Bytes);
    if (args.empty()) return b;
    if (args.size() == 1) {
      b->text = arg(name, args, 0, Kind::Bytes)->text;
      charge(b->text.size());
      return b;
    }
    const std::string& s = arg(name, args, 0, Kind::String)->text;
    const std::string& enc = arg(name, args, 1, Kind::String)->text;
    charge(s.size());
    if (enc == "utf-8" || enc == "utf8") {
      b->text = s;
      return b;
    }
    if (enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1")
      fail(op() + " calls " + name + " with the encoding '" + enc + "'; only latin1 and utf-8 are understood");
    // Latin-1: every code point must fit one byte.
    for (std::size_t i = 0; i < s.size();) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x80) { b->text += static_cast<char>(c); ++i; continue; }
      if ((c & 0xe0) == 0xc0 && i + 1 < s.size()) {
        const std::uint32_t cp = ((c & 0x1fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3fu);
        if (cp <= 0xff) { b->text += static_cast<char>(cp); i += 2; continue; }
      }
      fail(op() + " calls " + name + " with text that latin1 cannot encode");
    }
    return b;
  };

  switch (g->what) {
    case G::OrderedDict:
    case G::Dict: {
      arity(name, args, 0, 1);
      auto d = make(Kind::Dict);
      if (args.empty()) return d;
      if (args[0]->kind == Kind::Dict) {
        for (const auto& [k, v] : args[0]->entries) set_item(d, k, v);
        return d;
      }
      for (const auto& pair : items_of(0)) {
        if ((pair->kind != Kind::Tuple && pair->kind != Kind::List) || pair->items.size() != 2)
          fail(op() + " calls " + name + " with an item that is not a (key, value) pair");
        set_item(d, pair->items[0], pair->items[1]);
      }
      return d;
    }
    case G::Set:
    case G::FrozenSet:
    case G::List:
    case G::Tuple: {
      arity(name, args, 0, 1);
      const Kind k = g->what == G::List ? Kind::List : g->what == G::Tuple ? Kind::Tuple : Kind::Set;
      return container(k, args.empty() ? std::vector<ValuePtr>{} : items_of(0));
    }
    case G::ByteArray:
    case G::Bytes: return bytes_from();
    case G::CodecsEncode: {
      arity(name, args, 2, 2);
      return bytes_from();
    }
    case G::RebuildTensorV2: return rebuild_tensor(args, true);
    case G::RebuildTensor: return rebuild_tensor(args, false);
    case G::RebuildParameter:
    case G::RebuildParameterWithState: {
      const bool with_state = g->what == G::RebuildParameterWithState;
      arity(name, args, with_state ? 4 : 3, with_state ? 4 : 3);
      auto p = as_parameter(arg(name, args, 0, Kind::Tensor), arg(name, args, 1, Kind::Bool)->boolean);
      if (with_state && args[3]->kind == Kind::Dict) set_attrs(p, args[3]);
      return p;
    }
    case G::Parameter: {
      arity(name, args, 1, 2);
      const bool grad = args.size() == 2 ? arg(name, args, 1, Kind::Bool)->boolean : true;
      return as_parameter(arg(name, args, 0, Kind::Tensor), grad);
    }
    case G::RebuildFromTypeV2: {
      arity(name, args, 4, 4);
      const auto& func = arg(name, args, 0, Kind::Global);
      const auto& type = arg(name, args, 1, Kind::Global);
      const auto& inner = arg(name, args, 2, Kind::Tuple);
      const GlobalDef* f = find_global(func->text);
      if (!f || (f->what != G::RebuildTensorV2 && f->what != G::RebuildTensor && f->what != G::RebuildParameter &&
                 f->what != G::RebuildParameterWithState))
        fail(op() + " calls " + name + " with " + func->text + ", which is not a tensor rebuild function");
      if (type->text != "torch.Tensor" && type->text != "torch.nn.parameter.Parameter")
        fail(op() + " calls " + name + " with the type " + type->text + "; only torch.Tensor and Parameter are allowed");
      auto t = call(func, inner->items);
      if (type->text == "torch.nn.parameter.Parameter" && !t->torch->is_parameter) t = as_parameter(t, t->torch->requires_grad);
      if (args[3]->kind == Kind::Dict) set_attrs(t, args[3]);
      return t;
    }
    case G::Size: {
      arity(name, args, 0, 1);
      auto t = make(Kind::Tuple);
      if (args.empty()) return t;
      (void)int_sequence(name, args[0], "dimensions");
      return container(Kind::Tuple, args[0]->items);
    }
    case G::Device: {
      arity(name, args, 1, 2);
      auto s = make(Kind::String);
      s->text = arg(name, args, 0, Kind::String)->text;
      charge(s->text.size());
      if (args.size() == 2) s->text += ":" + std::to_string(arg(name, args, 1, Kind::Int)->integer);
      return s;
    }
    case G::TensorClass:
    case G::DTypeName:
    case G::StorageClass: break;
  }
  fail(op() + " tries to call " + name + ", which cannot be called in a checkpoint");
}

ValuePtr Machine::run(std::size_t* consumed) {
  while (true) {
    op_at_ = pos_;
    if (pos_ >= data_.size()) fail("the pickle is cut short: it ends before its STOP opcode");
    op_byte_ = std::to_integer<std::uint8_t>(data_[pos_++]);

    switch (static_cast<Op>(op_byte_)) {
      // -- framing, protocol and end --
      case Op::PROTO: {
        const auto p = fixed<std::uint8_t>("protocol number");
        if (p > 5) fail("the pickle uses protocol " + std::to_string(p) + ", newer than 5");
        break;
      }
      case Op::FRAME: {
        // Frames only group opcodes for buffering; their length must still fit.
        const auto n = fixed<std::uint64_t>("frame length");
        if (n > left())
          fail("the pickle is cut short: FRAME claims " + std::to_string(n) + " bytes but only " +
               std::to_string(left()) + " are left");
        break;
      }
      case Op::STOP: {
        auto v = pop();
        if (consumed) *consumed = pos_;
        return v;
      }

      // -- stack manipulation --
      case Op::MARK:
        if (marks_.size() >= opt_.limits.max_depth)
          fail("the pickle nests MARKs more than " + std::to_string(opt_.limits.max_depth) + " deep (the limit)");
        marks_.push_back(stack_.size());
        break;
      case Op::POP:
        if (stack_.size() > floor()) stack_.pop_back();
        else (void)pop_mark();
        break;
      case Op::POP_MARK: (void)pop_mark(); break;
      case Op::DUP: push(top()); break;

      // -- memo --
      case Op::PUT: memo_put(static_cast<std::uint64_t>(decimal(line("memo index"), "memo index")), top()); break;
      case Op::BINPUT: memo_put(fixed<std::uint8_t>("memo index"), top()); break;
      case Op::LONG_BINPUT: memo_put(fixed<std::uint32_t>("memo index"), top()); break;
      case Op::MEMOIZE: memo_put(memo_count_, top()); break;
      case Op::GET: {
        const auto i = decimal(line("memo index"), "memo index");
        if (i < 0) fail("GET asks for a negative memo index");
        push(memo_get(static_cast<std::uint64_t>(i)));
        break;
      }
      case Op::BINGET: push(memo_get(fixed<std::uint8_t>("memo index"))); break;
      case Op::LONG_BINGET: push(memo_get(fixed<std::uint32_t>("memo index"))); break;

      // -- plain values --
      case Op::NONE: push(none()); break;
      case Op::NEWTRUE: push(boolean(true)); break;
      case Op::NEWFALSE: push(boolean(false)); break;
      case Op::INT: {
        const std::string s = line("number");
        // Protocol 0 writes booleans as INT 01 and 00.
        if (s == "00" || s == "01") {
          push(boolean(s == "01"));
          break;
        }
        push(integer(decimal(s, "number")));
        break;
      }
      case Op::LONG: {
        std::string s = line("number");
        if (!s.empty() && s.back() == 'L') s.pop_back();
        push(integer(decimal(s, "number")));
        break;
      }
      case Op::BININT:
      case Op::BININT1:
      case Op::BININT2: {
        const Op o = static_cast<Op>(op_byte_);
        push(integer(o == Op::BININT    ? fixed<std::int32_t>("value")
                             : o == Op::BININT1 ? fixed<std::uint8_t>("value")
                                                : fixed<std::uint16_t>("value")));
        break;
      }
      case Op::LONG1:
      case Op::LONG4: {
        const std::uint64_t n = static_cast<Op>(op_byte_) == Op::LONG1 ? fixed<std::uint8_t>("length")
                                                                       : fixed<std::uint32_t>("length");
        push(integer(long_bytes(take(length(n), "digits"))));
        break;
      }
      case Op::FLOAT: {
        const std::string s = line("number");
        auto v = make(Kind::Float);
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v->real);
        if (ec != std::errc() || end != s.data() + s.size() || s.empty())
          fail("FLOAT's number '" + s.substr(0, 40) + "' is not a decimal number");
        push(std::move(v));
        break;
      }
      case Op::BINFLOAT: {
        auto v = make(Kind::Float);
        v->real = std::bit_cast<double>(load_be<std::uint64_t>(take(8, "value").data()));
        push(std::move(v));
        break;
      }

      // -- text and bytes --
      case Op::STRING: {
        // A Python 2 str literal: quoted, with backslash escapes.
        const std::string s = line("text");
        if (s.size() < 2 || s.front() != s.back() || (s.front() != '\'' && s.front() != '"'))
          fail("STRING's text is not quoted");
        std::string out;
        for (std::size_t i = 1; i + 1 < s.size(); ++i) {
          char c = s[i];
          if (c != '\\' || i + 2 >= s.size()) {
            out += c;
            continue;
          }
          const char e = s[++i];
          switch (e) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case 'a': out += '\a'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'v': out += '\v'; break;
            case '\\': case '\'': case '"': out += e; break;
            case '\n': break;
            case 'x': {
              auto h = i + 3 < s.size() ? parse_hex(std::string_view(s).substr(i + 1, 2)) : std::nullopt;
              if (!h) fail("STRING has a bad \\x escape");
              out += static_cast<char>(*h);
              i += 2;
              break;
            }
            default:
              if (e >= '0' && e <= '7') {
                unsigned v = static_cast<unsigned>(e - '0');
                for (int k = 0; k < 2 && i + 2 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7'; ++k)
                  v = v * 8 + static_cast<unsigned>(s[++i] - '0');
                out += static_cast<char>(v & 0xff);
              } else {
                out += '\\';
                out += e;
              }
          }
        }
        auto v = make(Kind::String);
        v->text = text(std::move(out));
        push(std::move(v));
        break;
      }
      case Op::UNICODE: {
        // raw-unicode-escape: bytes are Latin-1 code points, except \uXXXX and \UXXXXXXXX.
        const std::string s = line("text");
        std::string out;
        for (std::size_t i = 0; i < s.size(); ++i) {
          const auto c = static_cast<unsigned char>(s[i]);
          if (c == '\\' && i + 1 < s.size() && (s[i + 1] == 'u' || s[i + 1] == 'U')) {
            const std::size_t n = s[i + 1] == 'u' ? 4 : 8;
            auto cp = i + 2 + n <= s.size() ? parse_hex(std::string_view(s).substr(i + 2, n)) : std::nullopt;
            if (!cp) fail("UNICODE has a bad \\u escape");
            if (*cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
              fail("UNICODE escapes a code point that is not valid Unicode text");
            append_utf8(out, *cp);
            i += 1 + n;
            continue;
          }
          append_utf8(out, c);
        }
        auto v = make(Kind::String);
        v->text = std::move(out);
        push(std::move(v));
        break;
      }
      case Op::BINSTRING:
      case Op::SHORT_BINSTRING:
      case Op::BINUNICODE:
      case Op::SHORT_BINUNICODE:
      case Op::BINUNICODE8: {
        const Op o = static_cast<Op>(op_byte_);
        std::uint64_t n;
        if (o == Op::SHORT_BINSTRING || o == Op::SHORT_BINUNICODE) n = fixed<std::uint8_t>("length");
        else if (o == Op::BINUNICODE8) n = fixed<std::uint64_t>("length");
        else if (o == Op::BINUNICODE) n = fixed<std::uint32_t>("length");
        else {
          const auto signed_n = fixed<std::int32_t>("length");
          if (signed_n < 0) fail("BINSTRING has a negative length");
          n = static_cast<std::uint64_t>(signed_n);
        }
        auto v = make(Kind::String);
        v->text = text(raw(n));
        push(std::move(v));
        break;
      }
      case Op::BINBYTES:
      case Op::SHORT_BINBYTES:
      case Op::BINBYTES8:
      case Op::BYTEARRAY8: {
        const Op o = static_cast<Op>(op_byte_);
        const std::uint64_t n = o == Op::SHORT_BINBYTES ? fixed<std::uint8_t>("length")
                                : o == Op::BINBYTES     ? fixed<std::uint32_t>("length")
                                                        : fixed<std::uint64_t>("length");
        auto v = make(Kind::Bytes);
        v->text = raw(n);
        push(std::move(v));
        break;
      }

      // -- containers --
      case Op::EMPTY_TUPLE: push(empty_tuple()); break;
      case Op::EMPTY_LIST: push(make(Kind::List)); break;
      case Op::EMPTY_DICT: push(make(Kind::Dict)); break;
      case Op::EMPTY_SET: push(make(Kind::Set)); break;
      case Op::TUPLE: push(container(Kind::Tuple, pop_mark())); break;
      case Op::LIST: push(container(Kind::List, pop_mark())); break;
      case Op::FROZENSET: push(container(Kind::Set, pop_mark())); break;
      case Op::TUPLE1:
      case Op::TUPLE2:
      case Op::TUPLE3: {
        const std::size_t n = op_byte_ - static_cast<std::uint8_t>(Op::TUPLE1) + 1;
        need(n);
        std::vector<ValuePtr> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
        stack_.resize(stack_.size() - n);
        push(container(Kind::Tuple, std::move(items)));
        break;
      }
      case Op::DICT: {
        auto items = pop_mark();
        if (items.size() % 2) fail("DICT needs key/value pairs, found an odd number of values");
        auto d = make(Kind::Dict);
        for (std::size_t i = 0; i < items.size(); i += 2) set_item(d, items[i], items[i + 1]);
        push(std::move(d));
        break;
      }
      case Op::APPEND: {
        auto item = pop();
        Value& list = changeable(top(), Kind::List, "appends to");
        add_to(list, item);
        list.items.push_back(std::move(item));
        break;
      }
      case Op::APPENDS:
      case Op::ADDITEMS: {
        auto items = pop_mark();
        const bool set = static_cast<Op>(op_byte_) == Op::ADDITEMS;
        Value& c = changeable(top(), set ? Kind::Set : Kind::List, set ? "adds items to" : "appends to");
        for (auto& i : items) {
          add_to(c, i);
          c.items.push_back(std::move(i));
        }
        break;
      }
      case Op::SETITEM: {
        need(3);
        auto value = pop();
        auto key = pop();
        (void)changeable(top(), Kind::Dict, "sets an item of");
        set_item(top(), std::move(key), std::move(value));
        break;
      }
      case Op::SETITEMS: {
        auto items = pop_mark();
        if (items.size() % 2) fail("SETITEMS needs key/value pairs, found an odd number of values");
        (void)changeable(top(), Kind::Dict, "sets items of");
        for (std::size_t i = 0; i < items.size(); i += 2) set_item(top(), items[i], items[i + 1]);
        break;
      }

      // -- globals and the calls that stand for objects --
      case Op::GLOBAL: {
        std::string module = text(line("module name"));
        std::string name = text(line("name"));
        push(global(module, name));
        break;
      }
      case Op::STACK_GLOBAL: {
        need(2);
        auto name = pop();
        auto module = pop();
        if (module->kind != Kind::String || name->kind != Kind::String)
          fail("STACK_GLOBAL needs a module and a name as str, found " + std::string(kind_name(module->kind)) +
               " and " + kind_name(name->kind));
        push(global(module->text, name->text));
        break;
      }
      case Op::REDUCE: {
        need(2);
        auto args = pop();
        auto fn = pop();
        if (args->kind != Kind::Tuple) fail("REDUCE needs a tuple of arguments, found " + std::string(kind_name(args->kind)));
        push(call(fn, args->items));
        break;
      }
      case Op::NEWOBJ: {
        need(2);
        auto args = pop();
        auto cls = pop();
        if (args->kind != Kind::Tuple) fail("NEWOBJ needs a tuple of arguments, found " + std::string(kind_name(args->kind)));
        push(call(cls, args->items));
        break;
      }
      case Op::NEWOBJ_EX: {
        need(3);
        auto kwargs = pop();
        auto args = pop();
        auto cls = pop();
        if (args->kind != Kind::Tuple) fail("NEWOBJ_EX needs a tuple of arguments, found " + std::string(kind_name(args->kind)));
        if (kwargs->kind != Kind::Dict || !kwargs->entries.empty())
          fail("NEWOBJ_EX passes keyword arguments, which no allowed global takes");
        push(call(cls, args->items));
        break;
      }
      case Op::INST: {
        std::string module = text(line("module name"));
        std::string name = text(line("name"));
        auto cls = global(module, name);
        push(call(cls, pop_mark()));
        break;
      }
      case Op::OBJ: {
        auto items = pop_mark();
        if (items.empty()) fail("OBJ needs a class after its MARK, found nothing");
        auto cls = items.front();
        items.erase(items.begin());
        push(call(cls, items));
        break;
      }
      case Op::BUILD: {
        auto state = pop();
        auto& target = top();
        if (target->kind == Kind::Dict) {
          (void)changeable(target, Kind::Dict, "sets state of");
          set_attrs(target, state);
        } else if (target->kind == Kind::Tensor) {
          // Only a dict state is kept; tensor set_ states carry nothing we read.
          if (state->kind == Kind::Dict) {
            (void)changeable(target, Kind::Tensor, "sets state of");
            set_attrs(target, state);
          }
        } else {
          fail("BUILD sets the state of " + std::string(kind_name(target->kind)) + "; only dicts and tensors allowed");
        }
        break;
      }
      case Op::PERSID: {
        auto pid = make(Kind::String);
        pid->text = text(line("persistent id"));
        push(persistent(std::move(pid)));
        break;
      }
      case Op::BINPERSID: push(persistent(pop())); break;

      // -- refused: nothing in a checkpoint needs them --
      case Op::EXT1:
      case Op::EXT2:
      case Op::EXT4:
        fail("the pickle uses the extension registry (" + op() + "), which checkpoints never need; refused");
      case Op::NEXT_BUFFER:
      case Op::READONLY_BUFFER:
        fail("the pickle uses out-of-band buffers (" + op() + "), which a file cannot carry; refused");

      default: fail("unknown opcode " + op());
    }
  }
}

}  // namespace

ValuePtr load(std::span<const std::byte> data, const std::string& label, std::uint64_t base_offset,
              const Options& opt, std::size_t* consumed) {
  Machine m(data, label, base_offset, opt);
  return m.run(consumed);
}

std::optional<GlobalInfo> allowed_global(std::string_view full_name) {
  const GlobalDef* g = find_global(full_name);
  if (!g) return std::nullopt;
  GlobalInfo info;
  info.dtype = g->dtype;
  info.role = g->what == G::OrderedDict       ? GlobalRole::OrderedDict
              : g->what == G::RebuildTensorV2 ? GlobalRole::RebuildTensorV2
              : g->what == G::StorageClass    ? GlobalRole::StorageClass
                                              : GlobalRole::Other;
  return info;
}

const std::vector<std::string>& allowed_globals() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& g : global_table()) out.push_back(g.name);
    return out;
  }();
  return names;
}

}  // namespace ckpt::io::pickle
