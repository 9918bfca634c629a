#include "io/metadata_edit.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <limits>
#include <system_error>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/open.h"

namespace ckpt::io {

namespace fs = std::filesystem;

namespace {

bool refuse(std::string* why_not, std::string sentence) {
  if (why_not) *why_not = std::move(sentence);
  return false;
}

std::string q(std::string_view s) { return "'" + std::string(s) + "'"; }

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// ---- text <-> values -------------------------------------------------------

[[noreturn]] void bad_text(const std::string& sentence) { throw Error("", kNoOffset, sentence); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

struct IntRange {
  std::int64_t min;
  std::uint64_t max;
};

IntRange int_range(MetaType t) {
  switch (t) {
    case MetaType::U8: return {0, std::numeric_limits<std::uint8_t>::max()};
    case MetaType::U16: return {0, std::numeric_limits<std::uint16_t>::max()};
    case MetaType::U32: return {0, std::numeric_limits<std::uint32_t>::max()};
    case MetaType::U64: return {0, std::numeric_limits<std::uint64_t>::max()};
    case MetaType::I8: return {std::numeric_limits<std::int8_t>::min(), std::numeric_limits<std::int8_t>::max()};
    case MetaType::I16: return {std::numeric_limits<std::int16_t>::min(), std::numeric_limits<std::int16_t>::max()};
    case MetaType::I32: return {std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max()};
    case MetaType::I64: return {std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()};
    case MetaType::F32:
    case MetaType::F64:
    case MetaType::Bool:
    case MetaType::String:
    case MetaType::Array:
    case MetaType::Null: break;
  }
  return {0, 0};
}

bool is_unsigned(MetaType t) {
  return t == MetaType::U8 || t == MetaType::U16 || t == MetaType::U32 || t == MetaType::U64;
}

std::string range_text(MetaType t) {
  const IntRange r = int_range(t);
  return std::string(meta_type_name(t)) + " (" + std::to_string(r.min) + " to " + std::to_string(r.max) + ")";
}

MetaValue parse_integer(MetaType type, std::string_view text) {
  const std::string_view s = trim(text);
  if (s.empty()) bad_text("enter a whole number for " + range_text(type));
  const char* first = s.data();
  const char* last = s.data() + s.size();
  if (*first == '+') ++first;  // from_chars takes no '+', people do type it
  if (is_unsigned(type)) {
    if (first != last && *first == '-') bad_text(q(s) + " is negative; " + range_text(type) + " holds no negative numbers");
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(first, last, v);
    if (ec == std::errc::result_out_of_range) bad_text(q(s) + " does not fit " + range_text(type));
    if (ec != std::errc() || end != last || first == last) bad_text(q(s) + " is not a whole number");
    if (v > int_range(type).max) bad_text(q(s) + " does not fit " + range_text(type));
    return MetaValue::unsigned_int(type, v);
  }
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(first, last, v);
  if (ec == std::errc::result_out_of_range) bad_text(q(s) + " does not fit " + range_text(type));
  if (ec != std::errc() || end != last || first == last) bad_text(q(s) + " is not a whole number");
  const IntRange r = int_range(type);
  if (v < r.min || (v > 0 && static_cast<std::uint64_t>(v) > r.max)) bad_text(q(s) + " does not fit " + range_text(type));
  return MetaValue::signed_int(type, v);
}

template <class F>
MetaValue parse_floating(MetaType type, std::string_view text) {
  const std::string_view s = trim(text);
  const char* first = s.data();
  const char* last = s.data() + s.size();
  if (first != last && *first == '+') ++first;
  F v{};
  const auto [end, ec] = std::from_chars(first, last, v);
  if (ec == std::errc::result_out_of_range) {
    // Underflow to zero is fine to refuse too: the number would not survive.
    bad_text(q(s) + " is out of the range of " + meta_type_name(type));
  }
  if (ec != std::errc() || end != last || first == last) bad_text(q(s) + " is not a number");
  return MetaValue::floating(type, static_cast<double>(v));
}

MetaValue parse_bool(std::string_view text) {
  std::string s(trim(text));
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "true" || s == "1") return MetaValue::boolean(true);
  if (s == "false" || s == "0") return MetaValue::boolean(false);
  bad_text(q(text) + " is not a boolean; enter true or false");
}

template <class F>
std::string float_text(F v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string json_quoted(const std::string& s) {
  // Replace rather than throw: token lists hold byte fragments that are not UTF-8.
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// ---- checks ----------------------------------------------------------------

void check_gguf_value(const MetaValue& v, const std::string& key, const std::string& file) {
  if (v.type == MetaType::Null || !meta_type_valid(static_cast<std::uint32_t>(v.type)))
    throw Error(file, kNoOffset, "the metadata value " + q(key) + " has type " + meta_type_name(v.type) + ", which GGUF cannot store");
  if (v.type != MetaType::Array) return;
  if (v.element_type == MetaType::Null || !meta_type_valid(static_cast<std::uint32_t>(v.element_type)))
    throw Error(file, kNoOffset, "the metadata array " + q(key) + " has elements of type " + meta_type_name(v.element_type) +
                                     ", which GGUF cannot store");
  for (std::size_t k = 0; k < v.items.size(); ++k) {
    if (v.items[k].type != v.element_type)
      throw Error(file, kNoOffset, "element " + std::to_string(k) + " of the metadata array " + q(key) + " is a " +
                                       meta_type_name(v.items[k].type) + "; every element must be a " +
                                       meta_type_name(v.element_type));
    if (v.element_type == MetaType::Array) check_gguf_value(v.items[k], key, file);
  }
}

// ---- saving ----------------------------------------------------------------

// Whether writing `path` would replace a file the checkpoint reads from.
bool is_input(const std::string& path, const Checkpoint& ck) {
  const auto id = file_id_of(path);
  if (!id) return false;
  for (const auto& f : ck.files)
    if (f && f->file_id() == id) return true;
  for (const auto& t : ck.tensors) {
    const ByteSource* src = t.data ? t.data->source() : nullptr;
    if (src && src->file_id() == id) return true;
  }
  return false;
}

// Saving to a symlink updates the file it names, as editors do, instead of
// replacing the link with a regular file.
std::string resolve_link(const std::string& dest) {
  std::error_code ec;
  if (!fs::is_symlink(dest, ec)) return dest;
  const fs::path target = fs::canonical(dest, ec);
  return ec ? dest : target.string();
}

WriteOptions options_for(const Checkpoint& ck, const Metadata& meta, const WriteOptions& opt) {
  WriteOptions o = opt;
  o.max_shard_bytes = 0;
  switch (ck.format) {
    case Format::Safetensors: {
      // The writer owns "format"; tell it to keep what the edited metadata says.
      const MetaValue* f = find(meta, "format");
      o.safetensors_tag = !f ? SafetensorsTag::None : f->s == "pt" ? SafetensorsTag::Pt : SafetensorsTag::Mlx;
      break;
    }
    case Format::Gguf: {
      // The writer lays out the data section by this value and writes it in
      // general.alignment's place, so the key and the layout always agree.
      const MetaValue* a = find(meta, "general.alignment");
      o.gguf_alignment = a ? static_cast<std::uint32_t>(a->u) : 32;
      break;
    }
    case Format::Npy:
    case Format::Npz:
    case Format::PyTorch: break;
  }
  return o;
}

}  // namespace

bool metadata_editable(const Checkpoint& ck, std::string* why_not) {
  switch (ck.format) {
    case Format::Npy: return refuse(why_not, ".npy files hold one array and no metadata.");
    case Format::Npz: return refuse(why_not, ".npz archives hold arrays only and no metadata.");
    case Format::PyTorch:
      return refuse(why_not,
                    "PyTorch checkpoints are read-only here: their non-tensor entries live in the pickled object, and "
                    "the PyTorch writer writes a plain state_dict without them, so saving would lose them.");
    case Format::Safetensors:
    case Format::Gguf: break;
  }
  if (ck.files.size() > 1 || ends_with(ck.path, ".index.json")) {
    const std::string parts = ck.files.size() > 1 ? " (" + std::to_string(ck.files.size()) + " files)" : std::string();
    return refuse(why_not, ck.format == Format::Gguf
                               ? "This GGUF model is split into parts" + parts +
                                     "; editing its metadata would mean rewriting every part together, which is not "
                                     "supported. Merge it into one file first."
                               : "This is a sharded safetensors checkpoint" + parts +
                                     "; each shard and the index would have to be rewritten together, which is not "
                                     "supported. Edit a single-file .safetensors instead.");
  }
  if (ck.format_detail.find("root '") != std::string::npos)
    return refuse(why_not,
                  "Only part of this checkpoint is shown (it was opened with a root); open the whole file to edit "
                  "its metadata.");
  for (const auto& t : ck.tensors) {
    if (!t.data)
      return refuse(why_not, "Tensor " + q(t.name) +
                                 " has a type this program cannot read, so it could not be copied into the saved file.");
    if (ck.format == Format::Gguf && t.layout_note.rfind("big-endian file", 0) == 0)
      return refuse(why_not, "This big-endian GGUF holds block-quantized tensors that cannot be byte-swapped, and "
                             "saving writes little-endian GGUF.");
  }
  return true;
}

bool format_stores_meta_type(Format format, MetaType type) {
  switch (format) {
    case Format::Safetensors: return type == MetaType::String;
    case Format::Gguf: return type != MetaType::Null && meta_type_valid(static_cast<std::uint32_t>(type));
    case Format::Npy:
    case Format::Npz:
    case Format::PyTorch: return false;
  }
  return false;
}

void check_metadata(Format format, const Metadata& meta, const std::string& file) {
  std::unordered_set<std::string_view> keys;
  for (const auto& e : meta) {
    if (e.key.empty()) throw Error(file, kNoOffset, "a metadata key is empty; give every key a name");
    if (!keys.insert(e.key).second) throw Error(file, kNoOffset, "the metadata key " + q(e.key) + " appears twice");
  }
  switch (format) {
    case Format::Safetensors:
      for (const auto& e : meta)
        if (e.value.type != MetaType::String)
          throw Error(file, kNoOffset, "the metadata value " + q(e.key) + " is a " + meta_type_name(e.value.type) +
                                           "; .safetensors metadata holds strings only");
      if (const MetaValue* f = find(meta, "format"); f && f->s != "pt" && f->s != "mlx")
        throw Error(file, kNoOffset, "\"format\" is \"" + f->s +
                                         "\"; saving writes it as \"pt\" or \"mlx\" only, so change it to one of "
                                         "those or remove the key");
      return;
    case Format::Gguf:
      for (const auto& e : meta) check_gguf_value(e.value, e.key, file);
      if (const MetaValue* a = find(meta, "general.alignment")) {
        if (a->type != MetaType::U32)
          throw Error(file, kNoOffset, std::string("general.alignment is a ") + meta_type_name(a->type) +
                                           "; GGUF readers expect a uint32");
        if (a->u == 0 || (a->u & (a->u - 1)) != 0)
          throw Error(file, kNoOffset, "general.alignment is " + std::to_string(a->u) + ", not a power of two");
      }
      return;
    case Format::Npy:
    case Format::Npz:
    case Format::PyTorch:
      if (!meta.empty())
        throw Error(file, kNoOffset, std::string(format_name(format)) + " files get no metadata from this program; " +
                                         q(meta.front().key) + " cannot be saved");
      return;
  }
}

void save_with_metadata(const Checkpoint& ck, const Metadata& meta, const std::string& dest, const WriteOptions& opt) {
  std::string why;
  if (!metadata_editable(ck, &why)) throw Error(ck.path, kNoOffset, why);
  check_metadata(ck.format, meta, dest);
  const WriteOptions o = options_for(ck, meta, opt);
  const std::string target = resolve_link(dest);
  if (!is_input(target, ck)) {
    write_checkpoint(target, ck.format, ck.tensors, meta, o);
    return;
  }
  // Saving over the file being read: the writer's temporary is renamed over
  // the original only when complete, so the original inode is never opened
  // for writing and whoever maps it (this checkpoint) keeps reading the old
  // bytes. A save killed midway leaves only the writer's ".NAME.ckpt-tmp-"
  // file, which the next write to this name removes.
  struct stat st {};
  const bool have_mode = ::stat(target.c_str(), &st) == 0;
  WriteOptions over = o;
  over.replace_input = true;
  if (have_mode) over.file_mode = st.st_mode & 07777;  // the new file keeps the original's permissions
  write_checkpoint(target, ck.format, ck.tensors, meta, over);
}

std::string meta_value_text(const MetaValue& v) {
  switch (v.type) {
    case MetaType::U8:
    case MetaType::U16:
    case MetaType::U32:
    case MetaType::U64: return std::to_string(v.u);
    case MetaType::I8:
    case MetaType::I16:
    case MetaType::I32:
    case MetaType::I64: return std::to_string(v.i);
    case MetaType::F32: return float_text(static_cast<float>(v.f));
    case MetaType::F64: return float_text(v.f);
    case MetaType::Bool: return v.u != 0 ? "true" : "false";
    case MetaType::String: return v.s;
    case MetaType::Null: return "null";
    case MetaType::Array: {
      std::string out = "[";
      for (std::size_t k = 0; k < v.items.size(); ++k) {
        if (k) out += ", ";
        out += v.items[k].type == MetaType::String ? json_quoted(v.items[k].s) : meta_value_text(v.items[k]);
      }
      return out + "]";
    }
  }
  return {};
}

MetaValue meta_value_from_text(MetaType type, std::string_view text, MetaType element_type) {
  switch (type) {
    case MetaType::U8:
    case MetaType::U16:
    case MetaType::U32:
    case MetaType::U64:
    case MetaType::I8:
    case MetaType::I16:
    case MetaType::I32:
    case MetaType::I64: return parse_integer(type, text);
    case MetaType::F32: return parse_floating<float>(type, text);
    case MetaType::F64: return parse_floating<double>(type, text);
    case MetaType::Bool: return parse_bool(text);
    case MetaType::String: return MetaValue::string(std::string(text));
    case MetaType::Null: bad_text("a null value cannot be entered; choose a type");
    case MetaType::Array: {
      if (element_type == MetaType::Array || element_type == MetaType::Null)
        bad_text(std::string("arrays of ") + meta_type_name(element_type) + " cannot be typed in");
      const auto json = nlohmann::json::parse(text, nullptr, false);
      if (json.is_discarded() || !json.is_array())
        bad_text(std::string("enter a JSON array of ") + meta_type_name(element_type) + ", e.g. " +
                 (element_type == MetaType::String ? "[\"a\", \"b\"]" : "[1, 2]"));
      std::vector<MetaValue> items;
      items.reserve(json.size());
      for (std::size_t k = 0; k < json.size(); ++k) {
        const auto& item = json[k];
        if (element_type == MetaType::String) {
          if (!item.is_string()) bad_text("element " + std::to_string(k) + " is not a string in quotes");
          items.push_back(MetaValue::string(item.get<std::string>()));
        } else {
          if (!item.is_primitive() || item.is_null() || item.is_string())
            bad_text("element " + std::to_string(k) + " is not a " + meta_type_name(element_type));
          try {
            items.push_back(meta_value_from_text(element_type, item.dump()));
          } catch (const Error& e) {
            bad_text("element " + std::to_string(k) + ": " + e.sentence());
          }
        }
      }
      return MetaValue::array(element_type, std::move(items));
    }
  }
  bad_text("unknown metadata type");
}

MetaValue convert_meta_value(const MetaValue& v, MetaType type, MetaType element_type) {
  if (v.type == MetaType::Array || type == MetaType::Array) {
    if (v.type != type)
      bad_text(std::string("a ") + meta_type_name(v.type) + " cannot become a " + meta_type_name(type) +
               "; remove the key and add it again with the new type");
    if (element_type == MetaType::Array || v.element_type == MetaType::Array)
      bad_text("arrays of arrays cannot change their element type");
    std::vector<MetaValue> items;
    items.reserve(v.items.size());
    for (std::size_t k = 0; k < v.items.size(); ++k) {
      try {
        items.push_back(convert_meta_value(v.items[k], element_type));
      } catch (const Error& e) {
        bad_text("element " + std::to_string(k) + ": " + e.sentence());
      }
    }
    return MetaValue::array(element_type, std::move(items));
  }
  // true/false read as 1/0 when they become numbers.
  if (v.type == MetaType::Bool && type != MetaType::String && type != MetaType::Bool)
    return meta_value_from_text(type, v.u != 0 ? "1" : "0");
  return meta_value_from_text(type, meta_value_text(v));
}

}  // namespace ckpt::io
