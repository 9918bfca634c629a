// The safe pickle interpreter: pickles written by Debian's Python (every
// protocol) and torch.save, checked value by value; hostile and broken
// pickles, each refused with its own sentence, after which the interpreter
// still reads a good pickle.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "io/endian.h"
#include "io/error.h"
#include "io/formats/pickle.h"
#include "tests/support/support.h"

using namespace ckpt::io;
using namespace ckpt::io::pickle;
using ckpt::test::TempDir;
using ::testing::HasSubstr;
using namespace std::string_literals;
namespace fs = std::filesystem;

namespace {

std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> b(s.size());
  if (!s.empty()) std::memcpy(b.data(), s.data(), s.size());
  return b;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool have_python() {
  static const bool ok = ckpt::test::run_python("import pickle", {}) == 0;
  return ok;
}
bool have_torch() {
  static const bool ok = ckpt::test::run_python("import torch", {}) == 0;
  return ok;
}

// Runs `script` with argv[1] = an output file and returns what it wrote there.
std::string python_bytes(const std::string& script, const std::vector<std::string>& extra = {}) {
  TempDir dir;
  const std::string out = dir.file("out.bin");
  std::vector<std::string> args = {out};
  args.insert(args.end(), extra.begin(), extra.end());
  std::string log;
  const int rc = ckpt::test::run_python(script, args, &log);
  EXPECT_EQ(rc, 0) << log;
  return read_text(out);
}

ValuePtr load_bytes(std::string_view s, const Options& opt = {}, std::size_t* consumed = nullptr) {
  auto b = bytes_of(s);
  return load(b, "test.pkl", 0, opt, consumed);
}

// A canonical text form of a value; the Python side prints the same form.
std::string canon(const Value& v) {
  auto hex = [](const std::string& s) {
    std::string h;
    char buf[3];
    for (unsigned char c : s) {
      std::snprintf(buf, sizeof buf, "%02x", c);
      h += buf;
    }
    return h;
  };
  auto join = [&](const std::vector<ValuePtr>& items) {
    std::string s;
    for (std::size_t i = 0; i < items.size(); ++i) s += (i ? "," : "") + canon(*items[i]);
    return s;
  };
  switch (v.kind) {
    case Kind::None: return "None";
    case Kind::Bool: return v.boolean ? "True" : "False";
    case Kind::Int: return std::to_string(v.integer);
    case Kind::Float: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.17g", v.real);
      return std::string("f") + buf;
    }
    case Kind::String: return "s" + hex(v.text);
    case Kind::Bytes: return "b" + hex(v.text);
    case Kind::Tuple: return "(" + join(v.items) + ")";
    case Kind::List: return "[" + join(v.items) + "]";
    case Kind::Dict: {
      std::string s = "{";
      for (std::size_t i = 0; i < v.entries.size(); ++i)
        s += (i ? "," : "") + canon(*v.entries[i].first) + ":" + canon(*v.entries[i].second);
      return s + "}";
    }
    case Kind::Set: {
      std::vector<std::string> parts;
      for (const auto& i : v.items) parts.push_back(canon(*i));
      std::sort(parts.begin(), parts.end());
      std::string s = "set{";
      for (std::size_t i = 0; i < parts.size(); ++i) s += (i ? "," : "") + parts[i];
      return s + "}";
    }
    default: return "?";
  }
}

const char* kCanonPy = R"py(
def canon(o):
    if o is None: return "None"
    if isinstance(o, bool): return "True" if o else "False"
    if isinstance(o, int): return str(o)
    if isinstance(o, float): return "f%.17g" % o
    if isinstance(o, str): return "s" + o.encode("utf-8").hex()
    if isinstance(o, (bytes, bytearray)): return "b" + o.hex()
    if isinstance(o, tuple): return "(" + ",".join(canon(x) for x in o) + ")"
    if isinstance(o, list): return "[" + ",".join(canon(x) for x in o) + "]"
    if isinstance(o, dict): return "{" + ",".join(canon(k) + ":" + canon(v) for k, v in o.items()) + "}"
    if isinstance(o, (set, frozenset)): return "set{" + ",".join(sorted(canon(x) for x in o)) + "}"
    raise TypeError(type(o))
)py";

// A pickle that every test loads after a refusal, to show nothing is left over.
void expect_still_works() {
  auto v = load_bytes("\x80\x02}q\x00X\x01\x00\x00\x00"s "aK\x07s.");
  ASSERT_EQ(v->kind, Kind::Dict);
  ASSERT_EQ(v->entries.size(), 1u);
  EXPECT_EQ(v->entries[0].second->integer, 7);
}

std::string error_of(std::string_view pickle_bytes, const Options& opt = {}) {
  try {
    (void)load_bytes(pickle_bytes, opt);
  } catch (const Error& e) {
    EXPECT_EQ(e.file(), "test.pkl");
    return e.sentence();
  }
  return "(no error)";
}

void expect_refused(std::string_view pickle_bytes, const std::string& needle, const Options& opt = {}) {
  EXPECT_THAT(error_of(pickle_bytes, opt), HasSubstr(needle));
  expect_still_works();
}

std::string le64(std::uint64_t v) {
  char b[8];
  store_le<std::uint64_t>(b, v);
  return std::string(b, 8);
}
std::string le32(std::uint32_t v) {
  char b[4];
  store_le<std::uint32_t>(b, v);
  return std::string(b, 4);
}

// What torch's loader does with a persistent id: ('storage', type, key,
// location, numel[, view]) becomes a Storage, one per key.
Options torch_options(std::map<std::string, ValuePtr>* cache) {
  Options opt;
  opt.persistent_load = [cache](const ValuePtr& pid) -> ValuePtr {
    if (pid->kind != Kind::Tuple || pid->items.size() < 5 || pid->items[1]->kind != Kind::StorageType)
      throw Error("test.pkl", 0, "unexpected persistent id");
    auto& s = (*cache)[pid->items[2]->text];
    if (!s)
      s = make_storage(pid->items[1]->dtype, pid->items[2]->text, pid->items[3]->text,
                       static_cast<std::uint64_t>(pid->items[4]->integer));
    return s;
  };
  return opt;
}

const Value& entry(const Value& dict, const std::string& key) {
  for (const auto& [k, v] : dict.entries)
    if (k->kind == Kind::String && k->text == key) return *v;
  ADD_FAILURE() << "no key " << key;
  static const Value none;
  return none;
}

}  // namespace

// ---- plain Python values, every protocol ----

TEST(PickleProtocols, NestedValuesMatchPythonInEveryProtocol) {
  if (!have_python()) GTEST_SKIP() << "/usr/bin/python3 not found";
  const std::string script = std::string(kCanonPy) + R"py(
import pickle, sys
shared = [1, "two"]
obj = {
    "ints": [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31 - 1, 2**31, 2**62, -2**63, 2**63 - 1, 123456789012, -1234567890123],
    "floats": [0.0, -1.5, 3.141592653589793, 1e300, float("inf"), float("-inf")],
    "consts": (True, False, None),
    "text": ["", "plain", "h\u00e9llo \u20ac \U0001f600", "back\\slash\nnewline\r\x00nul\x1a", "q'uo\"te"],
    "bytes": (b"", b"\x00\xff\x80raw", bytearray(b"ba"), bytearray()),
    "sets": (set(), {3}, frozenset(), frozenset(["x"])),
    "tuples": ((), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)),
    "nested": {"a": [{"b": ({"c": []},)}]},
    "shared": (shared, shared),
    7: "int key",
    (1, "t"): "tuple key",
    "long_list": list(range(2500)),
}
data = pickle.dumps(obj, protocol=int(sys.argv[2]))
open(sys.argv[1], "wb").write(data)
open(sys.argv[1] + ".canon", "w").write(canon(pickle.loads(data)))
)py";
  for (int proto = 0; proto <= 5; ++proto) {
    SCOPED_TRACE("protocol " + std::to_string(proto));
    TempDir dir;
    const std::string out = dir.file("p.pkl");
    std::string log;
    ASSERT_EQ(ckpt::test::run_python(script, {out, std::to_string(proto)}, &log), 0) << log;
    const std::string data = read_text(out);
    std::size_t consumed = 0;
    auto v = load_bytes(data, {}, &consumed);
    EXPECT_EQ(consumed, data.size());
    EXPECT_EQ(canon(*v), read_text(out + ".canon"));
    // The memo gives back the very same object, as Python's does.
    const Value& shared = entry(*v, "shared");
    ASSERT_EQ(shared.items.size(), 2u);
    EXPECT_EQ(shared.items[0].get(), shared.items[1].get());
  }
}

TEST(PickleProtocols, ConsumedStopsAtStopAndRepeatedKeysReplace) {
  // Two pickles back to back, as in legacy torch files.
  const std::string two = std::string("K\x05.K\x06.", 6);
  std::size_t consumed = 0;
  auto first = load_bytes(two, {}, &consumed);
  EXPECT_EQ(consumed, 3u);
  EXPECT_EQ(first->integer, 5);
  auto second = load_bytes(std::string_view(two).substr(consumed));
  EXPECT_EQ(second->integer, 6);

  // {'a': 1, 'a': 2} as Python builds it: one key, the last value. 1 and True collide too.
  auto d = load_bytes("}(X\x01\x00\x00\x00"s "aK\x01X\x01\x00\x00\x00"s "aK\x02K\x01K\x03\x88K\x04u.");
  EXPECT_EQ(canon(*d), "{s61:2,1:4}");
  // Nearby floats stay distinct keys.
  auto f = load_bytes("}(G>\x10\x00\x00\x00\x00\x00\x00K\x01G>\x20\x00\x00\x00\x00\x00\x00K\x02u."s);
  EXPECT_EQ(f->entries.size(), 2u);
}

TEST(PickleProtocols, Protocol0Escapes) {
  // Python 2 STRING literals with escapes, and raw-unicode-escape UNICODE.
  auto v = load_bytes("(S'a\\'b\\n\\x41\\101\\\\'\nVx\\u20acy\\U0001f600\xe9\ntp0\n.");
  ASSERT_EQ(v->kind, Kind::Tuple);
  EXPECT_EQ(v->items[0]->text, "a'b\nAA\\");
  EXPECT_EQ(v->items[1]->text, "x\xe2\x82\xacy\xf0\x9f\x98\x80\xc3\xa9");
  EXPECT_THAT(error_of("S'abc\n."), HasSubstr("not quoted"));
  EXPECT_THAT(error_of("Vbad\\u12\n."), HasSubstr("\\u escape"));
  EXPECT_THAT(error_of("S'\xff'\n."), HasSubstr("not valid UTF-8"));
}

// ---- torch.save ----

TEST(PickleTorch, ZipStateDictTensorsAndMetadata) {
  if (!have_torch()) GTEST_SKIP() << "/usr/bin/python3 with torch not found";
  const std::string data = python_bytes(R"py(
import collections, sys, torch, zipfile
sd = collections.OrderedDict()
base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
sd["w"] = base
sd["wt"] = base.t()
sd["slice"] = base[1:, 1:]
sd["scalar"] = torch.tensor(3.0, dtype=torch.float64)
sd["bf"] = torch.zeros(2, dtype=torch.bfloat16)
sd["b"] = torch.tensor([True, False])
sd["c"] = torch.zeros(2, dtype=torch.complex64)
sd["i8"] = torch.zeros(5, dtype=torch.int8)
sd["p"] = torch.nn.Parameter(torch.ones(2, 2))
sd["pn"] = torch.nn.Parameter(torch.ones(2), requires_grad=False)
sd["g"] = torch.ones(3, requires_grad=True)
sd["dtype"] = torch.float16
sd["size"] = torch.Size([2, 3])
sd._metadata = collections.OrderedDict([("", {"version": 1}), ("layer", {"version": 2})])
torch.save(sd, sys.argv[1] + ".pt", _use_new_zipfile_serialization=True)
z = zipfile.ZipFile(sys.argv[1] + ".pt")
name = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
open(sys.argv[1], "wb").write(z.read(name))
)py");
  ASSERT_FALSE(data.empty());
  std::map<std::string, ValuePtr> storages;
  auto v = load_bytes(data, torch_options(&storages));
  ASSERT_EQ(v->kind, Kind::Dict);

  const Value& w = entry(*v, "w");
  ASSERT_EQ(w.kind, Kind::Tensor);
  EXPECT_EQ(w.dtype, DType::F32);
  EXPECT_EQ(w.torch->size, (Shape{3, 4}));
  EXPECT_EQ(w.torch->stride, (std::vector<std::int64_t>{4, 1}));
  EXPECT_EQ(w.torch->storage_offset, 0);
  EXPECT_FALSE(w.torch->requires_grad);
  EXPECT_FALSE(w.torch->is_parameter);
  ASSERT_TRUE(w.torch->storage);
  EXPECT_EQ(w.torch->storage->kind, Kind::Storage);
  EXPECT_EQ(w.torch->storage->torch->storage_location, "cpu");
  EXPECT_EQ(w.torch->storage->torch->storage_numel, 12u);

  const Value& wt = entry(*v, "wt");
  EXPECT_EQ(wt.torch->size, (Shape{4, 3}));
  EXPECT_EQ(wt.torch->stride, (std::vector<std::int64_t>{1, 4}));
  EXPECT_EQ(wt.torch->storage->torch->storage_key, w.torch->storage->torch->storage_key);

  const Value& slice = entry(*v, "slice");
  EXPECT_EQ(slice.torch->size, (Shape{2, 3}));
  EXPECT_EQ(slice.torch->stride, (std::vector<std::int64_t>{4, 1}));
  EXPECT_EQ(slice.torch->storage_offset, 5);
  EXPECT_EQ(slice.torch->storage->torch->storage_key, w.torch->storage->torch->storage_key);

  const Value& scalar = entry(*v, "scalar");
  EXPECT_EQ(scalar.dtype, DType::F64);
  EXPECT_TRUE(scalar.torch->size.empty());
  EXPECT_TRUE(scalar.torch->stride.empty());
  EXPECT_NE(scalar.torch->storage->torch->storage_key, w.torch->storage->torch->storage_key);

  EXPECT_EQ(entry(*v, "bf").dtype, DType::BF16);
  EXPECT_EQ(entry(*v, "b").dtype, DType::Bool);
  EXPECT_EQ(entry(*v, "c").dtype, DType::C64);
  EXPECT_EQ(entry(*v, "i8").dtype, DType::I8);
  EXPECT_EQ(entry(*v, "i8").torch->size, (Shape{5}));

  const Value& p = entry(*v, "p");
  EXPECT_EQ(p.kind, Kind::Tensor);
  EXPECT_TRUE(p.torch->is_parameter);
  EXPECT_TRUE(p.torch->requires_grad);
  EXPECT_EQ(p.torch->size, (Shape{2, 2}));
  const Value& pn = entry(*v, "pn");
  EXPECT_TRUE(pn.torch->is_parameter);
  EXPECT_FALSE(pn.torch->requires_grad);
  const Value& g = entry(*v, "g");
  EXPECT_FALSE(g.torch->is_parameter);
  EXPECT_TRUE(g.torch->requires_grad);

  EXPECT_EQ(entry(*v, "dtype").kind, Kind::TorchDType);
  EXPECT_EQ(entry(*v, "dtype").dtype, DType::F16);
  EXPECT_EQ(canon(entry(*v, "size")), "(2,3)");

  ASSERT_TRUE(v->attrs);
  ASSERT_EQ(v->attrs->size(), 1u);
  EXPECT_EQ((*v->attrs)[0].first, "_metadata");
  const Value& meta = *(*v->attrs)[0].second;
  ASSERT_EQ(meta.kind, Kind::Dict);
  ASSERT_EQ(meta.entries.size(), 2u);
  EXPECT_EQ(canon(meta), "{s:{s76657273696f6e:1},s6c61796572:{s76657273696f6e:2}}");
}

TEST(PickleTorch, LegacyFileIsConsecutivePickles) {
  if (!have_torch()) GTEST_SKIP() << "/usr/bin/python3 with torch not found";
  const std::string data = python_bytes(R"py(
import sys, torch
torch.save({"a": torch.arange(6, dtype=torch.int64).reshape(2, 3)[:, 1:], "n": 3}, sys.argv[1],
           _use_new_zipfile_serialization=False)
)py");
  ASSERT_GT(data.size(), 16u);
  // The magic number is an 80-bit int: beyond what load() accepts, so a
  // reader matches these constant bytes instead.
  const std::string magic = std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
  ASSERT_EQ(data.substr(0, magic.size()), magic);
  EXPECT_THAT(error_of(magic), HasSubstr("beyond the signed 64-bit range"));

  std::map<std::string, ValuePtr> storages;
  const Options opt = torch_options(&storages);
  std::size_t pos = magic.size(), consumed = 0;
  auto next = [&] {
    auto b = bytes_of(std::string_view(data).substr(pos));
    auto v = load(b, "legacy.pt", pos, opt, &consumed);
    pos += consumed;
    return v;
  };
  EXPECT_EQ(next()->integer, 1001);  // protocol version
  EXPECT_EQ(next()->kind, Kind::Dict);  // sys info
  auto obj = next();
  auto keys = next();
  ASSERT_EQ(obj->kind, Kind::Dict);
  const Value& a = entry(*obj, "a");
  EXPECT_EQ(a.dtype, DType::I64);
  EXPECT_EQ(a.torch->size, (Shape{2, 2}));
  EXPECT_EQ(a.torch->stride, (std::vector<std::int64_t>{3, 1}));
  EXPECT_EQ(a.torch->storage_offset, 1);
  EXPECT_EQ(entry(*obj, "n").integer, 3);
  ASSERT_EQ(keys->kind, Kind::List);
  ASSERT_EQ(keys->items.size(), 1u);
  EXPECT_EQ(keys->items[0]->text, a.torch->storage->torch->storage_key);
}

TEST(PickleTorch, RebuildFromTypeV2AndParameterWithState) {
  std::map<std::string, ValuePtr> storages;
  const Options opt = torch_options(&storages);
  // The storage and tensor arguments as torch writes them, built by hand.
  const std::string storage =
      "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00"s "0X\x03\x00\x00\x00"s "cpuK\x06tQ";
  const std::string tensor_args = "(" + storage + "K\x00K\x02K\x03\x86K\x03K\x01\x86\x89"s "ccollections\nOrderedDict\n)Rt";
  const std::string rebuild = "ctorch._utils\n_rebuild_tensor_v2\n";
  const std::string p = "\x80\x02" "ctorch._tensor\n_rebuild_from_type_v2\n(" + rebuild +
                        "ctorch.nn.parameter\nParameter\n" + tensor_args + "}tR.";
  auto v = load_bytes(p, opt);
  ASSERT_EQ(v->kind, Kind::Tensor);
  EXPECT_TRUE(v->torch->is_parameter);
  EXPECT_EQ(v->torch->size, (Shape{2, 3}));

  const std::string ps = "\x80\x02" "ctorch._utils\n_rebuild_parameter_with_state\n(" + rebuild + tensor_args +
                         "R\x88" "ccollections\nOrderedDict\n)R}X\x01\x00\x00\x00xK\x09stR."s;
  auto w = load_bytes(ps, opt);
  EXPECT_TRUE(w->torch->is_parameter);
  EXPECT_TRUE(w->torch->requires_grad);
  ASSERT_TRUE(w->attrs);
  ASSERT_EQ(w->attrs->size(), 1u);
  EXPECT_EQ((*w->attrs)[0].first, "x");

  auto dev = load_bytes("\x80\x02" "ctorch\ndevice\nX\x04\x00\x00\x00"s "cudaK\x01\x86R.");
  EXPECT_EQ(dev->text, "cuda:1");
}

// ---- hostile and broken pickles ----

TEST(PickleMalicious, OsSystemIsRefusedAndNothingRuns) {
  if (!have_python()) GTEST_SKIP() << "/usr/bin/python3 not found";
  TempDir dir;
  const std::string marker = dir.file("marker");
  const std::string control = dir.file("control");
  const std::string payload = "cos\nsystem\n(S\"touch " + marker + "\"\ntR.";
  // The payload is real: Python's own pickle runs it (on another marker).
  const std::string control_payload = "cos\nsystem\n(S\"touch " + control + "\"\ntR.";
  ASSERT_EQ(ckpt::test::run_python("import pickle, sys; pickle.loads(sys.argv[1].encode())", {control_payload}), 0);
  ASSERT_TRUE(fs::exists(control));

  const std::string e = error_of(payload);
  EXPECT_THAT(e, HasSubstr("'os.system'"));
  EXPECT_THAT(e, HasSubstr("nothing was run"));
  EXPECT_FALSE(fs::exists(marker));
  expect_still_works();

  // The same payload as Python writes it (posix.system via STACK_GLOBAL).
  const std::string p4 = python_bytes(R"py(
import os, pickle, sys
class P:
    def __reduce__(self): return (os.system, ("touch " + sys.argv[2],))
open(sys.argv[1], "wb").write(pickle.dumps(P(), protocol=4))
)py", {marker});
  EXPECT_THAT(p4, HasSubstr("\x93"));
  expect_refused(p4, "'posix.system'");
  EXPECT_FALSE(fs::exists(marker));
}

TEST(PickleMalicious, RefusedGlobals) {
  if (!have_python()) GTEST_SKIP() << "/usr/bin/python3 not found";
  const std::string eval = python_bytes(R"py(
import builtins, pickle, sys
class P:
    def __reduce__(self): return (builtins.eval, ("1+1",))
open(sys.argv[1], "wb").write(pickle.dumps(P(), protocol=4))
)py");
  expect_refused(eval, "'builtins.eval'");
  const std::string popen = python_bytes(R"py(
import pickle, subprocess, sys
class P:
    def __reduce__(self): return (subprocess.Popen, (["true"],))
open(sys.argv[1], "wb").write(pickle.dumps(P(), protocol=3))
)py");
  expect_refused(popen, "'subprocess.Popen'");
  expect_refused("cfoo\nbar\n.", "'foo.bar', which is not allowed");
  expect_refused("\x80\x02" "ccopy_reg\n_reconstructor\n.", "'copy_reg._reconstructor'");
  // INST names its class the same way.
  expect_refused("(S'ls'\nios\nsystem\n.", "'os.system'");
  // A global is refused even if it never gets called.
  expect_refused("\x80\x04\x8c\x05posix\x94\x8c\x06system\x94\x93\x94.", "'posix.system'");
}

TEST(PickleMalicious, AllowedGlobalsCalledWrongly) {
  const std::string rebuild = "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n";
  expect_refused(rebuild + "K\x01K\x02\x86R.", "with 2 arguments; it takes 6 to 7");
  expect_refused(rebuild + "(K\x01K\x00))\x89}tR."s, "an int as argument 1 where a storage belongs");
  expect_refused("\x80\x02" "ctorch\nfloat32\n)R.", "cannot be called");
  expect_refused("\x80\x02" "ccollections\nOrderedDict\nK\x01\x85R.", "not a sequence");
  expect_refused("\x80\x02" "c_codecs\nencode\nX\x01\x00\x00\x00"s "aX\x04\x00\x00\x00rot1\x86R."s, "encoding 'rot1'");
  expect_refused("\x80\x02" "ctorch\nSize\nX\x01\x00\x00\x00"s "a\x85\x85R.", "only ints belong");
  expect_refused("\x80\x02K\x01)R.", "an int, which cannot be called");
  expect_refused("\x80\x02" "ccollections\nOrderedDict\nK\x01R.", "REDUCE needs a tuple");
  // BUILD only on dicts and tensors; APPEND only to lists; SETITEM only on dicts.
  expect_refused("]}b.", "BUILD sets the state of a list");
  expect_refused("}K\x01" "a.", "APPEND appends to a dict");
  expect_refused(")K\x01K\x02s.", "SETITEM sets an item of a tuple");
  expect_refused("(K\x01K\x02\x93.", "STACK_GLOBAL needs a module and a name as str");
  // A persistent id without a loader.
  expect_refused("\x80\x02K\x01Q.", "no loader");
}

TEST(PickleMalicious, TruncatedAtEveryByte) {
  if (!have_torch()) GTEST_SKIP() << "/usr/bin/python3 with torch not found";
  const std::string data = python_bytes(R"py(
import collections, sys, torch, zipfile
sd = collections.OrderedDict([("w", torch.ones(2, 3)), ("p", torch.nn.Parameter(torch.zeros(4))), ("n", 2**40), ("s", "\u00e9")])
sd._metadata = {"": {"version": 1}}
torch.save(sd, sys.argv[1] + ".pt")
z = zipfile.ZipFile(sys.argv[1] + ".pt")
open(sys.argv[1], "wb").write(z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0]))
)py");
  ASSERT_GT(data.size(), 50u);
  std::map<std::string, ValuePtr> storages;
  const Options opt = torch_options(&storages);
  for (std::size_t n = 0; n < data.size(); ++n) {
    auto b = bytes_of(std::string_view(data).substr(0, n));
    try {
      (void)load(b, "cut.pkl", 100, opt);
      ADD_FAILURE() << "a pickle cut to " << n << " bytes was accepted";
    } catch (const Error& e) {
      EXPECT_THAT(e.sentence(), HasSubstr("cut short")) << n;
      EXPECT_GE(e.offset(), 100u);
      EXPECT_LE(e.offset(), 100u + n);
    }
  }
  EXPECT_EQ(load_bytes(data, opt)->kind, Kind::Dict);
  EXPECT_THAT(error_of("X\x05\x00\x00\x00"s "ab"), HasSubstr("BINUNICODE claims 5 bytes but only 2 are left"));
  EXPECT_THAT(error_of("J\x01\x00"s), HasSubstr("BININT needs 4 bytes for its value, only 2 are left"));
  EXPECT_THAT(error_of("I12"), HasSubstr("INT's number has no end of line"));
}

TEST(PickleMalicious, HugeLengthsAreRejectedBeforeAllocating) {
  const std::uint64_t huge = std::uint64_t{1} << 40;
  expect_refused("\x80\x04\x8e" + le64(huge) + "abc.", "BINBYTES8 claims 1099511627776 bytes, more than the limit");
  expect_refused("\x80\x04\x8d" + le64(huge) + "abc.", "BINUNICODE8 claims 1099511627776 bytes");
  expect_refused("\x80\x05\x96" + le64(huge) + "abc.", "BYTEARRAY8 claims");
  expect_refused("\x80\x02\x8b" + le32(0xffffffffu) + "abc.", "LONG4 claims 4294967295 bytes but only 4 are left");
  expect_refused("\x80\x04\x95" + le64(huge) + "N.", "FRAME claims 1099511627776 bytes but only 2 are left");
  Options small;
  small.limits.max_length = 4;
  expect_refused("X\x05\x00\x00\x00"s "abcde.", "more than the limit of 4", small);
}

// The densest real pickles: long lists of small ints (an optimizer's
// parameter indices, token ids), whose values load() shares, and lists of
// empty lists as protocol 4 writes them (']' and MEMOIZE: one ~200-byte value
// per 2 input bytes, the most a real pickle makes).
TEST(Pickle, LongListOfSmallIntsLoadsWithinTheBuildBudget) {
  constexpr int n = 200'000;
  std::string s = "\x80\x02](";
  for (int i = 0; i < n; ++i) s += "K" + std::string(1, static_cast<char>(i % 256));
  s += "e.";
  const auto v = load_bytes(s);
  ASSERT_EQ(v->kind, Kind::List);
  ASSERT_EQ(v->items.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(v->items[n - 1]->integer, (n - 1) % 256);
  EXPECT_EQ(v->items[0].get(), v->items[256].get());  // 0, shared

  std::string lists = "\x80\x04]\x94(";
  for (int i = 0; i < n; ++i) lists += "]\x94";
  lists += "e.";
  const auto l = load_bytes(lists);
  ASSERT_EQ(l->kind, Kind::List);
  ASSERT_EQ(l->items.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(l->items[n - 1]->kind, Kind::List);
}

TEST(PickleMalicious, DeepNestingHitsTheDepthLimit) {
  // A million MARKs, then a million LISTs closing them.
  std::string marks(1'000'000, '(');
  marks += std::string(1'000'000, 'l') + ".";
  expect_refused(marks, "nests MARKs more than 1000 deep");
  // A million nested one-item tuples need no MARK at all.
  std::string tuples = "\x80\x02]" + std::string(1'000'000, '\x85') + ".";
  expect_refused(tuples, "nests values more than 1000 deep");
  // Lists inside lists: each APPEND puts the list made before into the next.
  std::string lists = "\x80\x02";
  for (int i = 0; i < 2'000; ++i) lists += "]";
  for (int i = 0; i < 2'000; ++i) lists += "a";
  lists += ".";
  expect_refused(lists, "nests values more than 1000 deep");
  // A million of them is refused sooner: a value per input byte is far more
  // memory than any real pickle makes.
  std::string many = "\x80\x02" + std::string(1'000'000, ']') + std::string(1'000'000, 'a') + ".";
  expect_refused(many, "makes or copies far more values than its size explains");
  // Within the limit, depth is fine.
  std::string ok = "\x80\x02]" + std::string(999, '\x85') + ".";
  EXPECT_EQ(load_bytes(ok)->kind, Kind::Tuple);
}

TEST(PickleMalicious, MemoStackAndOddOpcodes) {
  expect_refused("\x80\x02h\x05.", "memo entry 5, which was never stored");
  expect_refused("\x80\x02j" + le32(123456) + ".", "memo entry 123456");
  expect_refused("g7\n.", "memo entry 7");
  expect_refused("\x80\x05\x97.", "out-of-band buffers (NEXT_BUFFER)");
  expect_refused("\x80\x05\x98.", "READONLY_BUFFER");
  expect_refused("\x80\x02\x82\x01.", "extension registry (EXT1)");
  expect_refused("\x80\x02\x84" + le32(1) + ".", "EXT4");
  expect_refused("\x80\x02\xd3.", "unknown opcode 0xd3");
  expect_refused("\x80\x06N.", "protocol 6");
  expect_refused(".", "STOP needs 1 value on the stack, found 0");
  expect_refused("K\x01(.", "STOP needs 1 value");
  expect_refused("t.", "TUPLE needs a MARK");
  expect_refused("\x80\x02K\x01\x86.", "TUPLE2 needs 2 values");
  expect_refused("", "ends before its STOP");
  // A list appended to itself would be a cycle.
  expect_refused("]q\x00h\x00"s "a.", "inside itself");
  // Changing a list that another value already holds could close a cycle.
  expect_refused("]q\x00\x85h\x00K\x01"s "a.", "already inside another value");
  // Integers past int64 and text that is not UTF-8.
  expect_refused("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01."s, "beyond the signed 64-bit range");
  expect_refused("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00."s, "beyond the signed 64-bit range");
  expect_refused("I99999999999999999999\n.", "beyond the signed 64-bit range");
  expect_refused("L-99999999999999999999L\n.", "beyond the signed 64-bit range");
  expect_refused("X\x02\x00\x00\x00\xc3\x28."s, "BINUNICODE holds text that is not valid UTF-8");
  expect_refused("X\x03\x00\x00\x00\xed\xa0\x80."s, "not valid UTF-8");  // a surrogate
  Options tight;
  tight.limits.max_memo = 2;
  expect_refused("N\x94\x94\x94.", "more than 2 memo entries", tight);
  tight.limits.max_stack = 3;
  expect_refused("NNNN.", "more than 3 values on the stack", tight);
}

TEST(PickleMalicious, IntegerEdges) {
  auto v = load_bytes("\x80\x02(\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80"s
                      "\x8a\x00\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\xff\x8a\x01\x80I-5\nL7L\nI01\nt."s);
  EXPECT_EQ(canon(*v), "(9223372036854775807,-9223372036854775808,0,-1,-128,-5,7,True)");
}

TEST(PickleApi, AllowedGlobalsListsTheTable) {
  const auto& names = allowed_globals();
  auto has = [&](const char* n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  EXPECT_TRUE(has("collections.OrderedDict"));
  EXPECT_TRUE(has("torch._utils._rebuild_tensor_v2"));
  EXPECT_TRUE(has("torch.cuda.HalfStorage"));
  EXPECT_TRUE(has("torch.float8_e8m0fnu"));
  EXPECT_FALSE(has("os.system"));
  EXPECT_FALSE(has("builtins.eval"));
}
