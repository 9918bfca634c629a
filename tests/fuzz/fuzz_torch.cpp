// libFuzzer harness: the PyTorch loader (io/formats/pytorch.*) on bytes opened
// as a .pt file — the zip format (data.pkl, storages, byteorder and version
// records) and the legacy format (pickles back to back, then raw storages) —
// with every tensor touched (statistics on a prefix, windows, a full stream
// when small) and every metadata value rendered; and the fast state_dict
// scan checked against the general interpreter on the same bytes.
//
// The custom mutator works on the structure: for a zip it rebuilds the
// archive around a mutated data.pkl (pickle_mutator.h) or a mutated record,
// with offsets and CRCs made right again, so mutations get past the zip layer
// into the pickle and the storage checks; a legacy file's pickles are mutated
// in place. One input in four gets plain byte mutation instead.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "io/byte_source.h"
#include "io/deflate.h"
#include "io/error.h"
#include "io/formats/zip.h"
#include "tests/fuzz/pickle_mutator.h"
#include "tests/fuzz/support/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ckpt::fuzz::open_and_touch(data, size, ckpt::io::Format::PyTorch);
  ckpt::fuzz::check_torch_readers_agree(data, size);
  return 0;
}

namespace {

struct Record {
  std::string name;
  std::uint16_t method;
  std::uint32_t crc;  // kept for deflated records, recomputed for stored ones
  std::uint64_t size;
  std::string bytes;  // as stored
};

std::optional<std::vector<Record>> read_records(const std::uint8_t* data, std::size_t size) {
  using namespace ckpt::io;
  std::vector<std::byte> copy(size);
  if (size) std::memcpy(copy.data(), data, size);
  const MemorySource src(std::move(copy), "mutator");
  try {
    const zip::Archive a = zip::read_archive(src);
    std::vector<Record> out;
    for (const auto& m : a.members) {
      const auto b = zip::member_bytes(src, m);
      out.push_back({m.name, m.method, m.crc32, m.size, std::string(reinterpret_cast<const char*>(b.data()), b.size())});
    }
    return out;
  } catch (const Error&) {
    return std::nullopt;
  }
}

void put(std::string& out, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out += static_cast<char>(v >> (8 * i));
}

// A plain zip (no zip64, no alignment padding) of the records, in order.
std::string write_records(const std::vector<Record>& recs) {
  std::string out, dir;
  for (const auto& r : recs) {
    const std::uint64_t size = r.method == ckpt::io::zip::kStored ? r.bytes.size() : r.size;
    const std::uint32_t crc = r.method == ckpt::io::zip::kStored
                                  ? ckpt::io::crc32_update(0, std::as_bytes(std::span<const char>(r.bytes)))
                                  : r.crc;
    const std::uint64_t at = out.size();
    auto common = [&](std::string& s) {
      put(s, 20, 2), put(s, 0, 2), put(s, r.method, 2), put(s, 0, 2), put(s, 0x21, 2);
      put(s, crc, 4), put(s, r.bytes.size(), 4), put(s, size, 4), put(s, r.name.size(), 2), put(s, 0, 2);
    };
    put(out, 0x04034b50, 4);
    common(out);
    out += r.name;
    out += r.bytes;
    put(dir, 0x02014b50, 4);
    put(dir, 20, 2);
    common(dir);
    put(dir, 0, 2), put(dir, 0, 2), put(dir, 0, 2), put(dir, 0, 4), put(dir, at, 4);
    dir += r.name;
  }
  const std::uint64_t dir_at = out.size();
  out += dir;
  put(out, 0x06054b50, 4), put(out, 0, 2), put(out, 0, 2), put(out, recs.size(), 2), put(out, recs.size(), 2);
  put(out, dir.size(), 4), put(out, dir_at, 4), put(out, 0, 2);
  return out;
}

std::size_t mutate_zip(std::uint8_t* data, std::size_t size, std::size_t max_size, std::mt19937_64& rng) {
  auto recs = read_records(data, size);
  if (!recs || recs->empty()) return LLVMFuzzerMutate(data, size, max_size);
  Record* pkl = nullptr;
  for (auto& r : *recs)
    if (r.name.size() >= 9 && r.name.compare(r.name.size() - 9, 9, "/data.pkl") == 0 && r.method == ckpt::io::zip::kStored) pkl = &r;
  const unsigned what = rng() % 10;
  if (what < 7 && pkl) {
    std::string buf = pkl->bytes;
    const std::size_t cap = pkl->bytes.size() + 4096;
    buf.resize(cap);
    buf.resize(ckpt::fuzz::pickle_mutator::mutate(reinterpret_cast<std::uint8_t*>(buf.data()), pkl->bytes.size(), cap,
                                                  static_cast<unsigned>(rng())));
    pkl->bytes = std::move(buf);
  } else if (what < 9) {
    // Another record: a storage's bytes, byteorder, version…
    Record& r = (*recs)[rng() % recs->size()];
    if (r.method != ckpt::io::zip::kStored) return LLVMFuzzerMutate(data, size, max_size);
    std::string buf = r.bytes;
    buf.resize(r.bytes.size() + 64);
    buf.resize(LLVMFuzzerMutate(reinterpret_cast<std::uint8_t*>(buf.data()), r.bytes.size(), buf.size()));
    r.bytes = std::move(buf);
  } else {
    // A record dropped or renamed.
    const std::size_t i = rng() % recs->size();
    if (rng() % 2) recs->erase(recs->begin() + static_cast<std::ptrdiff_t>(i));
    else (*recs)[i].name += rng() % 2 ? "x" : "/";
  }
  const std::string out = write_records(*recs);
  if (out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

}  // namespace

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size, unsigned int seed) {
  std::mt19937_64 rng(seed);
  if (rng() % 4 == 0) return LLVMFuzzerMutate(data, size, max_size);
  if (size >= 4 && data[0] == 'P' && data[1] == 'K') return mutate_zip(data, size, max_size, rng);
  return ckpt::fuzz::pickle_mutator::mutate(data, size, max_size, static_cast<unsigned>(rng()));
}
