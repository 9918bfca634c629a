// to_display: the one-line rendering the CLI and the app show for metadata.
#include <gtest/gtest.h>

#include "io/metadata.h"

using ckpt::io::MetaType;
using ckpt::io::MetaValue;

TEST(MetadataDisplay, ScalarsArraysAndElision) {
  EXPECT_EQ(to_display(MetaValue::unsigned_int(MetaType::U32, 4096)), "4096");
  EXPECT_EQ(to_display(MetaValue::string("llama")), "llama");
  const MetaValue tokens = MetaValue::array(MetaType::String, {MetaValue::string("<s>"), MetaValue::string("a\"b")});
  EXPECT_EQ(to_display(tokens), R"(["<s>", "a\"b"])");
  std::vector<MetaValue> many(10, MetaValue::floating(MetaType::F32, 0.5));
  EXPECT_EQ(to_display(MetaValue::array(MetaType::F32, many), 2), "[0.5, 0.5, … (10 items)]");
}

// GGUF strings are not checked for UTF-8; showing one must not throw
// (found by fuzzing: the JSON quoting threw on the invalid byte).
TEST(MetadataDisplay, InvalidUtf8InAnArrayIsReplaced) {
  const MetaValue bad = MetaValue::array(MetaType::String, {MetaValue::string(std::string("a\xff" "b"))});
  EXPECT_EQ(to_display(bad), "[\"a\xEF\xBF\xBD" "b\"]");
}
