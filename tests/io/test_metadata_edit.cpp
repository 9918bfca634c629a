// Metadata edits saved through the format writers: the edited keys read back
// exactly, tensors are byte-identical, the source is never modified (also when
// saving over it while it is open), and formats that cannot take an edit say why.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/metadata_edit.h"
#include "io/open.h"
#include "tests/support/support.h"

using namespace ckpt::io;
namespace fs = std::filesystem;
using ckpt::test::read_file_bytes;
using ckpt::test::TempDir;

namespace {

WriteOptions scratch() {
  WriteOptions o;
  o.sync = false;  // test files are re-creatable
  return o;
}

std::vector<TensorInfo> sample_tensors(Format f) {
  std::vector<TensorInfo> t;
  t.push_back(ckpt::test::random_tensor("embed.weight", DType::F32, {64, 32}, 1));
  t.push_back(ckpt::test::random_tensor("layers.0.norm", DType::F16, {32}, 2));
  if (f == Format::Gguf) t.push_back(ckpt::test::random_tensor("layers.0.q", DType::Q8_0, {4, 64}, 3));
  else t.push_back(ckpt::test::random_tensor("layers.0.q", DType::BF16, {4, 64}, 3));
  return t;
}

Metadata safetensors_meta() {
  return {{"format", MetaValue::string("pt")}, {"author", MetaValue::string("someone")},
          {"license", MetaValue::string("mit")}};
}

Metadata gguf_meta() {
  std::vector<MetaValue> tokens;
  for (int k = 0; k < 100; ++k) tokens.push_back(MetaValue::string("tok" + std::to_string(k)));
  return {{"general.architecture", MetaValue::string("llama")},
          {"general.alignment", MetaValue::unsigned_int(MetaType::U32, 32)},
          {"llama.context_length", MetaValue::unsigned_int(MetaType::U32, 4096)},
          {"llama.rope.freq_base", MetaValue::floating(MetaType::F32, 10000.0)},
          {"tokenizer.ggml.add_bos_token", MetaValue::boolean(true)},
          {"tokenizer.ggml.tokens", MetaValue::array(MetaType::String, std::move(tokens))}};
}

std::string make_file(const TempDir& dir, const std::string& name, Format f, const Metadata& meta) {
  const std::string path = dir.file(name);
  const auto tensors = sample_tensors(f);
  write_checkpoint(path, f, tensors, meta, scratch());
  return path;
}

void expect_same_tensors(const Checkpoint& a, const Checkpoint& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& ta : a.tensors) {
    const auto tb = std::find_if(b.tensors.begin(), b.tensors.end(), [&](const TensorInfo& t) { return t.name == ta.name; });
    ASSERT_NE(tb, b.tensors.end()) << ta.name;
    EXPECT_EQ(ta.dtype, tb->dtype) << ta.name;
    EXPECT_EQ(ta.shape, tb->shape) << ta.name;
    EXPECT_EQ(read_all(ta), read_all(*tb)) << ta.name;
  }
}

// The sentence of the Error `f` throws, or "" when it does not throw.
template <class F>
std::string error_sentence(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.sentence();
  }
  return {};
}

std::vector<std::string> folder_listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

Metadata edited(Metadata m, const std::string& change_key, MetaValue change_to, const std::string& remove_key,
                MetaEntry add) {
  for (auto& e : m)
    if (e.key == change_key) e.value = std::move(change_to);
  std::erase_if(m, [&](const MetaEntry& e) { return e.key == remove_key; });
  m.push_back(std::move(add));
  return m;
}

}  // namespace

TEST(MetadataEdit, SafetensorsEditSavedElsewhereLeavesSourceAlone) {
  TempDir dir;
  const std::string src = make_file(dir, "m.safetensors", Format::Safetensors, safetensors_meta());
  const auto before = read_file_bytes(src);
  const Checkpoint ck = open_checkpoint(src);
  ASSERT_TRUE(metadata_editable(ck));

  const Metadata meta = edited(ck.metadata, "author", MetaValue::string("someone else"), "license",
                               {"description", MetaValue::string("a \"quoted\" ünïcode\nline")});
  const std::string out = dir.file("edited.safetensors");
  save_with_metadata(ck, meta, out, scratch());

  EXPECT_EQ(read_file_bytes(src), before);
  const Checkpoint back = open_checkpoint(out);
  EXPECT_EQ(back.metadata, meta);
  expect_same_tensors(ck, back);
  // Only the header changed size; the data section is the same bytes.
  const auto header = [](const std::string& p) {
    const auto b = read_file_bytes(p);
    std::uint64_t n = 0;
    std::memcpy(&n, b.data(), 8);
    return n;
  };
  EXPECT_EQ(fs::file_size(out) - header(out), fs::file_size(src) - header(src));
}

TEST(MetadataEdit, SafetensorsSaveOverSourceWhileOpen) {
  TempDir dir;
  const std::string src = make_file(dir, "m.safetensors", Format::Safetensors, safetensors_meta());
  ::chmod(src.c_str(), 0600);
  const Checkpoint ck = open_checkpoint(src);
  std::vector<std::vector<std::byte>> data;
  for (const auto& t : ck.tensors) data.push_back(read_all(t));

  Metadata meta = ck.metadata;
  meta.push_back({"added", MetaValue::string("yes")});
  save_with_metadata(ck, meta, src, scratch());

  // The open checkpoint still maps the old file, which was replaced, not rewritten.
  for (std::size_t k = 0; k < ck.tensors.size(); ++k) EXPECT_EQ(read_all(ck.tensors[k]), data[k]);
  const Checkpoint back = open_checkpoint(src);
  EXPECT_EQ(back.metadata, meta);
  expect_same_tensors(ck, back);
  EXPECT_EQ(folder_listing(dir.path()), std::vector<std::string>{"m.safetensors"});
  struct stat st {};
  ASSERT_EQ(::stat(src.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// A save over the open file killed midway (kill -9) leaves only the writer's
// hidden temporary; the next save of that file removes it.
TEST(MetadataEdit, SaveOverSourceRemovesTheTemporaryOfAKilledSave) {
  TempDir dir;
  const std::string src = make_file(dir, "m.safetensors", Format::Safetensors, safetensors_meta());
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  const std::string stale = temp_prefix(src) + std::to_string(dead) + "-Zz9Yy8";
  ckpt::test::write_file_bytes(stale, std::vector<std::byte>(100, std::byte{0x55}));

  const Checkpoint ck = open_checkpoint(src);
  Metadata meta = ck.metadata;
  meta.push_back({"again", MetaValue::string("yes")});
  save_with_metadata(ck, meta, src, scratch());
  EXPECT_EQ(folder_listing(dir.path()), std::vector<std::string>{"m.safetensors"});
  EXPECT_EQ(open_checkpoint(src).metadata, meta);
}

TEST(MetadataEdit, SaveThroughSymlinkUpdatesTheFileItNames) {
  TempDir dir;
  const std::string src = make_file(dir, "real.safetensors", Format::Safetensors, safetensors_meta());
  const std::string link = dir.file("link.safetensors");
  fs::create_symlink(src, link);
  const Checkpoint ck = open_checkpoint(link);
  Metadata meta = ck.metadata;
  meta.push_back({"via", MetaValue::string("link")});
  save_with_metadata(ck, meta, link, scratch());
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(open_checkpoint(src).metadata, meta);
}

TEST(MetadataEdit, SafetensorsFormatKeyFollowsTheEdit) {
  TempDir dir;
  const std::string src = make_file(dir, "m.safetensors", Format::Safetensors, safetensors_meta());
  const Checkpoint ck = open_checkpoint(src);

  Metadata without = ck.metadata;
  std::erase_if(without, [](const MetaEntry& e) { return e.key == "format"; });
  save_with_metadata(ck, without, dir.file("none.safetensors"), scratch());
  EXPECT_EQ(open_checkpoint(dir.file("none.safetensors")).metadata, without);

  Metadata mlx = ck.metadata;
  mlx.front().value.s = "mlx";
  save_with_metadata(ck, mlx, dir.file("mlx.safetensors"), scratch());
  EXPECT_EQ(open_checkpoint(dir.file("mlx.safetensors")).metadata, mlx);

  Metadata tf = ck.metadata;
  tf.front().value.s = "tf";
  EXPECT_NE(error_sentence([&] { save_with_metadata(ck, tf, dir.file("tf.safetensors"), scratch()); })
                .find("\"pt\" or \"mlx\""),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir.file("tf.safetensors")));
}

TEST(MetadataEdit, SafetensorsRefusesNonStringValuesAndBadKeys) {
  TempDir dir;
  const std::string src = make_file(dir, "m.safetensors", Format::Safetensors, safetensors_meta());
  const Checkpoint ck = open_checkpoint(src);
  const std::string out = dir.file("out.safetensors");

  Metadata typed = ck.metadata;
  typed.push_back({"layers", MetaValue::unsigned_int(MetaType::U32, 12)});
  EXPECT_EQ(error_sentence([&] { save_with_metadata(ck, typed, out, scratch()); }),
            "the metadata value 'layers' is a uint32; .safetensors metadata holds strings only");

  Metadata dup = ck.metadata;
  dup.push_back({"author", MetaValue::string("again")});
  EXPECT_EQ(error_sentence([&] { save_with_metadata(ck, dup, out, scratch()); }),
            "the metadata key 'author' appears twice");

  Metadata empty = ck.metadata;
  empty.push_back({"", MetaValue::string("x")});
  EXPECT_NE(error_sentence([&] { save_with_metadata(ck, empty, out, scratch()); }), "");
  EXPECT_FALSE(fs::exists(out));
}

TEST(MetadataEdit, GgufTypedEditsRoundTrip) {
  TempDir dir;
  const std::string src = make_file(dir, "m.gguf", Format::Gguf, gguf_meta());
  const auto before = read_file_bytes(src);
  const Checkpoint ck = open_checkpoint(src);
  ASSERT_TRUE(metadata_editable(ck));

  Metadata meta = edited(ck.metadata, "llama.context_length", MetaValue::unsigned_int(MetaType::U32, 8192),
                         "tokenizer.ggml.add_bos_token",
                         {"llama.block_count", MetaValue::unsigned_int(MetaType::U64, 32)});
  meta.push_back({"custom.scores", MetaValue::array(MetaType::F32, {MetaValue::floating(MetaType::F32, -1.5),
                                                                    MetaValue::floating(MetaType::F32, 0.25)})});
  meta.push_back({"custom.offset", MetaValue::signed_int(MetaType::I8, -7)});
  meta.push_back({"custom.nested", MetaValue::array(MetaType::Array, {MetaValue::array(MetaType::I32, {MetaValue::signed_int(MetaType::I32, 1)})})});
  for (auto& e : meta)
    if (e.key == "tokenizer.ggml.tokens") e.value.items[5] = MetaValue::string("renamed");

  const std::string out = dir.file("edited.gguf");
  save_with_metadata(ck, meta, out, scratch());
  EXPECT_EQ(read_file_bytes(src), before);
  const Checkpoint back = open_checkpoint(out);
  EXPECT_EQ(back.metadata, meta);
  expect_same_tensors(ck, back);
  // Same alignment, same data section: the size moves by the metadata only.
  const auto grown = static_cast<std::int64_t>(fs::file_size(out)) - static_cast<std::int64_t>(fs::file_size(src));
  EXPECT_LT(std::abs(grown), 512);
}

TEST(MetadataEdit, GgufSaveOverSourceWhileOpen) {
  TempDir dir;
  const std::string src = make_file(dir, "m.gguf", Format::Gguf, gguf_meta());
  const Checkpoint ck = open_checkpoint(src);
  std::vector<std::vector<std::byte>> data;
  for (const auto& t : ck.tensors) data.push_back(read_all(t));

  Metadata meta = ck.metadata;
  meta.erase(meta.begin());  // general.architecture
  save_with_metadata(ck, meta, src, scratch());

  for (std::size_t k = 0; k < ck.tensors.size(); ++k) EXPECT_EQ(read_all(ck.tensors[k]), data[k]);
  const Checkpoint back = open_checkpoint(src);
  EXPECT_EQ(back.metadata, meta);
  expect_same_tensors(ck, back);
  EXPECT_EQ(folder_listing(dir.path()), std::vector<std::string>{"m.gguf"});
}

TEST(MetadataEdit, GgufAlignmentEditRelaysTheDataSection) {
  TempDir dir;
  const std::string src = make_file(dir, "m.gguf", Format::Gguf, gguf_meta());
  const Checkpoint ck = open_checkpoint(src);

  Metadata meta = ck.metadata;
  find_if(meta.begin(), meta.end(), [](const MetaEntry& e) { return e.key == "general.alignment"; })->value.u = 256;
  save_with_metadata(ck, meta, dir.file("a256.gguf"), scratch());
  const Checkpoint back = open_checkpoint(dir.file("a256.gguf"));
  EXPECT_EQ(back.metadata, meta);
  for (const auto& t : back.tensors) EXPECT_EQ(t.offset % 256, 0u) << t.name;
  expect_same_tensors(ck, back);

  std::erase_if(meta, [](const MetaEntry& e) { return e.key == "general.alignment"; });
  save_with_metadata(ck, meta, dir.file("default.gguf"), scratch());
  EXPECT_EQ(open_checkpoint(dir.file("default.gguf")).metadata, meta);

  Metadata odd = ck.metadata;
  find_if(odd.begin(), odd.end(), [](const MetaEntry& e) { return e.key == "general.alignment"; })->value.u = 48;
  EXPECT_EQ(error_sentence([&] { save_with_metadata(ck, odd, dir.file("odd.gguf"), scratch()); }),
            "general.alignment is 48, not a power of two");
  Metadata wide = ck.metadata;
  find_if(wide.begin(), wide.end(), [](const MetaEntry& e) { return e.key == "general.alignment"; })->value =
      MetaValue::unsigned_int(MetaType::U64, 64);
  EXPECT_EQ(error_sentence([&] { save_with_metadata(ck, wide, dir.file("wide.gguf"), scratch()); }),
            "general.alignment is a uint64; GGUF readers expect a uint32");
}

TEST(MetadataEdit, GgufRefusesMixedArraysAndNull) {
  TempDir dir;
  const Checkpoint ck = open_checkpoint(make_file(dir, "m.gguf", Format::Gguf, gguf_meta()));
  Metadata mixed = ck.metadata;
  mixed.push_back({"x", MetaValue::array(MetaType::U8, {MetaValue::unsigned_int(MetaType::U8, 1), MetaValue::string("2")})});
  EXPECT_EQ(error_sentence([&] { save_with_metadata(ck, mixed, dir.file("o.gguf"), scratch()); }),
            "element 1 of the metadata array 'x' is a string; every element must be a uint8");
  Metadata null = ck.metadata;
  null.push_back({"n", MetaValue::null()});
  EXPECT_EQ(error_sentence([&] { save_with_metadata(ck, null, dir.file("o.gguf"), scratch()); }),
            "the metadata value 'n' has type null, which GGUF cannot store");
}

TEST(MetadataEdit, CancelLeavesNoFileAndSourceIntact) {
  TempDir dir;
  const std::string src = make_file(dir, "m.gguf", Format::Gguf, gguf_meta());
  const auto before = read_file_bytes(src);
  const Checkpoint ck = open_checkpoint(src);
  WriteOptions opt = scratch();
  opt.cancelled = [] { return true; };
  EXPECT_EQ(error_sentence([&] { save_with_metadata(ck, ck.metadata, src, opt); }), "the write was cancelled");
  EXPECT_EQ(error_sentence([&] { save_with_metadata(ck, ck.metadata, dir.file("o.gguf"), opt); }),
            "the write was cancelled");
  EXPECT_EQ(read_file_bytes(src), before);
  EXPECT_EQ(folder_listing(dir.path()), std::vector<std::string>{"m.gguf"});
}

TEST(MetadataEdit, FormatsWithoutEditableMetadataSayWhy) {
  TempDir dir;
  std::string why;
  const std::string npz = make_file(dir, "a.npz", Format::Npz, {});
  const Checkpoint npz_ck = open_checkpoint(npz);
  EXPECT_FALSE(metadata_editable(npz_ck, &why));
  EXPECT_EQ(why, ".npz archives hold arrays only and no metadata.");
  EXPECT_EQ(error_sentence([&] { save_with_metadata(npz_ck, {}, dir.file("b.npz"), scratch()); }), why);

  const std::string npy = dir.file("a.npy");
  const std::vector<TensorInfo> one{ckpt::test::random_tensor("a", DType::F32, {3})};
  write_checkpoint(npy, Format::Npy, one, {}, scratch());
  EXPECT_FALSE(metadata_editable(open_checkpoint(npy), &why));
  EXPECT_EQ(why, ".npy files hold one array and no metadata.");

  const std::string pt = make_file(dir, "a.pt", Format::PyTorch, {});
  EXPECT_FALSE(metadata_editable(open_checkpoint(pt), &why));
  EXPECT_NE(why.find("PyTorch checkpoints are read-only here"), std::string::npos);

  WriteOptions shards = scratch();
  shards.max_shard_bytes = 4096;
  const auto tensors = sample_tensors(Format::Safetensors);
  write_checkpoint(dir.file("s.safetensors"), Format::Safetensors, tensors, safetensors_meta(), shards);
  const Checkpoint sharded = open_checkpoint(dir.file("s.safetensors.index.json"));
  EXPECT_FALSE(metadata_editable(sharded, &why));
  EXPECT_NE(why.find("sharded safetensors checkpoint ("), std::string::npos) << why;
  EXPECT_EQ(error_sentence([&] { save_with_metadata(sharded, sharded.metadata, dir.file("one.safetensors"), scratch()); }),
            why);

  const Checkpoint rooted = open_checkpoint(make_file(dir, "r.safetensors", Format::Safetensors, safetensors_meta()),
                                            OpenOptions{"layers"});
  EXPECT_FALSE(metadata_editable(rooted, &why));
  EXPECT_NE(why.find("opened with a root"), std::string::npos);
}

TEST(MetadataEdit, FormatsStoreTheirValueTypes) {
  EXPECT_TRUE(format_stores_meta_type(Format::Safetensors, MetaType::String));
  EXPECT_FALSE(format_stores_meta_type(Format::Safetensors, MetaType::U32));
  for (auto t : {MetaType::U8, MetaType::I64, MetaType::F32, MetaType::Bool, MetaType::String, MetaType::Array})
    EXPECT_TRUE(format_stores_meta_type(Format::Gguf, t));
  EXPECT_FALSE(format_stores_meta_type(Format::Gguf, MetaType::Null));
  EXPECT_FALSE(format_stores_meta_type(Format::Npz, MetaType::String));
}

TEST(MetadataText, IntegersFitTheirType) {
  EXPECT_EQ(meta_value_from_text(MetaType::U8, "255"), MetaValue::unsigned_int(MetaType::U8, 255));
  EXPECT_EQ(meta_value_from_text(MetaType::U8, " +7 "), MetaValue::unsigned_int(MetaType::U8, 7));
  EXPECT_EQ(error_sentence([] { (void)meta_value_from_text(MetaType::U8, "300"); }), "'300' does not fit uint8 (0 to 255)");
  EXPECT_EQ(error_sentence([] { (void)meta_value_from_text(MetaType::U32, "-1"); }),
            "'-1' is negative; uint32 (0 to 4294967295) holds no negative numbers");
  EXPECT_EQ(error_sentence([] { (void)meta_value_from_text(MetaType::I16, "12abc"); }), "'12abc' is not a whole number");
  EXPECT_EQ(meta_value_from_text(MetaType::I8, "-128"), MetaValue::signed_int(MetaType::I8, -128));
  EXPECT_NE(error_sentence([] { (void)meta_value_from_text(MetaType::I8, "-129"); }), "");
  EXPECT_EQ(meta_value_from_text(MetaType::U64, "18446744073709551615").u, 18446744073709551615ull);
  EXPECT_NE(error_sentence([] { (void)meta_value_from_text(MetaType::U64, "18446744073709551616"); }), "");
  EXPECT_EQ(meta_value_from_text(MetaType::I64, "-9223372036854775808").i, INT64_MIN);
  EXPECT_NE(error_sentence([] { (void)meta_value_from_text(MetaType::U16, ""); }), "");
}

TEST(MetadataText, FloatsBoolsAndStrings) {
  const MetaValue f = meta_value_from_text(MetaType::F32, "0.1");
  EXPECT_EQ(f.f, static_cast<double>(0.1f));
  EXPECT_EQ(meta_value_text(f), "0.1");  // shortest float32 text, not 0.10000000149011612
  EXPECT_EQ(meta_value_text(meta_value_from_text(MetaType::F64, "1e-300")), "1e-300");
  EXPECT_EQ(error_sentence([] { (void)meta_value_from_text(MetaType::F32, "1e50"); }), "'1e50' is out of the range of float32");
  EXPECT_EQ(error_sentence([] { (void)meta_value_from_text(MetaType::F64, "one"); }), "'one' is not a number");
  EXPECT_EQ(meta_value_from_text(MetaType::Bool, "TRUE"), MetaValue::boolean(true));
  EXPECT_EQ(meta_value_from_text(MetaType::Bool, "0"), MetaValue::boolean(false));
  EXPECT_EQ(error_sentence([] { (void)meta_value_from_text(MetaType::Bool, "maybe"); }),
            "'maybe' is not a boolean; enter true or false");
  EXPECT_EQ(meta_value_from_text(MetaType::String, "  spaces kept "), MetaValue::string("  spaces kept "));
  EXPECT_EQ(meta_value_text(MetaValue::boolean(true)), "true");
  EXPECT_EQ(meta_value_text(MetaValue::signed_int(MetaType::I32, -3)), "-3");
}

TEST(MetadataText, ArraysAsJson) {
  const MetaValue a = meta_value_from_text(MetaType::Array, R"(["a", "b\"c"])", MetaType::String);
  EXPECT_EQ(a, MetaValue::array(MetaType::String, {MetaValue::string("a"), MetaValue::string("b\"c")}));
  EXPECT_EQ(meta_value_text(a), R"(["a", "b\"c"])");
  const MetaValue n = meta_value_from_text(MetaType::Array, "[1, 2, 3]", MetaType::U8);
  EXPECT_EQ(meta_value_text(n), "[1, 2, 3]");
  EXPECT_EQ(error_sentence([] { (void)meta_value_from_text(MetaType::Array, "[1, 256]", MetaType::U8); }),
            "element 1: '256' does not fit uint8 (0 to 255)");
  EXPECT_EQ(error_sentence([] { (void)meta_value_from_text(MetaType::Array, "[1, \"x\"]", MetaType::U8); }),
            "element 1 is not a uint8");
  EXPECT_NE(error_sentence([] { (void)meta_value_from_text(MetaType::Array, "1, 2", MetaType::U8); }), "");
}

TEST(MetadataText, ConvertingBetweenTypes) {
  EXPECT_EQ(convert_meta_value(MetaValue::unsigned_int(MetaType::U32, 7), MetaType::F64), MetaValue::floating(MetaType::F64, 7));
  EXPECT_EQ(convert_meta_value(MetaValue::floating(MetaType::F32, 2), MetaType::I16), MetaValue::signed_int(MetaType::I16, 2));
  EXPECT_EQ(error_sentence([] { (void)convert_meta_value(MetaValue::floating(MetaType::F32, 1.5), MetaType::U32); }),
            "'1.5' is not a whole number");
  EXPECT_EQ(convert_meta_value(MetaValue::boolean(true), MetaType::U8), MetaValue::unsigned_int(MetaType::U8, 1));
  EXPECT_EQ(convert_meta_value(MetaValue::unsigned_int(MetaType::U8, 9), MetaType::String), MetaValue::string("9"));
  const MetaValue ints = MetaValue::array(MetaType::I32, {MetaValue::signed_int(MetaType::I32, 1), MetaValue::signed_int(MetaType::I32, -1)});
  EXPECT_EQ(convert_meta_value(ints, MetaType::Array, MetaType::I64),
            MetaValue::array(MetaType::I64, {MetaValue::signed_int(MetaType::I64, 1), MetaValue::signed_int(MetaType::I64, -1)}));
  EXPECT_EQ(error_sentence([&] { (void)convert_meta_value(ints, MetaType::Array, MetaType::U32); }),
            "element 1: '-1' is negative; uint32 (0 to 4294967295) holds no negative numbers");
  EXPECT_NE(error_sentence([&] { (void)convert_meta_value(ints, MetaType::String); }), "");
}

// A 256 MiB tensor (a sparse file): the data section is copied by the
// kernel, so this stays quick; the result must still be byte-identical.
TEST(MetadataEdit, LargeSafetensorsSavesWithIdenticalData) {
  TempDir dir;
  const std::string src = dir.file("big.safetensors");
  const std::uint64_t n = std::uint64_t{256} << 20;
  std::string header = R"({"__metadata__":{"format":"pt"},"w":{"dtype":"U8","shape":[)" + std::to_string(n) +
                       R"(],"data_offsets":[0,)" + std::to_string(n) + "]}}";
  header.append((8 - header.size() % 8) % 8, ' ');
  {
    std::ofstream f(src, std::ios::binary);
    const std::uint64_t len = header.size();
    f.write(reinterpret_cast<const char*>(&len), 8);
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
    f.seekp(static_cast<std::streamoff>(8 + header.size() + n / 2));
    f.write("marker", 6);  // something other than zeros in the middle
  }
  fs::resize_file(src, 8 + header.size() + n);
  const Checkpoint ck = open_checkpoint(src);
  Metadata meta = ck.metadata;
  meta.push_back({"note", MetaValue::string("large")});
  const std::string out = dir.file("big2.safetensors");
  save_with_metadata(ck, meta, out, scratch());
  const Checkpoint back = open_checkpoint(out);
  EXPECT_EQ(back.metadata, meta);
  expect_same_tensors(ck, back);
}
