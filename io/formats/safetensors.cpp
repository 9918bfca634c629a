// safetensors reader and writer, single files and Hugging Face shards.
//
// File layout (huggingface/safetensors README):
//   u64 LE  N                       header length, at most 100,000,000
//   N bytes JSON header (UTF-8)     starts with '{'; writers pad it with spaces
//   rest    data section            raw little-endian, row-major tensor bytes
// Header: {"__metadata__": {"k": "v", ...} | null (optional),
//          "NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}, ...}
// Offsets are relative to the data section. Sorted by offset, the tensors
// tile the data section exactly (no hole, no overlap, starting at 0) and the
// last END is the data section's size, so 8 + N + END = file size.
//
// Sharded checkpoints (a Hugging Face convention, not part of the spec):
//   NAME.safetensors.index.json = {"metadata": {"total_size": BYTES},
//                                  "weight_map": {"tensor": "NAME-00001-of-00002.safetensors", ...}}
#include "io/formats/safetensors.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/checked.h"
#include "io/endian.h"
#include "io/error.h"
#include "io/first_repeat.h"
#include "io/formats/safetensors_fast_header.h"

namespace ckpt::io::safetensors {
namespace {

namespace fs = std::filesystem;
// Plain (sorted) json keeps lookups logarithmic in headers with many
// tensors; the file's key order is recorded while parsing instead.
using ojson = nlohmann::json;

// The crate's Dtype enum order, which its writer sorts by (descending) to put
// the most-aligned tensors first. Comparing item sizes alone would not be a
// total order, so the crate keeps its enum order; byte-exact output needs it.
int crate_rank(DType t) {
  switch (t) {
    case DType::Bool: return 0;
    case DType::F4_E2M1: return 1;
    case DType::F6_E2M3: return 2;
    case DType::F6_E3M2: return 3;
    case DType::U8: return 4;
    case DType::I8: return 5;
    case DType::F8_E5M2: return 6;
    case DType::F8_E4M3: return 7;
    case DType::F8_E8M0: return 8;
    case DType::F8_E4M3FNUZ: return 9;
    case DType::F8_E5M2FNUZ: return 10;
    case DType::I16: return 11;
    case DType::U16: return 12;
    case DType::F16: return 13;
    case DType::BF16: return 14;
    case DType::I32: return 15;
    case DType::U32: return 16;
    case DType::F32: return 17;
    case DType::C64: return 18;
    case DType::F64: return 19;
    case DType::I64: return 20;
    case DType::U64: return 21;
    default: return -1;  // no safetensors name
  }
}

std::string q(const std::string& s) { return "'" + s + "'"; }

std::string range_text(std::uint64_t b, std::uint64_t e) {
  return "[" + std::to_string(b) + ", " + std::to_string(e) + ")";
}

std::string shape_text(const ojson& shape) { return shape.dump(); }

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct ParsedObject {
  ojson value;
  std::vector<std::string> keys;           // top-level keys in file order
  std::vector<std::string> metadata_keys;  // keys of the top-level "__metadata__" object, in file order
};

// nlohmann keeps the last of duplicate keys silently, and the crate refuses
// a header that names a tensor twice; this SAX pass finds duplicates and
// records the file's key order. (nlohmann's parse callbacks would do it too,
// but its callback parser is quadratic in the number of keys.)
class KeyTracker {
 public:
  explicit KeyTracker(ParsedObject& out) : out_(out) {}
  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(ojson::number_integer_t) { return true; }
  bool number_unsigned(ojson::number_unsigned_t) { return true; }
  bool number_float(ojson::number_float_t, const ojson::string_t&) { return true; }
  bool string(ojson::string_t&) { return true; }
  bool binary(ojson::binary_t&) { return true; }
  bool start_object(std::size_t) {
    open_.emplace_back();
    return true;
  }
  bool end_object() {
    open_.pop_back();
    return true;
  }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }
  bool key(ojson::string_t& k) {
    if (!open_.back().insert(k).second) {
      duplicate = k;
      return false;
    }
    if (open_.size() == 1) out_.keys.push_back(k);
    else if (open_.size() == 2 && !out_.keys.empty() && out_.keys.back() == "__metadata__") out_.metadata_keys.push_back(k);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

  std::optional<std::string> duplicate;

 private:
  ParsedObject& out_;
  std::vector<std::unordered_set<std::string>> open_;
};

// Parses JSON text that must be one object, rejecting duplicate keys at any
// depth. `base` is the text's offset in the file, for error positions.
ParsedObject parse_json_object(std::string_view text, const std::string& file, std::uint64_t base, const char* what) {
  // nlohmann stops at a NUL as if the input ended there; JSON allows none.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos)
    throw Error(file, base + nul, std::string(what) + " is not valid JSON (a NUL byte at offset " +
                                      std::to_string(base + nul) + ")");
  ParsedObject out;
  try {
    out.value = ojson::parse(text.begin(), text.end());
  } catch (const ojson::parse_error& e) {
    // nlohmann's message carries a "[json.exception...] parse error at line L, column C: " prefix.
    std::string msg = e.what();
    if (auto p = msg.find(": "); p != std::string::npos) msg = msg.substr(p + 2);
    const std::uint64_t at = e.byte > 0 ? base + e.byte - 1 : base;
    throw Error(file, at, std::string(what) + " is not valid JSON (" + msg + ")");
  } catch (const ojson::exception& e) {
    // A number beyond double's range ("1e999") is an out_of_range error, not a parse_error.
    std::string msg = e.what();
    if (auto p = msg.find("] "); p != std::string::npos) msg = msg.substr(p + 2);
    throw Error(file, base, std::string(what) + " is not valid JSON (" + msg + ")");
  }
  if (!out.value.is_object()) throw Error(file, base, std::string(what) + " is not a JSON object");
  KeyTracker tracker(out);
  if (!ojson::sax_parse(text.begin(), text.end(), &tracker)) {
    if (tracker.duplicate) throw Error(file, base, std::string(what) + " names " + q(*tracker.duplicate) + " more than once");
    throw Error(file, base, std::string(what) + " is not valid JSON");
  }
  return out;
}

// Where a tensor's key sits in the header, so its errors point near it.
std::uint64_t key_offset(std::string_view text, const std::string& name) {
  const auto p = text.find(ojson(name).dump());
  return 8 + (p == std::string_view::npos ? 0 : p);
}

// An unsigned integer that fits int64 (shape dims, offsets), or nullopt.
std::optional<std::uint64_t> as_count(const ojson& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  return std::nullopt;
}

HeaderTensor parse_tensor(const std::string& file, std::string_view text, const std::string& name, const ojson& v,
                          std::uint64_t data_size) {
  const std::string who = "tensor " + q(name);
  auto fail = [&](const std::string& sentence) -> Error {
    return Error(file, key_offset(text, name), who + " " + sentence);
  };
  if (!v.is_object()) throw fail("is not described by a JSON object");

  HeaderTensor t;
  t.name = name;
  // Checked in the order MLX's loader uses, so the first problem found is the
  // one it would report: dtype, data_offsets' two entries, span vs size, bounds.
  const auto dt = v.find("dtype");
  if (dt == v.end()) throw fail("has no dtype");
  if (!dt->is_string()) throw fail("has a dtype that is not a string: " + dt->dump());
  const auto parsed = from_safetensors(dt->get<std::string>());
  if (!parsed) throw fail("has unknown dtype " + dt->dump());
  t.dtype = *parsed;

  const auto sh = v.find("shape");
  if (sh == v.end()) throw fail("has no shape");
  if (!sh->is_array()) throw fail("has a shape that is not a list: " + sh->dump());
  for (const auto& d : *sh) {
    if (d.is_number_integer() && !d.is_number_unsigned() && d.get<std::int64_t>() < 0)
      throw fail("shape " + shape_text(*sh) + " has a negative dimension");
    const auto n = as_count(d);
    if (!n) throw fail("shape " + shape_text(*sh) + " holds something other than whole numbers");
    if (*n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      throw fail("shape " + shape_text(*sh) + " has a dimension too large to address");
    t.shape.push_back(static_cast<std::int64_t>(*n));
  }
  const auto numel = checked_numel(t.shape);
  if (!numel) throw fail("shape " + shape_text(*sh) + " has more elements than a 64-bit count can hold");

  const auto off = v.find("data_offsets");
  if (off == v.end()) throw fail("has no data_offsets");
  if (!off->is_array() || off->size() != 2)
    throw fail("data_offsets " + off->dump() + " must be a list of exactly two numbers");
  const auto b = as_count((*off)[0]);
  const auto e = as_count((*off)[1]);
  if (!b || !e) throw fail("data_offsets " + off->dump() + " must be non-negative whole numbers");
  t.begin = *b;
  t.end = *e;
  if (t.end < t.begin) throw fail("data_offsets " + range_text(t.begin, t.end) + " end before they begin");

  const auto want = byte_size(t.dtype, *numel);
  if (!want)
    throw fail("has " + std::to_string(*numel) + " elements, which do not fill whole bytes of " + dt->get<std::string>());
  if (t.end - t.begin != *want)
    throw fail("data_offsets " + range_text(t.begin, t.end) + " span " + std::to_string(t.end - t.begin) +
               " bytes but " + dt->get<std::string>() + " " + shape_text(*sh) + " needs " + std::to_string(*want));
  if (t.end > data_size)
    throw fail("data_offsets " + range_text(t.begin, t.end) + " exceed the " + std::to_string(data_size) +
               "-byte data section");
  return t;
}

}  // namespace

namespace detail {

Header read_header(const ByteSource& src, bool allow_fast) {
  const std::string& file = src.label();
  const std::uint64_t size = src.size();
  Header h;

  // Phase 1: the u64 header length, capped and inside the file.
  if (size < 8)
    throw Error(file, 0, "the file is " + std::to_string(size) +
                             " bytes long, too short for the 8-byte header length of a .safetensors file");
  h.length = load_le<std::uint64_t>(src.view(0, 8, "header length").data());
  if (h.length > kMaxHeaderBytes)
    throw Error(file, 0, "the header length " + std::to_string(h.length) + " exceeds the limit of " +
                             std::to_string(kMaxHeaderBytes) + " bytes");
  if (8 + h.length > size)
    throw Error(file, 0, "the header length " + std::to_string(h.length) + " runs past the end of the " +
                             std::to_string(size) + "-byte file");
  const std::uint64_t data_start = 8 + h.length;
  const std::uint64_t data_size = size - data_start;

  // Phase 2: the JSON text. Trailing spaces are the writers' padding, which
  // JSON treats as whitespace.
  const auto raw = src.view(8, h.length, "header");
  const std::string_view text(reinterpret_cast<const char*>(raw.data()), raw.size());
  if (text.empty() || text.front() != '{') throw Error(file, 8, "the JSON header does not start with '{'");
  // Phases 2-3 in one pass for the plain headers writers produce; anything
  // else (and every error) goes through the reference parse below.
  if (!allow_fast || !parse_header_fast(text, data_size, h)) {
    const ParsedObject parsed = parse_json_object(text, file, 8, "the JSON header");
    const ojson& j = parsed.value;

    // Phase 3: __metadata__ (string values only) and each tensor entry, in file order.
    for (const auto& key : parsed.keys) {
      const ojson& v = j.at(key);
      if (key == "__metadata__") {
        h.has_metadata_key = true;
        if (v.is_null()) continue;  // MLX writes null when it has no metadata
        if (!v.is_object()) throw Error(file, key_offset(text, key), "__metadata__ is not a JSON object");
        for (const auto& mk : parsed.metadata_keys) {
          const ojson& mv = v.at(mk);
          if (!mv.is_string())
            throw Error(file, key_offset(text, mk), "__metadata__ value " + q(mk) + " is not a string: " + mv.dump());
          h.metadata.push_back({mk, MetaValue::string(mv.get<std::string>())});
        }
        continue;
      }
      h.tensors.push_back(parse_tensor(file, text, key, v, data_size));
    }
  }

  // Names and keys are copied into trees, messages and outputs: refuse absurd ones.
  for (const auto& t : h.tensors)
    if (t.name.size() > kMaxNameBytes)
      throw Error(file, key_offset(text, t.name), "tensor name " + q(t.name.substr(0, 40) + "...") + " is " +
                                                      std::to_string(t.name.size()) + " bytes long, over the limit of " +
                                                      std::to_string(kMaxNameBytes));
  for (const auto& m : h.metadata)
    if (m.key.size() > kMaxNameBytes)
      throw Error(file, key_offset(text, m.key), "__metadata__ key " + q(m.key.substr(0, 40) + "...") + " is " +
                                                     std::to_string(m.key.size()) + " bytes long, over the limit of " +
                                                     std::to_string(kMaxNameBytes));

  // Phase 4: sorted by offset, the tensors must tile the data section.
  std::vector<std::size_t> order(h.tensors.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  const auto by_offsets = [&](std::size_t a, std::size_t b) {
    const auto& x = h.tensors[a];
    const auto& y = h.tensors[b];
    return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
  };
  // Writers usually list tensors in data order, where the stable sort would
  // leave `order` as it is; checking that first is a linear pass.
  if (!std::is_sorted(order.begin(), order.end(), by_offsets)) std::stable_sort(order.begin(), order.end(), by_offsets);
  std::uint64_t covered = 0;
  const HeaderTensor* prev = nullptr;
  for (std::size_t k : order) {
    const auto& t = h.tensors[k];
    if (t.begin < covered)
      throw Error(file, key_offset(text, t.name), "tensor " + q(t.name) + " data_offsets " + range_text(t.begin, t.end) +
                                " overlap tensor " + q(prev->name) + " " + range_text(prev->begin, prev->end));
    if (t.begin > covered)
      throw Error(file, key_offset(text, t.name), "tensor " + q(t.name) + " data_offsets " + range_text(t.begin, t.end) +
                                " leave a hole of " + std::to_string(t.begin - covered) + " bytes at data offset " +
                                std::to_string(covered) + " that no tensor covers");
    covered = t.end;
    if (t.end > t.begin || !prev) prev = &t;
  }
  if (covered != data_size)
    throw Error(file, data_start + covered,
                "the data section has " + std::to_string(data_size - covered) +
                    " bytes left after the last tensor ends at data offset " + std::to_string(covered));
  return h;
}

Checkpoint describe(std::shared_ptr<const ByteSource> src, bool allow_fast) {
  Header h = read_header(*src, allow_fast);
  Checkpoint ck;
  ck.path = src->label();
  ck.format = Format::Safetensors;
  ck.format_detail = "safetensors";
  if (const auto* f = find(h.metadata, "format")) ck.format_detail += " (format \"" + f->s + "\")";
  ck.metadata = std::move(h.metadata);
  const std::uint64_t data_start = 8 + h.length;
  // Header order: the order the file itself lists its tensors in (the
  // fixture manifests follow it too; MLX writes names sorted but data in
  // hash order). The header is not needed afterwards, so names and shapes
  // move instead of being copied (one shape copy remains: the tensor and its
  // layout each keep one).
  ck.tensors.reserve(h.tensors.size());
  const SharedText file(src->label());
  for (auto& e : h.tensors) {
    TensorInfo t;
    t.name = std::move(e.name);
    t.dtype = e.dtype;
    t.shape = e.shape;
    t.nbytes = e.end - e.begin;
    t.file = file;
    t.offset = data_start + e.begin;
    StoredLayout l;
    l.file = src;
    l.offset = t.offset;
    l.stored_size = t.nbytes;
    l.raw_size = t.nbytes;
    l.dtype = e.dtype;
    l.shape = std::move(e.shape);
    t.data = make_stored_data(std::move(l));
    ck.tensors.push_back(std::move(t));
  }
  ck.files.push_back(std::move(src));
  return ck;
}

}  // namespace detail

Header read_header(const ByteSource& src) { return detail::read_header(src, true); }

Checkpoint describe(std::shared_ptr<const ByteSource> src) { return detail::describe(std::move(src), true); }

namespace {

// A shard name from the index must stay inside the index's folder.
void check_shard_name(const std::string& index, const std::string& shard) {
  const fs::path p(shard);
  bool escapes = shard.empty() || p.is_absolute() || p.has_root_name() || p.has_root_directory();
  for (const auto& part : p)
    if (part == "..") escapes = true;
  if (shard.find('\0') != std::string::npos) escapes = true;
  if (escapes)
    throw Error(index, kNoOffset, "the index lists shard " + q(shard) +
                                      ", which is not a file name inside the index's folder");
}

Checkpoint open_index(const std::string& path) {
  const auto src = MappedFile::open(path);
  if (src->size() > kMaxSafetensorsIndexBytes)
    throw Error(path, 0, "the index is " + std::to_string(src->size()) + " bytes, over the limit of " +
                             std::to_string(kMaxSafetensorsIndexBytes) + " bytes for a .safetensors.index.json");
  const auto raw = src->all();
  const std::string_view text(reinterpret_cast<const char*>(raw.data()), raw.size());
  const ojson j = parse_json_object(text, path, 0, "the index").value;
  const auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object()) throw Error(path, kNoOffset, "the index has no \"weight_map\" object");

  // Shards in name order (NAME-00001-of-0000N sorts as written), each
  // with the names the index assigns to it.
  std::map<std::string, std::set<std::string>> shards;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string())
      throw Error(path, kNoOffset, "the index maps tensor " + q(it.key()) + " to something other than a file name");
    const std::string shard = it.value().get<std::string>();
    check_shard_name(path, shard);
    shards[shard].insert(it.key());
  }

  const fs::path folder = fs::path(path).parent_path();
  Checkpoint ck;
  ck.path = path;
  ck.format = Format::Safetensors;
  for (const auto& [shard, names] : shards) {
    const std::string shard_path = (folder / shard).string();
    // The error_code form: a name the file system refuses (too long, no
    // permission to look) must end in an io::Error, not a filesystem_error.
    std::error_code ec;
    const bool present_on_disk = fs::exists(shard_path, ec);
    if (ec)
      throw Error(path, kNoOffset, "shard " + q(shard) + " listed in the index cannot be looked up: " + ec.message());
    if (!present_on_disk)
      throw Error(path, kNoOffset, "shard " + q(shard) + " listed in the index is missing");
    Checkpoint part = describe(MappedFile::open(shard_path));
    std::set<std::string> present;
    for (auto& t : part.tensors) {
      if (!names.count(t.name))
        throw Error(shard_path, t.offset, "tensor " + q(t.name) + " is in shard " + q(shard) +
                                              " but the index does not map it there");
      present.insert(t.name);
    }
    for (const auto& n : names)
      if (!present.count(n))
        throw Error(shard_path, kNoOffset, "the index maps tensor " + q(n) + " to shard " + q(shard) +
                                               ", which does not hold it");
    for (auto& t : part.tensors) ck.tensors.push_back(std::move(t));
    // Every shard usually repeats the same __metadata__; keep the first of each key.
    for (auto& m : part.metadata)
      if (!find(ck.metadata, m.key)) ck.metadata.push_back(std::move(m));
    for (auto& f : part.files) ck.files.push_back(std::move(f));
  }
  ck.format_detail = "safetensors (sharded, " + std::to_string(shards.size()) + (shards.size() == 1 ? " file)" : " files)");
  return ck;
}

}  // namespace

Checkpoint open(const std::string& path) {
  if (ends_with(path, ".index.json")) return open_index(path);
  return describe(MappedFile::open(path));
}

// ---------------------------------------------------------------------------
// Writing

namespace {

struct Planned {
  std::size_t index;  // into the caller's span (for progress and errors)
  std::uint64_t begin = 0, end = 0;
};

std::string json_string(const std::string& s, const std::string& dest, const std::string& what) {
  try {
    return ojson(s).dump();
  } catch (const ojson::type_error&) {
    throw Error(dest, kNoOffset, what + " is not valid UTF-8, which .safetensors headers require");
  }
}

// safetensors metadata holds strings only. Values from other formats (GGUF's
// typed key/values) become text: numbers in decimal, booleans as true/false,
// arrays as JSON text, so nothing is lost that a reader could not parse back.
std::string meta_text(const MetaValue& v) {
  if (v.type == MetaType::String) return v.s;
  return to_json(v).dump();
}

std::vector<std::pair<std::string, std::string>> header_metadata(const Metadata& meta, SafetensorsTag tag) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : meta) {
    auto same = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == e.key; });
    if (same != out.end()) same->second = meta_text(e.value);
    else out.emplace_back(e.key, meta_text(e.value));
  }
  // The option decides "format": a key already present is replaced in place
  // (or dropped for SafetensorsTag::None), otherwise it is added last.
  auto fmt = std::find_if(out.begin(), out.end(), [](const auto& p) { return p.first == "format"; });
  if (tag == SafetensorsTag::None) {
    if (fmt != out.end()) out.erase(fmt);
  } else {
    const std::string value = tag == SafetensorsTag::Pt ? "pt" : "mlx";
    if (fmt != out.end()) fmt->second = value;
    else out.emplace_back("format", value);
  }
  return out;
}

// The header as the crate writes it: compact JSON, "__metadata__" first
// (omitted when empty), tensors in data order with dtype, shape and
// data_offsets; padded with spaces to a multiple of 8.
std::string build_header(const std::string& dest, std::span<const TensorInfo> tensors, const std::vector<Planned>& plan,
                         const std::vector<std::pair<std::string, std::string>>& meta) {
  std::string h = "{";
  if (!meta.empty()) {
    h += "\"__metadata__\":{";
    for (std::size_t k = 0; k < meta.size(); ++k) {
      if (k) h += ",";
      h += json_string(meta[k].first, dest, "metadata key " + q(meta[k].first));
      h += ":";
      h += json_string(meta[k].second, dest, "metadata value of " + q(meta[k].first));
    }
    h += "}";
  }
  for (const auto& p : plan) {
    const TensorInfo& t = tensors[p.index];
    if (h.size() > 1) h += ",";
    h += json_string(t.name, dest, "tensor name " + q(t.name));
    h += ":{\"dtype\":\"";
    h += info(t.dtype).safetensors;
    h += "\",\"shape\":[";
    for (std::size_t k = 0; k < t.shape.size(); ++k) {
      if (k) h += ",";
      h += std::to_string(t.shape[k]);
    }
    h += "],\"data_offsets\":[" + std::to_string(p.begin) + "," + std::to_string(p.end) + "]}";
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' ');
  return h;
}

void check_writable(const std::string& dest, std::span<const TensorInfo> tensors) {
  const std::size_t repeat = first_repeat(tensors.size(), [&](std::size_t k) -> const std::string& { return tensors[k].name; });
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const TensorInfo& t = tensors[k];
    const auto who = [&t] { return "tensor " + q(t.name); };  // built only for an error
    if (info(t.dtype).safetensors.empty())
      throw Error(dest, kNoOffset, who() + " has dtype " + std::string(name(t.dtype)) + ", which .safetensors cannot store");
    if (t.name == "__metadata__")
      throw Error(dest, kNoOffset, "a tensor cannot be named '__metadata__' in .safetensors, which reserves that key");
    if (k == repeat) throw Error(dest, kNoOffset, who() + " appears more than once");
    const auto numel = checked_numel(t.shape);
    const auto want = numel ? byte_size(t.dtype, *numel) : std::nullopt;
    if (!want)
      throw Error(dest, kNoOffset, who() + " has a shape whose elements do not fill whole bytes of " +
                                       std::string(info(t.dtype).safetensors));
    if (*want != t.nbytes)
      throw Error(dest, kNoOffset, who() + " says it has " + std::to_string(t.nbytes) + " bytes but its shape needs " +
                                       std::to_string(*want));
    if (!t.data) throw Error(dest, kNoOffset, who() + " has no readable data");
  }
}

// Orders one file's tensors as the crate does and assigns their offsets.
std::vector<Planned> plan_file(std::span<const TensorInfo> tensors, std::vector<std::size_t> members) {
  std::stable_sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) {
    const int ra = crate_rank(tensors[a].dtype), rb = crate_rank(tensors[b].dtype);
    if (ra != rb) return ra > rb;
    return tensors[a].name < tensors[b].name;
  });
  std::vector<Planned> plan;
  std::uint64_t offset = 0;
  for (std::size_t i : members) {
    plan.push_back({i, offset, offset + tensors[i].nbytes});
    offset += tensors[i].nbytes;
  }
  return plan;
}

void write_file(AtomicFile& out, std::span<const TensorInfo> tensors, const std::vector<Planned>& plan,
                const std::vector<std::pair<std::string, std::string>>& meta, ProgressTracker& progress) {
  const std::string header = build_header(out.destination(), tensors, plan, meta);
  std::byte n[8];
  store_le<std::uint64_t>(n, header.size());
  out.write(n, sizeof n);
  out.write(header.data(), header.size());
  for (std::size_t k = 0; k < plan.size(); ++k) {
    const auto& p = plan[k];
    stream_tensor(progress, p.index, out, k + 1 < plan.size() ? plan[k + 1].index : p.index);
  }
}

std::string shard_number(std::size_t k) {
  std::string s = std::to_string(k);
  return std::string(s.size() < 5 ? 5 - s.size() : 0, '0') + s;
}

// Renames every finished file into place. A failed rename leaves the earlier
// ones in place, so they are removed to keep "all or nothing".
void commit_all(std::vector<std::unique_ptr<AtomicFile>>& files) {
  std::size_t done = 0;
  try {
    for (; done < files.size(); ++done) files[done]->commit();
  } catch (...) {
    std::error_code ec;
    for (std::size_t k = 0; k < done; ++k) fs::remove(files[k]->destination(), ec);
    throw;
  }
}

}  // namespace

void write(const std::string& path, std::span<const TensorInfo> tensors, const Metadata& meta, const WriteOptions& opt) {
  check_writable(path, tensors);
  const auto header_meta = header_metadata(meta, opt.safetensors_tag);
  std::uint64_t total = 0;
  for (const auto& t : tensors) total += t.nbytes;
  ProgressTracker progress(opt, tensors);

  if (opt.max_shard_bytes == 0 || total <= opt.max_shard_bytes) {
    refuse_overwriting_inputs(path, tensors, opt);
    std::vector<std::size_t> all(tensors.size());
    std::iota(all.begin(), all.end(), std::size_t{0});
    AtomicFile out(path, opt.sync, opt.file_mode);
    write_file(out, tensors, plan_file(tensors, std::move(all)), header_meta, progress);
    out.commit();
    return;
  }

  // Hugging Face's split: greedy in the caller's order; a new shard starts
  // when the next tensor would overflow the current one, and a tensor larger
  // than the limit gets a shard of its own.
  std::vector<std::vector<std::size_t>> groups;
  std::uint64_t current = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::uint64_t n = tensors[i].nbytes;
    if (groups.empty() || n > opt.max_shard_bytes || current + n > opt.max_shard_bytes) {
      groups.emplace_back();
      current = 0;
    }
    groups.back().push_back(i);
    current += n;
    if (n > opt.max_shard_bytes) current = opt.max_shard_bytes;  // nothing joins an oversized tensor
  }

  const std::string stem = ends_with(path, ".safetensors") ? path.substr(0, path.size() - 12) : path;
  const std::string index_path = stem + ".safetensors.index.json";
  const std::string count = shard_number(groups.size());
  std::vector<std::string> shard_paths;
  for (std::size_t g = 0; g < groups.size(); ++g)
    shard_paths.push_back(stem + "-" + shard_number(g + 1) + "-of-" + count + ".safetensors");
  for (const auto& p : shard_paths) refuse_overwriting_inputs(p, tensors, opt);
  refuse_overwriting_inputs(index_path, tensors, opt);

  // Every file stays a temporary until all are complete.
  std::vector<std::unique_ptr<AtomicFile>> files;
  nlohmann::json weight_map = nlohmann::json::object();  // sorted keys, as Hugging Face writes it
  for (std::size_t g = 0; g < groups.size(); ++g) {
    files.push_back(std::make_unique<AtomicFile>(shard_paths[g], opt.sync, opt.file_mode));
    write_file(*files.back(), tensors, plan_file(tensors, groups[g]), header_meta, progress);
    const std::string shard_name = fs::path(shard_paths[g]).filename().string();
    for (std::size_t i : groups[g]) weight_map[tensors[i].name] = shard_name;
  }
  // transformers writes json.dumps(index, indent=2, sort_keys=True) + "\n".
  nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", std::move(weight_map)}};
  const std::string text = index.dump(2, ' ', true) + "\n";
  files.push_back(std::make_unique<AtomicFile>(index_path, opt.sync, opt.file_mode));
  files.back()->write(text.data(), text.size());
  commit_all(files);
}

}  // namespace ckpt::io::safetensors
