// PyTorch checkpoints written by torch.save, read without running any pickle
// code (pickle.cpp interprets the pickles against an allow-list), and written
// in the zip format current torch produces.
//
// Zip format (torch ≥ 1.6, default): a zip archive whose members all sit in
// one top folder, named after the file's stem by torch but any name here:
//   TOP/data.pkl             pickle (protocol 2) of the saved object; each
//                            storage is a persistent id
//                            ('storage', torch.FloatStorage, KEY, LOCATION, NUMEL)
//                            (NUMEL in elements; torch.UntypedStorage: bytes,
//                            with the dtype in _rebuild_tensor_v3's arguments)
//   TOP/.format_version      "1" (torch ≥ 2.2), ignored
//   TOP/.storage_alignment   "64" (torch ≥ 2.2), ignored
//   TOP/byteorder            "little" or "big" (torch ≥ 2.1); absent = little
//   TOP/data/KEY             the storage's raw bytes, stored (not deflated),
//                            at 64-byte aligned offsets ("FB" padding field)
//   TOP/version              "3\n" (or TOP/.data/version)
//   TOP/.data/serialization_id  40 decimal digits (torch ≥ 2.1), ignored
// Tensors are _rebuild_tensor_v2(storage, storage_offset, size, stride,
// requires_grad, backward_hooks[, metadata]): a strided view of a storage, in
// elements. Several tensors may view one storage.
//
// Legacy format (_use_new_zipfile_serialization=False): pickles back to back,
//   1. the magic number 0x1950a86a20f9469cfc6c (a 10-byte LONG1)
//   2. the protocol version, 1001
//   3. sys_info: {'protocol_version': 1001, 'little_endian': bool, 'type_sizes': {...}}
//   4. the object; persistent ids carry a sixth field, a view of the root
//      storage: ('storage', TYPE, ROOT_KEY, LOCATION, ROOT_NUMEL,
//      None | (VIEW_KEY, OFFSET, VIEW_NUMEL))
//   5. the list of root storage keys, in the order their data follows
// then for each key: u64 element count (in the writer's byte order) and the
// storage's raw bytes.
//
// Flattening: dicts (string or int keys), OrderedDicts, lists and tuples are
// walked in pickle order, path segments joined with '.'. Tensors become
// TensorInfo; plain leaves (None, bool, int, float, str, and lists/tuples of
// them) become metadata under their path.
#include "io/formats/pytorch.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/checked.h"
#include "io/deflate.h"
#include "io/endian.h"
#include "io/error.h"
#include "io/first_repeat.h"
#include "io/formats/pickle.h"
#include "io/formats/torch_state_dict.h"
#include "io/formats/zip.h"
#include "io/formats/zip_headers_in_order.h"
#include "io/limits.h"

namespace ckpt::io::pytorch {

namespace fs = std::filesystem;
using pickle::Kind;
using pickle::Value;
using pickle::ValuePtr;

namespace {

// ---------------------------------------------------------------------------
// dtype <-> legacy storage class (the classes torch.load(weights_only=True)
// accepts and torch writes for these dtypes; newer dtypes such as uint16 and
// float8 are pickled as UntypedStorage + dtype, which torch 1.x cannot read).

struct StorageClass {
  DType dtype;
  std::string_view name;
};
constexpr std::array<StorageClass, 12> kStorageClasses{{
    {DType::Bool, "BoolStorage"},
    {DType::U8, "ByteStorage"},
    {DType::I8, "CharStorage"},
    {DType::I16, "ShortStorage"},
    {DType::I32, "IntStorage"},
    {DType::I64, "LongStorage"},
    {DType::F16, "HalfStorage"},
    {DType::BF16, "BFloat16Storage"},
    {DType::F32, "FloatStorage"},
    {DType::F64, "DoubleStorage"},
    {DType::C64, "ComplexFloatStorage"},
    {DType::C128, "ComplexDoubleStorage"},
}};
static_assert(kStorageClasses.size() == 12, "one storage class per dtype torch.save names by class");

std::optional<std::string_view> storage_class(DType t) {
  for (const auto& c : kStorageClasses)
    if (c.dtype == t) return c.name;
  return std::nullopt;
}

std::string q(const std::string& s) { return "'" + s + "'"; }

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_text(const ValuePtr& v) { return v && (v->kind == Kind::String || v->kind == Kind::Bytes); }

// ---------------------------------------------------------------------------
// Where each storage's bytes are. The Storage value persistent_load returns
// carries its index in Context::refs as its storage_tag, so tensors find
// theirs through their `storage` pointer without a lookup.

struct StorageRef {
  std::string key;          // the member / root key, for messages and sharing notes
  DType dtype = DType::U8;  // the storage class's dtype (U8 for UntypedStorage)
  std::uint64_t offset = 0; // absolute; legacy: resolved after the key list
  std::uint64_t bytes = 0;
  // Legacy views: the root key and the view's byte offset inside it.
  std::uint64_t view_byte_offset = 0;
  bool resolved = false;
  const Value* value = nullptr;  // the Storage value whose tag points here
};

struct Context {
  std::shared_ptr<const ByteSource> src;
  std::uint64_t pickle_offset = 0;  // for errors raised inside persistent_load
  bool big_endian = false;
  std::vector<StorageRef> refs;
};

// The storage id fields common to both formats.
struct StorageId {
  DType dtype;
  std::string key;
  std::string location;
  std::uint64_t numel;
};

void check_element_size(const Context& cx, const StorageId& id) {
  if (!is_elementwise(id.dtype))
    throw Error(cx.src->label(), cx.pickle_offset, "storage " + q(id.key) + " has a type without a fixed element size");
}

StorageId parse_storage_id(const Context& cx, const ValuePtr& pid, std::size_t want_items) {
  const std::string& file = cx.src->label();
  if (!pid || pid->kind != Kind::Tuple || pid->items.size() != want_items)
    throw Error(file, cx.pickle_offset, "a persistent id is not a " + std::to_string(want_items) + "-item storage tuple");
  const auto& it = pid->items;
  if (!is_text(it[0]) || it[0]->text != "storage")
    throw Error(file, cx.pickle_offset, "a persistent id has a tag other than 'storage'");
  if (!it[1] || it[1]->kind != Kind::StorageType)
    throw Error(file, cx.pickle_offset, "a persistent id names something other than a storage class");
  StorageId id;
  id.dtype = it[1]->dtype;
  if (is_text(it[2])) id.key = it[2]->text;
  else if (it[2] && it[2]->kind == Kind::Int) id.key = std::to_string(it[2]->integer);
  else throw Error(file, cx.pickle_offset, "a storage key is neither a string nor an integer");
  if (!is_text(it[3])) throw Error(file, cx.pickle_offset, "storage " + q(id.key) + " has no location string");
  id.location = it[3]->text;
  if (!it[4] || it[4]->kind != Kind::Int || it[4]->integer < 0)
    throw Error(file, cx.pickle_offset, "storage " + q(id.key) + " has no valid element count");
  id.numel = static_cast<std::uint64_t>(it[4]->integer);
  check_element_size(cx, id);
  return id;
}

ValuePtr make_storage(const StorageId& id) { return pickle::make_storage(id.dtype, id.key, id.location, id.numel); }

std::uint64_t storage_bytes(const Context& cx, const StorageId& id) {
  const auto b = checked_mul(id.numel, item_size(id.dtype));
  if (!b) throw Error(cx.src->label(), cx.pickle_offset, "storage " + q(id.key) + " is too large");
  return *b;
}

// ---------------------------------------------------------------------------
// Flattening the object into tensors and metadata.

constexpr std::size_t kMaxDepth = 1000;
// What flattening may produce, in bytes: 256 per value visited (a tensor or
// metadata entry costs about that) plus its path and any text it copies into
// metadata, at most kFlattenPerPickleByte per byte of the pickle plus
// kFlattenFloor. A container or string the pickle
// shares (memo) is visited once per reference, so a few hundred bytes that
// nest one list twice in the next, 30 levels deep, would otherwise ask for
// 2^30 visits. Real checkpoints produce a few bytes per pickle byte.
constexpr std::uint64_t kFlattenPerPickleByte = 64;
constexpr std::uint64_t kFlattenFloor = std::uint64_t{16} << 20;
// Renderings of a non-JSON value (a tuple key, a mixed list) as text: a tuple
// holding one tuple twice per level doubles its text with every level.
constexpr std::size_t kMaxRenderBytes = 4096;

bool is_plain(const ValuePtr& v) {
  if (!v) return true;
  switch (v->kind) {
    case Kind::None: case Kind::Bool: case Kind::Int: case Kind::Float: case Kind::String: case Kind::Bytes:
    case Kind::TorchDType: case Kind::Global: case Kind::StorageType:
      return true;
    default:
      return false;
  }
}

std::string json_ish(const ValuePtr& v);

// `s` cut to at most `n` bytes on a UTF-8 boundary, with "..." when cut.
std::string clip(std::string s, std::size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  s.resize(n);
  return s + "...";
}

std::string scalar_text(const ValuePtr& v) {
  if (!v) return "None";
  switch (v->kind) {
    case Kind::None: return "None";
    case Kind::Bool: return v->boolean ? "True" : "False";
    case Kind::Int: return std::to_string(v->integer);
    case Kind::Float: {
      std::ostringstream o;
      o.precision(17);
      o << v->real;
      return o.str();
    }
    case Kind::String: return v->text;
    case Kind::Bytes: return "<" + std::to_string(v->text.size()) + " bytes>";
    case Kind::TorchDType: return "torch." + std::string(info(v->dtype).torch);
    case Kind::Global: return v->text;
    case Kind::StorageType: return "storage class (" + std::string(name(v->dtype)) + ")";
    default: return json_ish(v);
  }
}

std::string json_text(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Appends the rendering of `v` to `out`, stopping once `out` passes
// kMaxRenderBytes (so each call does work only while there is room).
void render(const ValuePtr& v, std::string& out) {
  if (out.size() > kMaxRenderBytes) return;
  if (!v) {
    out += "null";
    return;
  }
  switch (v->kind) {
    case Kind::None: out += "null"; return;
    case Kind::Bool: out += v->boolean ? "true" : "false"; return;
    case Kind::String: out += json_text(clip(v->text, kMaxRenderBytes)); return;
    case Kind::Tuple: case Kind::List: case Kind::Set:
      out += "[";
      for (std::size_t i = 0; i < v->items.size() && out.size() <= kMaxRenderBytes; ++i) {
        if (i) out += ", ";
        render(v->items[i], out);
      }
      out += "]";
      return;
    case Kind::Dict:
      out += "{";
      for (std::size_t i = 0; i < v->entries.size() && out.size() <= kMaxRenderBytes; ++i) {
        if (i) out += ", ";
        out += json_text(scalar_text(v->entries[i].first));
        out += ": ";
        render(v->entries[i].second, out);
      }
      out += "}";
      return;
    case Kind::Tensor: out += "\"<tensor>\""; return;
    case Kind::Storage: out += "\"<storage>\""; return;
    default: out += clip(scalar_text(v), kMaxRenderBytes); return;
  }
}

// A compact rendering for mixed lists and unusual keys: JSON where JSON can
// say it, cut at kMaxRenderBytes.
std::string json_ish(const ValuePtr& v) {
  std::string out;
  render(v, out);
  return clip(std::move(out), kMaxRenderBytes);
}

MetaValue scalar_meta(const ValuePtr& v) {
  if (!v || v->kind == Kind::None) return MetaValue::null();
  switch (v->kind) {
    case Kind::Bool: return MetaValue::boolean(v->boolean);
    case Kind::Int: return MetaValue::signed_int(MetaType::I64, v->integer);
    case Kind::Float: return MetaValue::floating(MetaType::F64, v->real);
    default: return MetaValue::string(scalar_text(v));
  }
}

// A list of plain values: a typed array when every element has one type, else text.
MetaValue list_meta(const ValuePtr& v) {
  std::optional<Kind> common;
  bool same = true;
  for (const auto& e : v->items) {
    const Kind k = e ? e->kind : Kind::None;
    if (!common) common = k;
    else if (*common != k) same = false;
  }
  if (!common) return MetaValue::array(MetaType::I64, {});
  if (same && (*common == Kind::Int || *common == Kind::Float || *common == Kind::Bool || *common == Kind::String)) {
    std::vector<MetaValue> items;
    items.reserve(v->items.size());
    for (const auto& e : v->items) items.push_back(scalar_meta(e));
    const MetaType element = items.front().type;  // read before the move below
    return MetaValue::array(element, std::move(items));
  }
  return MetaValue::string(json_ish(v));
}

class Flattener {
 public:
  // `pickle_bytes`: the size of the pickle the object came from, which bounds
  // what flattening may produce (kFlattenPerPickleByte).
  // `one_ref_per_range`: no two of cx.refs share an offset and key (zip
  // files: one ref per record), so the first user of each is kept by ref
  // index instead of by (offset, key).
  Flattener(Context& cx, Checkpoint& ck, std::uint64_t pickle_bytes, bool one_ref_per_range = false)
      : cx_(cx), ck_(ck), file_name_(cx.src->label()), one_ref_per_range_(one_ref_per_range) {
    const auto per_byte = checked_mul(pickle_bytes, kFlattenPerPickleByte);
    const auto budget = per_byte ? checked_add(*per_byte, kFlattenFloor) : std::nullopt;
    budget_ = budget.value_or(~std::uint64_t{0});
    // Nearly every storage is one tensor's; sizing the tables up front
    // spares rehashing them as they grow.
    names_.reserve(cx_.refs.size());
    if (one_ref_per_range_) first_user_.assign(cx_.refs.size(), kNoUser);
    else storage_user_.reserve(cx_.refs.size());
    ck_.tensors.reserve(ck_.tensors.size() + cx_.refs.size());
  }

  // `path` by value: a tensor's path becomes its name without a copy.
  void walk(const ValuePtr& v, std::string path, std::size_t depth) {
    if (depth > kMaxDepth) throw Error(cx_.src->label(), kNoOffset, "the saved object nests deeper than " + std::to_string(kMaxDepth) + " levels");
    visit(path);
    if (is_plain(v)) {
      charge(text_cost(v));
      ck_.metadata.push_back({std::move(path), scalar_meta(v)});
      return;
    }
    switch (v->kind) {
      case Kind::Tensor:
        tensor(v, std::move(path));
        return;
      case Kind::Dict:
        for (const auto& [k, val] : v->entries)
          walk(val, k && k->kind == Kind::String ? join(path, k->text) : join(path, key_text(k)), depth + 1);
        return;
      case Kind::Tuple: case Kind::List: case Kind::Set: {
        charge(16 * v->items.size());
        if (std::all_of(v->items.begin(), v->items.end(), is_plain)) {
          for (const auto& e : v->items) charge(text_cost(e));
          ck_.metadata.push_back({std::move(path), list_meta(v)});
          return;
        }
        for (std::size_t i = 0; i < v->items.size(); ++i) walk(v->items[i], join(path, std::to_string(i)), depth + 1);
        return;
      }
      case Kind::Storage:
        // A bare storage (torch.save(tensor.storage())): a flat 1-d tensor of it.
        storage_tensor(v, std::move(path));
        return;
      default:
        ck_.metadata.push_back({std::move(path), MetaValue::string(json_ish(v))});
        return;
    }
  }

  // What walk() makes of a state_dict the fast scan read (root and entries
  // in the same order, charged the same), with the storage each pid
  // resolved to: the same tensors, metadata and errors.
  void state_dict(const torch_state_dict::StateDict& sd, std::span<const std::size_t> pid_ref) {
    visit("");
    names_unique_ = true;  // the scan saw to that
    for (const auto& e : sd.entries) {
      std::string name(e.name);
      visit(name);
      const auto& t = sd.tensors[e.tensor];
      const auto size = std::span(sd.dims).subspan(t.size_at, t.ndim);
      const auto stride = std::span(sd.dims).subspan(t.stride_at, t.ndim);
      const StorageRef& ref = cx_.refs[pid_ref[t.pid]];
      // The storage value holds the dtype of the pid that first named it, as ref does.
      tensor_of(std::move(name), ref.dtype, Shape(size.begin(), size.end()),
                std::vector<std::int64_t>(stride.begin(), stride.end()), t.storage_offset, ref);
    }
  }

 private:
  static std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

  // Tensor names and metadata keys are paths through the saved object.
  void visit(const std::string& path) {
    if (path.size() > kMaxNameBytes)
      throw Error(cx_.src->label(), kNoOffset, "the saved object has a name longer than " + std::to_string(kMaxNameBytes) +
                                                   " bytes ('" + clip(path, 60) + "')");
    charge(256 + path.size());
  }
  static std::uint64_t text_cost(const ValuePtr& v) {
    return v && (v->kind == Kind::String || v->kind == Kind::Bytes || v->kind == Kind::Global) ? v->text.size() : 0;
  }

  void charge(std::uint64_t bytes) {
    const auto total = checked_add(spent_, bytes);
    if (!total || *total > budget_)
      throw Error(cx_.src->label(), kNoOffset,
                  "the saved object expands to more than " + std::to_string(budget_) +
                      " bytes of names and values (it refers to the same containers or strings over and over)");
    spent_ = *total;
  }

  std::string key_text(const ValuePtr& k) const {
    if (k && (k->kind == Kind::String || k->kind == Kind::Int)) return k->kind == Kind::Int ? std::to_string(k->integer) : k->text;
    return scalar_text(k);
  }

  const StorageRef& ref_of(const ValuePtr& storage, const std::string& name) const {
    const auto tag = storage && storage->torch ? storage->torch->storage_tag : cx_.refs.size();
    if (tag >= cx_.refs.size() || cx_.refs[tag].value != storage.get() || !cx_.refs[tag].resolved)
      throw Error(cx_.src->label(), kNoOffset, "tensor " + q(name) + " refers to a storage the file does not hold");
    return cx_.refs[tag];
  }

  void tensor(const ValuePtr& v, std::string name) {
    const pickle::TorchParts& tp = *v->torch;
    const StorageRef& ref = ref_of(tp.storage, name);
    // Typed storages fix the dtype; an UntypedStorage (U8) takes the tensor's.
    tensor_of(std::move(name), ref.dtype == DType::U8 ? v->dtype : ref.dtype, tp.size, tp.stride, tp.storage_offset, ref);
  }

  void tensor_of(std::string name, DType dtype, Shape size, std::vector<std::int64_t> stride, std::int64_t storage_offset,
                 const StorageRef& ref) {
    if (!is_elementwise(dtype) || info(dtype).torch.empty())
      throw Error(cx_.src->label(), ref.offset, "tensor " + q(name) + " has dtype " + std::string(io::name(dtype)) + ", which is not a PyTorch dtype");
    if (stride.size() != size.size())
      throw Error(cx_.src->label(), ref.offset, "tensor " + q(name) + " has " + std::to_string(size.size()) + " dimensions but " +
                                                   std::to_string(stride.size()) + " strides");
    add(std::move(name), dtype, std::move(size), std::move(stride), storage_offset, ref);
  }

  void storage_tensor(const ValuePtr& v, std::string name) {
    const StorageRef& ref = ref_of(v, name);
    const std::int64_t n = static_cast<std::int64_t>(ref.bytes / item_size(ref.dtype));
    add(std::move(name), ref.dtype, {n}, {1}, 0, ref);
  }

  void add(std::string name, DType dtype, Shape shape, std::vector<std::int64_t> stride, std::int64_t storage_offset,
           const StorageRef& ref) {
    const std::string& file = cx_.src->label();
    if (!names_unique_ && names_.find(std::string_view(name)) != names_.end())
      throw Error(file, ref.offset, "two tensors are both named " + q(name));
    const auto numel = checked_numel(shape);
    const auto nbytes = numel ? byte_size(dtype, *numel) : std::nullopt;
    if (!nbytes) throw Error(file, ref.offset, "tensor " + q(name) + " has an invalid shape");
    const std::uint64_t isz = item_size(dtype);
    if (storage_offset < 0) throw Error(file, ref.offset, "tensor " + q(name) + " has a negative storage offset");
    StoredLayout l;
    l.file = cx_.src;
    l.offset = ref.offset;
    l.stored_size = ref.bytes;
    l.raw_size = ref.bytes;
    l.dtype = dtype;
    l.element_offset = storage_offset;
    l.big_endian = cx_.big_endian && isz > 1;
    TensorInfo t;
    t.dtype = dtype;
    t.shape = shape;
    t.nbytes = *nbytes;
    t.file = file_name_;
    const auto first = checked_mul(static_cast<std::uint64_t>(storage_offset), isz);
    t.offset = first ? ref.offset + *first : ref.offset;
    // The contiguity test below reads them before the layout takes them.
    std::int64_t expect = 1;
    bool contiguous = true;
    // With no zero dimension the running product stays within numel, which
    // fits; with one (numel 0) it could overflow and the answer is not shown.
    if (*numel > 1)
      for (std::size_t k = shape.size(); k-- > 0;) {
        if (shape[k] != 1 && stride[k] != expect) contiguous = false;
        expect *= shape[k];
      }
    l.shape = std::move(shape);
    l.strides = std::move(stride);
    try {
      t.data = make_stored_data(std::move(l));
    } catch (const Error& e) {
      throw Error(e.file(), e.offset(), "tensor " + q(name) + " (storage " + q(ref.key) + "): " + e.sentence());
    }
    // Notes a user needs to understand the offset and size shown.
    std::vector<std::string> notes;
    if (const std::size_t first = first_user(ref); first != ck_.tensors.size())
      notes.push_back("shares storage with " + q(ck_.tensors[first].name));
    if (!contiguous && *numel > 1) notes.push_back("strided view");
    if (storage_offset != 0) notes.push_back("storage offset " + std::to_string(storage_offset));
    if (cx_.big_endian && isz > 1) notes.push_back("big-endian");
    for (std::size_t i = 0; i < notes.size(); ++i) t.layout_note += (i ? ", " : "") + notes[i];
    t.name = std::move(name);
    ck_.tensors.push_back(std::move(t));
    if (!names_unique_) names_.insert(ck_.tensors.size() - 1);
  }

  // The first tensor to use `ref`'s bytes, or (if none yet) the tensor about
  // to be added, which becomes it.
  std::size_t first_user(const StorageRef& ref) {
    if (one_ref_per_range_) {
      std::size_t& u = first_user_[static_cast<std::size_t>(&ref - cx_.refs.data())];
      if (u == kNoUser) u = ck_.tensors.size();
      return u;
    }
    return storage_user_.emplace(Use{ref.offset, &ref.key}, ck_.tensors.size()).first->second;
  }

  Context& cx_;
  Checkpoint& ck_;
  SharedText file_name_;  // every tensor's
  bool one_ref_per_range_;
  bool names_unique_ = false;
  static constexpr std::size_t kNoUser = ~std::size_t{0};
  std::vector<std::size_t> first_user_;  // by index in cx_.refs, with one_ref_per_range_
  std::uint64_t spent_ = 0;
  std::uint64_t budget_ = 0;
  // The tensors' names, held as indexes into ck_.tensors (which owns the
  // text) and looked up by name: no copy of each name.
  struct NameOf {
    using is_transparent = void;
    const std::vector<TensorInfo>* tensors;
    std::string_view of(std::size_t i) const { return (*tensors)[i].name; }
    static std::string_view of(std::string_view s) { return s; }
    template <class A>
    std::size_t operator()(const A& a) const { return std::hash<std::string_view>{}(of(a)); }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const { return of(a) == of(b); }
  };
  std::unordered_set<std::size_t, NameOf, NameOf> names_{0, NameOf{&ck_.tensors}, NameOf{&ck_.tensors}};
  // The first tensor (index in ck_.tensors) to use each stored byte range,
  // told apart by its absolute offset and storage key as in "key\noffset".
  struct Use {
    std::uint64_t offset;
    const std::string* key;  // in cx_.refs, which no longer changes
    bool operator==(const Use& o) const { return offset == o.offset && *key == *o.key; }
  };
  struct UseHash {
    std::size_t operator()(const Use& u) const { return std::hash<std::uint64_t>{}(u.offset) ^ std::hash<std::string>{}(*u.key); }
  };
  std::unordered_map<Use, std::size_t, UseHash> storage_user_;
};

// ---------------------------------------------------------------------------
// Zip format reader.

std::string member_text(const ByteSource& src, const zip::Member& m, std::size_t cap) {
  if (m.size > cap) throw Error(src.label(), m.data_offset, "record " + q(m.name) + " is implausibly large (" + std::to_string(m.size) + " bytes)");
  std::string s;
  zip::read_member(src, m, [&](std::span<const std::byte> c) { s.append(reinterpret_cast<const char*>(c.data()), c.size()); });
  return s;
}

// torch numbers its storages 0, 1, 2, …: records PREFIX/N found by N in a
// table, which spares hashing 50,000 names. Any other key is looked up by
// name.
class StorageKeys {
 public:
  StorageKeys(const zip::Archive& archive, const std::string& prefix) {
    by_number_.resize(archive.members.size(), nullptr);
    for (const auto& m : archive.members) {
      if (m.name.size() <= prefix.size() || m.name.compare(0, prefix.size(), prefix) != 0) continue;
      const auto n = number(std::string_view(m.name).substr(prefix.size()));
      if (n && *n < by_number_.size() && !by_number_[*n]) by_number_[*n] = &m;  // the first of a repeated name, as by name
    }
  }
  const zip::Member* find(std::string_view key) const {
    const auto n = number(key);
    return n && *n < by_number_.size() ? by_number_[*n] : nullptr;
  }

 private:
  // Digits only, no leading zero, at most 9 of them: the key's one spelling.
  static std::optional<std::size_t> number(std::string_view s) {
    if (s.empty() || s.size() > 9 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    std::size_t n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    return n;
  }
  std::vector<const zip::Member*> by_number_;
};

Checkpoint describe_zip(std::shared_ptr<const ByteSource> src, bool scan_state_dict) {
  const std::string& file = src->label();
  // Phase 1: the zip directory and the top folder. torch takes the first
  // member's folder; fall back to whichever folder holds a data.pkl. The
  // local headers are read on a second thread meanwhile (see below).
  zip::Archive archive = zip::read_central_directory(*src);
  zip::HeadersInOrder local_headers(*src, archive);
  // Views of the members' names: `archive` outlives every use.
  // A handful of names are looked up by scanning the members; storages by
  // StorageKeys, or, for keys that are not torch's numbers, by a table of
  // every name made on first need. The first of a repeated name wins either way.
  auto find = [&](std::string_view name) -> const zip::Member* {
    for (const auto& m : archive.members)
      if (m.name == name) return &m;
    return nullptr;
  };
  std::unordered_map<std::string_view, const zip::Member*> by_name;
  auto find_indexed = [&](std::string_view name) -> const zip::Member* {
    if (by_name.empty()) {
      by_name.reserve(archive.members.size());
      for (const auto& m : archive.members) by_name.emplace(m.name, &m);
    }
    const auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : it->second;
  };
  std::string top;
  if (!archive.members.empty()) {
    const auto& first = archive.members.front().name;
    const auto slash = first.find('/');
    if (slash != std::string::npos) top = first.substr(0, slash);
  }
  // While the other thread reads the local headers, this one scans data.pkl
  // (its own local header read here too). A problem met here is reported
  // after any in the local headers, which read_archive checked first; the
  // scan itself never throws, and anything it cannot read waits for the
  // steps below, in their order.
  std::optional<torch_state_dict::StateDict> early_scan;
  bool scanned = false;
  try {
    if (!find(top + "/data.pkl")) {
      top.clear();
      for (const auto& m : archive.members) {
        const auto slash = m.name.find('/');
        if (slash != std::string::npos && m.name.substr(slash) == "/data.pkl") {
          top = m.name.substr(0, slash);
          break;
        }
      }
      if (top.empty())
        throw Error(file, archive.central_directory_offset, "the archive has no data.pkl record, so it is not a torch.save file");
    }
    const zip::Member& entry = *find(top + "/data.pkl");
    if (scan_state_dict && entry.method == zip::kStored && entry.size <= kMaxTorchPickleBytes) {
      zip::Member located = entry;
      located.data_offset = zip::read_local_header(*src, archive, static_cast<std::size_t>(&entry - archive.members.data())).data_offset;
      early_scan = torch_state_dict::scan(zip::member_bytes(*src, located));
      scanned = true;
    }
  } catch (...) {
    local_headers.finish();
    throw;
  }
  zip::apply_local_headers(archive, local_headers.take());
  const std::string prefix = top + "/";
  const zip::Member& pkl = *find(prefix + "data.pkl");

  // Phase 2: the small records: byte order and version.
  Context cx;
  cx.src = src;
  std::string detail_extra;
  if (const zip::Member* rec = find(prefix + "byteorder")) {
    const std::string order = member_text(*src, *rec, 16);
    if (order == "big") cx.big_endian = true;
    else if (order != "little")
      throw Error(file, rec->data_offset, "the byteorder record says " + q(order) + " instead of 'little' or 'big'");
  }
  std::string version;
  for (const char* name : {"version", ".data/version"})
    if (const zip::Member* rec = find(prefix + name)) {
      version = member_text(*src, *rec, 64);
      while (!version.empty() && (version.back() == '\n' || version.back() == '\r' || version.back() == ' ')) version.pop_back();
      break;
    }

  // Phase 3: data.pkl, each storage id checked against its member. A
  // deflated one is inflated whole, so its size is capped.
  if (pkl.size > kMaxTorchPickleBytes)
    throw Error(file, pkl.data_offset, "the data.pkl record is " + std::to_string(pkl.size) + " bytes, over the limit of " +
                                           std::to_string(kMaxTorchPickleBytes));
  std::vector<std::byte> inflated;
  std::span<const std::byte> pkl_bytes;
  if (pkl.method == zip::kStored) {
    pkl_bytes = zip::member_bytes(*src, pkl);
  } else {
    inflated.reserve(static_cast<std::size_t>(pkl.size));
    zip::read_member(*src, pkl, [&](std::span<const std::byte> c) { inflated.insert(inflated.end(), c.begin(), c.end()); });
    pkl_bytes = inflated;
  }
  cx.pickle_offset = pkl.data_offset;
  // One storage per key, as torch shares them, found through the key's
  // member (its index in archive.members): a key names one member.
  constexpr std::size_t kNone = ~std::size_t{0};
  std::vector<std::size_t> ref_at(archive.members.size(), kNone);
  cx.refs.reserve(archive.members.size());
  const StorageKeys keys(archive, prefix + "data/");
  std::string member;
  auto storage_ref = [&](const StorageId& id) -> std::size_t {
    const zip::Member* found = keys.find(id.key);
    if (!found) {
      member.assign(prefix).append("data/").append(id.key);
      found = find_indexed(member);
      if (!found)
        throw Error(file, pkl.data_offset, "storage " + q(id.key) + " has no record " + q(member) + " in the archive");
    }
    std::size_t& cached = ref_at[static_cast<std::size_t>(found - archive.members.data())];
    if (cached != kNone) return cached;
    const zip::Member& m = *found;
    if (m.method != zip::kStored)
      throw Error(file, m.local_header_offset, "storage " + q(id.key) + " (record " + q(m.name) +
                                                   ") is compressed; torch.save stores storages uncompressed");
    const std::uint64_t need = storage_bytes(cx, id);
    if (m.size < need)
      throw Error(file, m.data_offset, "storage " + q(id.key) + " needs " + std::to_string(need) + " bytes but record " +
                                           q(m.name) + " holds only " + std::to_string(m.size));
    StorageRef ref;
    ref.key = id.key;
    ref.dtype = id.dtype;
    ref.offset = m.data_offset;
    ref.bytes = need;
    ref.resolved = true;
    cx.refs.push_back(std::move(ref));
    cached = cx.refs.size() - 1;
    return cached;
  };

  Checkpoint ck;
  ck.path = file;
  ck.format = Format::PyTorch;
  const int protocol = pkl_bytes.size() >= 2 && pkl_bytes[0] == std::byte{0x80} ? static_cast<int>(pkl_bytes[1]) : 0;
  ck.format_detail = "PyTorch zip (torch.save";
  if (!version.empty()) ck.format_detail += ", version " + version;
  ck.format_detail += "), pickle protocol " + std::to_string(protocol);
  if (cx.big_endian) ck.format_detail += ", big-endian";

  if (const auto sd = scanned ? std::move(early_scan) : scan_state_dict ? torch_state_dict::scan(pkl_bytes) : std::nullopt) {
    // Storages resolved in the order the interpreter's persistent_load
    // would meet them, so the first error is the same.
    std::vector<std::size_t> pid_ref(sd->pids.size());
    for (std::size_t i = 0; i < sd->pids.size(); ++i) {
      const auto& p = sd->pids[i];
      const StorageId id{p.dtype, std::string(p.key), std::string(p.location), p.numel};
      check_element_size(cx, id);
      pid_ref[i] = storage_ref(id);
    }
    Flattener(cx, ck, pkl_bytes.size(), true).state_dict(*sd, pid_ref);
  } else {
    std::vector<ValuePtr> loaded(archive.members.size());  // by ref index: one Storage value each
    pickle::Options opt;
    opt.persistent_load = [&](const ValuePtr& pid) -> ValuePtr {
      const StorageId id = parse_storage_id(cx, pid, 5);
      const std::size_t r = storage_ref(id);
      ValuePtr& v = loaded[r];
      if (!v) {
        v = make_storage(id);
        v->torch->storage_tag = r;
        cx.refs[r].value = v.get();
      }
      return v;
    };
    const ValuePtr root = pickle::load(pkl_bytes, file, pkl.data_offset, opt);
    Flattener(cx, ck, pkl_bytes.size(), true).walk(root, "", 0);
  }
  ck.files.push_back(std::move(src));
  return ck;
}

// ---------------------------------------------------------------------------
// Legacy format reader.

constexpr std::array<std::uint8_t, 10> kMagic{0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr std::int64_t kProtocolVersion = 1001;

// The magic number pickle, matched by its bytes: it is wider than 64 bits.
// PROTO n, an optional protocol-4 FRAME, LONG1 of 10 bytes, STOP.
std::uint64_t match_magic(const ByteSource& src) {
  const auto all = src.all();
  std::size_t p = 0;
  auto at = [&](std::size_t i) { return i < all.size() ? static_cast<std::uint8_t>(all[i]) : 0xFFFF; };
  if (at(0) == 0x80 && at(1) >= 2 && at(1) <= 5) p = 2;
  if (p && at(p) == 0x95) p += 9;
  bool ok = p > 0 && at(p) == 0x8a && at(p + 1) == 10;
  for (std::size_t i = 0; ok && i < kMagic.size(); ++i) ok = at(p + 2 + i) == kMagic[i];
  ok = ok && at(p + 12) == 0x2e;
  if (!ok) throw Error(src.label(), 0, "the file does not start with torch.save's magic number (not a legacy PyTorch file)");
  return p + 13;
}

Checkpoint describe_legacy(std::shared_ptr<const ByteSource> src) {
  const std::string& file = src->label();
  const auto all = src->all();
  Context cx;
  cx.src = src;
  std::uint64_t pos = match_magic(*src);

  auto next_pickle = [&](const pickle::Options& opt, const char* what) {
    if (pos >= all.size()) throw Error(file, pos, std::string("the file ends before the ") + what);
    std::size_t used = 0;
    cx.pickle_offset = pos;
    ValuePtr v = pickle::load(all.subspan(static_cast<std::size_t>(pos)), file, pos, opt, &used);
    pos += used;
    return v;
  };

  // Phase 1: protocol version and sys_info.
  const pickle::Options plain;
  const std::uint64_t proto_at = pos;
  const ValuePtr proto = next_pickle(plain, "protocol version");
  if (!proto || proto->kind != Kind::Int || proto->integer != kProtocolVersion)
    throw Error(file, proto_at, "the legacy protocol version is not 1001");
  const std::uint64_t sys_at = pos;
  const ValuePtr sys = next_pickle(plain, "system information");
  if (!sys || sys->kind != Kind::Dict) throw Error(file, sys_at, "the system information is not a dict");
  for (const auto& [k, v] : sys->entries)
    if (is_text(k) && k->text == "little_endian" && v && v->kind == Kind::Bool) cx.big_endian = !v->boolean;

  // Phase 2: the object. Storage data offsets are known only after the key
  // list, so refs are resolved afterwards.
  struct Root {
    DType dtype;
    std::uint64_t numel;
  };
  std::unordered_map<std::string, Root> roots;
  std::unordered_map<std::string, ValuePtr> loaded;  // by root key + view key
  pickle::Options opt;
  opt.persistent_load = [&](const ValuePtr& pid) -> ValuePtr {
    const StorageId id = parse_storage_id(cx, pid, 6);
    const ValuePtr& view = pid->items[5];
    std::string view_key;
    std::uint64_t view_offset = 0, view_numel = id.numel;
    if (view && view->kind == Kind::Tuple && view->items.size() == 3 && view->items[1] && view->items[1]->kind == Kind::Int &&
        view->items[2] && view->items[2]->kind == Kind::Int && view->items[1]->integer >= 0 && view->items[2]->integer >= 0) {
      view_key = is_text(view->items[0]) ? view->items[0]->text : scalar_text(view->items[0]);
      view_offset = static_cast<std::uint64_t>(view->items[1]->integer);
      view_numel = static_cast<std::uint64_t>(view->items[2]->integer);
    } else if (view && view->kind != Kind::None) {
      throw Error(file, cx.pickle_offset, "storage " + q(id.key) + " has a malformed view field");
    }
    const auto [rit, fresh] = roots.emplace(id.key, Root{id.dtype, id.numel});
    if (!fresh && (rit->second.dtype != id.dtype || rit->second.numel != id.numel))
      throw Error(file, cx.pickle_offset, "storage " + q(id.key) + " is described twice with different types or sizes");
    const auto end = checked_add(view_offset, view_numel);
    if (!end || *end > id.numel)
      throw Error(file, cx.pickle_offset, "a view of storage " + q(id.key) + " reaches past its " + std::to_string(id.numel) + " elements");
    const std::string lkey = id.key + "\n" + view_key;
    if (const auto it = loaded.find(lkey); it != loaded.end()) return it->second;
    StorageId vid = id;
    vid.numel = view_numel;
    ValuePtr v = make_storage(vid);
    StorageRef ref;
    ref.key = id.key;
    ref.dtype = id.dtype;
    ref.view_byte_offset = view_offset * item_size(id.dtype);
    (void)storage_bytes(cx, id);  // bounds the view's products below
    ref.bytes = view_numel * item_size(id.dtype);
    ref.value = v.get();
    v->torch->storage_tag = cx.refs.size();
    cx.refs.push_back(std::move(ref));
    loaded.emplace(lkey, v);
    return v;
  };
  const std::uint64_t root_at = pos;
  const ValuePtr root = next_pickle(opt, "saved object");
  const std::uint64_t root_bytes = pos - root_at;

  // Phase 3: the list of storage keys, then the storages in that order.
  const std::uint64_t keys_at = pos;
  const ValuePtr keys = next_pickle(plain, "list of storage keys");
  if (!keys || keys->kind != Kind::List) throw Error(file, keys_at, "the storage key list is not a list");
  std::unordered_map<std::string, std::uint64_t> data_at;
  for (const auto& k : keys->items) {
    if (!is_text(k)) throw Error(file, keys_at, "the storage key list holds something other than a string");
    const auto rit = roots.find(k->text);
    if (rit == roots.end())
      throw Error(file, keys_at, "the key list names storage " + q(k->text) + ", which no tensor uses, so its size is unknown");
    if (pos > all.size() || all.size() - pos < 8)
      throw Error(file, pos, "the file ends before the size of storage " + q(k->text));
    const std::uint64_t count = cx.big_endian ? load_be<std::uint64_t>(all.data() + pos) : load_le<std::uint64_t>(all.data() + pos);
    if (count != rit->second.numel)
      throw Error(file, pos, "storage " + q(k->text) + " holds " + std::to_string(count) + " elements but the object says " +
                                 std::to_string(rit->second.numel));
    pos += 8;
    const std::uint64_t bytes = count * item_size(rit->second.dtype);  // checked in persistent_load
    if (all.size() - pos < bytes)
      throw Error(file, pos, "the file ends inside storage " + q(k->text) + " (" + std::to_string(bytes) + " bytes expected, " +
                                 std::to_string(all.size() - pos) + " left)");
    if (!data_at.emplace(k->text, pos).second) throw Error(file, keys_at, "the key list names storage " + q(k->text) + " twice");
    pos += bytes;
  }
  for (auto& ref : cx.refs) {
    const auto it = data_at.find(ref.key);
    if (it == data_at.end()) throw Error(file, keys_at, "storage " + q(ref.key) + " is used but missing from the key list");
    ref.offset = it->second + ref.view_byte_offset;
    ref.resolved = true;
  }

  // Phase 4: flatten.
  Checkpoint ck;
  ck.path = file;
  ck.format = Format::PyTorch;
  const int protocol = static_cast<int>(all[1]);
  ck.format_detail = "PyTorch legacy (torch.save, _use_new_zipfile_serialization=False), pickle protocol " + std::to_string(protocol);
  if (cx.big_endian) ck.format_detail += ", big-endian";
  Flattener(cx, ck, root_bytes).walk(root, "", 0);
  ck.files.push_back(std::move(src));
  return ck;
}

// ---------------------------------------------------------------------------
// Hugging Face pytorch_model.bin.index.json.

void check_shard_name(const std::string& index, const std::string& shard) {
  const fs::path p(shard);
  bool escapes = shard.empty() || p.is_absolute() || p.has_root_name() || p.has_root_directory() ||
                 shard.find('\0') != std::string::npos;
  for (const auto& part : p)
    if (part == "..") escapes = true;
  if (escapes) throw Error(index, kNoOffset, "the index lists shard " + q(shard) + ", which is not a file name inside the index's folder");
}

Checkpoint open_index(const std::string& path) {
  const auto src = MappedFile::open(path);
  const auto raw = src->all();
  // Not ordered_json: its objects copy (rather than move) their members as
  // they grow, recursing through each, so one value nested 200,000 deep
  // before another key overflowed the stack. Order does not matter here.
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(reinterpret_cast<const char*>(raw.data()), reinterpret_cast<const char*>(raw.data()) + raw.size());
  } catch (const nlohmann::json::exception& e) {
    throw Error(path, kNoOffset, std::string("the index is not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw Error(path, kNoOffset, "the index has no \"weight_map\" object");
  std::map<std::string, std::set<std::string>> shards;  // name order = NAME-00001-of-0000N order
  for (const auto& [name, shard] : j["weight_map"].items()) {
    if (!shard.is_string()) throw Error(path, kNoOffset, "the index maps tensor " + q(name) + " to something other than a file name");
    check_shard_name(path, shard.get<std::string>());
    shards[shard.get<std::string>()].insert(name);
  }
  Checkpoint ck;
  ck.path = path;
  ck.format = Format::PyTorch;
  const fs::path folder = fs::path(path).parent_path();
  std::string kind;
  for (const auto& [shard, names] : shards) {
    const std::string shard_path = (folder / shard).string();
    if (!fs::exists(shard_path)) throw Error(path, kNoOffset, "shard " + q(shard) + " listed in the index is missing");
    Checkpoint part = describe(MappedFile::open(shard_path));
    if (kind.empty()) kind = part.format_detail;
    std::set<std::string> present;
    for (const auto& t : part.tensors) {
      if (!names.count(t.name))
        throw Error(shard_path, t.offset, "tensor " + q(t.name) + " is in shard " + q(shard) + " but the index does not map it there");
      present.insert(t.name);
    }
    for (const auto& n : names)
      if (!present.count(n)) throw Error(shard_path, kNoOffset, "the index maps tensor " + q(n) + " to shard " + q(shard) + ", which does not hold it");
    for (auto& t : part.tensors) ck.tensors.push_back(std::move(t));
    for (auto& m : part.metadata)
      if (!find(ck.metadata, m.key)) ck.metadata.push_back(std::move(m));
    for (auto& f : part.files) ck.files.push_back(std::move(f));
  }
  ck.format_detail = kind + " (sharded, " + std::to_string(shards.size()) + (shards.size() == 1 ? " file)" : " files)");
  return ck;
}

// ---------------------------------------------------------------------------
// Writing: a protocol-2 pickle of OrderedDict{name: _rebuild_tensor_v2(...)}.

class PickleWriter {
 public:
  void proto() { op(0x80), byte(2); }
  void stop() { op('.'); }
  void mark() { op('('); }
  void op(char c) { out_.push_back(static_cast<std::byte>(c)); }
  void op(int c) { out_.push_back(static_cast<std::byte>(c)); }
  void byte(std::uint8_t b) { out_.push_back(static_cast<std::byte>(b)); }

  // Globals are memoized the first time, as Python's pickler does, and
  // fetched from the memo afterwards.
  void global(const std::string& module, const std::string& name) {
    const std::string key = module + "\n" + name + "\n";
    if (const auto it = memo_.find(key); it != memo_.end()) return get(it->second);
    op('c');
    raw(key);
    put(key);
  }
  void str(const std::string& s) {
    if (const auto it = memo_.find("s" + s); it != memo_.end()) return get(it->second);
    op('X');
    u32(static_cast<std::uint32_t>(s.size()));
    raw(s);
  }
  void memo_str(const std::string& s) {
    if (memo_.count("s" + s)) return str(s);
    str(s);
    put("s" + s);
  }
  void integer(std::int64_t v) {
    if (v >= 0 && v < 256) {
      op('K');
      byte(static_cast<std::uint8_t>(v));
    } else if (v >= 0 && v < 65536) {
      op('M');
      byte(static_cast<std::uint8_t>(v));
      byte(static_cast<std::uint8_t>(v >> 8));
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      u32(static_cast<std::uint32_t>(static_cast<std::int32_t>(v)));
    } else {
      // LONG1: shortest little-endian two's complement.
      std::vector<std::uint8_t> b;
      std::int64_t x = v;
      for (;;) {
        b.push_back(static_cast<std::uint8_t>(x & 0xFF));
        const bool sign = (b.back() & 0x80) != 0;
        x >>= 8;
        if ((x == 0 && !sign) || (x == -1 && sign)) break;
      }
      op(0x8a);
      byte(static_cast<std::uint8_t>(b.size()));
      for (auto c : b) byte(c);
    }
  }
  void tuple_of(const std::vector<std::int64_t>& v) {
    if (v.empty()) return op(')');
    if (v.size() > 3) mark();
    for (auto x : v) integer(x);
    if (v.size() == 1) op(0x85);
    else if (v.size() == 2) op(0x86);
    else if (v.size() == 3) op(0x87);
    else op('t');
  }
  std::vector<std::byte> take() { return std::move(out_); }

 private:
  void raw(const std::string& s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    out_.insert(out_.end(), p, p + s.size());
  }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) byte(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void put(const std::string& key) {
    const auto idx = static_cast<std::uint32_t>(memo_.size());
    memo_.emplace(key, idx);
    if (idx < 256) {
      op('q');
      byte(static_cast<std::uint8_t>(idx));
    } else {
      op('r');
      u32(idx);
    }
  }
  void get(std::uint32_t idx) {
    if (idx < 256) {
      op('h');
      byte(static_cast<std::uint8_t>(idx));
    } else {
      op('j');
      u32(idx);
    }
  }
  std::vector<std::byte> out_;
  std::map<std::string, std::uint32_t> memo_;
};

// torch's contiguous strides: a zero-length dimension counts as length 1.
std::vector<std::int64_t> contiguous_strides(const Shape& shape) {
  std::vector<std::int64_t> s(shape.size());
  std::int64_t acc = 1;
  for (std::size_t k = shape.size(); k-- > 0;) {
    s[k] = acc;
    acc *= std::max<std::int64_t>(shape[k], 1);
  }
  return s;
}

std::vector<std::byte> state_dict_pickle(std::span<const TensorInfo> tensors) {
  PickleWriter w;
  w.proto();
  w.global("collections", "OrderedDict");
  w.op(')');
  w.op('R');
  if (!tensors.empty()) w.mark();
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = tensors[i];
    w.str(t.name);
    w.global("torch._utils", "_rebuild_tensor_v2");
    w.mark();
    // The persistent id: ('storage', torch.XStorage, key, 'cpu', numel).
    w.mark();
    w.memo_str("storage");
    w.global("torch", std::string(*storage_class(t.dtype)));
    w.str(std::to_string(i));
    w.memo_str("cpu");
    w.integer(t.numel());
    w.op('t');
    w.op('Q');
    w.integer(0);
    w.tuple_of(t.shape);
    w.tuple_of(contiguous_strides(t.shape));
    w.op(0x89);  // requires_grad False
    w.global("collections", "OrderedDict");
    w.op(')');
    w.op('R');  // backward_hooks: an empty OrderedDict
    w.op('t');
    w.op('R');
  }
  if (!tensors.empty()) w.op('u');
  w.stop();
  return w.take();
}

// torch names the archive folder after the file: its name without folder
// and last extension.
std::string archive_name(const std::string& path) {
  std::string base = fs::path(path).filename().string();
  const auto dot = base.rfind('.');
  if (dot != std::string::npos) base = base.substr(0, dot);
  return base.empty() ? "archive" : base;
}

constexpr std::uint32_t kAlignment = 64;

}  // namespace

Checkpoint describe(std::shared_ptr<const ByteSource> src) {
  const auto all = src->all();
  if (all.size() >= 4 && all[0] == std::byte{'P'} && all[1] == std::byte{'K'}) return describe_zip(std::move(src), true);
  return describe_legacy(std::move(src));
}

Checkpoint describe_general(std::shared_ptr<const ByteSource> src) {
  const auto all = src->all();
  if (all.size() >= 4 && all[0] == std::byte{'P'} && all[1] == std::byte{'K'}) return describe_zip(std::move(src), false);
  return describe_legacy(std::move(src));
}

Checkpoint open(const std::string& path) {
  if (ends_with(path, ".index.json")) return open_index(path);
  return describe(MappedFile::open(path));
}

void write(const std::string& path, std::span<const TensorInfo> tensors, const Metadata&, const WriteOptions& opt) {
  // Check every tensor before the first byte is written.
  const std::size_t repeat = first_repeat(tensors.size(), [&](std::size_t k) -> const std::string& { return tensors[k].name; });
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const TensorInfo& t = tensors[k];
    if (!storage_class(t.dtype))
      throw Error(path, kNoOffset, "tensor " + q(t.name) + " has dtype " + std::string(name(t.dtype)) + ", which PyTorch files cannot store");
    const auto numel = checked_numel(t.shape);
    const auto want = numel ? byte_size(t.dtype, *numel) : std::nullopt;
    if (!want || *want != t.nbytes || !t.data)
      throw Error(path, kNoOffset, "tensor " + q(t.name) + " has no readable data matching its shape and dtype");
    if (k == repeat) throw Error(path, kNoOffset, "two tensors are both named " + q(t.name));
  }
  refuse_overwriting_inputs(path, tensors, opt);

  const std::string top = archive_name(path) + "/";
  const std::vector<std::byte> pkl = state_dict_pickle(tensors);
  AtomicFile out(path, opt.sync, opt.file_mode);
  zip::Writer zw(out);
  zw.expect_members(tensors.size() + 6);  // the storages and torch's own records
  // Records in current torch's order: data.pkl, format markers, byteorder,
  // the storages, then version and serialization id at the end of file.
  std::uint32_t crc_combined = 0;
  auto record = [&](const std::string& name, std::span<const std::byte> bytes) {
    zw.begin_member(top + name, zip::kStored, 0, kAlignment);
    zw.write(bytes);
    zw.end_member();
    crc_combined = crc32_update(crc_combined, bytes);
  };
  auto text_record = [&](const std::string& name, const std::string& text) {
    record(name, std::as_bytes(std::span<const char>(text)));
  };
  record("data.pkl", pkl);
  text_record(".format_version", "1");
  text_record(".storage_alignment", std::to_string(kAlignment));
  text_record("byteorder", "little");
  ProgressTracker progress(opt, tensors);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    zw.begin_member(top + "data/" + std::to_string(i), zip::kStored, 0, kAlignment);
    // A tensor that is one range of a file is copied from it, checksummed
    // alongside (plain copies: GCC 12 misjudges std::optional here).
    const ByteSource* range_file = nullptr;
    std::uint64_t range_offset = 0, range_size = 0;
    if (const auto r = tensors[i].data ? tensors[i].data->file_range() : std::nullopt) {
      range_file = r->file;
      range_offset = r->offset;
      range_size = r->size;
    }
    if (range_file && range_size == tensors[i].nbytes) {
      progress.begin_tensor(i);
      zw.write_range(*range_file, range_offset, range_size, [&](std::uint64_t n) { progress.advance(n); });
    } else {
      stream_tensor(progress, i, [&](std::span<const std::byte> chunk) { zw.write(chunk); }, path);
    }
    zw.end_member();
  }
  text_record("version", "3\n");
  // torch's id is a hash of record names and CRCs; any 40 digits serve (its
  // reader only logs it). Ours: the record count and a CRC of the small records.
  char id[41];
  std::snprintf(id, sizeof id, "%020llu%020llu", static_cast<unsigned long long>(tensors.size() + 6),
                static_cast<unsigned long long>(crc_combined));
  text_record(".data/serialization_id", id);
  zw.finish();
  out.commit();
}

}  // namespace ckpt::io::pytorch
