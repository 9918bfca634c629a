#pragma once
// Format metadata as typed key/value pairs, in file order. GGUF types are kept
// exactly so a GGUF round trip writes the same value types back; other formats
// use strings (safetensors) or the nearest type (PyTorch extras).
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace ckpt::io {

// Values are GGUF's value type ids, so GGUF readers and writers use them directly.
enum class MetaType : std::uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7,
  String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
  // Not a GGUF type: Python's None in PyTorch checkpoints. GGUF writers skip it.
  Null = 255,
};
[[nodiscard]] const char* meta_type_name(MetaType t) noexcept;  // "uint32", "string", "array", ...
[[nodiscard]] bool meta_type_valid(std::uint32_t id) noexcept;

struct MetaValue {
  MetaType type = MetaType::String;
  MetaType element_type = MetaType::U8;  // arrays only
  // Unsigned types and Bool use u; signed use i; floats use f; String uses s; Array uses items.
  std::uint64_t u = 0;
  std::int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<MetaValue> items;

  static MetaValue string(std::string v) {
    MetaValue m;
    m.type = MetaType::String;
    m.s = std::move(v);
    return m;
  }
  static MetaValue unsigned_int(MetaType t, std::uint64_t v) {
    MetaValue m;
    m.type = t;
    m.u = v;
    return m;
  }
  static MetaValue signed_int(MetaType t, std::int64_t v) {
    MetaValue m;
    m.type = t;
    m.i = v;
    return m;
  }
  static MetaValue floating(MetaType t, double v) {
    MetaValue m;
    m.type = t;
    m.f = v;
    return m;
  }
  static MetaValue null() {
    MetaValue m;
    m.type = MetaType::Null;
    return m;
  }
  static MetaValue boolean(bool v) {
    MetaValue m;
    m.type = MetaType::Bool;
    m.u = v ? 1 : 0;
    return m;
  }
  static MetaValue array(MetaType element, std::vector<MetaValue> values) {
    MetaValue m;
    m.type = MetaType::Array;
    m.element_type = element;
    m.items = std::move(values);
    return m;
  }
  bool operator==(const MetaValue&) const = default;
};

struct MetaEntry {
  std::string key;
  MetaValue value;
  bool operator==(const MetaEntry&) const = default;
};

using Metadata = std::vector<MetaEntry>;

// Plain JSON value (numbers, strings, bools, arrays) for `ckpt info --json`.
[[nodiscard]] nlohmann::json to_json(const MetaValue& v);
// A short human-readable rendering; long arrays are elided after `max_items`.
[[nodiscard]] std::string to_display(const MetaValue& v, std::size_t max_items = 8);
// Finds a key; nullptr when absent.
[[nodiscard]] const MetaValue* find(const Metadata& m, std::string_view key);

}  // namespace ckpt::io
