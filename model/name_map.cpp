#include "model/name_map.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_map>

#include "io/convert.h"
#include "io/error.h"
#include "model/quantized.h"
#include "model/transforms.h"

namespace ckpt::model {

namespace {

using nlohmann::json;

// ---- bounded regular expressions ---------------------------------------------
// std::regex (libstdc++) matches by backtracking, so a pattern such as
// ^(.*a){9}$ can take time exponential in the name's length, and the matcher
// recurses a few frames per character of the name and per nesting level of
// the pattern (a 64 KB name, or 8,000 nested groups, overflow the stack).
// Maps come from strangers as often as checkpoints do: patterns and the names
// matched against them are bounded in size, and matching runs through an
// iterator that counts its steps. One plan_map may take kRegexStepsFloor
// steps plus kRegexStepsPerMatch per (name, regex rule) pair: a real rule
// takes tens to hundreds of steps on a real name, a backtracking one millions.
constexpr std::size_t kMaxRegexPatternBytes = 4096;
constexpr std::size_t kMaxRegexNameBytes = 4096;
constexpr std::uint64_t kRegexStepsFloor = 1'000'000;
constexpr std::uint64_t kRegexStepsPerMatch = 2'000;

std::string shorten(const std::string& s) { return s.size() <= 80 ? s : s.substr(0, 77) + "..."; }

struct RegexTooSlow {};
thread_local std::uint64_t t_regex_steps_left = 0;
thread_local std::uint64_t t_regex_budget = 0;  // for messages

// A const char* that counts every move, read and comparison std::regex makes.
class CountingIterator {
 public:
  using iterator_category = std::bidirectional_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CountingIterator() = default;
  explicit CountingIterator(const char* p) : p_(p) {}
  reference operator*() const {
    step();
    return *p_;
  }
  CountingIterator& operator++() {
    step();
    ++p_;
    return *this;
  }
  CountingIterator operator++(int) {
    auto old = *this;
    ++*this;
    return old;
  }
  CountingIterator& operator--() {
    step();
    --p_;
    return *this;
  }
  CountingIterator operator--(int) {
    auto old = *this;
    --*this;
    return old;
  }
  friend bool operator==(const CountingIterator& a, const CountingIterator& b) {
    step();
    return a.p_ == b.p_;
  }
  [[nodiscard]] const char* get() const { return p_; }

 private:
  static void step() {
    if (t_regex_steps_left == 0) throw RegexTooSlow{};
    --t_regex_steps_left;
  }
  const char* p_ = nullptr;
};

std::optional<std::string> regex_pattern_problem(const std::string& pattern) {
  if (pattern.size() > kMaxRegexPatternBytes)
    return "the regular expression is " + std::to_string(pattern.size()) + " bytes long, more than the limit of " +
           std::to_string(kMaxRegexPatternBytes);
  // libstdc++ 12 reads back-reference numbers (\12) and repeat counts ({2,5})
  // into a long without checking for overflow (undefined past 19 digits);
  // such numbers longer than 9 digits are refused before compiling.
  std::size_t run = 0;
  bool number = false, escaped = false, in_brace = false;
  for (const char c : pattern) {
    const bool digit = c >= '0' && c <= '9';
    if (digit && (number || escaped || in_brace)) {
      number = true;
      escaped = false;
      if (++run > 9) return "the regular expression '" + shorten(pattern) + "' has a back-reference or repeat count longer than 9 digits";
      continue;
    }
    number = false;
    run = 0;
    if (escaped) escaped = false;
    else if (c == '\\') escaped = true;
    else if (c == '{') in_brace = true;
    else if (c == '}') in_brace = false;
  }
  try {
    std::regex re(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return "bad regular expression '" + shorten(pattern) + "': " + e.what();
  }
  return std::nullopt;
}

const char* match_name(Rule::Match m) {
  switch (m) {
    case Rule::Match::Exact: return "exact";
    case Rule::Match::Prefix: return "prefix";
    case Rule::Match::Regex: return "regex";
  }
  return "?";
}

const char* unmapped_name(Unmapped u) {
  switch (u) {
    case Unmapped::Keep: return "keep";
    case Unmapped::Drop: return "drop";
    case Unmapped::Error: return "error";
  }
  return "?";
}

// ---- parsing ---------------------------------------------------------------

Transform parse_transform(const json& j, const std::string& where, const std::string& label) {
  auto fail = [&](const std::string& why) { return io::Error(label, io::kNoOffset, where + ": " + why); };
  if (!j.is_object() || j.size() != 1)
    throw fail("a transform is an object with one key: permute, transpose, cast or dequantize");
  const auto it = j.begin();
  const std::string key = it.key();
  const json& v = it.value();
  Transform t;
  if (key == "permute") {
    if (!v.is_array()) throw fail("\"permute\" takes a list of axes, e.g. [0, 2, 3, 1]");
    t.kind = Transform::Kind::Permute;
    for (const auto& a : v) {
      if (!a.is_number_integer()) throw fail("\"permute\" axes must be integers");
      // get<int> would wrap an axis such as 4294967296 to 0.
      const bool fits = a.is_number_unsigned() ? a.get<std::uint64_t>() <= 1'000'000
                                               : a.get<std::int64_t>() >= -1'000'000 && a.get<std::int64_t>() <= 1'000'000;
      if (!fits) throw fail("\"permute\" axis " + a.dump() + " is far beyond any tensor's rank");
      t.perm.push_back(a.get<int>());
    }
    if (!is_permutation(t.perm)) throw fail(perm_text(t.perm) + " is not a permutation of 0.." + std::to_string(static_cast<int>(t.perm.size()) - 1));
  } else if (key == "transpose") {
    if (!v.is_boolean() || !v.get<bool>()) throw fail("write the transpose transform as {\"transpose\": true}");
    t.kind = Transform::Kind::Transpose;
  } else if (key == "cast" || key == "dequantize") {
    if (!v.is_string()) throw fail("\"" + key + "\" takes a dtype name such as \"float16\"");
    const auto d = io::from_name(v.get<std::string>());
    t.kind = key == "cast" ? Transform::Kind::Cast : Transform::Kind::Dequantize;
    const bool ok = d && (key == "cast" ? io::is_cast_target(*d) : (*d == io::DType::F16 || *d == io::DType::F32));
    if (!ok)
      throw fail("\"" + key + "\" target '" + v.get<std::string>() + "' must be " +
                 (key == "cast" ? "float16, bfloat16, float32 or float64" : "float16 or float32"));
    t.dtype = *d;
  } else {
    throw fail("unknown transform '" + key + "'; use permute, transpose, cast or dequantize");
  }
  return t;
}

Rule parse_rule(const json& j, std::size_t index, const std::string& label) {
  const std::string where = "rule " + std::to_string(index);
  auto fail = [&](const std::string& why) { return io::Error(label, io::kNoOffset, where + ": " + why); };
  if (!j.is_object()) throw fail("a rule is a JSON object");
  static const std::set<std::string> known{"match", "pattern", "replace", "drop", "rank", "transforms", "note"};
  for (const auto& [k, v] : j.items())
    if (!known.contains(k)) throw fail("unknown key '" + k + "' (known: match, pattern, replace, drop, rank, transforms, note)");
  Rule r;
  auto str = [&](const char* key) -> std::optional<std::string> {
    if (!j.contains(key)) return std::nullopt;
    if (!j[key].is_string()) throw fail(std::string("\"") + key + "\" must be a string");
    return j[key].get<std::string>();
  };
  const auto match = str("match").value_or("exact");
  if (match == "exact") r.match = Rule::Match::Exact;
  else if (match == "prefix") r.match = Rule::Match::Prefix;
  else if (match == "regex") r.match = Rule::Match::Regex;
  else throw fail("\"match\" must be exact, prefix or regex, not '" + match + "'");
  const auto pattern = str("pattern");
  if (!pattern) throw fail("\"pattern\" is required");
  r.pattern = *pattern;
  if (r.match == Rule::Match::Regex)
    if (auto problem = regex_pattern_problem(r.pattern)) throw fail(*problem);
  // No "replace" keeps the name: the matched text replaces itself.
  r.replace = str("replace").value_or(r.match == Rule::Match::Regex ? "$&" : r.pattern);
  if (j.contains("drop")) {
    if (!j["drop"].is_boolean()) throw fail("\"drop\" must be true or false");
    r.drop = j["drop"].get<bool>();
  }
  if (j.contains("rank")) {
    if (!j["rank"].is_number_integer() || j["rank"].get<long long>() < 0 || j["rank"].get<long long>() > 64)
      throw fail("\"rank\" must be a small non-negative integer");
    r.rank = j["rank"].get<int>();
  }
  if (j.contains("transforms")) {
    if (!j["transforms"].is_array()) throw fail("\"transforms\" must be a list");
    std::size_t k = 0;
    for (const auto& t : j["transforms"]) {
      r.transforms.push_back(parse_transform(t, where + ", transform " + std::to_string(k++), label));
      const auto& tr = r.transforms.back();
      if (tr.kind == Transform::Kind::Permute && r.rank && static_cast<int>(tr.perm.size()) != *r.rank)
        throw fail("permutation " + perm_text(tr.perm) + " does not fit rank " + std::to_string(*r.rank));
    }
  }
  if (r.drop && !r.transforms.empty()) throw fail("a dropping rule cannot have transforms");
  if (auto n = str("note")) r.note = *n;
  return r;
}

// ---- presets -----------------------------------------------------------------

Rule drop_rule(std::string pattern, std::string note) {
  Rule r;
  r.match = Rule::Match::Regex;
  r.pattern = std::move(pattern);
  r.replace = "$&";
  r.drop = true;
  r.note = std::move(note);
  return r;
}

Rule conv_rule(int rank, std::vector<int> perm, std::string note) {
  Rule r;
  r.match = Rule::Match::Regex;
  r.pattern = "\\.weight$";
  r.replace = "$&";
  r.rank = rank;
  r.transforms.push_back({Transform::Kind::Permute, std::move(perm), io::DType::F32});
  r.note = std::move(note);
  return r;
}

const char* kConvTransposeNote =
    " ConvTranspose weights need (1, 2, 0) / (1, 2, 3, 0) instead and cannot be told from Conv by shape: "
    "override them with exact rules before this one (`ckpt map suggest` or a spec diff finds them).";

NameMap pytorch_to_mlx() {
  NameMap m;
  m.rules.push_back(drop_rule("(^|\\.)num_batches_tracked$", "BatchNorm step counter: a buffer, not an MLX parameter"));
  m.rules.push_back(drop_rule("(^|\\.)rotary_emb\\.inv_freq$", "RoPE frequencies are recomputed by MLX"));
  m.rules.push_back(drop_rule("(^|\\.)position_ids$", "position id buffer, not a parameter"));
  m.rules.push_back(conv_rule(3, {0, 2, 1}, std::string("Conv1d weight (out, in, k) → MLX (out, k, in).") + kConvTransposeNote));
  m.rules.push_back(conv_rule(4, {0, 2, 3, 1}, std::string("Conv2d weight OIHW → MLX OHWI.") + kConvTransposeNote));
  m.rules.push_back(conv_rule(5, {0, 2, 3, 4, 1}, std::string("Conv3d weight OIDHW → MLX ODHWI.") + kConvTransposeNote));
  return m;
}

NameMap mlx_to_pytorch() {
  NameMap m;
  m.rules.push_back(conv_rule(3, {0, 2, 1}, "MLX Conv1d weight (out, k, in) → PyTorch (out, in, k)"));
  m.rules.push_back(conv_rule(4, {0, 3, 1, 2}, "MLX Conv2d weight OHWI → PyTorch OIHW"));
  m.rules.push_back(conv_rule(5, {0, 4, 1, 2, 3}, "MLX Conv3d weight ODHWI → PyTorch OIDHW"));
  return m;
}

// ---- regex inversion -----------------------------------------------------------

// A regex rule inverts when its pattern is ^ literal (group) literal … $ with
// capture groups that contain no further capture groups, and its replacement
// uses each group exactly once: the inverse swaps the roles of the two.
struct Piece {
  bool group = false;
  std::string text;  // literal text (unescaped) or the group's inner pattern
  int index = 0;     // group number (1-based) for groups
};

std::optional<std::vector<Piece>> split_pattern(const std::string& p, std::string* why) {
  if (p.size() < 2 || p.front() != '^' || p.back() != '$' || (p.size() >= 3 && p[p.size() - 2] == '\\')) {
    *why = "the pattern is not anchored with ^ and $";
    return std::nullopt;
  }
  std::vector<Piece> out;
  int groups = 0;
  for (std::size_t i = 1; i + 1 < p.size();) {
    const char c = p[i];
    if (c == '\\') {
      if (i + 2 >= p.size() || std::isalnum(static_cast<unsigned char>(p[i + 1]))) {
        *why = "it uses a character class or escape outside a group";
        return std::nullopt;
      }
      if (out.empty() || out.back().group) out.push_back({});
      out.back().text += p[i + 1];
      i += 2;
    } else if (c == '(') {
      if (p.compare(i, 3, "(?:") == 0 || p.compare(i, 2, "(?") == 0) {
        *why = "it has a non-capturing group or lookaround outside a capture group";
        return std::nullopt;
      }
      int depth = 0;
      std::size_t j = i;
      for (; j + 1 < p.size(); ++j) {
        if (p[j] == '\\') {
          ++j;
          continue;
        }
        if (p[j] == '(') {
          if (depth > 0 && p.compare(j, 2, "(?") != 0) {
            *why = "a capture group contains another capture group";
            return std::nullopt;
          }
          ++depth;
        } else if (p[j] == ')' && --depth == 0) {
          break;
        }
      }
      if (depth != 0) {
        *why = "its groups are unbalanced";
        return std::nullopt;
      }
      out.push_back({true, p.substr(i + 1, j - i - 1), ++groups});
      i = j + 1;
    } else if (std::string_view(".[]{}*+?|^$)").find(c) != std::string_view::npos) {
      *why = std::string("it uses '") + c + "' outside a group";
      return std::nullopt;
    } else {
      if (out.empty() || out.back().group) out.push_back({});
      out.back().text += c;
      ++i;
    }
  }
  return out;
}

std::optional<std::vector<Piece>> split_replacement(const std::string& r, std::string* why) {
  std::vector<Piece> out;
  for (std::size_t i = 0; i < r.size();) {
    if (r[i] == '$' && i + 1 < r.size()) {
      const char n = r[i + 1];
      if (n == '$') {
        if (out.empty() || out.back().group) out.push_back({});
        out.back().text += '$';
        i += 2;
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(n))) {
        std::size_t j = i + 1;
        int k = 0;
        while (j < r.size() && std::isdigit(static_cast<unsigned char>(r[j])) && j < i + 3) k = k * 10 + (r[j++] - '0');
        out.push_back({true, {}, k});
        i = j;
        continue;
      }
      *why = std::string("the replacement uses $") + n;
      return std::nullopt;
    }
    if (out.empty() || out.back().group) out.push_back({});
    out.back().text += r[i++];
  }
  return out;
}

std::string regex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string replacement_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '$') out += '$';
    out += c;
  }
  return out;
}

std::optional<std::pair<std::string, std::string>> invert_regex(const Rule& r, std::string* why) {
  if (r.replace == "$&") return std::pair{r.pattern, r.replace};
  auto pat = split_pattern(r.pattern, why);
  if (!pat) return std::nullopt;
  auto rep = split_replacement(r.replace, why);
  if (!rep) return std::nullopt;
  std::map<int, std::string> group_pattern;
  for (const auto& p : *pat)
    if (p.group) group_pattern[p.index] = p.text;
  std::map<int, int> uses;
  for (const auto& p : *rep)
    if (p.group) {
      if (!group_pattern.contains(p.index)) {
        *why = "the replacement refers to group $" + std::to_string(p.index) + ", which the pattern does not have";
        return std::nullopt;
      }
      ++uses[p.index];
    }
  for (const auto& [g, _] : group_pattern)
    if (uses[g] != 1) {
      *why = "the replacement uses group $" + std::to_string(g) + (uses[g] ? " more than once" : " not at all") +
             ", so the original name cannot be rebuilt";
      return std::nullopt;
    }
  // New pattern: the replacement with its group references turned back into groups.
  std::string new_pattern = "^", new_replace;
  std::map<int, int> new_index;  // old group → group number in the new pattern
  int n = 0;
  for (const auto& p : *rep) {
    if (p.group) {
      new_pattern += "(" + group_pattern[p.index] + ")";
      new_index[p.index] = ++n;
    } else {
      new_pattern += regex_escape(p.text);
    }
  }
  new_pattern += "$";
  if (auto problem = regex_pattern_problem(new_pattern)) {
    *why = "the inverse pattern does not work: " + *problem;
    return std::nullopt;
  }
  for (const auto& p : *pat) new_replace += p.group ? "$" + std::to_string(new_index[p.index]) : replacement_escape(p.text);
  return std::pair{new_pattern, new_replace};
}

// ---- matching -------------------------------------------------------------------

struct CompiledRule {
  const Rule* rule;
  std::size_t index;
  std::optional<std::regex> re;
};

std::vector<CompiledRule> compile(const NameMap& map) {
  std::vector<CompiledRule> out;
  for (std::size_t i = 0; i < map.rules.size(); ++i) {
    const auto& r = map.rules[i];
    CompiledRule c{&r, i, std::nullopt};
    if (r.match == Rule::Match::Regex) {
      if (auto problem = regex_pattern_problem(r.pattern)) throw io::Error("", io::kNoOffset, "rule " + std::to_string(i) + ": " + *problem);
      c.re.emplace(r.pattern, std::regex::ECMAScript);
    }
    out.push_back(std::move(c));
  }
  return out;
}

// The name with the rule's first regex match replaced, as regex_replace with
// format_first_only does, or nullopt when nothing matches. Throws io::Error
// when the name is too long or the match takes too many steps.
std::optional<std::string> regex_rename(const CompiledRule& c, const std::string& name) {
  auto at = [&] { return "rule " + std::to_string(c.index) + " (" + shorten(c.rule->pattern) + ")"; };
  if (name.size() > kMaxRegexNameBytes)
    throw io::Error("", io::kNoOffset, at() + ": the name '" + shorten(name) + "' is " + std::to_string(name.size()) +
                                           " bytes long, too long to match against a regular expression (the limit is " +
                                           std::to_string(kMaxRegexNameBytes) + ")");
  try {
    const CountingIterator begin(name.data()), end(name.data() + name.size());
    std::match_results<CountingIterator> m;
    if (!std::regex_search(begin, end, m, *c.re)) return std::nullopt;
    return std::string(name.data(), m[0].first.get()) + m.format(c.rule->replace) + std::string(m[0].second.get(), end.get());
  } catch (const RegexTooSlow&) {
    throw io::Error("", io::kNoOffset, at() + ": matching '" + shorten(name) + "' used up the " + std::to_string(t_regex_budget) +
                                           " steps allowed for this map (the expression backtracks too much; simplify nested "
                                           "repetitions such as (a*)* or overlapping alternatives such as (a|a)*)");
  }
}

// The renamed name when the rule matches, nullopt otherwise.
std::optional<std::string> try_rule(const CompiledRule& c, const std::string& name, std::size_t rank) {
  const Rule& r = *c.rule;
  if (r.rank && static_cast<std::size_t>(*r.rank) != rank) return std::nullopt;
  switch (r.match) {
    case Rule::Match::Exact:
      if (name != r.pattern) return std::nullopt;
      return r.replace;
    case Rule::Match::Prefix:
      if (!name.starts_with(r.pattern)) return std::nullopt;
      return r.replace + name.substr(r.pattern.size());
    case Rule::Match::Regex:
      return regex_rename(c, name);
  }
  return std::nullopt;
}

std::string shape_text(const io::Shape& s) {
  std::string out = "[";
  for (std::size_t k = 0; k < s.size(); ++k) out += (k ? ", " : "") + std::to_string(s[k]);
  return out + "]";
}

}  // namespace

NameMap parse_map(const std::string& json_text, const std::string& label) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw io::Error(label, e.byte > 0 ? e.byte - 1 : 0, std::string("not valid JSON: ") + e.what());
  } catch (const json::exception& e) {
    // Not every parse failure is a parse_error: a number past double's range (1e999) is out_of_range.
    throw io::Error(label, io::kNoOffset, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw io::Error(label, io::kNoOffset, "a name map is a JSON object with \"rules\" (and optionally \"unmapped\")");
  for (const auto& [k, v] : j.items())
    if (k != "rules" && k != "unmapped" && k != "note")
      throw io::Error(label, io::kNoOffset, "unknown top-level key '" + k + "' (known: rules, unmapped, note)");
  NameMap m;
  if (j.contains("unmapped")) {
    const auto& u = j["unmapped"];
    if (!u.is_string()) throw io::Error(label, io::kNoOffset, "\"unmapped\" must be \"keep\", \"drop\" or \"error\"");
    const auto s = u.get<std::string>();
    if (s == "keep") m.unmapped = Unmapped::Keep;
    else if (s == "drop") m.unmapped = Unmapped::Drop;
    else if (s == "error") m.unmapped = Unmapped::Error;
    else throw io::Error(label, io::kNoOffset, "\"unmapped\" must be \"keep\", \"drop\" or \"error\", not '" + s + "'");
  }
  if (!j.contains("rules") || !j["rules"].is_array()) throw io::Error(label, io::kNoOffset, "\"rules\" must be a list of rules");
  std::size_t i = 0;
  for (const auto& r : j["rules"]) m.rules.push_back(parse_rule(r, i++, label));
  return m;
}

std::string to_json(const NameMap& map) {
  // Keys in the order a reader expects them (match, pattern, replace, …).
  using json = nlohmann::ordered_json;
  json j;
  j["unmapped"] = unmapped_name(map.unmapped);
  j["rules"] = json::array();
  for (const auto& r : map.rules) {
    json o;
    o["match"] = match_name(r.match);
    o["pattern"] = r.pattern;
    o["replace"] = r.replace;
    if (r.drop) o["drop"] = true;
    if (r.rank) o["rank"] = *r.rank;
    if (!r.transforms.empty()) {
      json ts = json::array();
      for (const auto& t : r.transforms) {
        switch (t.kind) {
          case Transform::Kind::Permute: ts.push_back({{"permute", t.perm}}); break;
          case Transform::Kind::Transpose: ts.push_back({{"transpose", true}}); break;
          case Transform::Kind::Cast: ts.push_back({{"cast", std::string(io::name(t.dtype))}}); break;
          case Transform::Kind::Dequantize: ts.push_back({{"dequantize", std::string(io::name(t.dtype))}}); break;
        }
      }
      o["transforms"] = ts;
    }
    if (!r.note.empty()) o["note"] = r.note;
    j["rules"].push_back(o);
  }
  return j.dump(2) + "\n";
}

std::vector<std::string> preset_names() { return {"pytorch-to-mlx", "mlx-to-pytorch"}; }

std::string preset_description(const std::string& name) {
  if (name == "pytorch-to-mlx")
    return "Conv1d/2d/3d weights (rank 3/4/5 *.weight) permuted to MLX's channels-last layout; drops num_batches_tracked, "
           "rotary_emb.inv_freq, position_ids; keeps everything else. ConvTranspose weights need (1, 2, 0) / (1, 2, 3, 0): "
           "add exact rules for them first.";
  if (name == "mlx-to-pytorch")
    return "The inverse permutations of pytorch-to-mlx (channels-last conv weights back to PyTorch's layout); keeps everything else.";
  return {};
}

NameMap load_map(const std::string& path_or_preset) {
  if (path_or_preset == "pytorch-to-mlx") return pytorch_to_mlx();
  if (path_or_preset == "mlx-to-pytorch") return mlx_to_pytorch();
  std::ifstream f(path_or_preset, std::ios::binary);
  if (!f)
    throw io::Error(path_or_preset, io::kNoOffset, "cannot read the name map; give a JSON file or a preset (pytorch-to-mlx, mlx-to-pytorch)");
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_map(ss.str(), path_or_preset);
}

std::optional<NameMap> invert(const NameMap& map, std::string* why_not) {
  std::string why;
  auto refuse = [&](const std::string& s) -> std::optional<NameMap> {
    if (why_not) *why_not = s;
    return std::nullopt;
  };
  if (map.unmapped == Unmapped::Drop) return refuse("unmapped names are dropped, so they cannot come back");
  NameMap inv;
  inv.unmapped = map.unmapped;
  for (std::size_t i = 0; i < map.rules.size(); ++i) {
    const auto& r = map.rules[i];
    const std::string at = "rule " + std::to_string(i) + " (" + r.pattern + ")";
    if (r.drop) return refuse(at + " drops tensors, which cannot be restored");
    Rule n = r;
    n.transforms.clear();
    for (auto t = r.transforms.rbegin(); t != r.transforms.rend(); ++t) {
      switch (t->kind) {
        case Transform::Kind::Permute: n.transforms.push_back({Transform::Kind::Permute, inverse_permutation(t->perm), t->dtype}); break;
        case Transform::Kind::Transpose: n.transforms.push_back(*t); break;  // reversing the axes is its own inverse
        case Transform::Kind::Cast: return refuse(at + " casts to " + std::string(io::name(t->dtype)) + ", which loses the original dtype");
        case Transform::Kind::Dequantize: return refuse(at + " dequantizes, which cannot be undone exactly");
      }
    }
    switch (r.match) {
      case Rule::Match::Exact:
      case Rule::Match::Prefix:
        n.pattern = r.replace;
        n.replace = r.pattern;
        if (r.match == Rule::Match::Prefix && r.replace.empty() && r.pattern.empty()) return refuse(at + " has an empty prefix");
        break;
      case Rule::Match::Regex: {
        auto p = invert_regex(r, &why);
        if (!p) return refuse(at + " cannot be inverted: " + why);
        n.pattern = p->first;
        n.replace = p->second;
        break;
      }
    }
    n.note = r.note.empty() ? "inverse of rule " + std::to_string(i) : "inverse of: " + r.note;
    inv.rules.push_back(std::move(n));
  }
  return inv;
}

MapReport plan_map(const NameMap& map, std::span<const io::TensorInfo> tensors, const std::atomic<bool>* abandon) {
  MapReport rep;
  rep.entries.reserve(tensors.size());
  const auto rules = compile(map);
  const auto regex_rules = static_cast<std::uint64_t>(
      std::count_if(map.rules.begin(), map.rules.end(), [](const Rule& r) { return r.match == Rule::Match::Regex; }));
  t_regex_budget = kRegexStepsFloor + kRegexStepsPerMatch * regex_rules * tensors.size();
  t_regex_steps_left = t_regex_budget;
  std::vector<bool> used(rules.size(), false);
  std::map<std::string, std::vector<std::string>> by_target;
  std::vector<std::string> target_order;
  for (const auto& t : tensors) {
    if (abandon && abandon->load(std::memory_order_relaxed)) throw PlanAbandoned{};
    MapEntry e;
    e.source = t.name;
    e.source_shape = t.shape;
    e.source_dtype = t.dtype;
    std::optional<std::string> target;
    for (std::size_t i = 0; i < rules.size() && !target; ++i) {
      target = try_rule(rules[i], t.name, t.shape.size());
      if (target) {
        e.rule = static_cast<int>(i);
        used[i] = true;
      }
    }
    if (e.rule >= 0) {
      const Rule& r = map.rules[static_cast<std::size_t>(e.rule)];
      e.dropped = r.drop;
      if (!r.drop) {
        e.target = *target;
        e.transforms = r.transforms;
      }
    } else if (map.unmapped == Unmapped::Drop) {
      e.dropped = true;
    } else {
      e.target = t.name;
      if (map.unmapped == Unmapped::Error) rep.errors.push_back("no rule matches '" + t.name + "'");
    }
    io::Shape shape = t.shape;
    io::DType dtype = t.dtype;
    for (const auto& tr : e.transforms) {
      auto res = plan_transform(tr, t.name, shape, dtype);
      if (!res.error.empty()) {
        rep.errors.push_back(res.error + " (rule " + std::to_string(e.rule) + ")");
        break;
      }
      shape = res.shape;
      dtype = res.dtype;
    }
    if (!e.dropped && e.target.empty()) rep.errors.push_back("rule " + std::to_string(e.rule) + " renames '" + t.name + "' to an empty name");
    e.target_shape = e.dropped ? io::Shape{} : shape;
    e.target_dtype = dtype;
    if (!e.dropped) {
      auto [it, fresh] = by_target.try_emplace(e.target);
      if (fresh) target_order.push_back(e.target);
      it->second.push_back(t.name);
    }
    rep.entries.push_back(std::move(e));
  }
  for (const auto& name : target_order)
    if (by_target[name].size() > 1) rep.conflicts.emplace_back(name, by_target[name]);
  for (std::size_t i = 0; i < used.size(); ++i)
    if (!used[i]) rep.unused_rules.push_back(static_cast<int>(i));
  for (const auto& g : find_tied(tensors)) {
    std::string s = "tied (one storage): ";
    for (std::size_t k = 0; k < g.size(); ++k) s += (k ? ", " : "") + g[k];
    rep.notes.push_back(s);
  }
  for (const auto& q : find_quantized_triples(tensors)) {
    std::string s = "MLX quantized triple '" + q.prefix + "': " + std::to_string(q.params.bits) + " bits, group size " +
                    std::to_string(q.params.group_size);
    if (q.candidates.size() > 1) {
      s += " (the shapes also fit";
      for (std::size_t k = 1; k < q.candidates.size(); ++k)
        s += (k > 1 ? "," : "") + std::string(" ") + std::to_string(q.candidates[k].bits) + " bits/" + std::to_string(q.candidates[k].group_size);
      s += ")";
    }
    rep.notes.push_back(s);
  }
  return rep;
}

std::vector<io::TensorInfo> apply_map(const NameMap& map, std::span<const io::TensorInfo> tensors, MapReport* report) {
  MapReport rep = plan_map(map, tensors);
  if (report) *report = rep;
  if (!rep.ok()) {
    std::string s;
    if (!rep.conflicts.empty()) {
      const auto& [target, sources] = rep.conflicts.front();
      s = std::to_string(rep.conflicts.size()) + " conflict(s): '" + target + "' would come from";
      for (std::size_t k = 0; k < sources.size(); ++k) s += (k ? " and '" : " '") + sources[k] + "'";
    } else {
      s = rep.errors.front();
      if (rep.errors.size() > 1) s += " (and " + std::to_string(rep.errors.size() - 1) + " more errors)";
    }
    throw io::Error("", io::kNoOffset, "the name map cannot be applied: " + s);
  }
  std::vector<io::TensorInfo> out;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& e = rep.entries[i];
    if (e.dropped) continue;
    io::TensorInfo t = tensors[i];
    for (const auto& tr : e.transforms) t = apply_transform(tr, t);
    t.name = e.target;
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<std::vector<std::string>> find_tied(std::span<const io::TensorInfo> tensors) {
  // Identity of the bytes: (base pointer, offset, size).
  std::map<std::tuple<const void*, std::uint64_t, std::uint64_t>, std::vector<std::string>> groups;
  std::vector<std::tuple<const void*, std::uint64_t, std::uint64_t>> order;
  for (const auto& t : tensors) {
    if (!t.data || t.nbytes == 0) continue;
    std::tuple<const void*, std::uint64_t, std::uint64_t> key;
    if (auto r = t.data->file_range()) key = {r->file, r->offset, r->size};
    else if (auto c = t.data->contiguous()) key = {c->data(), 0, c->size()};
    else if (const auto* s = t.data->source()) key = {s, t.offset, t.nbytes};
    else continue;
    auto& g = groups[key];
    if (g.empty()) order.push_back(key);
    g.push_back(t.name);
  }
  std::vector<std::vector<std::string>> out;
  for (const auto& k : order)
    if (groups[k].size() > 1) out.push_back(groups[k]);
  return out;
}

namespace {

// A permutation (not the identity) that turns `from` into `to`, preferring the
// conv layout changes, then ConvTranspose ones, then the smallest.
std::optional<std::vector<int>> find_permutation(const io::Shape& from, const io::Shape& to) {
  if (from.size() != to.size() || from.size() < 2 || from.size() > 8 || from == to) return std::nullopt;
  std::vector<std::vector<int>> preferred = {{0, 2, 1}, {0, 2, 3, 1}, {0, 2, 3, 4, 1}, {1, 2, 0}, {1, 2, 3, 0}, {1, 2, 3, 4, 0},
                                             {1, 0},    {0, 3, 1, 2}, {0, 4, 1, 2, 3}, {2, 0, 1}, {3, 0, 1, 2}};
  for (const auto& p : preferred)
    if (p.size() == from.size() && permute_shape(from, p) == to) return p;
  // The lexicographically first fitting permutation: each output axis in turn
  // takes the first free input axis of its length (any such choice can still
  // be completed). Not the identity, since from != to. (This replaced trying
  // all 8! orders, slow for a large spec of rank-8 tensors.)
  std::vector<int> p(from.size(), -1);
  std::vector<bool> used(from.size(), false);
  for (std::size_t k = 0; k < to.size(); ++k) {
    for (std::size_t j = 0; j < from.size() && p[k] < 0; ++j)
      if (!used[j] && from[j] == to[k]) p[k] = static_cast<int>(j), used[j] = true;
    if (p[k] < 0) return std::nullopt;
  }
  return p;
}

bool is_known_buffer(const std::string& n) {
  for (const char* s : {"num_batches_tracked", "rotary_emb.inv_freq", "position_ids"})
    if (n == s || n.ends_with(std::string(".") + s)) return true;
  return false;
}

}  // namespace

NameMap suggest_map(std::span<const io::TensorInfo> tensors, const ModuleSpec& spec) {
  NameMap m;
  std::unordered_map<std::string, const io::TensorInfo*> ck;
  for (const auto& t : tensors) ck.emplace(t.name, &t);
  std::set<std::string> spec_names;
  for (const auto& p : spec.params) spec_names.insert(p.name);

  std::vector<Rule> exact_rules, drops;
  std::map<std::pair<std::string, std::string>, int> prefix_votes;  // (checkpoint prefix, spec prefix) → count
  std::vector<std::pair<const io::TensorInfo*, const SpecParam*>> via_prefix;
  std::set<std::string> claimed;
  for (const auto& p : spec.params) {
    const io::TensorInfo* t = nullptr;
    if (auto it = ck.find(p.name); it != ck.end()) {
      t = it->second;
    } else {
      // Unique suffix match in either direction, on whole dotted segments.
      const io::TensorInfo* found = nullptr;
      int count = 0;
      for (const auto& c : tensors) {
        if (spec_names.contains(c.name)) continue;
        if (c.name.ends_with("." + p.name) || p.name.ends_with("." + c.name)) {
          found = &c;
          ++count;
        }
      }
      if (count != 1) continue;
      t = found;
      std::string cpre, spre;
      if (t->name.size() > p.name.size()) cpre = t->name.substr(0, t->name.size() - p.name.size());
      else spre = p.name.substr(0, p.name.size() - t->name.size());
      ++prefix_votes[{cpre, spre}];
      via_prefix.emplace_back(t, &p);
    }
    claimed.insert(t->name);
    if (t->shape != p.shape) {
      if (auto perm = find_permutation(t->shape, p.shape)) {
        Rule r;
        r.match = Rule::Match::Exact;
        r.pattern = t->name;
        r.replace = p.name;
        r.transforms.push_back({Transform::Kind::Permute, *perm, io::DType::F32});
        r.note = "shape " + shape_text(t->shape) + " → " + shape_text(p.shape);
        exact_rules.push_back(std::move(r));
      }
    }
  }
  // Prefix rules: empty checkpoint prefixes (spec adds a prefix) cannot be a
  // prefix rule, so those names get exact rules.
  std::set<std::string> exact_done;
  for (const auto& r : exact_rules) exact_done.insert(r.pattern);
  std::vector<Rule> prefix_rules;
  for (const auto& [pair, votes] : prefix_votes) {
    if (pair.first.empty()) continue;
    Rule r;
    r.match = Rule::Match::Prefix;
    r.pattern = pair.first;
    r.replace = pair.second;
    r.note = std::to_string(votes) + " name(s) match the spec after this prefix change";
    prefix_rules.push_back(std::move(r));
  }
  for (const auto& [t, p] : via_prefix) {
    if (exact_done.contains(t->name)) continue;
    const bool by_prefix = t->name.size() > p->name.size();
    if (by_prefix) continue;
    Rule r;
    r.match = Rule::Match::Exact;
    r.pattern = t->name;
    r.replace = p->name;
    r.note = "the spec names it with a prefix";
    exact_rules.push_back(std::move(r));
  }
  for (const auto& t : tensors)
    if (!claimed.contains(t.name) && is_known_buffer(t.name)) {
      Rule r;
      r.match = Rule::Match::Exact;
      r.pattern = t.name;
      r.replace = t.name;
      r.drop = true;
      r.note = "a buffer, not a parameter the spec expects";
      drops.push_back(std::move(r));
    }
  for (auto* v : {&drops, &exact_rules, &prefix_rules})
    for (auto& r : *v) m.rules.push_back(std::move(r));
  return m;
}

}  // namespace ckpt::model
