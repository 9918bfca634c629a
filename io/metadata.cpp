#include "io/metadata.h"

#include <nlohmann/json.hpp>

namespace ckpt::io {

const char* meta_type_name(MetaType t) noexcept {
  switch (t) {
    case MetaType::U8: return "uint8";
    case MetaType::I8: return "int8";
    case MetaType::U16: return "uint16";
    case MetaType::I16: return "int16";
    case MetaType::U32: return "uint32";
    case MetaType::I32: return "int32";
    case MetaType::F32: return "float32";
    case MetaType::Bool: return "bool";
    case MetaType::String: return "string";
    case MetaType::Array: return "array";
    case MetaType::U64: return "uint64";
    case MetaType::I64: return "int64";
    case MetaType::F64: return "float64";
    case MetaType::Null: return "null";
  }
  return "unknown";
}

bool meta_type_valid(std::uint32_t id) noexcept { return id <= 12; }

nlohmann::json to_json(const MetaValue& v) {
  switch (v.type) {
    case MetaType::U8:
    case MetaType::U16:
    case MetaType::U32:
    case MetaType::U64: return v.u;
    case MetaType::I8:
    case MetaType::I16:
    case MetaType::I32:
    case MetaType::I64: return v.i;
    case MetaType::F32:
    case MetaType::F64: return v.f;
    case MetaType::Bool: return v.u != 0;
    case MetaType::String: return v.s;
    case MetaType::Null: return nullptr;
    case MetaType::Array: {
      auto arr = nlohmann::json::array();
      for (const auto& item : v.items) arr.push_back(to_json(item));
      return arr;
    }
  }
  return nullptr;
}

std::string to_display(const MetaValue& v, std::size_t max_items) {
  switch (v.type) {
    case MetaType::String: return v.s;
    case MetaType::Array: {
      std::string out = "[";
      for (std::size_t k = 0; k < v.items.size() && k < max_items; ++k) {
        if (k) out += ", ";
        // Quoted like JSON; bytes that are not UTF-8 (GGUF does not check)
        // become U+FFFD instead of making the dump throw.
        out += v.items[k].type == MetaType::String
                   ? nlohmann::json(v.items[k].s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                   : to_display(v.items[k], max_items);
      }
      if (v.items.size() > max_items) out += ", … (" + std::to_string(v.items.size()) + " items)";
      return out + "]";
    }
    default: return to_json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

const MetaValue* find(const Metadata& m, std::string_view key) {
  for (const auto& e : m)
    if (e.key == key) return &e.value;
  return nullptr;
}

}  // namespace ckpt::io
