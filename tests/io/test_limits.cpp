// Limits against resource attacks: headers that claim huge counts, sizes,
// names or ratios fail fast with their sentence, and opening never allocates
// more than a small multiple of the header's size. This executable replaces
// the global operator new to count live heap bytes (ASan still sees every
// allocation: the replacement allocates with malloc).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/formats/gguf.h"
#include "io/formats/npy.h"
#include "io/formats/npz.h"
#include "io/formats/pickle.h"
#include "io/formats/pytorch.h"
#include "io/formats/safetensors.h"
#include "io/formats/safetensors_fast_header.h"
#include "io/formats/zip.h"
#include "io/limits.h"
#include "io/open.h"
#include "tests/support/support.h"

// ---- counting allocator -------------------------------------------------

namespace {
std::atomic<std::size_t> g_live{0};
std::atomic<std::size_t> g_peak{0};
constexpr std::size_t kPrefix = alignof(std::max_align_t);

void* counted_alloc(std::size_t n) {
  void* p = std::malloc(n + kPrefix);
  if (!p) throw std::bad_alloc();
  *static_cast<std::size_t*>(p) = n;
  const std::size_t live = g_live.fetch_add(n, std::memory_order_relaxed) + n;
  std::size_t peak = g_peak.load(std::memory_order_relaxed);
  while (live > peak && !g_peak.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
  return static_cast<char*>(p) + kPrefix;
}

void counted_free(void* p) noexcept {
  if (!p) return;
  char* base = static_cast<char*>(p) - kPrefix;
  g_live.fetch_sub(*reinterpret_cast<std::size_t*>(base), std::memory_order_relaxed);
  std::free(base);
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }

using namespace ckpt::io;
using ::testing::HasSubstr;

namespace {

// Peak heap bytes above what was live when it was made.
class PeakHeap {
 public:
  PeakHeap() : base_(g_live.load()) { g_peak.store(base_); }
  [[nodiscard]] std::size_t bytes() const { return g_peak.load() - base_; }

 private:
  std::size_t base_;
};

// What a reader said about `bytes`, and the heap it used to say it.
struct Outcome {
  std::string sentence;  // empty: opened
  std::uint64_t offset = kNoOffset;
  std::size_t peak = 0;
};

template <class Open>
Outcome run(Open&& open) {
  PeakHeap heap;
  Outcome o;
  try {
    open();
  } catch (const Error& e) {
    o.sentence = e.sentence();
    o.offset = e.offset();
  }
  o.peak = heap.bytes();
  return o;
}

std::shared_ptr<const ByteSource> memory(const std::string& bytes, const std::string& label) {
  std::vector<std::byte> b(bytes.size());
  std::memcpy(b.data(), bytes.data(), bytes.size());
  return std::make_shared<MemorySource>(std::move(b), label);
}

// Little-endian byte string builder.
struct Bytes {
  std::string s;
  template <class T>
  Bytes& put(T v) {
    for (std::size_t k = 0; k < sizeof(T); ++k) s += static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * k)) & 0xFF);
    return *this;
  }
  Bytes& str(std::string_view v) {
    put<std::uint64_t>(v.size());
    s += v;
    return *this;
  }
};

// Heap allowed while opening a header of `header_bytes`: a small multiple,
// plus a fixed allowance for the reader's own buffers and messages.
constexpr std::size_t kFactor = 16;
constexpr std::size_t kFixed = std::size_t{256} << 10;
std::size_t allowance(std::size_t header_bytes) { return kFactor * header_bytes + kFixed; }

constexpr std::size_t kSmall = std::size_t{64} << 10;  // "fails fast": no allocation for the claim

}  // namespace

// ---- GGUF ------------------------------------------------------------------

TEST(Limits, GgufTensorCountOf2To40InOneKilobyte) {
  Bytes b;
  b.s = "GGUF";
  b.put<std::uint32_t>(3).put<std::uint64_t>(std::uint64_t{1} << 40).put<std::uint64_t>(0);
  b.s.resize(1024, '\0');
  const auto o = run([&] { (void)gguf::describe(memory(b.s, "huge.gguf")); });
  EXPECT_THAT(o.sentence, HasSubstr("claims 1099511627776 tensors, more than the file can hold"));
  EXPECT_LT(o.peak, kSmall);
}

TEST(Limits, GgufKeyValueCountArrayLengthAndStringLength) {
  {
    Bytes b;
    b.s = "GGUF";
    b.put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(std::uint64_t{1} << 50);
    b.s.resize(1024, '\0');
    const auto o = run([&] { (void)gguf::describe(memory(b.s, "kv.gguf")); });
    EXPECT_THAT(o.sentence, HasSubstr("key/value pairs, more than the file can hold"));
    EXPECT_LT(o.peak, kSmall);
  }
  {
    Bytes b;
    b.s = "GGUF";
    b.put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(1);
    b.str("tokenizer.ggml.tokens").put<std::uint32_t>(9).put<std::uint32_t>(8).put<std::uint64_t>(std::uint64_t{1} << 40);
    b.s.resize(1024, '\0');
    const auto o = run([&] { (void)gguf::describe(memory(b.s, "array.gguf")); });
    EXPECT_THAT(o.sentence, HasSubstr("claims 1099511627776 elements, more than the file can hold"));
    EXPECT_LT(o.peak, kSmall);
  }
  {
    Bytes b;
    b.s = "GGUF";
    b.put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(1);
    b.put<std::uint64_t>(std::uint64_t{1} << 40);
    b.s.resize(1024, '\0');
    const auto o = run([&] { (void)gguf::describe(memory(b.s, "string.gguf")); });
    EXPECT_THAT(o.sentence, HasSubstr("claims 1099511627776 bytes, more than the"));
    EXPECT_LT(o.peak, kSmall);
  }
}

// The tensor count fits the file (24 bytes per info at least) but is over
// kMaxTensorCount: a sparse file, so the test writes almost nothing.
TEST(Limits, GgufTensorCountOverTheLimit) {
  ckpt::test::TempDir dir;
  const std::string path = dir.file("count.gguf");
  Bytes b;
  b.s = "GGUF";
  b.put<std::uint32_t>(3).put<std::uint64_t>(kMaxTensorCount + 1).put<std::uint64_t>(0);
  ckpt::test::write_file_bytes(path, std::as_bytes(std::span(b.s)));
  std::filesystem::resize_file(path, (kMaxTensorCount + 2) * 24);
  const auto src = MappedFile::open(path);
  const auto o = run([&] { (void)gguf::describe(src); });
  EXPECT_THAT(o.sentence, HasSubstr("claims 10000001 tensors, over the limit of 10000000"));
  EXPECT_LT(o.peak, kSmall);
}

TEST(Limits, GgufKeysAndTensorNamesOverTheNameLimit) {
  const std::string long_name(kMaxNameBytes + 1, 'k');
  {
    Bytes b;
    b.s = "GGUF";
    b.put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(1);
    b.str(long_name).put<std::uint32_t>(4).put<std::uint32_t>(7);
    const auto o = run([&] { (void)gguf::describe(memory(b.s, "key.gguf")); });
    EXPECT_EQ(o.offset, 24u);
    EXPECT_EQ(o.sentence, "the key of key/value pair 0 is 65537 bytes long, over the limit of 65536");
  }
  {
    Bytes b;
    b.s = "GGUF";
    b.put<std::uint32_t>(3).put<std::uint64_t>(1).put<std::uint64_t>(0);
    b.str(long_name).put<std::uint32_t>(1).put<std::uint64_t>(4).put<std::uint32_t>(0).put<std::uint64_t>(0);
    b.s.resize(b.s.size() + 64, '\0');
    const auto o = run([&] { (void)gguf::describe(memory(b.s, "name.gguf")); });
    EXPECT_EQ(o.offset, 24u);
    EXPECT_EQ(o.sentence, "the name of tensor 0 is 65537 bytes long, over the limit of 65536");
  }
}

// Metadata arrays cost one MetaValue per element, so their elements are
// counted over the whole file: refused before anything is allocated for them.
TEST(Limits, GgufMetadataArrayElementsOverTheLimit) {
  auto array_of_u8 = [](Bytes& b, std::string_view key, std::uint64_t n) {
    b.str(key).put<std::uint32_t>(9).put<std::uint32_t>(0).put<std::uint64_t>(n);
  };
  {
    Bytes b;
    b.s = "GGUF";
    b.put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(1);
    array_of_u8(b, "one", kMaxGgufMetadataElements + 1);
    b.s.resize(b.s.size() + kMaxGgufMetadataElements + 1, '\0');
    const auto src = memory(b.s, "one.gguf");
    const auto o = run([&] { (void)gguf::describe(src); });
    EXPECT_EQ(o.sentence, "the array 'one' brings the metadata to more than 8388608 array elements in all, over the limit");
    EXPECT_LT(o.peak, kSmall);
  }
  {
    // Two arrays, each under the limit, over it together.
    constexpr std::uint64_t kFirst = 1000;
    Bytes b;
    b.s = "GGUF";
    b.put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(2);
    array_of_u8(b, "first", kFirst);
    b.s.resize(b.s.size() + kFirst, '\0');
    array_of_u8(b, "second", kMaxGgufMetadataElements - kFirst + 1);
    b.s.resize(b.s.size() + kMaxGgufMetadataElements, '\0');
    const auto src = memory(b.s, "two.gguf");
    const auto o = run([&] { (void)gguf::describe(src); });
    EXPECT_EQ(o.sentence, "the array 'second' brings the metadata to more than 8388608 array elements in all, over the limit");
    EXPECT_LT(o.peak, 88 * kFirst + kSmall);
  }
}

TEST(Limits, GgufDimensionsWhoseProductOverflows) {
  Bytes b;
  b.s = "GGUF";
  b.put<std::uint32_t>(3).put<std::uint64_t>(1).put<std::uint64_t>(0);
  b.str("t").put<std::uint32_t>(3);
  for (int k = 0; k < 3; ++k) b.put<std::uint64_t>(std::uint64_t{1} << 30);
  b.put<std::uint32_t>(0).put<std::uint64_t>(0);
  b.s.resize(1024, '\0');
  const auto o = run([&] { (void)gguf::describe(memory(b.s, "dims.gguf")); });
  EXPECT_THAT(o.sentence, HasSubstr("has more elements than fit in 64 bits"));
  EXPECT_LT(o.peak, kSmall);
}

// The most tensors a header of this size can describe (empty names, one
// dimension): what opening them costs, per header byte.
TEST(Limits, GgufOpeningManyTensorsStaysWithinAMultipleOfTheHeader) {
  constexpr std::size_t kTensors = 20'000;
  Bytes b;
  b.s = "GGUF";
  b.put<std::uint32_t>(3).put<std::uint64_t>(kTensors).put<std::uint64_t>(0);
  for (std::size_t k = 0; k < kTensors; ++k) {
    b.str(std::to_string(k)).put<std::uint32_t>(1).put<std::uint64_t>(0).put<std::uint32_t>(0).put<std::uint64_t>(0);
  }
  b.s.resize((b.s.size() + 31) / 32 * 32, '\0');
  const std::size_t header = b.s.size();
  const auto src = memory(b.s, "many.gguf");
  const auto o = run([&] { (void)gguf::describe(src); });
  ASSERT_EQ(o.sentence, "");
  RecordProperty("peak_per_header_byte", std::to_string(static_cast<double>(o.peak) / header));
  EXPECT_LT(o.peak, allowance(header)) << o.peak << " bytes for a " << header << "-byte header";
}

// ---- safetensors -----------------------------------------------------------

namespace {
std::string safetensors_file(const std::string& header, std::uint64_t data_bytes = 0) {
  std::string h = header;
  h.append((8 - h.size() % 8) % 8, ' ');
  Bytes b;
  b.put<std::uint64_t>(h.size());
  b.s += h;
  b.s.append(static_cast<std::size_t>(data_bytes), '\0');
  return b.s;
}
}  // namespace

TEST(Limits, SafetensorsHeaderLengthClaimsAndHugeShapes) {
  {
    Bytes b;
    b.put<std::uint64_t>(std::uint64_t{1} << 40);
    b.s += "{}";
    const auto o = run([&] { (void)safetensors::describe(memory(b.s, "len.safetensors")); });
    EXPECT_THAT(o.sentence, HasSubstr("exceeds the limit of 100000000 bytes"));
    EXPECT_LT(o.peak, kSmall);
  }
  for (bool fast : {true, false}) {
    const auto file = safetensors_file(
        R"({"w":{"dtype":"F32","shape":[10000000,10000000,10000000],"data_offsets":[0,4]}})", 4);
    const auto o = run([&] { (void)safetensors::detail::describe(memory(file, "shape.safetensors"), fast); });
    EXPECT_THAT(o.sentence, HasSubstr("has more elements than a 64-bit count can hold"));
    EXPECT_LT(o.peak, kSmall);
  }
  for (bool fast : {true, false}) {
    const auto file = safetensors_file(R"({"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4]}})", 4);
    const auto o = run([&] { (void)safetensors::detail::describe(memory(file, "span.safetensors"), fast); });
    EXPECT_THAT(o.sentence, HasSubstr("needs 4000000000000"));
    EXPECT_LT(o.peak, kSmall);
  }
}

TEST(Limits, SafetensorsNamesOverTheLimit) {
  const std::string long_name(kMaxNameBytes + 1, 'n');
  for (bool fast : {true, false}) {
    const auto file = safetensors_file(R"({")" + long_name + R"(":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
    const auto o = run([&] { (void)safetensors::detail::describe(memory(file, "name.safetensors"), fast); });
    EXPECT_THAT(o.sentence, HasSubstr("bytes long, over the limit of 65536"));
    const auto meta = safetensors_file(R"({"__metadata__":{")" + long_name + R"(":"v"}})");
    const auto m = run([&] { (void)safetensors::detail::describe(memory(meta, "key.safetensors"), fast); });
    EXPECT_THAT(m.sentence, HasSubstr("__metadata__ key"));
    EXPECT_THAT(m.sentence, HasSubstr("over the limit of 65536"));
  }
  // A name just under the limit is fine.
  const auto ok = safetensors_file(R"({")" + std::string(kMaxNameBytes, 'n') +
                                   R"(":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  EXPECT_EQ(safetensors::describe(memory(ok, "ok.safetensors")).tensors.size(), 1u);
}

// A header listing many (empty) tensors, through the fast parser and the
// reference (nlohmann) parser.
TEST(Limits, SafetensorsOpeningManyTensorsStaysWithinAMultipleOfTheHeader) {
  constexpr std::size_t kTensors = 100'000;
  std::string header = "{";
  for (std::size_t k = 0; k < kTensors; ++k) {
    if (k) header += ",";
    header += "\"" + std::to_string(k) + R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})";
  }
  header += "}";
  const auto file = safetensors_file(header);
  const auto src = memory(file, "many.safetensors");
  for (bool fast : {true, false}) {
    SCOPED_TRACE(fast ? "fast parser" : "reference parser");
    const auto o = run([&] { (void)safetensors::detail::describe(src, fast); });
    ASSERT_EQ(o.sentence, "");
    RecordProperty(fast ? "fast_peak_per_header_byte" : "reference_peak_per_header_byte",
                   std::to_string(static_cast<double>(o.peak) / file.size()));
    EXPECT_LT(o.peak, allowance(file.size())) << o.peak << " bytes for a " << file.size() << "-byte header";
  }
}

TEST(Limits, SafetensorsIndexOverTheLimit) {
  ckpt::test::TempDir dir;
  const std::string path = dir.file("model.safetensors.index.json");
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(R"({"weight_map": {}})", f);
    std::fclose(f);
  }
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(kMaxSafetensorsIndexBytes + 1)), 0);
  const auto o = run([&] { (void)open_checkpoint(path); });
  EXPECT_THAT(o.sentence, HasSubstr("over the limit of 67108864 bytes for a .safetensors.index.json"));
  EXPECT_LT(o.peak, kSmall);
}

// ---- npy -------------------------------------------------------------------

namespace {
std::string npy_file(const std::string& dict, int major = 1) {
  std::string b = "\x93NUMPY";
  b += static_cast<char>(major);
  b += '\0';
  Bytes len;
  if (major == 1) len.put<std::uint16_t>(static_cast<std::uint16_t>(dict.size()));
  else len.put<std::uint32_t>(static_cast<std::uint32_t>(dict.size()));
  return b + len.s + dict;
}
}  // namespace

TEST(Limits, NpyHeaderLengthValuesAndShape) {
  {
    const auto file = npy_file(std::string(16, ' '), 2);
    std::string claimed = file;
    Bytes l;
    l.put<std::uint32_t>(0xFFFFFFFFu);
    claimed.replace(8, 4, l.s);
    const auto o = run([&] { (void)npy::describe(memory(claimed, "len.npy")); });
    EXPECT_THAT(o.sentence, HasSubstr("over the 1048576-byte limit"));
    EXPECT_LT(o.peak, kSmall);
  }
  {
    // 200,000 dimensions: integers are kept at 8 bytes each, so this parses
    // within the allowance (and then finds no data).
    std::string shape = "(";
    for (int k = 0; k < 200'000; ++k) shape += "1,";
    shape += ")";
    const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }\n";
    const auto file = npy_file(dict, 2);
    const auto o = run([&] { (void)npy::describe(memory(file, "dims.npy")); });
    EXPECT_THAT(o.sentence, HasSubstr("the array needs 4 data bytes but only 0 follow the header"));
    EXPECT_LT(o.peak, allowance(file.size()));
  }
  {
    // 100,000 empty tuples: each would be a ~100-byte value.
    std::string list = "[";
    for (int k = 0; k < 100'000; ++k) list += "(),";
    list += "]";
    const std::string dict = "{'descr': " + list + ", 'fortran_order': False, 'shape': (), }\n";
    const auto file = npy_file(dict, 2);
    const auto o = run([&] { (void)npy::describe(memory(file, "values.npy")); });
    EXPECT_THAT(o.sentence, HasSubstr("holds more than 4096 values"));
    EXPECT_LT(o.peak, allowance(file.size()));
  }
  {
    // A dict of 50,000 keys (repeated keys are looked up linearly).
    std::string dict = "{";
    for (int k = 0; k < 50'000; ++k) dict += "'k" + std::to_string(k) + "': 0, ";
    dict += "}\n";
    const auto file = npy_file(dict, 2);
    const auto o = run([&] { (void)npy::describe(memory(file, "keys.npy")); });
    EXPECT_THAT(o.sentence, HasSubstr("the header dict has more than 64 keys"));
    EXPECT_LT(o.peak, allowance(file.size()));
  }
  {
    const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }\n";
    const auto o = run([&] { (void)npy::describe(memory(npy_file(dict), "shape.npy")); });
    EXPECT_THAT(o.sentence, HasSubstr("has more elements than can be addressed"));
    EXPECT_LT(o.peak, kSmall);
  }
}

// ---- zip / npz -------------------------------------------------------------

namespace {
// An end of central directory record (no members behind it) claiming `entries`.
std::string end_record(std::uint16_t entries, std::uint32_t cd_size, std::uint32_t cd_offset) {
  Bytes b;
  b.put<std::uint32_t>(0x06054b50).put<std::uint16_t>(0).put<std::uint16_t>(0);
  b.put<std::uint16_t>(entries).put<std::uint16_t>(entries).put<std::uint32_t>(cd_size).put<std::uint32_t>(cd_offset);
  b.put<std::uint16_t>(0);
  return b.s;
}
std::string zip64_end(std::uint64_t entries, std::uint64_t cd_size, std::uint64_t cd_offset, std::uint64_t at) {
  Bytes b;
  b.put<std::uint32_t>(0x06064b50).put<std::uint64_t>(44).put<std::uint16_t>(45).put<std::uint16_t>(45);
  b.put<std::uint32_t>(0).put<std::uint32_t>(0).put<std::uint64_t>(entries).put<std::uint64_t>(entries);
  b.put<std::uint64_t>(cd_size).put<std::uint64_t>(cd_offset);
  b.put<std::uint32_t>(0x07064b50).put<std::uint32_t>(0).put<std::uint64_t>(at).put<std::uint32_t>(1);
  return b.s + end_record(0xFFFF, 0xFFFFFFFFu, 0xFFFFFFFFu);
}
}  // namespace

TEST(Limits, NpzCentralDirectoryClaims) {
  {
    // 65535 members claimed by a 1 KiB archive.
    std::string file(1024 - 22, '\0');
    file += end_record(0xFFFF - 1, 1000, 0);
    const auto o = run([&] { (void)npz::describe(memory(file, "many.npz")); });
    EXPECT_THAT(o.sentence, HasSubstr("claims 65534 members but its central directory holds only 1000 bytes"));
    EXPECT_LT(o.peak, kSmall);
  }
  {
    // zip64: 2^40 members.
    std::string file(1024, '\0');
    file += zip64_end(std::uint64_t{1} << 40, 1024, 0, file.size());
    const auto o = run([&] { (void)npz::describe(memory(file, "many64.npz")); });
    EXPECT_THAT(o.sentence, HasSubstr("claims 1099511627776 members, over the limit of 10000000"));
    EXPECT_LT(o.peak, kSmall);
  }
  {
    // A central directory of 300 MiB (a sparse file, so it costs no disk).
    ckpt::test::TempDir dir;
    const std::string path = dir.file("bigcd.npz");
    const std::uint64_t cd = std::uint64_t{300} << 20;
    const std::string tail = zip64_end(1, cd, 0, cd);
    ckpt::test::write_file_bytes(path, {});
    ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(cd)), 0);
    std::FILE* f = std::fopen(path.c_str(), "ab");
    ASSERT_NE(f, nullptr);
    std::fwrite(tail.data(), 1, tail.size(), f);
    std::fclose(f);
    const auto o = run([&] { (void)open_checkpoint(path); });
    EXPECT_THAT(o.sentence, HasSubstr("the central directory is 314572800 bytes, over the limit of 268435456 bytes"));
    EXPECT_LT(o.peak, kSmall);
  }
}

namespace {
// A zip written by our writer whose central directory then gets patched by `patch`
// (given the archive bytes and the offset of the first central header).
template <class Fill, class Patch>
std::string patched_zip(Fill&& fill, Patch&& patch) {
  ckpt::test::TempDir dir;
  const std::string path = dir.file("z.npz");
  {
    AtomicFile out(path, false);
    zip::Writer w(out);
    fill(w);
    w.finish();
    out.commit();
  }
  const auto bytes = ckpt::test::read_file_bytes(path);
  std::string s(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::uint32_t cd = 0;
  std::memcpy(&cd, s.data() + s.size() - 22 + 16, 4);
  patch(s, cd);
  return s;
}
void put32_at(std::string& s, std::size_t at, std::uint32_t v) {
  for (int k = 0; k < 4; ++k) s[at + static_cast<std::size_t>(k)] = static_cast<char>((v >> (8 * k)) & 0xFF);
}
}  // namespace

// Declared sizes beyond deflate's ratio are refused from the headers; a
// stream that inflates past the size it declared is stopped while inflating,
// after at most the declared bytes.
TEST(Limits, ZipBombs) {
  const std::string header = npy::make_header(DType::F32, {16});
  {
    const auto file = patched_zip(
        [&](zip::Writer& w) {
          w.begin_member("a.npy", zip::kDeflated);
          w.write(std::as_bytes(std::span<const char>(header)));
          w.end_member();
        },
        [](std::string& s, std::uint32_t cd) { put32_at(s, cd + 24, 0xFFFFFFF0u); });
    const auto o = run([&] { (void)npz::describe(memory(file, "ratio.npz")); });
    EXPECT_THAT(o.sentence, HasSubstr("beyond deflate's 1032:1 maximum ratio"));
    EXPECT_LT(o.peak, kSmall);
  }
  {
    // 64 MiB of zeros after a header for 16 floats; the archive declares 64 bytes of data.
    const std::vector<std::byte> zeros(std::size_t{1} << 20);
    const auto file = patched_zip(
        [&](zip::Writer& w) {
          w.begin_member("a.npy", zip::kDeflated, 9);
          w.write(std::as_bytes(std::span<const char>(header)));
          for (int k = 0; k < 64; ++k) w.write(zeros);
          w.end_member();
        },
        [&](std::string& s, std::uint32_t cd) { put32_at(s, cd + 24, static_cast<std::uint32_t>(header.size() + 64)); });
    const auto ck = npz::describe(memory(file, "bomb.npz"));
    ASSERT_EQ(ck.tensors.size(), 1u);
    const auto o = run([&] { (void)read_all(ck.tensors[0]); });
    EXPECT_THAT(o.sentence, HasSubstr("inflates to more than the " + std::to_string(header.size() + 64) + " bytes the archive declares"));
    EXPECT_LT(o.peak, std::size_t{8} << 20);
  }
  {
    // Two central entries sharing one member's bytes (the overlapping-member bomb).
    const auto file = patched_zip(
        [&](zip::Writer& w) {
          for (const char* name : {"a.npy", "b.npy"}) {
            w.begin_member(name, zip::kStored);
            w.write(std::as_bytes(std::span<const char>(header)));
            w.write(std::vector<std::byte>(64));
            w.end_member();
          }
        },
        [](std::string& s, std::uint32_t cd) {
          // The first member (local header: 30 bytes, its name, a 20-byte zip64 extra)
          // now claims every byte up to the central directory, the second member included.
          const std::uint32_t data_offset = 30 + 5 + 20;
          put32_at(s, cd + 20, cd - data_offset);
          put32_at(s, cd + 24, cd - data_offset);
        });
    const auto o = run([&] { (void)npz::describe(memory(file, "overlap.npz")); });
    EXPECT_THAT(o.sentence, HasSubstr("overlaps member"));
  }
}

// torch stores data.pkl; a repacked archive may deflate it, and it is then
// inflated whole, so its declared size is capped before anything is inflated.
TEST(Limits, TorchDeflatedDataPklOverTheLimit) {
  std::vector<std::byte> noise(300'000);
  std::uint32_t x = 12345;
  for (auto& b : noise) b = static_cast<std::byte>((x = x * 1664525u + 1013904223u) >> 24);
  const auto file = patched_zip(
      [&](zip::Writer& w) {
        w.begin_member("archive/data.pkl", zip::kDeflated);
        w.write(noise);
        w.end_member();
      },
      // 3·10^8 declared bytes from ~300 KB: within deflate's ratio, over the cap.
      [](std::string& s, std::uint32_t cd) { put32_at(s, cd + 24, 300'000'000u); });
  const auto o = run([&] { (void)pytorch::describe(memory(file, "repacked.pt")); });
  EXPECT_EQ(o.sentence, "the data.pkl record is 300000000 bytes, over the limit of 268435456");
  EXPECT_LT(o.peak, std::size_t{2} << 20);
}

TEST(Limits, NpzOpeningManyMembersStaysWithinAMultipleOfTheArchive) {
  ckpt::test::TempDir dir;
  const std::string path = dir.file("many.npz");
  std::vector<TensorInfo> ts;
  for (int k = 0; k < 5000; ++k) ts.push_back(ckpt::test::random_tensor(std::to_string(k), DType::U8, {1}, 1));
  npz::write(path, ts, {}, {});
  const auto size = std::filesystem::file_size(path);
  const auto src = MappedFile::open(path);
  const auto o = run([&] { (void)npz::describe(src); });
  ASSERT_EQ(o.sentence, "");
  RecordProperty("peak_per_archive_byte", std::to_string(static_cast<double>(o.peak) / static_cast<double>(size)));
  EXPECT_LT(o.peak, allowance(size)) << o.peak << " bytes for a " << size << "-byte archive";
}

// An empty tensor whose other dimensions multiply past int64, with strides
// that match them (a hostile PyTorch view): described, never overflowing.
TEST(Limits, EmptyStridedTensorWithHugeDimensions) {
  StoredLayout l;
  l.file = memory(std::string(16, '\0'), "view.pt");
  l.stored_size = 16;
  l.raw_size = 16;
  l.dtype = DType::F32;
  l.shape = {0, std::int64_t{1} << 40, std::int64_t{1} << 40};
  l.strides = {1, std::int64_t{1} << 40, 1};
  const auto data = make_stored_data(l);
  std::uint64_t seen = 0;
  data->stream([&](std::span<const std::byte> b) { seen += b.size(); });
  EXPECT_EQ(seen, 0u);
}

// ---- pickle ----------------------------------------------------------------

// One-byte opcodes that each make a value (EMPTY_LIST, EMPTY_DICT) would cost
// ~180 bytes of heap per input byte; the build budget counts values too, so
// the load stops within max_built_per_byte per byte read plus the floor.
TEST(Limits, PickleOfOneByteValuesStaysWithinItsBudget) {
  const pickle::Limits limits;
  for (const char op : {']', '}'}) {
    std::string s = "\x80\x02" + std::string(2'000'000, op) + ".";
    const auto o = run([&] {
      (void)pickle::load(std::as_bytes(std::span(s)), "ops.pkl", 0, pickle::Options{});
    });
    EXPECT_THAT(o.sentence, HasSubstr("makes or copies far more values than its size explains")) << op;
    // Refused long before the end: the floor's worth of values, then out
    // (each costs ~50 bytes more than its byte earns, so ~300,000 in).
    EXPECT_LT(o.offset, 500'000u) << op;
    EXPECT_LT(o.peak, limits.max_built_per_byte * o.offset + limits.max_built_floor + kFixed) << op;
  }
  // None and the empty tuple are made once and shared, so each further one
  // costs only its stack slot: two million of them load, within the budget.
  for (const char op : {'N', ')'}) {
    std::string s = "\x80\x02" + std::string(2'000'000, op) + ".";
    const auto o = run([&] {
      (void)pickle::load(std::as_bytes(std::span(s)), "ops.pkl", 0, pickle::Options{});
    });
    EXPECT_EQ(o.sentence, "") << op;
    EXPECT_LT(o.peak, limits.max_built_per_byte * s.size() + limits.max_built_floor + kFixed) << op;
  }
}
