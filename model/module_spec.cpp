#include "model/module_spec.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/open.h"

namespace ckpt::model {
namespace {

using ordered_json = nlohmann::ordered_json;

// The spec format (docs/spec_format.md):
//   {"format": "ckpt-spec", "version": 1, "source": "...",     (all optional)
//    "parameters": {"name": {"shape": [..], "dtype": ".."} | [..], ...}}

// A value as a message shows it: scalars as JSON, containers as [...] or {...}
// (dumping a hostile array nested 200,000 deep would recurse that deep).
std::string brief(const ordered_json& j) {
  if (j.is_array()) return "[...]";
  if (j.is_object()) return "{...}";
  const std::string s = j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  return s.size() <= 80 ? s : s.substr(0, 77) + "...";
}

// ordered_json objects copy (rather than move) their members as they grow,
// recursing through each member: a value nested 200,000 deep followed by
// another key overflows the stack while parsing. Specs nest 3 levels; text
// nesting deeper than this is refused before it is parsed.
constexpr std::size_t kMaxJsonDepth = 256;

bool nests_deeper_than(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

io::Shape parse_shape(const ordered_json& j, const std::string& label, const std::string& name) {
  if (!j.is_array()) throw io::Error(label, io::kNoOffset, "parameter '" + name + "': the shape must be an array of non-negative integers");
  io::Shape shape;
  shape.reserve(j.size());
  for (const auto& d : j) {
    if (d.is_number_unsigned()) {
      const auto v = d.get<std::uint64_t>();
      if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw io::Error(label, io::kNoOffset, "parameter '" + name + "': dimension " + std::to_string(v) + " is too large");
      shape.push_back(static_cast<std::int64_t>(v));
    } else if (d.is_number_integer()) {
      throw io::Error(label, io::kNoOffset, "parameter '" + name + "': dimension " + brief(d) + " is negative");
    } else {
      throw io::Error(label, io::kNoOffset, "parameter '" + name + "': dimension " + brief(d) + " is not an integer");
    }
  }
  return shape;
}

SpecParam parse_param(const std::string& name, const ordered_json& v, const std::string& label) {
  SpecParam p;
  p.name = name;
  if (v.is_array()) {
    p.shape = parse_shape(v, label, name);
    return p;
  }
  if (!v.is_object())
    throw io::Error(label, io::kNoOffset, "parameter '" + name + "': expected a shape array or an object {\"shape\": [...], \"dtype\": \"...\"}");
  const auto s = v.find("shape");
  if (s == v.end()) throw io::Error(label, io::kNoOffset, "parameter '" + name + "' has no \"shape\"");
  p.shape = parse_shape(*s, label, name);
  const auto d = v.find("dtype");
  if (d != v.end() && !d->is_null()) {
    if (!d->is_string()) throw io::Error(label, io::kNoOffset, "parameter '" + name + "': \"dtype\" must be a string such as \"float32\"");
    const auto name_str = d->get<std::string>();
    // Accept torch spellings too ("torch.float16" printed by a state_dict).
    auto dt = io::from_name(name_str);
    if (!dt && name_str.rfind("torch.", 0) == 0) dt = io::from_torch(name_str.substr(6));
    if (!dt) dt = io::from_torch(name_str);
    if (!dt) throw io::Error(label, io::kNoOffset, "parameter '" + name + "': unknown dtype \"" + name_str + "\"");
    p.dtype = *dt;
  }
  for (const auto& [key, unused] : v.items()) {
    if (key != "shape" && key != "dtype")
      throw io::Error(label, io::kNoOffset, "parameter '" + name + "': unknown key \"" + key + "\" (expected \"shape\" and \"dtype\")");
  }
  return p;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io::Error(path, io::kNoOffset, "cannot open the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw io::Error(path, io::kNoOffset, "cannot read the file");
  return ss.str();
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ModuleSpec parse_spec(const std::string& json_text, const std::string& label) {
  if (nests_deeper_than(json_text, kMaxJsonDepth))
    throw io::Error(label, io::kNoOffset, "the spec nests arrays and objects more than " + std::to_string(kMaxJsonDepth) + " levels deep");
  ordered_json j;
  try {
    j = ordered_json::parse(json_text);
  } catch (const ordered_json::parse_error& e) {
    // nlohmann reports the 1-based byte past the error; the offset names the byte itself.
    throw io::Error(label, e.byte > 0 ? e.byte - 1 : 0, "the spec is not valid JSON");
  } catch (const ordered_json::exception& e) {
    // Not every parse failure is a parse_error: a number past double's range (1e999) is out_of_range.
    throw io::Error(label, io::kNoOffset, std::string("the spec is not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) throw io::Error(label, io::kNoOffset, "a spec must be a JSON object with \"parameters\"");
  if (const auto f = j.find("format"); f != j.end() && *f != "ckpt-spec")
    throw io::Error(label, io::kNoOffset, "\"format\" is " + brief(*f) + ", expected \"ckpt-spec\"");
  if (const auto v = j.find("version"); v != j.end() && *v != 1)
    throw io::Error(label, io::kNoOffset, "spec version " + brief(*v) + " is not supported (this build reads version 1)");
  const auto params = j.find("parameters");
  if (params == j.end() || !params->is_object())
    throw io::Error(label, io::kNoOffset, "a spec needs a \"parameters\" object mapping names to shapes");

  ModuleSpec spec;
  spec.source = label;
  if (const auto s = j.find("source"); s != j.end() && s->is_string() && !s->get<std::string>().empty())
    spec.source = s->get<std::string>();
  // nlohmann keeps the last of duplicate keys, so the raw text is checked for
  // repeats through a SAX pass before trusting the parsed object.
  struct Dupes : nlohmann::json_sax<ordered_json> {
    int depth = 0;
    bool in_params = false;
    std::unordered_set<std::string> seen;
    std::string duplicate;
    std::string pending;
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override {
      ++depth;
      if (depth == 2 && pending == "parameters") in_params = true;
      return true;
    }
    bool key(string_t& k) override {
      if (depth == 1) pending = k;
      if (depth == 2 && in_params && !seen.insert(k).second && duplicate.empty()) duplicate = k;
      return true;
    }
    bool end_object() override {
      if (depth == 2) in_params = false;
      --depth;
      return true;
    }
    bool start_array(std::size_t) override {
      ++depth;
      return true;
    }
    bool end_array() override {
      --depth;
      return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
  } dupes;
  ordered_json::sax_parse(json_text, &dupes);
  if (!dupes.duplicate.empty())
    throw io::Error(label, io::kNoOffset, "parameter '" + dupes.duplicate + "' is listed twice");

  spec.params.reserve(params->size());
  for (const auto& [name, v] : params->items()) spec.params.push_back(parse_param(name, v, label));
  return spec;
}

ModuleSpec load_spec(const std::string& path) {
  const bool json_name = ends_with(path, ".json");
  const bool index_name = ends_with(path, ".index.json");
  if (json_name && !index_name) {
    // A sharded-checkpoint index is JSON too; it is told apart by its weight_map.
    const auto text = read_text(path);
    if (nests_deeper_than(text, kMaxJsonDepth)) return parse_spec(text, path);
    const auto j = ordered_json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("weight_map")) return parse_spec(text, path);
  }
  if (!index_name && !io::detect_format(path)) {
    // No known checkpoint: a spec without the .json extension, or an error that
    // names both possibilities.
    const auto text = read_text(path);
    const auto j = nests_deeper_than(text, kMaxJsonDepth) ? ordered_json(ordered_json::value_t::discarded)
                                                          : ordered_json::parse(text, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("parameters")) return parse_spec(text, path);
  }
  const auto ck = io::open_checkpoint(path);
  return spec_from_tensors(ck.tensors, path);
}

ModuleSpec spec_from_tensors(const std::vector<io::TensorInfo>& tensors, std::string source) {
  ModuleSpec spec;
  spec.source = std::move(source);
  spec.params.reserve(tensors.size());
  for (const auto& t : tensors) spec.params.push_back({t.name, t.shape, t.dtype});
  return spec;
}

std::string to_json(const ModuleSpec& spec) {
  // One parameter per line: specs run to thousands of entries and are read
  // (and diffed with text tools) line by line.
  std::string out = "{\n  \"format\": \"ckpt-spec\",\n  \"version\": 1,\n  \"source\": ";
  out += ordered_json(spec.source).dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  out += ",\n  \"parameters\": {";
  for (std::size_t k = 0; k < spec.params.size(); ++k) {
    const auto& p = spec.params[k];
    ordered_json v;
    v["shape"] = p.shape;
    if (p.dtype) v["dtype"] = std::string(io::name(*p.dtype));
    out += k ? ",\n    " : "\n    ";
    out += ordered_json(p.name).dump(-1, ' ', false, ordered_json::error_handler_t::replace);
    out += ": ";
    out += v.dump();
  }
  out += spec.params.empty() ? "}\n}\n" : "\n  }\n}\n";
  return out;
}

}  // namespace ckpt::model
