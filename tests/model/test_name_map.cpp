// Name maps: every rule kind, JSON (round trip and errors), presets, invert,
// reports (conflicts, unused rules, errors, notes), tied weights, suggestions.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "io/error.h"
#include "io/open.h"
#include "model/name_map.h"
#include "model/transforms.h"
#include "tests/support/support.h"

using namespace ckpt;
using model::NameMap;
using model::Rule;
using model::Transform;

namespace {

Rule rule(Rule::Match m, std::string pattern, std::string replace) {
  Rule r;
  r.match = m;
  r.pattern = std::move(pattern);
  r.replace = std::move(replace);
  return r;
}

std::vector<io::TensorInfo> sample() {
  return {test::random_tensor("model.conv1.weight", io::DType::F32, {8, 3, 3, 3}, 1),
          test::random_tensor("model.conv1.bias", io::DType::F32, {8}, 2),
          test::random_tensor("model.bn.num_batches_tracked", io::DType::I64, {}, 3),
          test::random_tensor("model.fc.weight", io::DType::F16, {4, 8}, 4),
          test::random_tensor("lm_head.weight", io::DType::BF16, {4, 8}, 5)};
}

std::map<std::string, std::string> targets(const model::MapReport& r) {
  std::map<std::string, std::string> m;
  for (const auto& e : r.entries) m[e.source] = e.dropped ? "<dropped>" : e.target;
  return m;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const io::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(NameMap, RuleKindsFirstMatchWins) {
  NameMap m;
  m.rules.push_back(rule(Rule::Match::Exact, "model.fc.weight", "head.weight"));
  m.rules.push_back(rule(Rule::Match::Regex, "^model\\.conv(\\d)\\.(weight|bias)$", "convs.$1.$2"));
  m.rules.push_back(rule(Rule::Match::Prefix, "model.", "net."));
  Rule drop = rule(Rule::Match::Exact, "lm_head.weight", "");
  drop.drop = true;
  m.rules.push_back(drop);
  m.rules.push_back(rule(Rule::Match::Exact, "never.there", "x"));
  const auto rep = model::plan_map(m, sample());
  const auto t = targets(rep);
  EXPECT_EQ(t.at("model.fc.weight"), "head.weight");
  EXPECT_EQ(t.at("model.conv1.weight"), "convs.1.weight");
  EXPECT_EQ(t.at("model.conv1.bias"), "convs.1.bias");
  EXPECT_EQ(t.at("model.bn.num_batches_tracked"), "net.bn.num_batches_tracked");
  EXPECT_EQ(t.at("lm_head.weight"), "<dropped>");
  EXPECT_EQ(rep.entries[0].rule, 1);
  EXPECT_EQ(rep.unused_rules, std::vector<int>{4});
  EXPECT_TRUE(rep.ok());
}

// A caller that stops wanting a plan (the editor closing) sets the flag and
// plan_map stops at the next tensor; unset, the flag changes nothing.
TEST(NameMap, PlanStopsWhenAbandoned) {
  NameMap m;
  m.rules.push_back(rule(Rule::Match::Prefix, "model.", "net."));
  std::atomic<bool> abandon{false};
  EXPECT_EQ(targets(model::plan_map(m, sample(), &abandon)), targets(model::plan_map(m, sample())));
  abandon = true;
  EXPECT_THROW((void)model::plan_map(m, sample(), &abandon), model::PlanAbandoned);
}

TEST(NameMap, RankConditionAndTransformsInPlan) {
  Rule r = rule(Rule::Match::Regex, "\\.weight$", "$&");
  r.rank = 4;
  r.transforms.push_back({Transform::Kind::Permute, {0, 2, 3, 1}, io::DType::F32});
  r.transforms.push_back({Transform::Kind::Cast, {}, io::DType::F16});
  NameMap m{{r}, model::Unmapped::Keep};
  const auto rep = model::plan_map(m, sample());
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep.entries[0].target_shape, (io::Shape{8, 3, 3, 3}));
  EXPECT_EQ(rep.entries[0].target_dtype, io::DType::F16);
  EXPECT_EQ(rep.entries[3].rule, -1);  // fc.weight is rank 2: not matched
  const auto out = model::apply_map(m, sample());
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].dtype, io::DType::F16);
}

TEST(NameMap, PermutationOfWrongRankIsAReportedError) {
  Rule r = rule(Rule::Match::Exact, "model.fc.weight", "fc.weight");
  r.transforms.push_back({Transform::Kind::Permute, {0, 2, 3, 1}, io::DType::F32});
  NameMap m{{r}, model::Unmapped::Keep};
  const auto rep = model::plan_map(m, sample());
  ASSERT_EQ(rep.errors.size(), 1u);
  EXPECT_NE(rep.errors[0].find("permutation (0, 2, 3, 1) does not fit 'model.fc.weight' of rank 2"), std::string::npos);
  EXPECT_FALSE(rep.ok());
  EXPECT_NE(error_of([&] { (void)model::apply_map(m, sample()); }).find("does not fit"), std::string::npos);
}

TEST(NameMap, ConflictsAreReportedAndRefused) {
  NameMap m;
  m.rules.push_back(rule(Rule::Match::Regex, "^.*\\.weight$", "w"));
  model::MapReport rep;
  EXPECT_THROW((void)model::apply_map(m, sample(), &rep), io::Error);
  ASSERT_EQ(rep.conflicts.size(), 1u);
  EXPECT_EQ(rep.conflicts[0].first, "w");
  EXPECT_EQ(rep.conflicts[0].second.size(), 3u);
}

TEST(NameMap, UnmappedKeepDropError) {
  NameMap m;
  m.rules.push_back(rule(Rule::Match::Prefix, "model.", ""));
  m.unmapped = model::Unmapped::Drop;
  auto out = model::apply_map(m, sample());
  EXPECT_EQ(out.size(), 4u);
  m.unmapped = model::Unmapped::Error;
  const auto rep = model::plan_map(m, sample());
  ASSERT_EQ(rep.errors.size(), 1u);
  EXPECT_NE(rep.errors[0].find("lm_head.weight"), std::string::npos);
  m.unmapped = model::Unmapped::Keep;
  EXPECT_EQ(model::apply_map(m, sample()).back().name, "lm_head.weight");
}

TEST(NameMap, JsonRoundTripAndDefaults) {
  const std::string text = R"({"unmapped": "keep", "rules": [
    {"match": "regex", "pattern": "^(.*)\\.conv(\\d)\\.weight$", "replace": "$1.conv$2.weight", "rank": 4,
     "transforms": [{"permute": [0,2,3,1]}], "note": "Conv2d OIHW → OHWI"},
    {"match": "exact", "pattern": "lm_head.weight", "drop": true},
    {"match": "prefix", "pattern": "model.", "replace": ""},
    {"pattern": "a", "transforms": [{"transpose": true}, {"cast": "bfloat16"}, {"dequantize": "float32"}]}]})";
  const auto m = model::parse_map(text, "m.json");
  ASSERT_EQ(m.rules.size(), 4u);
  EXPECT_EQ(m.rules[0].rank, 4);
  EXPECT_EQ(m.rules[0].transforms[0].perm, (std::vector<int>{0, 2, 3, 1}));
  EXPECT_TRUE(m.rules[1].drop);
  EXPECT_EQ(m.rules[3].match, Rule::Match::Exact);
  EXPECT_EQ(m.rules[3].replace, "a");  // no "replace": the name stays
  EXPECT_EQ(m.rules[3].transforms[1].dtype, io::DType::BF16);
  const auto again = model::parse_map(model::to_json(m), "again");
  ASSERT_EQ(again.rules.size(), m.rules.size());
  for (std::size_t i = 0; i < m.rules.size(); ++i) {
    EXPECT_EQ(again.rules[i].match, m.rules[i].match);
    EXPECT_EQ(again.rules[i].pattern, m.rules[i].pattern);
    EXPECT_EQ(again.rules[i].replace, m.rules[i].replace);
    EXPECT_EQ(again.rules[i].drop, m.rules[i].drop);
    EXPECT_EQ(again.rules[i].rank, m.rules[i].rank);
    EXPECT_EQ(again.rules[i].transforms, m.rules[i].transforms);
    EXPECT_EQ(again.rules[i].note, m.rules[i].note);
  }
  EXPECT_EQ(model::to_json(again), model::to_json(m));
  for (const auto& p : model::preset_names()) {
    const auto pm = model::load_map(p);
    EXPECT_EQ(model::to_json(model::parse_map(model::to_json(pm), p)), model::to_json(pm));
  }
}

TEST(NameMap, ParseErrorsNameTheRule) {
  auto err = [](const std::string& text) { return error_of([&] { (void)model::parse_map(text, "m.json"); }); };
  EXPECT_NE(err(R"({"rules": [{"match": "exact", "pattern": "a"}, {"match": "regex", "pattern": "(unclosed"}]})").find("rule 1: bad regular expression"), std::string::npos);
  EXPECT_NE(err(R"({"rules": [{"pattern": "a", "colour": "red"}]})").find("rule 0: unknown key 'colour'"), std::string::npos);
  EXPECT_NE(err(R"({"rules": [{"pattern": 3}]})").find("rule 0"), std::string::npos);
  EXPECT_NE(err(R"({"rules": [{"pattern": "a", "rank": "four"}]})").find("rule 0"), std::string::npos);
  EXPECT_NE(err(R"({"rules": [{"pattern": "a", "transforms": [{"permute": [0, 0, 1]}]}]})").find("not a permutation"), std::string::npos);
  EXPECT_NE(err(R"({"rules": [{"pattern": "a", "rank": 2, "transforms": [{"permute": [0, 2, 1]}]}]})").find("does not fit rank 2"), std::string::npos);
  EXPECT_NE(err(R"({"rules": [{"pattern": "a", "transforms": [{"cast": "int8"}]}]})").find("rule 0, transform 0"), std::string::npos);
  EXPECT_NE(err(R"({"rules": [{"pattern": "a", "transforms": [{"rotate": 1}]}]})").find("unknown transform"), std::string::npos);
  EXPECT_NE(err(R"({"rules": [{"match": "glob", "pattern": "a"}]})").find("rule 0"), std::string::npos);
  EXPECT_NE(err(R"({"rules": [], "unmapped": "ignore"})").find("unmapped"), std::string::npos);
  EXPECT_NE(err("{not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of([] { (void)model::load_map("/nonexistent/map.json"); }).find("preset"), std::string::npos);
}

TEST(NameMap, PytorchToMlxPreset) {
  std::vector<io::TensorInfo> t{test::random_tensor("conv1.weight", io::DType::F32, {8, 3, 5, 5}, 1),
                                test::random_tensor("c1d.weight", io::DType::F32, {8, 3, 5}, 2),
                                test::random_tensor("c3d.weight", io::DType::F32, {8, 3, 2, 5, 5}, 3),
                                test::random_tensor("bn1.num_batches_tracked", io::DType::I64, {}, 4),
                                test::random_tensor("layers.0.rotary_emb.inv_freq", io::DType::F32, {4}, 5),
                                test::random_tensor("embeddings.position_ids", io::DType::I64, {1, 4}, 6),
                                test::random_tensor("fc.weight", io::DType::F32, {4, 8}, 7)};
  const auto m = model::load_map("pytorch-to-mlx");
  model::MapReport rep;
  const auto out = model::apply_map(m, t, &rep);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].shape, (io::Shape{8, 5, 5, 3}));
  EXPECT_EQ(out[1].shape, (io::Shape{8, 5, 3}));
  EXPECT_EQ(out[2].shape, (io::Shape{8, 2, 5, 5, 3}));
  EXPECT_EQ(out[3].name, "fc.weight");
  EXPECT_EQ(out[3].shape, (io::Shape{4, 8}));
  EXPECT_TRUE(rep.unused_rules.empty());
  bool mentions = false;
  for (const auto& r : m.rules) mentions = mentions || r.note.find("ConvTranspose") != std::string::npos;
  EXPECT_TRUE(mentions);
  // mlx-to-pytorch undoes the layouts.
  const auto back = model::apply_map(model::load_map("mlx-to-pytorch"), out);
  for (std::size_t i : {0u, 1u, 2u}) {
    EXPECT_EQ(back[i].shape, t[i].shape);
    EXPECT_TRUE(io::read_all(back[i]) == io::read_all(t[i]));
  }
  EXPECT_FALSE(model::preset_description("pytorch-to-mlx").empty());
}

TEST(NameMap, InvertRenamesAndPermutations) {
  NameMap m;
  m.rules.push_back(rule(Rule::Match::Exact, "model.fc.weight", "head.weight"));
  Rule conv = rule(Rule::Match::Regex, "^model\\.conv(\\d+)\\.weight$", "convs.$1.w");
  conv.transforms.push_back({Transform::Kind::Permute, {0, 2, 3, 1}, io::DType::F32});
  m.rules.push_back(conv);
  m.rules.push_back(rule(Rule::Match::Regex, "^(model)\\.(bn)\\.(num_batches_tracked)$", "$3.$2.$1"));
  m.rules.push_back(rule(Rule::Match::Prefix, "model.", "net."));
  Rule lm = rule(Rule::Match::Exact, "lm_head.weight", "out.weight");
  lm.transforms.push_back({Transform::Kind::Transpose, {}, io::DType::F32});
  m.rules.push_back(lm);
  std::string why;
  const auto inv = model::invert(m, &why);
  ASSERT_TRUE(inv) << why;
  const auto src = sample();
  const auto fwd = model::apply_map(m, src);
  EXPECT_EQ(fwd[2].name, "num_batches_tracked.bn.model");
  const auto back = model::apply_map(*inv, fwd);
  ASSERT_EQ(back.size(), src.size());
  for (std::size_t i = 0; i < src.size(); ++i) {
    EXPECT_EQ(back[i].name, src[i].name);
    EXPECT_EQ(back[i].shape, src[i].shape);
    EXPECT_EQ(back[i].dtype, src[i].dtype);
    EXPECT_TRUE(io::read_all(back[i]) == io::read_all(src[i])) << src[i].name;
  }
}

TEST(NameMap, NonInvertibleMapsSayWhichRule) {
  std::string why;
  EXPECT_FALSE(model::invert(model::load_map("pytorch-to-mlx"), &why));
  EXPECT_NE(why.find("rule 0"), std::string::npos);
  EXPECT_NE(why.find("drops"), std::string::npos);
  NameMap cast;
  Rule c = rule(Rule::Match::Exact, "a", "a");
  c.transforms.push_back({Transform::Kind::Cast, {}, io::DType::F16});
  cast.rules = {rule(Rule::Match::Exact, "b", "c"), c};
  EXPECT_FALSE(model::invert(cast, &why));
  EXPECT_NE(why.find("rule 1"), std::string::npos);
  NameMap re;
  re.rules = {rule(Rule::Match::Regex, "^(\\w+)\\.(\\w+)$", "$1")};
  EXPECT_FALSE(model::invert(re, &why));
  EXPECT_NE(why.find("$2"), std::string::npos);
  re.rules = {rule(Rule::Match::Regex, "layer", "block")};
  EXPECT_FALSE(model::invert(re, &why));
  EXPECT_NE(why.find("anchored"), std::string::npos);
  NameMap drop_unmapped;
  drop_unmapped.unmapped = model::Unmapped::Drop;
  EXPECT_FALSE(model::invert(drop_unmapped, &why));
}

TEST(NameMap, TiedWeightsFoundAndNoted) {
  auto emb = test::random_tensor("embed.weight", io::DType::F32, {4, 8}, 1);
  auto head = emb;
  head.name = "lm_head.weight";
  std::vector<io::TensorInfo> t{emb, test::random_tensor("other", io::DType::F32, {4, 8}, 1), head};
  const auto tied = model::find_tied(t);
  ASSERT_EQ(tied.size(), 1u);
  EXPECT_EQ(tied[0], (std::vector<std::string>{"embed.weight", "lm_head.weight"}));
  const auto rep = model::plan_map(NameMap{}, t);
  ASSERT_FALSE(rep.notes.empty());
  EXPECT_NE(rep.notes[0].find("lm_head.weight"), std::string::npos);
}

TEST(NameMap, TiedWeightsInAPyTorchFile) {
  if (test::run_python("import torch", {}) != 0) GTEST_SKIP() << "python3 -c 'import torch' failed: Debian python3-torch is not installed";
  test::TempDir dir;
  const auto p = dir.file("tied.pt");
  ASSERT_EQ(test::run_python("import sys, torch\nw = torch.arange(12.).reshape(3, 4)\n"
                             "torch.save({'embed.weight': w, 'lm_head.weight': w, 'b': torch.ones(3)}, sys.argv[1])",
                             {p}),
            0);
  const auto ck = io::open_checkpoint(p);
  const auto tied = model::find_tied(ck.tensors);
  ASSERT_EQ(tied.size(), 1u);
  EXPECT_EQ(tied[0].size(), 2u);
}

TEST(NameMap, SuggestPrefixesAndPermutations) {
  std::vector<io::TensorInfo> t{test::random_tensor("model.encoder.layer.0.w", io::DType::F32, {4, 8}, 1),
                                test::random_tensor("model.encoder.layer.1.w", io::DType::F32, {4, 8}, 2),
                                test::random_tensor("model.conv.weight", io::DType::F32, {8, 3, 5, 5}, 3),
                                test::random_tensor("same", io::DType::F32, {2}, 4),
                                test::random_tensor("bn.num_batches_tracked", io::DType::I64, {}, 5)};
  model::ModuleSpec spec;
  spec.params = {{"encoder.layer.0.w", {4, 8}, std::nullopt},
                 {"encoder.layer.1.w", {4, 8}, std::nullopt},
                 {"conv.weight", {8, 5, 5, 3}, std::nullopt},
                 {"same", {2}, std::nullopt}};
  const auto m = model::suggest_map(t, spec);
  const auto out = model::apply_map(m, t);
  std::map<std::string, io::Shape> got;
  for (const auto& x : out) got[x.name] = x.shape;
  EXPECT_EQ(got.size(), 4u);
  for (const auto& p : spec.params) {
    ASSERT_TRUE(got.contains(p.name)) << p.name << "\n" << model::to_json(m);
    EXPECT_EQ(got[p.name], p.shape);
  }
  bool has_prefix = false;
  for (const auto& r : m.rules) has_prefix = has_prefix || (r.match == Rule::Match::Prefix && r.pattern == "model.");
  EXPECT_TRUE(has_prefix) << model::to_json(m);
}
