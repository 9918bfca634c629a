// The scanner keeps the general interpreter's rules (pickle.cpp) wherever its
// input could differ from torch's: a dict may change only until something
// holds it, memo entries must exist before they are fetched, and values may
// nest only so deep. Where the interpreter would count what it builds
// against Limits::max_built_per_byte, the scanner counts at least as much and
// gives up first, so it never accepts a pickle the interpreter refuses.
#include "io/formats/torch_state_dict.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>

#include "io/endian.h"
#include "io/formats/pickle.h"

namespace ckpt::io::torch_state_dict {

namespace {

// Opcode bytes (pickletools' names).
enum Op : std::uint8_t {
  MARK = '(', STOP = '.', NONE = 'N', REDUCE = 'R', BUILD = 'b', GLOBAL = 'c', SETITEM = 's', TUPLE = 't',
  BININT = 'J', BININT1 = 'K', BININT2 = 'M', BINPERSID = 'Q', BINUNICODE = 'X', EMPTY_DICT = '}',
  BINGET = 'h', LONG_BINGET = 'j', BINPUT = 'q', LONG_BINPUT = 'r', EMPTY_TUPLE = ')', SETITEMS = 'u',
  BINFLOAT = 'G', PROTO = 0x80, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89,
  LONG1 = 0x8a, SHORT_BINUNICODE = 0x8c, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95,
};

enum class T : std::uint8_t { Unset, None, Bool, Int, Float, Str, Tuple, Global, Storage, Dict, Tensor };
// What a tuple holds, sorted out as it is made so that the tuples torch
// writes by the hundred thousand take no item table: ints (a size or a
// stride) go to dims_, a persistent id and _rebuild_tensor_v2's arguments
// become one record each.
enum class Form : std::uint8_t { Items, Ints, Pid, Args };

// A value on the stack or in the memo, 16 bytes: a state_dict of 50,000
// tensors makes a million of them. Tuples never change, so a memo entry
// can share a tuple's record; dicts, storages and tensors are indexes into
// their tables.
struct Slot {
  T t = T::Unset;
  union {
    pickle::GlobalRole role = pickle::GlobalRole::Other;  // Global
    Form form;                                            // Tuple
  };
  DType dtype = DType::U8;  // Global
  std::uint8_t height = 0;  // Tuple: the interpreter's Value::height
  std::uint32_t n = 0;      // Str: bytes; Tuple: items
  union {
    std::uint64_t a = 0;  // Str: offset in the pickle; Tuple: first item (Items, Ints) or record (Pid, Args);
                          // Dict, Storage, Tensor: index
    std::int64_t i;       // Int, Bool
  };
};
static_assert(sizeof(Slot) == 16);
Slot slot(T t) {
  Slot s;
  s.t = t;
  return s;
}

struct DictInfo {
  bool held = false;        // inside another value: the interpreter refuses to change it
  bool other_keys = false;  // a key that is not a str (BUILD refuses such a state)
  std::uint8_t height = 0;
};
struct DictItem {
  std::uint32_t dict;
  Slot key, value;
};

// Far below the interpreter's limits of 1000: torch's pickles nest 4 deep.
constexpr std::uint8_t kMaxHeight = 64;
constexpr std::size_t kMaxMarks = 64;
constexpr int kMaxBuilds = 16;
// What the interpreter charges, rounded up: a value (pickle.cpp's
// kValueCost), a tensor's parts, one dict item (two holds and its index
// entry), one container item.
constexpr std::uint64_t kValueCharge = sizeof(pickle::Value) + 16 + 3 * sizeof(pickle::ValuePtr);
constexpr std::uint64_t kTensorCharge = kValueCharge + sizeof(pickle::TorchParts) + 16;
constexpr std::uint64_t kItemCharge = 2 * 16 + 96;
constexpr std::uint64_t kHoldCharge = 16;

// Open addressing over the names, a table of entry numbers: a hash set's
// node per name cost as much as the rest of the scan.
bool has_repeated_name(const std::vector<Entry>& entries) {
  const std::size_t size = std::bit_ceil(2 * entries.size() + 1);
  std::vector<std::uint32_t> table(size, 0);  // entry index + 1; 0 is empty
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::size_t h = std::hash<std::string_view>{}(entries[i].name) & (size - 1);
    for (; table[h] != 0; h = (h + 1) & (size - 1))
      if (entries[table[h] - 1].name == entries[i].name) return true;
    table[h] = static_cast<std::uint32_t>(i + 1);
  }
  return false;
}

class Scanner {
 public:
  explicit Scanner(std::span<const std::byte> p) : p_(p) {
    // torch's state_dicts make about one memo entry per 12 pickle bytes and
    // one dimension per 30: room for those up front spares copying the
    // tables as they grow (pages not reached are never touched).
    memo_.reserve(p.size() / 10);
    dims_.reserve(p.size() / 16);
  }

  std::optional<StateDict> run() {
    while (pos_ < p_.size()) {
      op_at_ = pos_;
      const auto op = static_cast<std::uint8_t>(p_[pos_++]);
      if (op == STOP) return finish();
      if (!step(op)) return std::nullopt;
    }
    return std::nullopt;  // cut short: the interpreter words it
  }

 private:
  bool step(std::uint8_t op) {
    switch (op) {
      case PROTO: {
        std::uint8_t v;
        return fixed(v) && v <= 5;
      }
      case FRAME: {
        std::uint64_t n;
        return fixed(n) && n <= left();
      }
      case MARK:
        if (marks_.size() >= kMaxMarks) return false;
        marks_.push_back(stack_.size());
        return true;
      case BINPUT: {
        std::uint8_t i;
        return fixed(i) && put(i);
      }
      case LONG_BINPUT: {
        std::uint32_t i;
        return fixed(i) && put(i);
      }
      case MEMOIZE: return put(memo_count_);
      case BINGET: {
        std::uint8_t i;
        return fixed(i) && get(i);
      }
      case LONG_BINGET: {
        std::uint32_t i;
        return fixed(i) && get(i);
      }
      case NONE: return push_value(slot(T::None));
      case NEWTRUE: case NEWFALSE: {
        Slot s = slot(T::Bool);
        s.i = op == NEWTRUE;
        return push_value(s);
      }
      case BININT: {
        std::int32_t v;
        return fixed(v) && push_int(v);
      }
      case BININT1: {
        std::uint8_t v;
        return fixed(v) && push_int(v);
      }
      case BININT2: {
        std::uint16_t v;
        return fixed(v) && push_int(v);
      }
      case LONG1: {
        std::uint8_t n;
        if (!fixed(n) || n > 8 || n > left()) return false;
        std::uint64_t u = 0;
        for (std::uint8_t k = 0; k < n; ++k) u |= std::uint64_t{std::to_integer<std::uint8_t>(p_[pos_ + k])} << (8 * k);
        if (n > 0 && n < 8 && (std::to_integer<std::uint8_t>(p_[pos_ + n - 1]) & 0x80)) u |= ~std::uint64_t{0} << (8 * n);
        pos_ += n;
        return push_int(static_cast<std::int64_t>(u));
      }
      case BINFLOAT: {
        std::uint64_t bits;
        return fixed(bits) && push_value(slot(T::Float));
      }
      case BINUNICODE: {
        std::uint32_t n;
        return fixed(n) && push_text(n);
      }
      case SHORT_BINUNICODE: {
        std::uint8_t n;
        return fixed(n) && push_text(n);
      }
      case EMPTY_TUPLE: {
        // A 0-d tensor's size and stride as well as a call's empty arguments.
        Slot s = slot(T::Tuple);
        s.form = Form::Ints;
        s.a = dims_.size();
        return push_value(s);
      }
      case TUPLE: {
        if (marks_.empty()) return false;
        const std::size_t m = marks_.back();
        marks_.pop_back();
        return make_tuple(m);
      }
      case TUPLE1: case TUPLE2: case TUPLE3: {
        const std::size_t n = op - TUPLE1 + 1u;
        return above_floor() >= n && make_tuple(stack_.size() - n);
      }
      case EMPTY_DICT: return push_dict();
      case SETITEM: {
        if (above_floor() < 3) return false;
        const Slot value = stack_.back();
        const Slot key = stack_[stack_.size() - 2];
        stack_.resize(stack_.size() - 2);
        return set_items(stack_.back(), &key, 1, &value);
      }
      case SETITEMS: {
        if (marks_.empty()) return false;
        const std::size_t m = marks_.back();
        marks_.pop_back();
        if ((stack_.size() - m) % 2 || m - floor() < 1) return false;
        for (std::size_t k = m; k < stack_.size(); k += 2)
          if (!set_items(stack_[m - 1], &stack_[k], 1, &stack_[k + 1])) return false;
        stack_.resize(m);
        return true;
      }
      case GLOBAL: {
        const auto module = line();
        const auto name = line();
        return module && name && push_global(*module, *name);
      }
      case STACK_GLOBAL: {
        if (above_floor() < 2) return false;
        const Slot name = stack_.back(), module = stack_[stack_.size() - 2];
        stack_.resize(stack_.size() - 2);
        return module.t == T::Str && name.t == T::Str && push_global(text(module), text(name));
      }
      case REDUCE: {
        if (above_floor() < 2) return false;
        const Slot args = stack_.back(), fn = stack_[stack_.size() - 2];
        stack_.resize(stack_.size() - 2);
        return args.t == T::Tuple && fn.t == T::Global && call(fn, args);
      }
      case BINPERSID: {
        if (above_floor() < 1) return false;
        const Slot pid = stack_.back();
        stack_.pop_back();
        return persistent(pid);
      }
      case BUILD: {
        if (above_floor() < 2) return false;
        const Slot state = stack_.back();
        stack_.pop_back();
        return build(stack_.back(), state);
      }
      default: return false;
    }
  }

  // -- reading --
  std::size_t left() const { return p_.size() - pos_; }
  template <class V>
  bool fixed(V& v) {
    if (left() < sizeof(V)) return false;
    v = load_le<V>(p_.data() + pos_);
    pos_ += sizeof(V);
    return true;
  }
  std::optional<std::string_view> line() {
    const auto* begin = reinterpret_cast<const char*>(p_.data()) + pos_;
    const void* nl = std::memchr(begin, '\n', left());
    if (!nl) return std::nullopt;
    const auto n = static_cast<std::size_t>(static_cast<const char*>(nl) - begin);
    pos_ += n + 1;
    return std::string_view(begin, n);
  }
  std::string_view text(const Slot& s) const {
    return {reinterpret_cast<const char*>(p_.data()) + s.a, s.n};
  }

  // -- the interpreter's bookkeeping --
  // Budget relative to the bytes read before this opcode: the interpreter
  // charges after reading at least its first byte, so this is never looser.
  bool charge(std::uint64_t bytes) {
    built_ += bytes;
    return built_ <= limits_.max_built_per_byte * op_at_ + limits_.max_built_floor;
  }
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::size_t above_floor() const { return stack_.size() - floor(); }
  bool push(const Slot& s) {
    if (stack_.size() >= limits_.max_stack) return false;
    stack_.push_back(s);
    return true;
  }
  bool push_value(const Slot& s) { return charge(kValueCharge) && push(s); }
  bool push_int(std::int64_t v) {
    Slot s = slot(T::Int);
    s.i = v;
    return push_value(s);
  }
  bool push_text(std::uint64_t n) {
    if (n > left()) return false;
    // ASCII only: the interpreter checks UTF-8, and names are ASCII.
    for (std::size_t k = 0; k < n; ++k)
      if (std::to_integer<std::uint8_t>(p_[pos_ + k]) >= 0x80) return false;
    Slot s = slot(T::Str);
    s.a = pos_;
    s.n = static_cast<std::uint32_t>(n);
    pos_ += static_cast<std::size_t>(n);
    return push_value(s);
  }
  bool push_dict() {
    Slot s = slot(T::Dict);
    s.a = dicts_.size();
    dicts_.push_back({});
    return push_value(s);
  }
  bool push_global(std::string_view module, std::string_view name) {
    // The interpreter renames Python 2's builtin modules; torch's globals are not among them.
    if (module == "__builtin__" || module == "copy_reg") return false;
    std::string full;
    full.reserve(module.size() + 1 + name.size());
    full.append(module).append(".").append(name);
    const auto g = pickle::allowed_global(full);
    if (!g || g->role == pickle::GlobalRole::Other) return false;
    Slot s = slot(T::Global);
    s.role = g->role;
    s.dtype = g->dtype;
    return push_value(s);
  }

  bool put(std::uint64_t index) {
    if (above_floor() < 1) return false;
    if (index < memo_.size() && memo_[index].t != T::Unset) {
      memo_[index] = stack_.back();
      return true;
    }
    // Indexes far past the entries stored so far are legal but not torch's:
    // the interpreter takes them, this table would grow with them.
    if (memo_count_ >= limits_.max_memo || index > 2 * memo_count_ + 4096) return false;
    if (index >= memo_.size()) memo_.resize(static_cast<std::size_t>(index) + 1);
    memo_[index] = stack_.back();
    ++memo_count_;
    return true;
  }
  bool get(std::uint64_t index) { return index < memo_.size() && memo_[index].t != T::Unset && push(memo_[index]); }

  std::uint8_t height_of(const Slot& s) const {
    switch (s.t) {
      case T::Tuple: return s.height;
      case T::Dict: return dicts_[s.a].height;
      case T::Tensor: return 1;  // above its storage
      default: return 0;
    }
  }
  // A value goes inside `parent_height`'s owner: the interpreter's hold().
  bool hold(const Slot& child, std::uint8_t& parent_height) {
    if (child.t == T::Dict) dicts_[child.a].held = true;
    const int h = height_of(child) + 1;
    if (h > kMaxHeight) return false;
    parent_height = std::max<std::uint8_t>(parent_height, static_cast<std::uint8_t>(h));
    return charge(kHoldCharge);
  }

  bool make_tuple(std::size_t from) {
    const std::span<const Slot> in(stack_.data() + from, stack_.size() - from);
    Slot s = slot(T::Tuple);
    s.n = static_cast<std::uint32_t>(in.size());
    for (const Slot& x : in)
      if (!hold(x, s.height)) return false;
    if (std::all_of(in.begin(), in.end(), [](const Slot& x) { return x.t == T::Int; })) {
      s.form = Form::Ints;
      s.a = dims_.size();
      for (const Slot& x : in) dims_.push_back(x.i);
    } else if (in.size() == 5 && is_pid(in)) {
      s.form = Form::Pid;
      s.a = pid_tuples_.size();
      pid_tuples_.push_back({in[1].dtype, text(in[2]), text(in[3]), static_cast<std::uint64_t>(in[4].i)});
    } else if (in.size() == 6 && is_rebuild_args(in)) {
      // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)
      s.form = Form::Args;
      s.a = args_.size();
      args_.push_back({static_cast<std::uint32_t>(in[0].a), in[2].n, static_cast<std::size_t>(in[2].a),
                       static_cast<std::size_t>(in[3].a), in[1].i});
    } else {
      s.form = Form::Items;
      s.a = items_.size();
      items_.insert(items_.end(), in.begin(), in.end());
    }
    stack_.resize(from);
    return push_value(s);
  }
  // ('storage', CLASS, KEY, LOCATION, NUMEL), as torch writes it.
  bool is_pid(std::span<const Slot> x) const {
    return x[0].t == T::Str && text(x[0]) == "storage" && x[1].t == T::Global &&
           x[1].role == pickle::GlobalRole::StorageClass && x[2].t == T::Str && x[3].t == T::Str && x[4].t == T::Int &&
           x[4].i >= 0;
  }
  bool is_rebuild_args(std::span<const Slot> x) const {
    auto dims = [&](const Slot& t) {
      if (t.t != T::Tuple || t.form != Form::Ints) return false;
      const auto* d = dims_.data() + t.a;
      return std::all_of(d, d + t.n, [](std::int64_t v) { return v >= 0; });
    };
    return x[0].t == T::Storage && x[1].t == T::Int && x[1].i >= 0 && dims(x[2]) && dims(x[3]) && x[2].n == x[3].n &&
           x[4].t == T::Bool;
  }

  // `n` key/value pairs into the dict `target` (SETITEM, SETITEMS).
  bool set_items(const Slot& target, const Slot* key, std::size_t n, const Slot* value) {
    if (target.t != T::Dict || dicts_[target.a].held) return false;
    for (std::size_t k = 0; k < n; ++k) {
      for (const Slot* s : {&key[k], &value[k]})
        if (s->t == T::Dict && s->a == target.a) return false;  // a dict inside itself
      DictInfo& d = dicts_[target.a];
      std::uint8_t h = d.height;
      if (!hold(key[k], h) || !hold(value[k], h) || !charge(kItemCharge)) return false;
      dicts_[target.a].height = h;
      if (key[k].t != T::Str) dicts_[target.a].other_keys = true;
      dict_items_.push_back({static_cast<std::uint32_t>(target.a), key[k], value[k]});
    }
    return true;
  }

  bool call(const Slot& fn, const Slot& args) {
    if (fn.role == pickle::GlobalRole::OrderedDict) return args.n == 0 && push_dict();
    if (fn.role != pickle::GlobalRole::RebuildTensorV2 || args.form != Form::Args) return false;
    // Two calls with one memoized argument tuple make two tensors alike, as in the interpreter.
    if (!charge(kTensorCharge + 16 * std::uint64_t{args_[args.a].ndim})) return false;
    Slot s = slot(T::Tensor);
    s.a = args.a;
    return push(s);
  }

  bool persistent(const Slot& pid) {
    if (pid.t != T::Tuple || pid.form != Form::Pid) return false;
    Slot s = slot(T::Storage);
    s.a = pids_.size();
    pids_.push_back(pid_tuples_[pid.a]);
    return push(s);
  }

  // The OrderedDict's state ({'_metadata': …}): attributes the reader does
  // not use, which the interpreter takes from a dict of str keys.
  bool build(const Slot& target, const Slot& state) {
    if (target.t != T::Dict || dicts_[target.a].held || ++builds_ > kMaxBuilds) return false;
    if (state.t == T::None) return true;
    if (state.t != T::Dict || dicts_[state.a].other_keys) return false;
    for (const DictItem& e : dict_items_) {
      if (e.dict != state.a) continue;
      if (e.value.t == T::Dict && e.value.a == target.a) return false;
      std::uint8_t h = dicts_[target.a].height;
      if (!hold(e.value, h) || !charge(2 * std::uint64_t{e.key.n})) return false;
      dicts_[target.a].height = h;
    }
    return true;
  }

  std::optional<StateDict> finish() {
    if (!marks_.empty() || stack_.size() != 1 || stack_.back().t != T::Dict) return std::nullopt;
    const auto root = static_cast<std::uint32_t>(stack_.back().a);
    StateDict out;
    for (const DictItem& e : dict_items_) {
      if (e.dict != root) continue;
      if (e.key.t != T::Str || e.value.t != T::Tensor) return std::nullopt;
      out.entries.push_back({text(e.key), static_cast<std::uint32_t>(e.value.a)});
    }
    // A repeated key replaces the value in place: the interpreter's business.
    if (has_repeated_name(out.entries)) return std::nullopt;
    out.pids = std::move(pids_);
    out.tensors = std::move(args_);
    out.dims = std::move(dims_);
    return out;
  }

  std::span<const std::byte> p_;
  std::size_t pos_ = 0, op_at_ = 0;
  const pickle::Limits limits_{};
  std::uint64_t built_ = 0;
  int builds_ = 0;
  std::vector<Slot> stack_;
  std::vector<std::size_t> marks_;
  std::vector<Slot> memo_;
  std::uint64_t memo_count_ = 0;
  std::vector<Slot> items_;
  std::vector<DictInfo> dicts_;
  std::vector<DictItem> dict_items_;
  std::vector<Pid> pid_tuples_;
  std::vector<Pid> pids_;
  std::vector<Tensor> args_;
  std::vector<std::int64_t> dims_;
};

}  // namespace

std::optional<StateDict> scan(std::span<const std::byte> pickle) { return Scanner(pickle).run(); }

}  // namespace ckpt::io::torch_state_dict
