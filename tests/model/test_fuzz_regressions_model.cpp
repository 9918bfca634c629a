// Inputs the name-map and spec fuzz harnesses (tests/fuzz/fuzz_name_map.cpp,
// fuzz_spec.cpp) found crashing, replayed through the same path over the same
// fixed checkpoint (tests/fuzz/model_fixture.h): every file under
// tests/fuzz/regressions/{name_map,spec}/ must parse or be refused with a
// clean io::Error, and whatever parses must map, diff and stream cleanly.
// Each fix also has a named test below.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "io/error.h"
#include "model/module_spec.h"
#include "model/name_map.h"
#include "model/spec_diff.h"
#include "model/tensor_stats.h"
#include "tests/fuzz/model_fixture.h"

using namespace ckpt;
using namespace ckpt::model;
namespace fs = std::filesystem;

namespace {

fs::path regressions(const std::string& harness) { return fs::path(CKPT_SOURCE_DIR) / "tests/fuzz/regressions" / harness; }

std::vector<fs::path> inputs(const std::string& harness) {
  std::vector<fs::path> out;
  if (fs::is_directory(regressions(harness)))
    for (const auto& e : fs::directory_iterator(regressions(harness)))
      if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The harnesses' touch, for small in-memory tensors: the whole stream and statistics.
void touch(const io::TensorInfo& t) {
  if (!t.data) return;
  std::uint64_t got = 0;
  t.data->stream([&](std::span<const std::byte> b) { got += b.size(); });
  EXPECT_EQ(got, t.nbytes) << t.name;
  StatsOptions so;
  so.threads = 1;
  (void)compute_stats(t, so);
}

void use_map(const NameMap& m) {
  const auto& tensors = fuzz::fixture_checkpoint();
  try {
    EXPECT_EQ(plan_map(m, tensors).entries.size(), tensors.size());
    for (const auto& t : apply_map(m, tensors)) touch(t);
  } catch (const io::Error&) {
  }
}

// fuzz_name_map's path.
void replay_map(const std::string& text) {
  NameMap m;
  try {
    m = parse_map(text, "fuzz-map.json");
  } catch (const io::Error&) {
    return;
  }
  EXPECT_NO_THROW((void)parse_map(to_json(m), "round-trip.json"));
  use_map(m);
  if (const auto inv = invert(m)) {
    EXPECT_NO_THROW((void)parse_map(to_json(*inv), "inverse.json"));
    use_map(*inv);
  }
}

// fuzz_spec's path.
void replay_spec(const std::string& text) {
  ModuleSpec spec;
  try {
    spec = parse_spec(text, "fuzz-spec.json");
  } catch (const io::Error&) {
    return;
  }
  EXPECT_NO_THROW((void)parse_spec(to_json(spec), "round-trip.json"));
  const auto& tensors = fuzz::fixture_checkpoint();
  (void)diff(tensors, spec).verdict();
  try {
    const auto mapped = apply_map(suggest_map(tensors, spec), tensors);
    for (const auto& t : mapped) touch(t);
    (void)diff_checkpoints(mapped, tensors, true);
  } catch (const io::Error&) {
  }
}

}  // namespace

TEST(FuzzRegressionsModel, EverySavedNameMapEndsCleanly) {
  for (const auto& f : inputs("name_map")) {
    SCOPED_TRACE(f.filename().string());
    replay_map(read_text(f));
  }
}

TEST(FuzzRegressionsModel, EverySavedSpecEndsCleanly) {
  for (const auto& f : inputs("spec")) {
    SCOPED_TRACE(f.filename().string());
    replay_spec(read_text(f));
  }
}

// nlohmann reports a number past double's range (1e999) as out_of_range, not
// parse_error; parse_map and parse_spec caught only parse_error, so the
// exception escaped (regressions/name_map/number-overflow-*.json, found by
// fuzz_name_map; regressions/spec/number-overflow-1e999.json).
TEST(FuzzRegressionsModel, NumbersPastDoubleAreInvalidJson) {
  try {
    (void)parse_map(R"({"rules": 1e999})", "map.json");
    ADD_FAILURE() << "parsed";
  } catch (const io::Error& e) {
    EXPECT_NE(e.sentence().find("not valid JSON"), std::string::npos) << e.what();
    EXPECT_EQ(e.file(), "map.json");
  }
  try {
    (void)parse_spec(R"({"parameters": {"w": [1e999]}})", "spec.json");
    ADD_FAILURE() << "parsed";
  } catch (const io::Error& e) {
    EXPECT_NE(e.sentence().find("not valid JSON"), std::string::npos) << e.what();
  }
}

// A permute axis past int's range was wrapped by get<int>: [4294967296, 1]
// became the valid permutation (0, 1).
TEST(FuzzRegressionsModel, PermuteAxesDoNotWrap) {
  for (const char* axes : {"[4294967296, 1]", "[18446744073709551615, 0]", "[-4294967295, 0]"}) {
    SCOPED_TRACE(axes);
    const std::string text = std::string(R"({"rules": [{"pattern": "x", "transforms": [{"permute": )") + axes + "}]}]}";
    EXPECT_THROW((void)parse_map(text, "map.json"), io::Error);
  }
  EXPECT_EQ(parse_map(R"({"rules": [{"pattern": "x", "transforms": [{"permute": [1, 0]}]}]})", "map.json").rules[0].transforms[0].perm,
            (std::vector<int>{1, 0}));
}

namespace {

Rule regex_rule(std::string pattern, std::string replace) {
  Rule r;
  r.match = Rule::Match::Regex;
  r.pattern = std::move(pattern);
  r.replace = std::move(replace);
  return r;
}

std::string plan_error(const NameMap& m, std::span<const io::TensorInfo> tensors) {
  try {
    (void)plan_map(m, tensors);
  } catch (const io::Error& e) {
    return e.sentence();
  }
  return "";
}

}  // namespace

// std::regex backtracks: ^(.*[^.x…]){2,}\.conv(\d)\.weight$ against the
// fixture's 34-character names ran past libFuzzer's 10 s timeout
// (regressions/name_map/regex-exponential-backtracking.json, found by
// fuzz_name_map). Matching now counts its steps and stops with an error.
TEST(FuzzRegressionsModel, ExponentialRegexIsCutOff) {
  NameMap m;
  m.rules.push_back(regex_rule(R"(^(.*[^.x]){2,}\.conv(\d)\.weight$)", "$0"));
  m.rules.push_back(regex_rule("^(a|a|aa)*$", "x"));
  const auto t0 = std::chrono::steady_clock::now();
  const std::string err = plan_error(m, fuzz::fixture_checkpoint());
  EXPECT_NE(err.find("rule 0"), std::string::npos) << err;
  EXPECT_NE(err.find("used up the 1084000 steps allowed for this map"), std::string::npos) << err;  // 1M + 2000 × 2 rules × 21 names
  m.rules.erase(m.rules.begin());
  std::vector<io::TensorInfo> as{fuzz::fixture_tensor(std::string(40, 'a') + "b", io::DType::F32, {1})};
  EXPECT_NE(plan_error(m, as).find("backtracks too much"), std::string::npos);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
}

// Each match was capped at 4,000,000 steps, but the cap applied per name:
// ^(…||||…)+$ took just under it on every one of the fixture's names, 10 s
// in all under the sanitizers (regressions/name_map/regex-slow-empty-alternatives.json,
// found by fuzz_name_map as a slow unit). The budget is now per plan_map:
// 1,000,000 steps plus 2,000 per (name, regex rule).
TEST(FuzzRegressionsModel, RegexBudgetCoversTheWholeMap) {
  const auto text = read_text(regressions("name_map") / "regex-slow-empty-alternatives.json");
  const NameMap m = parse_map(text, "map.json");
  const auto t0 = std::chrono::steady_clock::now();
  const std::string err = plan_error(m, fuzz::fixture_checkpoint());
  EXPECT_NE(err.find("steps allowed for this map"), std::string::npos) << err;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  // A real map on a real-sized name list stays far inside the budget.
  std::vector<io::TensorInfo> many;
  for (int i = 0; i < 2000; ++i)
    many.push_back(fuzz::fixture_tensor("model.layers." + std::to_string(i) + ".conv" + std::to_string(i % 3) + ".weight", io::DType::F32, {1, 1, 1, 1}));
  EXPECT_EQ(plan_error(load_map("pytorch-to-mlx"), many), "");
  NameMap docs = parse_map(R"({"rules": [{"match": "regex", "pattern": "^(.*)\\.conv(\\d)\\.weight$", "replace": "$1.conv$2.weight"}]})", "m");
  EXPECT_EQ(plan_error(docs, many), "");
}

// libstdc++ 12 reads a back-reference number or a repeat count into a long
// without checking for overflow: \888888888888888888888 in a pattern was
// signed-integer-overflow UB inside std::regex's compiler
// (regressions/name_map/regex-backreference-overflow.json, found by
// fuzz_name_map under UBSan). Such numbers over 9 digits are refused first.
TEST(FuzzRegressionsModel, HugeRegexNumbersAreRefusedBeforeCompiling) {
  for (const char* pattern : {R"(::(?!ty\\888888888888888888888b))", "a{99999999999999999999}", "a{1,12345678901}", R"(\\1234567890)"}) {
    SCOPED_TRACE(pattern);
    try {
      (void)parse_map(std::string(R"({"rules": [{"match": "regex", "pattern": ")") + pattern + "\"}]}", "map.json");
      ADD_FAILURE() << "parsed";
    } catch (const io::Error& e) {
      EXPECT_NE(e.sentence().find("back-reference or repeat count longer than 9 digits"), std::string::npos) << e.sentence();
    }
  }
  // Long numbers as plain text, and ordinary counts, are fine.
  for (const char* pattern : {"layer12345678901234567890", "a{2,5}", R"(\\d{3}x)", R"((a)\\1)"})
    EXPECT_NO_THROW((void)parse_map(std::string(R"({"rules": [{"match": "regex", "pattern": ")") + pattern + "\"}]}", "map.json")) << pattern;
}

// The matcher recurses per character of the name and per nesting level of
// the pattern: a 64,000-character name against (.*)x, or 8,000 nested groups,
// overflowed the stack. Both are bounded (4096 bytes) with a sentence.
TEST(FuzzRegressionsModel, RegexPatternAndNameSizesAreBounded) {
  const std::string nested = std::string(8000, '(') + "a" + std::string(8000, ')');
  try {
    (void)parse_map(R"({"rules": [{"match": "regex", "pattern": ")" + nested + R"("}]})", "map.json");
    ADD_FAILURE() << "parsed";
  } catch (const io::Error& e) {
    EXPECT_NE(e.sentence().find("16001 bytes long, more than the limit of 4096"), std::string::npos) << e.what();
  }
  NameMap m;
  m.rules.push_back(regex_rule("(.*)x", "$1"));
  std::vector<io::TensorInfo> longname{fuzz::fixture_tensor(std::string(64'000, 'a'), io::DType::F32, {1})};
  EXPECT_NE(plan_error(m, longname).find("too long to match against a regular expression"), std::string::npos);
  m.rules[0].pattern = nested;  // built in code rather than parsed
  EXPECT_NE(plan_error(m, fuzz::fixture_checkpoint()).find("more than the limit of 4096"), std::string::npos);
}

// The bounded matcher renames exactly as std::regex_replace(…, format_first_only) does.
TEST(FuzzRegressionsModel, BoundedRegexRenamesLikeRegexReplace) {
  const std::pair<const char*, const char*> cases[] = {
      {R"(^(.*)\.conv(\d)\.weight$)", "$1.c$2.w"}, {"q_proj", "[$`|$&|$']"}, {R"(\.)", "$$"},
      {"(x)?z", "<$1>"},                          {"(?:layers)\\.(\\d+)", "blocks.$1"}, {"^$", "empty"}};
  const std::string names[] = {"model.conv1.weight", "a.q_proj.b", "layers.12.attn", "z", "q_proj"};
  for (const auto& [pattern, replace] : cases) {
    NameMap m;
    m.rules.push_back(regex_rule(pattern, replace));
    std::vector<io::TensorInfo> ts;
    for (const auto& n : names) ts.push_back(fuzz::fixture_tensor(n, io::DType::F32, {1}));
    const auto rep = plan_map(m, ts);
    const std::regex re(pattern, std::regex::ECMAScript);
    for (std::size_t i = 0; i < ts.size(); ++i) {
      SCOPED_TRACE(std::string(pattern) + " on " + names[i]);
      const bool hit = std::regex_search(names[i], re);
      EXPECT_EQ(rep.entries[i].rule, hit ? 0 : -1);
      if (hit) {
        EXPECT_EQ(rep.entries[i].target, std::regex_replace(names[i], re, replace, std::regex_constants::format_first_only));
      }
    }
  }
}

// A spec nesting a value 200,000 deep overflowed the stack twice over:
// ordered_json copies an object's members (recursively) whenever the object
// grows, so the deep value was copied when the next key arrived, and error
// messages quoted it with dump(), which recurses too. Found by review after
// fuzz_spec's 16 KB inputs stayed below the depth that overflows. Specs
// nesting past 256 levels are now refused before parsing, and messages name
// containers as [...]/{...}.
TEST(FuzzRegressionsModel, DeeplyNestedJsonInSpecs) {
  const std::string deep = std::string(200'000, '[') + std::string(200'000, ']');
  for (const std::string& text : {R"({"format": )" + deep + R"(, "parameters": {}})",
                                 R"({"parameters": {"w": [)" + deep + "]}}",
                                 R"({"parameters": {"w": {"shape": [1], "dtype": )" + deep + "}}}"}) {
    try {
      (void)parse_spec(text, "spec.json");
      ADD_FAILURE() << "parsed";
    } catch (const io::Error& e) {
      EXPECT_NE(e.sentence().find("nests arrays and objects more than 256 levels deep"), std::string::npos) << e.sentence();
    }
  }
  const std::string shallow = std::string(200, '[') + std::string(200, ']');
  const std::pair<std::string, std::string> cases[] = {
      {R"({"format": )" + shallow + R"(, "parameters": {}})", R"("format" is [...], expected "ckpt-spec")"},
      {R"({"version": {"a": 1}, "parameters": {}})", "spec version {...} is not supported"},
      {R"({"parameters": {"w": [)" + shallow + "]}}", "parameter 'w': dimension [...] is not an integer"},
  };
  for (const auto& [text, want] : cases) {
    try {
      (void)parse_spec(text, "spec.json");
      ADD_FAILURE() << "parsed";
    } catch (const io::Error& e) {
      EXPECT_NE(e.sentence().find(want), std::string::npos) << e.sentence();
    }
  }
  // Brackets inside strings do not count.
  EXPECT_EQ(parse_spec(R"({"source": ")" + std::string(1000, '[') + R"(", "parameters": {"w": [2]}})", "spec.json").params.size(), 1u);
  // Name maps (nlohmann::json, whose objects move their members) parse the same depth and refuse it cleanly.
  EXPECT_THROW((void)parse_map(R"({"rules": [{"pattern": "x", "note": )" + deep + "}]}", "map.json"), io::Error);
}

namespace {

// The permutation searches as they were: every order of the axes, in lexicographic order.
std::vector<int> brute_min_displacement(const io::Shape& have, const io::Shape& want) {
  std::vector<int> p(have.size()), best;
  for (std::size_t k = 0; k < p.size(); ++k) p[k] = static_cast<int>(k);
  auto displaced = [](const std::vector<int>& q) {
    std::size_t n = 0;
    for (std::size_t k = 0; k < q.size(); ++k) n += q[k] != static_cast<int>(k);
    return n;
  };
  do {
    bool fit = true;
    for (std::size_t k = 0; k < p.size() && fit; ++k) fit = have[static_cast<std::size_t>(p[k])] == want[k];
    if (fit && displaced(p) > 0 && (best.empty() || displaced(p) < displaced(best))) best = p;
  } while (std::next_permutation(p.begin(), p.end()));
  return best;
}

std::vector<int> brute_first_fit(const io::Shape& from, const io::Shape& to) {
  std::vector<int> p(from.size());
  for (std::size_t k = 0; k < p.size(); ++k) p[k] = static_cast<int>(k);
  while (std::next_permutation(p.begin(), p.end())) {
    bool fit = true;
    for (std::size_t k = 0; k < p.size() && fit; ++k) fit = from[static_cast<std::size_t>(p[k])] == to[k];
    if (fit) return p;
  }
  return {};
}

}  // namespace

// Both layout searches tried all rank! orders of the axes (8! = 40,320 for
// every rank-8 pair), so a large spec of rank-8 shapes made diff and suggest
// take minutes (found by review of what fuzz_spec exercises). They now choose
// directly; the choices are the same as before (checked against the old
// enumeration on every shape pair of ranks 2 to 6 over lengths {1, 2, 3},
// where the preferred conv layouts do not apply).
TEST(FuzzRegressionsModel, LayoutSearchesChooseAsTheEnumerationDid) {
  std::size_t compared = 0;
  for (std::size_t rank = 2; rank <= 6; ++rank) {
    std::size_t combos = 1;
    for (std::size_t k = 0; k < rank; ++k) combos *= 3;
    for (std::size_t a = 0; a < combos; a += 7) {
      io::Shape have(rank);
      for (std::size_t k = 0, x = a; k < rank; ++k, x /= 3) have[k] = static_cast<std::int64_t>(x % 3) + 1;
      io::Shape want = have;
      std::sort(want.begin(), want.end());
      do {
        if (want == have) continue;
        ModuleSpec spec;
        spec.params.push_back({"w", want, std::nullopt});
        std::vector<io::TensorInfo> ck{fuzz::fixture_tensor("w", io::DType::F32, have)};
        const auto rows = diff(ck, spec).rows;
        ASSERT_EQ(rows.size(), 1u);
        const auto want_perm = brute_min_displacement(have, want);
        // Preferred conv layouts win first in diff; compare only where none fits.
        bool preferred = false;
        for (const std::vector<int>& k : {std::vector<int>{0, 2, 3, 1}, {0, 2, 1}, {0, 2, 3, 4, 1}, {1, 2, 0}, {1, 2, 3, 0}}) {
          bool fit = k.size() == rank;
          for (std::size_t i = 0; i < k.size() && fit; ++i) fit = have[static_cast<std::size_t>(k[i])] == want[i];
          preferred = preferred || fit;
        }
        if (!preferred) {
          EXPECT_EQ(rows[0].permutation, want_perm);
          ++compared;
        }
        const NameMap m = suggest_map(ck, spec);
        ASSERT_EQ(m.rules.size(), 1u);
        ASSERT_EQ(m.rules[0].transforms.size(), 1u);
        const auto& got = m.rules[0].transforms[0].perm;
        bool fits = got.size() == rank;
        for (std::size_t i = 0; i < got.size() && fits; ++i) fits = have[static_cast<std::size_t>(got[i])] == want[i];
        EXPECT_TRUE(fits);
      } while (std::next_permutation(want.begin(), want.end()));
    }
  }
  EXPECT_GT(compared, 100u);
  // suggest_map's own order: its preferred list first, then the first fit; no
  // preferred layout applies to these shapes.
  for (const auto& [have, want] : std::vector<std::pair<io::Shape, io::Shape>>{
           {{1, 2, 3, 4, 5, 6}, {6, 5, 4, 3, 2, 1}}, {{2, 2, 3, 3, 1, 1}, {1, 3, 2, 1, 3, 2}}, {{1, 2, 3, 4, 5, 6, 7, 8}, {8, 7, 6, 5, 4, 3, 2, 1}}}) {
    ModuleSpec spec;
    spec.params.push_back({"w", want, std::nullopt});
    std::vector<io::TensorInfo> ck{fuzz::fixture_tensor("w", io::DType::F32, have)};
    const NameMap m = suggest_map(ck, spec);
    ASSERT_EQ(m.rules.size(), 1u);
    EXPECT_EQ(m.rules[0].transforms[0].perm, brute_first_fit(have, want));
  }
}
