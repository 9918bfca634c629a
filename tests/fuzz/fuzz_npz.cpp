// libFuzzer harness: an .npz archive — the zip layer (end records, zip64,
// central directory, local headers, data descriptors) and each member's .npy
// header, then every member's data (stored members mapped in place, deflated
// ones inflated: the CRC, the declared sizes and the ratio limit are checked
// on the way).
//
// Byte flips cannot change a deflated member's .npy header (the deflate
// stream breaks) nor a stored one's without a CRC mismatch, so the custom
// mutator reads the archive with our zip reader, changes the members — one
// member's uncompressed bytes mutated by libFuzzer, a member added, dropped
// or renamed — and writes a fresh, valid archive around them with correct
// sizes and CRCs, each member stored or deflated and, at random, with zip64
// extra fields, a data descriptor or zip64 end records. Inputs the reader
// rejects, and one in three of the rest, get libFuzzer's own byte mutation,
// which is what reaches the zip structure checks themselves.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <zlib.h>

#include "io/byte_source.h"
#include "io/deflate.h"
#include "io/error.h"
#include "io/formats/zip.h"
#include "tests/fuzz/support/fuzz_support.h"

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

namespace {

struct Entry {
  std::string name;
  std::vector<std::uint8_t> data;  // uncompressed
  bool deflate = false;
};

class Out {
 public:
  std::vector<std::uint8_t> b;
  void u16(std::uint64_t v) { put(v, 2); }
  void u32(std::uint64_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }
  void bytes(const void* p, std::size_t n) {
    const auto* c = static_cast<const std::uint8_t*>(p);
    b.insert(b.end(), c, c + n);
  }

 private:
  void put(std::uint64_t v, int n) {
    for (int k = 0; k < n; ++k) b.push_back(static_cast<std::uint8_t>(v >> (8 * k)));
  }
};

// zlib directly: io::RawDeflater sets up a writer's multi-megabyte buffer,
// which would cost more than the rest of a mutation.
std::vector<std::uint8_t> deflate_raw(const std::vector<std::uint8_t>& in) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::vector<std::uint8_t> out(deflateBound(&z, static_cast<uLong>(in.size())));
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::uint32_t crc_of(const std::vector<std::uint8_t>& in) {
  return ckpt::io::crc32_update(0, std::as_bytes(std::span(in)));
}

// A valid archive of `entries`, with the optional zip features chosen by `rng`.
std::vector<std::uint8_t> build(const std::vector<Entry>& entries, std::mt19937_64& rng) {
  constexpr std::uint64_t kSat32 = 0xFFFFFFFF;
  struct Placed {
    std::uint64_t offset, csize, usize;
    std::uint32_t crc;
    std::uint16_t method, flags;
  };
  std::vector<Placed> placed;
  Out o;
  const bool zip64_central = rng() % 6 == 0;
  for (const auto& e : entries) {
    const auto stored = e.deflate ? deflate_raw(e.data) : e.data;
    Placed p{o.b.size(), stored.size(), e.data.size(), crc_of(e.data), static_cast<std::uint16_t>(e.deflate ? 8 : 0),
             static_cast<std::uint16_t>(rng() % 5 == 0 ? 8 : 0)};
    const bool zip64_local = rng() % 3 == 0;
    const bool descriptor = p.flags & 8;
    o.u32(0x04034b50);
    o.u16(zip64_local ? 45 : 20);
    o.u16(p.flags);
    o.u16(p.method);
    o.u16(0);
    o.u16(0x21);
    o.u32(descriptor ? 0 : p.crc);
    o.u32(zip64_local ? kSat32 : descriptor ? 0 : p.csize);
    o.u32(zip64_local ? kSat32 : descriptor ? 0 : p.usize);
    o.u16(e.name.size());
    o.u16(zip64_local ? 20 : 0);
    o.bytes(e.name.data(), e.name.size());
    if (zip64_local) {
      o.u16(1);
      o.u16(16);
      o.u64(p.usize);
      o.u64(p.csize);
    }
    o.bytes(stored.data(), stored.size());
    if (descriptor) {
      o.u32(0x08074b50);
      o.u32(p.crc);
      if (zip64_local) {
        o.u64(p.csize);
        o.u64(p.usize);
      } else {
        o.u32(p.csize);
        o.u32(p.usize);
      }
    }
    placed.push_back(p);
  }
  const std::uint64_t cd_offset = o.b.size();
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const auto& e = entries[k];
    const auto& p = placed[k];
    o.u32(0x02014b50);
    o.u16(45);
    o.u16(zip64_central ? 45 : 20);
    o.u16(p.flags);
    o.u16(p.method);
    o.u16(0);
    o.u16(0x21);
    o.u32(p.crc);
    o.u32(zip64_central ? kSat32 : p.csize);
    o.u32(zip64_central ? kSat32 : p.usize);
    o.u16(e.name.size());
    o.u16(zip64_central ? 28 : 0);
    o.u16(0);
    o.u16(0);
    o.u16(0);
    o.u32(0);
    o.u32(zip64_central ? kSat32 : p.offset);
    o.bytes(e.name.data(), e.name.size());
    if (zip64_central) {
      o.u16(1);
      o.u16(24);
      o.u64(p.usize);
      o.u64(p.csize);
      o.u64(p.offset);
    }
  }
  const std::uint64_t cd_size = o.b.size() - cd_offset;
  const bool zip64_end = zip64_central || rng() % 6 == 0;
  if (zip64_end) {
    const std::uint64_t rec = o.b.size();
    o.u32(0x06064b50);
    o.u64(44);
    o.u16(45);
    o.u16(45);
    o.u32(0);
    o.u32(0);
    o.u64(entries.size());
    o.u64(entries.size());
    o.u64(cd_size);
    o.u64(cd_offset);
    o.u32(0x07064b50);
    o.u32(0);
    o.u64(rec);
    o.u32(1);
  }
  o.u32(0x06054b50);
  o.u16(0);
  o.u16(0);
  o.u16(zip64_end ? 0xFFFF : entries.size());
  o.u16(zip64_end ? 0xFFFF : entries.size());
  o.u32(zip64_end ? kSat32 : cd_size);
  o.u32(zip64_end ? kSat32 : cd_offset);
  o.u16(0);
  return o.b;
}

// The archive's members, uncompressed; nullopt when our reader rejects it.
std::optional<std::vector<Entry>> members_of(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(size);
  if (size) std::memcpy(bytes.data(), data, size);
  const ckpt::io::MemorySource src(std::move(bytes), "mutator");
  try {
    std::vector<Entry> out;
    for (const auto& m : ckpt::io::zip::read_archive(src).members) {
      // Inflating a near-bomb on every mutation would slow the fuzzer to a crawl.
      if (m.size > (std::uint64_t{1} << 20)) return std::nullopt;
      Entry e;
      e.name = m.name;
      e.deflate = m.method == ckpt::io::zip::kDeflated;
      ckpt::io::zip::read_member(src, m, [&](std::span<const std::byte> b) {
        const auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
        e.data.insert(e.data.end(), p, p + b.size());
      });
      out.push_back(std::move(e));
    }
    return out;
  } catch (const ckpt::io::Error&) {
    return std::nullopt;
  }
}

bool mutate_members(std::vector<Entry>& entries, std::size_t max_size, std::mt19937_64& rng) {
  if (entries.empty()) {
    entries.push_back({"x.npy", {}, false});
    return true;
  }
  Entry& e = entries[rng() % entries.size()];
  switch (rng() % 8) {
    case 0:  // add a copy (same name, or a new one)
      entries.push_back({rng() % 3 == 0 ? e.name : "m" + std::to_string(rng() % 100) + ".npy", e.data, !e.deflate});
      return true;
    case 1:
      if (entries.size() < 2) return false;
      entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(rng() % entries.size()));
      return true;
    case 2: {
      static const char* const kNames[] = {"a.npy", "dir/", "dir/b.npy", "no_extension", ".npy", "", "../up.npy",
                                           "x.npy.npy", "\xC3\xA9.npy", "arr_0.npy"};
      e.name = kNames[rng() % std::size(kNames)];
      return true;
    }
    case 3: e.deflate = !e.deflate; return true;
    default: {  // the member's bytes: header and data alike
      const std::size_t cap = std::min<std::size_t>(max_size, e.data.size() * 2 + 256);
      std::vector<std::uint8_t> buf(e.data);
      buf.resize(cap);
      buf.resize(LLVMFuzzerMutate(buf.data(), e.data.size(), cap));
      e.data = std::move(buf);
      return true;
    }
  }
}

}  // namespace

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size,
                                               unsigned int seed) {
  std::mt19937_64 rng(seed);
  if (rng() % 3 != 0) {
    if (auto entries = members_of(data, size); entries && mutate_members(*entries, max_size, rng)) {
      const auto out = build(*entries, rng);
      if (out.size() <= max_size) {
        std::memcpy(data, out.data(), out.size());
        return out.size();
      }
    }
  }
  return LLVMFuzzerMutate(data, size, max_size);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ckpt::fuzz::open_and_touch(data, size, ckpt::io::Format::Npz);
  return 0;
}
