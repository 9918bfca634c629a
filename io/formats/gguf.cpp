// GGUF reader and writer.
//
// File layout (ggml docs/gguf.md; all scalars in the file's byte order, which
// is little-endian unless the producer swapped everything for a big-endian
// host — there is no flag, the version simply reads byte-swapped):
//
//   "GGUF"                     4-byte magic
//   u32 version                1, 2 or 3
//   count tensor_count         count = u32 in v1, u64 in v2+
//   count kv_count
//   kv_count × { string key; u32 value_type; value }
//   tensor_count × { string name; u32 n_dims; dim ne[n_dims];
//                    u32 ggml_type; u64 offset }      dim = u32 in v1, u64 in v2+
//   zero padding up to a multiple of `general.alignment` (u32 KV, default 32)
//   data section: each tensor at data_start + offset, offset % alignment == 0
//
//   string = count length + bytes (UTF-8, no terminator)
//   value  = one of the 13 value types (MetaType ids); an array is
//            u32 element_type, count n, n elements (elements may be strings
//            or arrays again).
//
// ne[0] is the fastest-varying dimension, so the row-major shape is ne
// reversed. A tensor of a ggml type this build does not know is listed with
// its size inferred from the next tensor's offset instead of failing the file:
// ggml adds type ids without bumping the version.
#include "io/formats/gguf.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <unordered_set>

#include "io/atomic_file.h"
#include "io/byte_reader.h"
#include "io/checked.h"
#include "io/error.h"
#include "io/first_repeat.h"
#include "io/limits.h"

namespace ckpt::io::gguf {
namespace {

constexpr std::uint32_t kDefaultAlignment = 32;
// ggml itself stops at 4 dims (GGML_MAX_DIMS); we list files with a few more,
// since nothing else in the format limits the rank.
constexpr std::uint32_t kMaxDims = 8;
// Arrays of arrays are legal; a bound keeps a hostile file from recursing
// through the stack one 12-byte header at a time.
constexpr int kMaxArrayDepth = 16;

// Smallest number of bytes one element of a value type can occupy; used to
// reject counts before allocating for them.
std::uint64_t min_value_bytes(MetaType t, std::uint64_t count_bytes) {
  switch (t) {
    case MetaType::U8: case MetaType::I8: case MetaType::Bool: return 1;
    case MetaType::U16: case MetaType::I16: return 2;
    case MetaType::U32: case MetaType::I32: case MetaType::F32: return 4;
    case MetaType::U64: case MetaType::I64: case MetaType::F64: return 8;
    case MetaType::String: return count_bytes;
    case MetaType::Array: return 4 + count_bytes;
    case MetaType::Null: return 1;  // never read from a file: not a GGUF type
  }
  return 1;
}

struct Header {
  std::uint32_t version = 0;
  bool big_endian = false;
  std::uint64_t tensor_count = 0;
  std::uint64_t kv_count = 0;
  std::uint32_t alignment = kDefaultAlignment;
  std::uint64_t data_offset = 0;
};

// Names already seen (tensor names, metadata keys) as views into the mapped
// file: a duplicate check per name without copying it or allocating a node
// (a set of copied strings would dominate opening 10^5 tensors). A slot is
// 8 bytes (hash bits and an index into names_), so the table for
// 10^5 names stays small enough to keep its probes mostly in cache.
class NameSet {
 public:
  // Holds up to `capacity` names: a count from the header, which the reader
  // has bounded by the file size (the tensor list reserved for it is larger).
  explicit NameSet(std::uint64_t capacity) {
    if (capacity > kIndexMask - 1) throw std::length_error("too many names for a GGUF name set");
    std::size_t slots = 16;
    while (slots < capacity * 2) slots *= 2;
    slots_.resize(slots);
    names_.reserve(static_cast<std::size_t>(capacity));
    capacity_ = static_cast<std::size_t>(capacity);
  }

  static std::uint64_t hash(std::string_view name) { return std::hash<std::string_view>{}(name); }

  // Starts loading the slot a name with hash `h` probes first, so the cache
  // miss overlaps other work when the name is known ahead of its insert.
  void prefetch(std::uint64_t h) const { __builtin_prefetch(&slots_[static_cast<std::size_t>(h) & (slots_.size() - 1)]); }

  // False when `name` is already in the set.
  bool insert(std::string_view name) { return insert(name, hash(name)); }
  bool insert(std::string_view name, std::uint64_t h) {
    // At most half the slots are ever used, so every probe ends.
    if (names_.size() == capacity_) throw std::length_error("more names than the GGUF name set was made for");
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
      std::uint64_t& s = slots_[i];
      if (s == 0) {
        names_.push_back(name);
        s = (h & ~kIndexMask) | names_.size();
        return true;
      }
      if (((s ^ h) & ~kIndexMask) == 0 && names_[(s & kIndexMask) - 1] == name) return false;
    }
  }

 private:
  // Low bits: index + 1 into names_ (0 marks an empty slot); high bits: the
  // top of the hash, so unequal names rarely need comparing.
  static constexpr std::uint64_t kIndexMask = (std::uint64_t{1} << 40) - 1;

  std::vector<std::uint64_t> slots_;
  std::vector<std::string_view> names_;
  std::size_t capacity_ = 0;
};

class Parser {
 public:
  explicit Parser(const std::shared_ptr<const ByteSource>& src)
      : src_(src), file_(src->label()), r_(*src), base_(src->all().data()), size_(src->size()) {}

  Checkpoint parse() {
    read_header();
    read_kvs();
    read_alignment();
    read_tensor_infos();
    place_data();
    Checkpoint ck;
    ck.path = src_->label();
    ck.format = Format::Gguf;
    ck.format_detail = "GGUF v" + std::to_string(h_.version) + (h_.big_endian ? " (big-endian)" : " (little-endian)");
    ck.tensors = std::move(tensors_);
    ck.metadata = std::move(meta_);
    ck.files.push_back(src_);
    return ck;
  }

 private:
  // Phase 1: magic, version (which also tells the byte order), counts.
  void read_header() {
    auto magic = r_.bytes(4, "GGUF magic");
    if (std::memcmp(magic.data(), "GGUF", 4) != 0) r_.fail_at(0, "the file does not start with the GGUF magic \"GGUF\"");
    std::uint32_t v = r_.read<std::uint32_t>("GGUF version");
    // A big-endian writer leaves the small version number in the high bytes.
    if ((v & 0xFFFFu) == 0 && v != 0) {
      v = byteswap(v);
      h_.big_endian = true;
      r_.set_big_endian(true);
    }
    if (v < 1 || v > 3) r_.fail_at(4, "GGUF version " + std::to_string(v) + " is not supported (only 1, 2 and 3 are)");
    h_.version = v;
    const std::uint64_t at_tensors = r_.pos();
    h_.tensor_count = read_count("tensor count");
    const std::uint64_t at_kvs = r_.pos();
    h_.kv_count = read_count("key/value count");
    // Each KV takes at least a key length, a type and one value byte; each
    // tensor info at least a name length, n_dims, a type and an offset.
    const std::uint64_t cb = count_bytes();
    if (h_.kv_count > remaining() / (cb + 4 + 1))
      r_.fail_at(at_kvs, "the header claims " + std::to_string(h_.kv_count) + " key/value pairs, more than the file can hold");
    if (h_.tensor_count > remaining() / (cb + 4 + 4 + 8))
      r_.fail_at(at_tensors, "the header claims " + std::to_string(h_.tensor_count) + " tensors, more than the file can hold");
    if (h_.tensor_count > kMaxTensorCount)
      r_.fail_at(at_tensors, "the header claims " + std::to_string(h_.tensor_count) + " tensors, over the limit of " +
                                 std::to_string(kMaxTensorCount));
  }

  // Phase 2: key/value pairs, kept in file order with their exact types.
  void read_kvs() {
    meta_.reserve(static_cast<std::size_t>(h_.kv_count));
    NameSet seen(h_.kv_count);
    for (std::uint64_t k = 0; k < h_.kv_count; ++k) {
      const std::uint64_t at = r_.pos();
      const std::string_view key = read_string_view([&] { return "key of key/value pair " + std::to_string(k); });
      if (key.size() > kMaxNameBytes) fail_long_name(at, "the key of key/value pair " + std::to_string(k), key.size());
      if (!seen.insert(key)) r_.fail_at(at, "the key '" + std::string(key) + "' appears twice");
      MetaEntry& e = meta_.emplace_back();
      e.key = key;
      const MetaType t = read_type([&] { return "value type of '" + e.key + "'"; });
      read_value(e.value, t, e.key, 0);
    }
  }

  // Phase 3: the alignment is a KV but governs everything after the infos.
  void read_alignment() {
    const MetaValue* a = find(meta_, "general.alignment");
    if (!a) return;
    if (a->type != MetaType::U32)
      r_.fail_at(r_.pos(), std::string("general.alignment has type ") + meta_type_name(a->type) + ", not uint32");
    if (a->u == 0 || (a->u & (a->u - 1)) != 0)
      r_.fail_at(r_.pos(), "general.alignment is " + std::to_string(a->u) + ", not a nonzero power of two");
    h_.alignment = static_cast<std::uint32_t>(a->u);
  }

  // Phase 4: tensor infos. Sizes come from the type table; offsets are
  // checked once the data section's start is known. Messages are built only
  // when something fails: this loop runs once per tensor.
  void read_tensor_infos() {
    tensors_.reserve(static_cast<std::size_t>(h_.tensor_count));
    places_.reserve(static_cast<std::size_t>(h_.tensor_count));
    NameSet names(h_.tensor_count);
    // The next tensor's name, hashed early (see peek_name).
    std::uint64_t next_at = ~std::uint64_t{0};
    std::uint64_t next_hash = 0;
    for (std::uint64_t k = 0; k < h_.tensor_count; ++k) {
      const std::uint64_t at = r_.pos();
      const std::string_view name = read_string_view([&] { return "name of tensor " + std::to_string(k); });
      if (name.size() > kMaxNameBytes) fail_long_name(at, "the name of tensor " + std::to_string(k), name.size());
      TensorInfo& t = tensors_.emplace_back();
      // Copied before the duplicate check, which then waits less for its
      // prefetched slot; on failure the copies are discarded with the rest.
      t.name = name;
      t.file = file_;
      const std::uint64_t h = at == next_at ? next_hash : NameSet::hash(name);
      if (!names.insert(name, h)) r_.fail_at(at, "the tensor name '" + std::string(name) + "' appears twice");
      auto who = [&] { return "tensor '" + t.name + "'"; };
      const std::uint32_t n_dims = read<std::uint32_t>([&] { return "dimension count of " + who(); });
      if (n_dims > kMaxDims)
        r_.fail_at(r_.pos() - 4, who() + " has " + std::to_string(n_dims) + " dimensions, more than the " +
                                     std::to_string(kMaxDims) + " this reader accepts");
      t.ggml_ne.resize(n_dims);
      t.shape.resize(n_dims);
      for (std::uint32_t d = 0; d < n_dims; ++d) {
        auto what = [&] { return "dimensions of " + who(); };
        const std::uint64_t ne = h_.version == 1 ? read<std::uint32_t>(what) : read<std::uint64_t>(what);
        if (ne > static_cast<std::uint64_t>(INT64_MAX)) r_.fail_at(r_.pos() - 8, who() + " has a negative dimension");
        t.ggml_ne[d] = ne;
        t.shape[n_dims - 1 - d] = static_cast<std::int64_t>(ne);
      }
      const auto numel = checked_numel(t.shape);
      if (!numel) r_.fail_at(at, who() + " has more elements than fit in 64 bits");
      const std::uint64_t at_type = r_.pos();
      const std::uint32_t type_id = read<std::uint32_t>([&] { return "ggml type of " + who(); });
      t.ggml_type = type_id;
      t.dtype = from_ggml(type_id).value_or(DType::GgmlUnknown);
      if (t.dtype != DType::GgmlUnknown) {
        const auto& ti = info(t.dtype);
        if (!t.ggml_ne.empty() && t.ggml_ne[0] % ti.block_elems != 0)
          r_.fail_at(at_type, who() + " has ne[0] = " + std::to_string(t.ggml_ne[0]) + ", not a multiple of the " +
                                  std::to_string(ti.block_elems) + "-element blocks of " + std::string(ti.name));
        const auto nb = byte_size(t.dtype, *numel);
        if (!nb) r_.fail_at(at_type, who() + " is too large to have a byte size");
        t.nbytes = *nb;
      }
      const std::uint64_t at_offset = r_.pos();
      const std::uint64_t off = read<std::uint64_t>([&] { return "data offset of " + who(); });
      if (off % h_.alignment != 0)
        r_.fail_at(at_offset, who() + " has data offset " + std::to_string(off) + ", not a multiple of the alignment " +
                                  std::to_string(h_.alignment));
      places_.push_back(Place{off, t.nbytes, at_offset, t.dtype == DType::GgmlUnknown});
      if (k + 1 < h_.tensor_count && peek_name(next_hash)) {
        next_at = r_.pos();
        names.prefetch(next_hash);
      }
    }
  }

  // Hashes the name that starts at the cursor without moving it, when it
  // lies in the file (otherwise reading it reports the problem). Probing the
  // name set misses the cache for most of 10^5 names; hashing a name one
  // tensor early lets that miss overlap the rest of the previous tensor.
  bool peek_name(std::uint64_t& h) const {
    const std::uint64_t cb = count_bytes();
    if (remaining() < cb) return false;
    const std::byte* p = base_ + r_.pos();
    const std::uint64_t n = cb == 4 ? load<std::uint32_t>(p) : load<std::uint64_t>(p);
    if (n > remaining() - cb) return false;
    h = NameSet::hash({reinterpret_cast<const char*>(p + cb), static_cast<std::size_t>(n)});
    return true;
  }

  // Phase 5: the data section. Every tensor's bytes must lie in the file and
  // no two tensors may share a byte; unknown types get the room up to the
  // next tensor as their size. The checks run over places_, not the much
  // larger TensorInfos, which are touched once more at the end.
  void place_data() {
    const std::uint64_t end_infos = r_.pos();
    const std::uint64_t pad = (h_.alignment - end_infos % h_.alignment) % h_.alignment;
    h_.data_offset = end_infos + pad;
    const std::uint64_t size = src_->size();
    if (tensors_.empty()) return;
    if (h_.data_offset > size)
      r_.fail_at(end_infos, "the file ends before its data section (at byte " + std::to_string(h_.data_offset) + ")");
    const std::uint64_t data_bytes = size - h_.data_offset;

    // Writers lay tensors out in info order, so the sort is usually skipped.
    std::vector<std::size_t> order;
    const bool in_order = std::is_sorted(places_.begin(), places_.end(),
                                         [](const Place& a, const Place& b) { return a.rel_offset < b.rel_offset; });
    if (!in_order) {
      order.resize(places_.size());
      for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return places_[a].rel_offset < places_[b].rel_offset; });
    }
    auto nth = [&](std::size_t j) { return in_order ? j : order[j]; };
    const std::size_t n = places_.size();

    // First position in offset order after the current one with a larger
    // offset; it only moves forward, so sizing every unknown tensor stays linear.
    std::size_t next_larger = 0;
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t k = nth(j);
      Place& p = places_[k];
      const std::uint64_t off = p.rel_offset;
      if (off > data_bytes)
        r_.fail_at(p.info_pos, "tensor '" + tensors_[k].name + "' starts at data offset " + std::to_string(off) +
                                   ", past the end of the file");
      if (p.unknown) {
        next_larger = std::max(next_larger, j + 1);
        while (next_larger < n && places_[nth(next_larger)].rel_offset <= off) ++next_larger;
        p.nbytes = (next_larger < n ? places_[nth(next_larger)].rel_offset : data_bytes) - off;
        auto& t = tensors_[k];
        t.nbytes = p.nbytes;
        t.layout_note = "unknown ggml type " + std::to_string(*t.ggml_type) + "; size inferred from the next tensor";
      }
      if (p.nbytes > data_bytes - off)
        r_.fail_at(p.info_pos, "tensor '" + tensors_[k].name + "' needs " + std::to_string(p.nbytes) +
                                   " bytes at data offset " + std::to_string(off) + ", past the end of the file");
    }
    // Overlap: in offset order, each non-empty tensor must start at or after
    // the end of every earlier one.
    std::uint64_t prev_end = 0;
    std::size_t prev = 0;
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t k = nth(j);
      const Place& p = places_[k];
      if (p.nbytes == 0) continue;
      if (p.rel_offset < prev_end)
        r_.fail_at(p.info_pos, "tensor '" + tensors_[k].name + "' overlaps tensor '" + tensors_[prev].name +
                                   "' in the data section");
      prev_end = p.rel_offset + p.nbytes;
      prev = k;
    }

    for (std::size_t k = 0; k < n; ++k) {
      auto& t = tensors_[k];
      t.offset = h_.data_offset + places_[k].rel_offset;
      if (t.dtype == DType::GgmlUnknown) continue;
      if (h_.big_endian && is_quantized(t.dtype)) t.layout_note = "big-endian file: blocks as stored";
      else if (h_.big_endian && item_size(t.dtype) > 1) t.layout_note = "big-endian";
      StoredLayout l;
      l.file = src_;
      l.offset = t.offset;
      l.stored_size = t.nbytes;
      l.dtype = t.dtype;
      l.shape = t.shape;
      l.big_endian = h_.big_endian;
      t.data = make_stored_data(std::move(l));
    }
  }

  // --- primitives -------------------------------------------------------
  //
  // `what` names the thing being read for an error message: a string, or a
  // callable that builds it, called only when the read fails.

  template <class What>
  static std::string what_text(const What& what) {
    if constexpr (std::is_invocable_v<const What&>) return what();
    else return std::string(what);
  }

  std::uint64_t remaining() const noexcept { return r_.pos() >= size_ ? 0 : size_ - r_.pos(); }

  template <class T>
  T load(const std::byte* p) const noexcept {
    return h_.big_endian ? load_be<T>(p) : load_le<T>(p);
  }

  // Reads straight from the mapping; a read that would run past the end
  // goes through the ByteReader instead, which fails with its usual message.
  template <class T, class What>
  T read(const What& what) {
    const std::uint64_t pos = r_.pos();
    if (remaining() < sizeof(T)) return r_.read<T>(what_text(what));
    r_.seek(pos + sizeof(T));
    return load<T>(base_ + pos);
  }

  std::uint64_t count_bytes() const { return h_.version == 1 ? 4 : 8; }

  [[noreturn]] void fail_long_name(std::uint64_t at, const std::string& what, std::uint64_t size) {
    r_.fail_at(at, what + " is " + std::to_string(size) + " bytes long, over the limit of " + std::to_string(kMaxNameBytes));
  }

  template <class What>
  std::uint64_t read_count(const What& what) {
    return h_.version == 1 ? read<std::uint32_t>(what) : read<std::uint64_t>(what);
  }

  // A string as a view into the mapping (valid while src_ lives).
  template <class What>
  std::string_view read_string_view(const What& what) {
    const std::uint64_t at = r_.pos();
    const std::uint64_t n = read_count("string length");
    if (n > remaining())
      r_.fail_at(at, what_text(what) + " claims " + std::to_string(n) + " bytes, more than the " +
                         std::to_string(remaining()) + " left in the file");
    const auto* p = reinterpret_cast<const char*>(base_ + r_.pos());
    r_.seek(r_.pos() + n);
    return {p, static_cast<std::size_t>(n)};
  }

  template <class What>
  MetaType read_type(const What& what) {
    const std::uint64_t at = r_.pos();
    const std::uint32_t id = read<std::uint32_t>(what);
    if (!meta_type_valid(id)) r_.fail_at(at, what_text(what) + " is " + std::to_string(id) + ", not a GGUF value type (0-12)");
    return static_cast<MetaType>(id);
  }

  // Fills a default-constructed `out`.
  void read_value(MetaValue& out, MetaType t, const std::string& key, int depth) {
    auto what = [&] { return "value of '" + key + "'"; };
    out.type = t;
    switch (t) {
      case MetaType::U8: out.u = read<std::uint8_t>(what); return;
      case MetaType::U16: out.u = read<std::uint16_t>(what); return;
      case MetaType::U32: out.u = read<std::uint32_t>(what); return;
      case MetaType::U64: out.u = read<std::uint64_t>(what); return;
      case MetaType::I8: out.i = read<std::int8_t>(what); return;
      case MetaType::I16: out.i = read<std::int16_t>(what); return;
      case MetaType::I32: out.i = read<std::int32_t>(what); return;
      case MetaType::I64: out.i = read<std::int64_t>(what); return;
      case MetaType::F32: out.f = std::bit_cast<float>(read<std::uint32_t>(what)); return;
      case MetaType::F64: out.f = std::bit_cast<double>(read<std::uint64_t>(what)); return;
      case MetaType::Bool: out.u = read<std::uint8_t>(what) != 0 ? 1 : 0; return;
      case MetaType::String: out.s = read_string_view(what); return;
      case MetaType::Array: read_array(out, key, depth); return;
      case MetaType::Null: break;  // read_type never yields it
    }
    r_.fail("unreachable value type");
  }

  void read_array(MetaValue& out, const std::string& key, int depth) {
    if (depth >= kMaxArrayDepth)
      r_.fail("'" + key + "' nests arrays more than " + std::to_string(kMaxArrayDepth) + " deep");
    const MetaType et = read_type([&] { return "element type of '" + key + "'"; });
    const std::uint64_t at = r_.pos();
    const std::uint64_t n = read_count([&] { return "element count of '" + key + "'"; });
    const std::uint64_t per = min_value_bytes(et, count_bytes());
    if (n > remaining() / per)
      r_.fail_at(at, "the array '" + key + "' claims " + std::to_string(n) + " elements, more than the file can hold");
    // Each element is held as one MetaValue (~88 bytes, whatever its type),
    // so the elements of all arrays together are capped.
    if (n > kMaxGgufMetadataElements - elements_)
      r_.fail_at(at, "the array '" + key + "' brings the metadata to more than " +
                         std::to_string(kMaxGgufMetadataElements) + " array elements in all, over the limit");
    elements_ += n;
    out.element_type = et;
    // Elements are filled in place: a 150,000-token vocabulary is one
    // allocation for the array plus one per token too long for the short-
    // string buffer.
    auto& items = out.items;
    items.reserve(static_cast<std::size_t>(n));
    switch (et) {
      // Fixed-size elements: the count check above already proved that all
      // n * per bytes are in the file.
      case MetaType::U8: return read_scalars<std::uint8_t>(items, n, et, [](MetaValue& v, auto x) { v.u = x; });
      case MetaType::U16: return read_scalars<std::uint16_t>(items, n, et, [](MetaValue& v, auto x) { v.u = x; });
      case MetaType::U32: return read_scalars<std::uint32_t>(items, n, et, [](MetaValue& v, auto x) { v.u = x; });
      case MetaType::U64: return read_scalars<std::uint64_t>(items, n, et, [](MetaValue& v, auto x) { v.u = x; });
      case MetaType::I8: return read_scalars<std::int8_t>(items, n, et, [](MetaValue& v, auto x) { v.i = x; });
      case MetaType::I16: return read_scalars<std::int16_t>(items, n, et, [](MetaValue& v, auto x) { v.i = x; });
      case MetaType::I32: return read_scalars<std::int32_t>(items, n, et, [](MetaValue& v, auto x) { v.i = x; });
      case MetaType::I64: return read_scalars<std::int64_t>(items, n, et, [](MetaValue& v, auto x) { v.i = x; });
      case MetaType::F32:
        return read_scalars<std::uint32_t>(items, n, et, [](MetaValue& v, auto x) { v.f = std::bit_cast<float>(x); });
      case MetaType::F64:
        return read_scalars<std::uint64_t>(items, n, et, [](MetaValue& v, auto x) { v.f = std::bit_cast<double>(x); });
      case MetaType::Bool: return read_scalars<std::uint8_t>(items, n, et, [](MetaValue& v, auto x) { v.u = x != 0 ? 1 : 0; });
      case MetaType::String: {
        auto what = [&] { return "value of '" + key + "'"; };
        // One at a time: these counts are only bounded by 8 bytes each, and
        // the strings may turn out to be truncated.
        for (std::uint64_t k = 0; k < n; ++k) {
          auto& item = items.emplace_back();
          item.type = MetaType::String;
          item.s = read_string_view(what);
        }
        return;
      }
      case MetaType::Array:
      case MetaType::Null:  // read_type never yields it; read_value reports it
        for (std::uint64_t k = 0; k < n; ++k) read_value(items.emplace_back(), et, key, depth + 1);
        return;
    }
  }

  template <class T, class Set>
  void read_scalars(std::vector<MetaValue>& items, std::uint64_t n, MetaType et, Set set) {
    const std::byte* p = base_ + r_.pos();
    // One pass that constructs and fills each element while it is in cache.
    for (std::uint64_t k = 0; k < n; ++k) {
      auto& item = items.emplace_back();
      item.type = et;
      set(item, load<T>(p));
      p += sizeof(T);
    }
    r_.seek(r_.pos() + n * sizeof(T));
  }

  std::shared_ptr<const ByteSource> src_;
  SharedText file_;  // every tensor's
  ByteReader r_;
  // The whole source, read directly on the hot paths (bounds checked first).
  const std::byte* base_;
  std::uint64_t size_;
  Header h_;
  Metadata meta_;
  std::vector<TensorInfo> tensors_;
  // Per tensor, what placing its data needs: data-section offset, byte size
  // (0 until known for unknown types), and where its info's offset field is.
  struct Place {
    std::uint64_t rel_offset;
    std::uint64_t nbytes;
    std::uint64_t info_pos;
    bool unknown;
  };
  std::vector<Place> places_;
  // Metadata array elements read so far (nested arrays included).
  std::uint64_t elements_ = 0;
};

// "NAME-00002-of-00005.gguf" → (prefix "NAME", 2, 5).
struct SplitName {
  std::string prefix;
  int index = 0;
  int count = 0;
};
std::optional<SplitName> parse_split_name(const std::string& filename) {
  static const std::string ext = ".gguf";
  if (filename.size() < ext.size() + 15 || filename.compare(filename.size() - ext.size(), ext.size(), ext) != 0)
    return std::nullopt;
  const std::string stem = filename.substr(0, filename.size() - ext.size());
  // "-NNNNN-of-NNNNN" is 15 characters.
  const std::string tail = stem.substr(stem.size() - 15);
  auto digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (tail[0] != '-' || tail.compare(6, 4, "-of-") != 0 || !digits(tail.substr(1, 5)) || !digits(tail.substr(10, 5)))
    return std::nullopt;
  SplitName s;
  s.prefix = stem.substr(0, stem.size() - 15);
  s.index = std::stoi(tail.substr(1, 5));
  s.count = std::stoi(tail.substr(10, 5));
  if (s.index < 1 || s.count < 1 || s.index > s.count) return std::nullopt;
  return s;
}

std::optional<std::int64_t> meta_int(const Metadata& m, std::string_view key) {
  const MetaValue* v = find(m, key);
  if (!v) return std::nullopt;
  switch (v->type) {
    case MetaType::U8: case MetaType::U16: case MetaType::U32: case MetaType::U64:
      return static_cast<std::int64_t>(v->u);
    case MetaType::I8: case MetaType::I16: case MetaType::I32: case MetaType::I64:
      return v->i;
    default: return std::nullopt;
  }
}

// --- writer helpers --------------------------------------------------------

class Out {
 public:
  std::vector<std::byte> buf;
  template <class T>
  void put(T v) {
    std::byte b[sizeof(T)];
    if constexpr (std::is_floating_point_v<T>) {
      using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
      store_le(b, std::bit_cast<U>(v));
    } else {
      store_le(b, v);
    }
    buf.insert(buf.end(), b, b + sizeof(T));
  }
  void str(std::string_view s) {
    put<std::uint64_t>(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    buf.insert(buf.end(), p, p + s.size());
  }
};

void put_value(Out& o, const MetaValue& v, const std::string& key, const std::string& path) {
  switch (v.type) {
    case MetaType::U8: o.put(static_cast<std::uint8_t>(v.u)); return;
    case MetaType::U16: o.put(static_cast<std::uint16_t>(v.u)); return;
    case MetaType::U32: o.put(static_cast<std::uint32_t>(v.u)); return;
    case MetaType::U64: o.put(static_cast<std::uint64_t>(v.u)); return;
    case MetaType::I8: o.put(static_cast<std::int8_t>(v.i)); return;
    case MetaType::I16: o.put(static_cast<std::int16_t>(v.i)); return;
    case MetaType::I32: o.put(static_cast<std::int32_t>(v.i)); return;
    case MetaType::I64: o.put(static_cast<std::int64_t>(v.i)); return;
    case MetaType::F32: o.put(static_cast<float>(v.f)); return;
    case MetaType::F64: o.put(v.f); return;
    case MetaType::Bool: o.put(static_cast<std::uint8_t>(v.u != 0 ? 1 : 0)); return;
    case MetaType::String: o.str(v.s); return;
    case MetaType::Array:
      o.put(static_cast<std::uint32_t>(v.element_type));
      o.put(static_cast<std::uint64_t>(v.items.size()));
      // Elements carry no type tag of their own; a nested array's payload
      // (its element type, count and elements) follows directly.
      for (const auto& item : v.items) {
        if (item.type != v.element_type)
          throw Error(path, kNoOffset, "the metadata array '" + key + "' mixes element types");
        put_value(o, item, key, path);
      }
      return;
    case MetaType::Null:
      throw Error(path, kNoOffset, "the metadata value '" + key + "' is None, which GGUF cannot store");
  }
  throw Error(path, kNoOffset, "the metadata value '" + key + "' has an unknown type");
}

}  // namespace

Checkpoint describe(std::shared_ptr<const ByteSource> src) { return Parser(src).parse(); }

Checkpoint open(const std::string& path) {
  namespace fs = std::filesystem;
  Checkpoint first = describe(MappedFile::open(path));
  const auto split = parse_split_name(fs::path(path).filename().string());
  const auto count = meta_int(first.metadata, "split.count");
  if (!split || !count || *count <= 1) return first;
  if (*count != split->count)
    throw Error(path, kNoOffset, "split.count is " + std::to_string(*count) + " but the file name says " +
                                     std::to_string(split->count) + " parts");

  // Parts are named NAME-%05d-of-%05d.gguf and live in the same folder.
  const fs::path dir = fs::path(path).parent_path();
  Checkpoint ck;
  std::string version_detail;
  // Each part's tensors stay in their own list until all parts are read, so
  // the duplicate check can keep views of the names instead of copies.
  std::vector<std::vector<TensorInfo>> part_tensors;
  part_tensors.reserve(static_cast<std::size_t>(split->count));
  std::unordered_set<std::string_view> names;
  for (int k = 1; k <= split->count; ++k) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "-%05d-of-%05d.gguf", k, split->count);
    const std::string part = (dir / (split->prefix + suffix)).string();
    if (!fs::exists(part)) throw Error(part, kNoOffset, "part " + std::to_string(k) + " of the split model is missing");
    Checkpoint p = k == split->index ? std::move(first) : describe(MappedFile::open(part));
    const auto no = meta_int(p.metadata, "split.no");
    const auto pc = meta_int(p.metadata, "split.count");
    if (!no || *no != k - 1)
      throw Error(part, kNoOffset, "split.no should be " + std::to_string(k - 1) + " in part " + std::to_string(k));
    if (!pc || *pc != split->count)
      throw Error(part, kNoOffset, "split.count in part " + std::to_string(k) + " does not match the other parts");
    names.reserve(names.size() + p.tensors.size());
    for (const auto& t : p.tensors)
      if (!names.insert(t.name).second)
        throw Error(part, t.offset, "the tensor name '" + t.name + "' appears in more than one part");
    part_tensors.push_back(std::move(p.tensors));
    if (k == 1) {
      ck.path = part;
      ck.metadata = std::move(p.metadata);
      version_detail = p.format_detail.substr(0, p.format_detail.find(' ', 5));
    }
    ck.files.insert(ck.files.end(), p.files.begin(), p.files.end());
  }
  std::size_t n = 0;
  for (const auto& v : part_tensors) n += v.size();
  ck.tensors.reserve(n);
  for (auto& v : part_tensors) std::move(v.begin(), v.end(), std::back_inserter(ck.tensors));
  const auto total = meta_int(ck.metadata, "split.tensors.count");
  if (total && *total != static_cast<std::int64_t>(ck.tensors.size()))
    throw Error(ck.path, kNoOffset, "split.tensors.count is " + std::to_string(*total) + " but the parts hold " +
                                        std::to_string(ck.tensors.size()) + " tensors");
  ck.format = Format::Gguf;
  ck.format_detail = version_detail + ", split into " + std::to_string(split->count) + " files";
  return ck;
}

void write(const std::string& path, std::span<const TensorInfo> tensors, const Metadata& meta, const WriteOptions& opt) {
  const std::uint32_t align = opt.gguf_alignment;
  if (align == 0 || (align & (align - 1)) != 0)
    throw Error(path, kNoOffset, "the GGUF alignment " + std::to_string(align) + " is not a nonzero power of two");
  refuse_overwriting_inputs(path, tensors, opt);

  // Check every tensor before writing a byte.
  std::vector<std::uint64_t> sizes;
  const std::size_t repeat = first_repeat(tensors.size(), [&](std::size_t k) -> const std::string& { return tensors[k].name; });
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const TensorInfo& t = tensors[k];
    const auto& ti = info(t.dtype);
    if (ti.ggml_id < 0)
      throw Error(path, kNoOffset, "tensor '" + t.name + "' has dtype " + std::string(ti.name) + ", which .gguf cannot store");
    if (k == repeat) throw Error(path, kNoOffset, "the tensor name '" + t.name + "' appears twice");
    if (t.shape.size() > kMaxDims)
      throw Error(path, kNoOffset, "tensor '" + t.name + "' has " + std::to_string(t.shape.size()) + " dimensions; .gguf files hold at most " +
                                       std::to_string(kMaxDims) + " here (ggml itself reads 4)");
    if (ti.block_elems > 1 && (t.shape.empty() || t.shape.back() % ti.block_elems != 0))
      throw Error(path, kNoOffset, "tensor '" + t.name + "' has dtype " + std::string(ti.name) +
                                       ", whose last dimension must be a multiple of " + std::to_string(ti.block_elems));
    const auto n = checked_numel(t.shape);
    const auto nb = n ? byte_size(t.dtype, *n) : std::nullopt;
    if (!nb) throw Error(path, kNoOffset, "tensor '" + t.name + "' has an invalid shape");
    if (!t.data) throw Error(path, kNoOffset, "tensor '" + t.name + "' has no readable data");
    if (*nb != t.nbytes)
      throw Error(path, kNoOffset, "tensor '" + t.name + "' claims " + std::to_string(t.nbytes) + " bytes but its shape needs " + std::to_string(*nb));
    sizes.push_back(*nb);
  }
  std::unordered_set<std::string> keys;
  for (const auto& e : meta)
    if (!keys.insert(e.key).second) throw Error(path, kNoOffset, "the metadata key '" + e.key + "' appears twice");

  // Header and KVs. general.alignment keeps its place when the source had
  // it; otherwise it is added only when it differs from the default, so a
  // GGUF → GGUF copy keeps its metadata exactly.
  const bool has_align = keys.count("general.alignment") != 0;
  const bool add_align = !has_align && align != kDefaultAlignment;
  Out o;
  o.buf.insert(o.buf.end(), {std::byte{'G'}, std::byte{'G'}, std::byte{'U'}, std::byte{'F'}});
  o.put<std::uint32_t>(3);
  o.put<std::uint64_t>(tensors.size());
  o.put<std::uint64_t>(meta.size() + (add_align ? 1 : 0));
  auto put_alignment = [&] {
    o.str("general.alignment");
    o.put(static_cast<std::uint32_t>(MetaType::U32));
    o.put<std::uint32_t>(align);
  };
  for (const auto& e : meta) {
    if (e.key == "general.alignment") {
      put_alignment();
      continue;
    }
    o.str(e.key);
    o.put(static_cast<std::uint32_t>(e.value.type));
    put_value(o, e.value, e.key, path);
  }
  if (add_align) put_alignment();

  // Tensor infos: offsets relative to the data section, each padded to the alignment.
  std::uint64_t off = 0;
  std::vector<std::uint64_t> offsets;
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const auto& t = tensors[k];
    o.str(t.name);
    o.put(static_cast<std::uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) o.put(static_cast<std::uint64_t>(*it));
    o.put(static_cast<std::uint32_t>(info(t.dtype).ggml_id));
    o.put(off);
    offsets.push_back(off);
    off += sizes[k] + (align - sizes[k] % align) % align;
  }
  o.buf.resize(o.buf.size() + (align - o.buf.size() % align) % align, std::byte{0});

  // Data, streamed tensor by tensor.
  AtomicFile f(path, opt.sync, opt.file_mode);
  f.write(o.buf);
  ProgressTracker progress(opt, tensors);
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    stream_tensor(progress, k, f);
    f.write_zeros((align - sizes[k] % align) % align);
  }
  f.commit();
}

}  // namespace ckpt::io::gguf
