// Zip archives (PKWARE APPNOTE 6.3), the subset NumPy, MLX and PyTorch use.
//
// Layout, all integers little-endian:
//   [local header][member data][data descriptor?]   … one per member
//   [central directory header] …                     one per member
//   [zip64 end of central directory record]          (zip64 only)
//   [zip64 end of central directory locator]         (zip64 only)
//   [end of central directory record][comment]
//
// local header (30 bytes + name + extra):
//   u32 0x04034b50, u16 version needed, u16 flags, u16 method, u16 time,
//   u16 date, u32 crc-32, u32 compressed size, u32 size, u16 name length,
//   u16 extra length. With flag bit 3 the crc and sizes may be zero here and
//   follow the data in a descriptor; the central directory always has them.
// central directory header (46 bytes + name + extra + comment):
//   u32 0x02014b50, u16 version made by, u16 version needed, u16 flags,
//   u16 method, u16 time, u16 date, u32 crc-32, u32 compressed size, u32 size,
//   u16 name length, u16 extra length, u16 comment length, u16 disk start,
//   u16 internal attributes, u32 external attributes, u32 local header offset.
// zip64 extra field (id 0x0001): in the central directory, u64 size, u64
//   compressed size, u64 local header offset, u32 disk — only those whose
//   32-bit field is saturated (0xFFFFFFFF), in that order. In a local header
//   it holds both sizes.
// end of central directory (22 bytes + comment): u32 0x06054b50, u16 disk,
//   u16 disk with the directory, u16 entries on this disk, u16 entries,
//   u32 directory size, u32 directory offset, u16 comment length.
// zip64 locator (20 bytes, just before it): u32 0x07064b50, u32 disk,
//   u64 offset of the zip64 record, u32 disk count.
// zip64 end record: u32 0x06064b50, u64 record size, u16 made by, u16 needed,
//   u32 disk, u32 disk with directory, u64 entries on disk, u64 entries,
//   u64 directory size, u64 directory offset.
#include "io/formats/zip.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <exception>
#include <limits>
#include <thread>

#include "io/byte_reader.h"
#include "io/checked.h"
#include "io/deflate.h"
#include "io/endian.h"
#include "io/error.h"
#include "io/inflate_prefix.h"
#include "io/limits.h"
#include "io/thread_pool.h"

namespace ckpt::io::zip {

namespace {

constexpr std::uint32_t kLocalSig = 0x04034b50;
constexpr std::uint32_t kCentralSig = 0x02014b50;
constexpr std::uint32_t kEndSig = 0x06054b50;
constexpr std::uint32_t kEnd64Sig = 0x06064b50;
constexpr std::uint32_t kLocator64Sig = 0x07064b50;
constexpr std::uint64_t kEndSize = 22;
constexpr std::uint64_t kLocatorSize = 20;
constexpr std::uint64_t kEnd64Size = 56;
constexpr std::uint64_t kCentralSize = 46;
constexpr std::uint64_t kLocalSize = 30;
// Local headers closer together than this are asked for as one read
// (ask_for_local_headers): between two of them a cold disk streams the
// bytes faster than it seeks past them.
constexpr std::uint64_t kHeaderGap = std::uint64_t{256} << 10;
// The most of the member area asked for before the directory is parsed;
// the hint's page-cache work is done on the calling thread.
constexpr std::uint64_t kEarlyMemberArea = std::uint64_t{64} << 20;
constexpr std::uint32_t kSat32 = 0xFFFFFFFFu;
constexpr std::uint16_t kSat16 = 0xFFFFu;
// A deflate stream of nothing still costs a couple of bytes; allow for the
// fixed overhead of tiny members on top of the ratio.
constexpr std::uint64_t kDeflateSlack = 1024;

struct End {
  std::uint64_t pos = 0;
  std::uint64_t entries = 0;
  std::uint64_t cd_size = 0;
  std::uint64_t cd_offset = 0;
  std::uint64_t limit = 0;  // where the central directory must end (first end record)
  bool zip64 = false;
};

// Phase 1: the end of central directory record, searched backwards because a
// comment of up to 65535 bytes may follow it.
End find_end(const ByteSource& src) {
  const auto all = src.all();
  const std::uint64_t size = all.size();
  if (size < kEndSize)
    throw Error(src.label(), 0, "the file is too small to be a zip archive (" + std::to_string(size) + " bytes)");
  const std::uint64_t lowest = size > kEndSize + 0xFFFF ? size - kEndSize - 0xFFFF : 0;
  std::optional<std::uint64_t> exact, loose;
  for (std::uint64_t p = size - kEndSize + 1; p-- > lowest;) {
    if (load_le<std::uint32_t>(all.data() + p) != kEndSig) continue;
    const std::uint16_t comment = load_le<std::uint16_t>(all.data() + p + 20);
    if (p + kEndSize + comment == size) {
      exact = p;
      break;
    }
    if (!loose && p + kEndSize + comment <= size) loose = p;
  }
  if (!exact && !loose)
    throw Error(src.label(), size, "no end of central directory record: the file is not a zip archive or is truncated");
  End e;
  e.pos = exact ? *exact : *loose;
  ByteReader r(src, e.pos + 4);
  const auto disk = r.read<std::uint16_t>("disk number");
  const auto cd_disk = r.read<std::uint16_t>("central directory disk");
  const auto disk_entries = r.read<std::uint16_t>("entries on this disk");
  e.entries = r.read<std::uint16_t>("entry count");
  e.cd_size = r.read<std::uint32_t>("central directory size");
  e.cd_offset = r.read<std::uint32_t>("central directory offset");
  e.limit = e.pos;

  // Phase 2: zip64 end records, when the locator sits right before the end record.
  if (e.pos >= kLocatorSize && load_le<std::uint32_t>(all.data() + e.pos - kLocatorSize) == kLocator64Sig) {
    ByteReader l(src, e.pos - kLocatorSize + 4);
    const auto disk64 = l.read<std::uint32_t>("zip64 locator disk");
    const auto rec = l.read<std::uint64_t>("zip64 end record offset");
    const auto disks = l.read<std::uint32_t>("zip64 disk count");
    if (disk64 != 0 || disks > 1) throw Error(src.label(), e.pos - kLocatorSize, "multi-disk zip archives are not supported");
    if (rec > e.pos - kLocatorSize || e.pos - kLocatorSize - rec < kEnd64Size)
      throw Error(src.label(), e.pos - kLocatorSize, "the zip64 end record offset " + std::to_string(rec) + " is outside the archive");
    ByteReader z(src, rec);
    if (z.read<std::uint32_t>("zip64 end record signature") != kEnd64Sig)
      throw Error(src.label(), rec, "no zip64 end of central directory record where the locator points");
    (void)z.read<std::uint64_t>("zip64 end record size");
    (void)z.read<std::uint16_t>("version made by");
    (void)z.read<std::uint16_t>("version needed");
    const auto d = z.read<std::uint32_t>("disk number");
    const auto cd = z.read<std::uint32_t>("central directory disk");
    (void)z.read<std::uint64_t>("entries on this disk");
    e.entries = z.read<std::uint64_t>("entry count");
    e.cd_size = z.read<std::uint64_t>("central directory size");
    e.cd_offset = z.read<std::uint64_t>("central directory offset");
    if (d != 0 || cd != 0) throw Error(src.label(), rec, "multi-disk zip archives are not supported");
    e.limit = rec;
    e.zip64 = true;
  } else {
    if (disk != 0 || cd_disk != 0 || disk_entries != e.entries)
      throw Error(src.label(), e.pos, "multi-disk zip archives are not supported");
    if (e.entries == kSat16 || e.cd_size == kSat32 || e.cd_offset == kSat32)
      throw Error(src.label(), e.pos, "the end record says zip64 but the zip64 end records are missing");
  }

  // Phase 3: the central directory must lie before the end records and be
  // large enough for the entries it claims, before anything is allocated.
  const auto cd_end = checked_add(e.cd_offset, e.cd_size);
  if (!cd_end || *cd_end > e.limit)
    throw Error(src.label(), e.pos, "the central directory (offset " + std::to_string(e.cd_offset) + ", " +
                                        std::to_string(e.cd_size) + " bytes) runs past the end records");
  if (e.cd_size > kMaxZipCentralDirectoryBytes)
    throw Error(src.label(), e.pos, "the central directory is " + std::to_string(e.cd_size) + " bytes, over the limit of " +
                                        std::to_string(kMaxZipCentralDirectoryBytes) + " bytes");
  if (e.entries > kMaxTensorCount)
    throw Error(src.label(), e.pos, "the archive claims " + std::to_string(e.entries) + " members, over the limit of " +
                                        std::to_string(kMaxTensorCount));
  const auto min_cd = checked_mul(e.entries, kCentralSize);
  if (!min_cd || *min_cd > e.cd_size)
    throw Error(src.label(), e.pos, "the archive claims " + std::to_string(e.entries) + " members but its central directory holds only " +
                                        std::to_string(e.cd_size) + " bytes");
  return e;
}

struct Zip64Fields {
  std::optional<std::uint64_t> size, compressed_size, offset;
};

// Finds the zip64 extra field in `extra` and reads the fields whose 32-bit
// versions were saturated, in the order the specification fixes.
Zip64Fields read_zip64_extra(const ByteSource& src, std::uint64_t extra_pos, std::uint64_t extra_len, bool need_size,
                             bool need_csize, bool need_offset, bool* found = nullptr) {
  Zip64Fields f;
  ByteReader r(src, extra_pos);
  const std::uint64_t end = extra_pos + extra_len;
  while (r.pos() + 4 <= end) {
    const auto id = r.read<std::uint16_t>("extra field id");
    const auto len = r.read<std::uint16_t>("extra field length");
    if (r.pos() + len > end) throw Error(src.label(), r.pos(), "an extra field runs past the end of its header");
    if (id != 0x0001) {
      r.seek(r.pos() + len);
      continue;
    }
    if (found) *found = true;
    ByteReader z(src, r.pos());
    std::uint64_t left = len;
    auto take = [&](const char* what) -> std::uint64_t {
      if (left < 8) throw Error(src.label(), z.pos(), std::string("the zip64 extra field lacks the ") + what);
      left -= 8;
      return z.read<std::uint64_t>(what);
    };
    if (need_size) f.size = take("uncompressed size");
    if (need_csize) f.compressed_size = take("compressed size");
    if (need_offset) f.offset = take("local header offset");
    return f;
  }
  if (need_size || need_csize || need_offset)
    throw Error(src.label(), extra_pos, "a saturated size or offset has no zip64 extra field to complete it");
  return f;
}

}  // namespace

Archive read_central_directory(const ByteSource& src) {
  const End end = find_end(src);
  Archive a;
  a.zip64 = end.zip64;
  a.central_directory_offset = end.cd_offset;
  a.members.reserve(static_cast<std::size_t>(end.entries));  // bounded by cd_size / 46 above
  // Cold, the directory comes off the disk in one request, not a fault at
  // a time. Where the members lie close together, every caller goes on to
  // read all of the member area (each member's local header, which
  // ask_for_local_headers merges into one range), so its first part is
  // asked for now too: the disk then reads it while the directory is
  // parsed, not after (a 50,000-member .npz listed cold, 21 alternating
  // runs of bench/ab_pause.py --cold: 0.093 → 0.089 s).
  if (end.cd_size > 0) src.prefetch(end.cd_offset, end.cd_size);
  if (end.entries > 0 && end.cd_offset / end.entries < kHeaderGap)
    src.prefetch(0, std::min(end.cd_offset, kEarlyMemberArea));

  // Phase 4: central directory headers.
  ByteReader r(src, end.cd_offset);
  const std::uint64_t cd_end = end.cd_offset + end.cd_size;
  for (std::uint64_t k = 0; k < end.entries; ++k) {
    const std::uint64_t at = r.pos();
    if (at + kCentralSize > cd_end)
      throw Error(src.label(), at, "the central directory ends after " + std::to_string(k) + " of " +
                                       std::to_string(end.entries) + " members");
    // The fixed part in one view (the check above keeps it inside the
    // directory): a bounds-checked read per field was a tenth of listing
    // 50,000 members.
    const std::byte* h = r.bytes(kCentralSize, "central directory header").data();
    if (load_le<std::uint32_t>(h) != kCentralSig)
      throw Error(src.label(), at, "bad central directory header signature for member " + std::to_string(k));
    Member m;
    m.central_header_offset = at;
    m.flags = load_le<std::uint16_t>(h + 8);
    m.method = load_le<std::uint16_t>(h + 10);
    m.crc32 = load_le<std::uint32_t>(h + 16);
    const auto csize32 = load_le<std::uint32_t>(h + 20);
    const auto size32 = load_le<std::uint32_t>(h + 24);
    const auto name_len = load_le<std::uint16_t>(h + 28);
    const auto extra_len = load_le<std::uint16_t>(h + 30);
    const auto comment_len = load_le<std::uint16_t>(h + 32);
    const auto disk = load_le<std::uint16_t>(h + 34);
    const auto offset32 = load_le<std::uint32_t>(h + 42);
    if (r.pos() + name_len + extra_len + comment_len > cd_end)
      throw Error(src.label(), at, "central directory header " + std::to_string(k) + " runs past the end of the directory");
    m.name = r.string(name_len, "member name");
    const std::uint64_t extra_pos = r.pos();
    r.seek(r.pos() + extra_len + comment_len);
    if (disk != 0 && disk != kSat16) throw Error(src.label(), at, "multi-disk zip archives are not supported");
    const auto z = read_zip64_extra(src, extra_pos, extra_len, size32 == kSat32, csize32 == kSat32, offset32 == kSat32);
    m.size = z.size.value_or(size32);
    m.compressed_size = z.compressed_size.value_or(csize32);
    m.local_header_offset = z.offset.value_or(offset32);
    if (m.flags & 0x0001) throw Error(src.label(), at, "member '" + m.name + "' is encrypted, which is not supported");

    a.members.push_back(std::move(m));
  }
  return a;
}

namespace {
// Phases 5 and 6 for member `k`: its local header, whose variable length
// decides where the data starts, and its sizes against the file and against
// what its method can do.
LocalHeader check_local_header(const ByteSource& src, const Archive& a, std::size_t k) {
  const Member& m = a.members[k];
  const std::uint64_t cd_offset = a.central_directory_offset;
  const std::uint64_t at = m.central_header_offset;
  // Built only for an error: two strings per member were a tenth of listing 50,000.
  const auto who = [&m] { return "member '" + m.name + "'"; };
  if (m.local_header_offset >= cd_offset || cd_offset - m.local_header_offset < kLocalSize)
    throw Error(src.label(), at, who() + " has a local header offset " + std::to_string(m.local_header_offset) +
                                     " outside the member area");
  ByteReader l(src, m.local_header_offset);
  const std::byte* h = l.bytes(kLocalSize, "local header").data();  // inside the member area, checked above
  if (load_le<std::uint32_t>(h) != kLocalSig)
    throw Error(src.label(), m.local_header_offset, who() + " has no local header where the central directory points");
  const auto local_method = load_le<std::uint16_t>(h + 8);
  const auto lname_len = load_le<std::uint16_t>(h + 26);
  const auto lextra_len = load_le<std::uint16_t>(h + 28);
  if (l.pos() + lname_len + lextra_len > cd_offset)
    throw Error(src.label(), m.local_header_offset, who() + "'s local header runs into the central directory");
  const auto lname = l.bytes(lname_len, "local member name");
  if (lname.size() != m.name.size() || std::memcmp(lname.data(), m.name.data(), lname.size()) != 0)
    throw Error(src.label(), m.local_header_offset, who() + "'s local header names a different member");
  if (local_method != m.method)
    throw Error(src.label(), m.local_header_offset, who() + "'s local header gives a different compression method");
  LocalHeader out;
  (void)read_zip64_extra(src, l.pos(), lextra_len, false, false, false, &out.zip64);
  out.data_offset = l.pos() + lextra_len;

  if (m.compressed_size > cd_offset - out.data_offset)
    throw Error(src.label(), m.local_header_offset, who() + " claims " + std::to_string(m.compressed_size) +
                                                        " bytes of data but only " + std::to_string(cd_offset - out.data_offset) +
                                                        " bytes lie before the central directory");
  if (m.method == kStored && m.size != m.compressed_size)
    throw Error(src.label(), m.local_header_offset, who() + " is stored but its sizes differ (" +
                                                        std::to_string(m.compressed_size) + " stored, " + std::to_string(m.size) + " declared)");
  if (m.method == kDeflated) {
    const auto ratio = checked_mul(m.compressed_size, kMaxDeflateRatio);
    const auto cap = ratio ? checked_add(*ratio, kDeflateSlack) : std::nullopt;
    if (!cap || m.size > *cap)
      throw Error(src.label(), m.local_header_offset, who() + " claims " + std::to_string(m.size) + " bytes from " +
                                                          std::to_string(m.compressed_size) +
                                                          " compressed, beyond deflate's " + std::to_string(kMaxDeflateRatio) +
                                                          ":1 maximum ratio");
  }
  return out;
}
}  // namespace

LocalHeader read_local_header(const ByteSource& src, const Archive& a, std::size_t k) {
  if (k >= a.members.size()) throw Error(src.label(), kNoOffset, "internal error: no zip member " + std::to_string(k));
  return check_local_header(src, a, k);
}

void ask_for_local_headers(const ByteSource& src, const Archive& a) {
  // Each local header sits beside its member's data, scattered through the
  // file: ask for all of them at once so a cold disk serves them in parallel,
  // with the start of the data too (past an extra field a page-aligning
  // writer pads up to 4 KiB), where npy and pickle readers look next. Then
  // the faults read only what was asked for, not 8 MiB around each header.
  constexpr std::uint64_t kDataPeek = 4096 + 512;
  BatchedHint ahead(src, BatchedHint::Kind::Prefetch, kHeaderGap, std::uint64_t{64} << 20);
  for (const auto& m : a.members) ahead.add(m.local_header_offset, kLocalSize + m.name.size() + 64 + kDataPeek);
}

std::vector<LocalHeader> read_local_headers(const ByteSource& src, const Archive& a, bool all_cores) {
  std::vector<LocalHeader> out(a.members.size());
  ask_for_local_headers(src, a);
  const ScatteredReads scattered(src, a.headers_far_apart());
  // Slices of members checked on all cores (50,000 headers: ~9 ms on one),
  // each slice's first problem kept; the first slice's with one is thrown,
  // so the error is the one a single pass in archive order meets first.
  constexpr std::size_t kSlice = 4096;
  const std::size_t slices = (a.members.size() + kSlice - 1) / kSlice;
  std::vector<std::exception_ptr> problems(slices);
  const auto check_slice = [&](std::size_t s) {
    // Released every 8 MiB, not 64: an archive of many small members has a
    // header on every page, and 64 MiB of them mapped at once was half the
    // peak RSS of listing 50,000 (94 → 47 MiB, no slower).
    BatchedHint done_with(src, BatchedHint::Kind::ReleaseAround, std::uint64_t{64} << 20, std::uint64_t{8} << 20);
    const std::size_t end = std::min(a.members.size(), (s + 1) * kSlice);
    for (std::size_t k = s * kSlice; k < end; ++k) {
      try {
        out[k] = check_local_header(src, a, k);
      } catch (...) {
        problems[s] = std::current_exception();
        return;
      }
      done_with.add(a.members[k].local_header_offset, out[k].data_offset - a.members[k].local_header_offset);
    }
  };
  if (all_cores && slices > 1) {
    ThreadPool::shared().parallel_for(slices, check_slice);
  } else {
    for (std::size_t s = 0; s < slices && !problems[s]; ++s) check_slice(s);
  }
  for (const auto& p : problems)
    if (p) std::rethrow_exception(p);
  check_members_apart(src, a, out);
  return out;
}

void check_members_apart(const ByteSource& src, const Archive& a, const std::vector<LocalHeader>& out) {
  // Phase 7: no two members may share bytes. Overlapping members are how
  // non-recursive zip bombs reuse one compressed block many times over.
  std::vector<std::size_t> order(a.members.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  const auto starts_before = [&](std::size_t x, std::size_t y) {
    return a.members[x].local_header_offset < a.members[y].local_header_offset;
  };
  if (!std::is_sorted(order.begin(), order.end(), starts_before)) std::sort(order.begin(), order.end(), starts_before);
  for (std::size_t j = 1; j < order.size(); ++j) {
    const Member& prev = a.members[order[j - 1]];
    const Member& m = a.members[order[j]];
    if (m.local_header_offset < out[order[j - 1]].data_offset + prev.compressed_size)
      throw Error(src.label(), m.local_header_offset, "member '" + m.name + "' overlaps member '" + prev.name +
                                                          "' (a corrupt archive or a zip bomb)");
  }
}

void apply_local_headers(Archive& a, const std::vector<LocalHeader>& headers) {
  for (std::size_t k = 0; k < a.members.size() && k < headers.size(); ++k) {
    a.members[k].data_offset = headers[k].data_offset;
    a.members[k].zip64_local = headers[k].zip64;
  }
}

Archive read_archive(const ByteSource& src) {
  Archive a = read_central_directory(src);
  apply_local_headers(a, read_local_headers(src, a));
  return a;
}

std::span<const std::byte> member_bytes(const ByteSource& src, const Member& m) {
  return src.view(m.data_offset, m.compressed_size, "member '" + m.name + "' data");
}

void read_member(const ByteSource& src, const Member& m, const ByteSink& sink) {
  const auto in = member_bytes(src, m);
  // The member's mapped pages leave the resident set once read (the page
  // cache keeps them), so reading a whole archive does not grow with it.
  struct Release {
    const ByteSource& src;
    const Member& m;
    ~Release() { src.release(m.data_offset, m.compressed_size); }
  } release{src, m};
  if (m.method == kDeflated) {
    inflate_raw(in, m.size, m.crc32, sink, src.label(), m.data_offset);
    return;
  }
  if (m.method != kStored)
    throw Error(src.label(), m.local_header_offset, "member '" + m.name + "' uses compression method " +
                                                        std::to_string(m.method) + "; only stored and deflated are supported");
  std::uint32_t crc = 0;
  for (std::size_t pos = 0; pos < in.size(); pos += kChunkBytes) {
    const auto chunk = in.subspan(pos, std::min(kChunkBytes, in.size() - pos));
    crc = crc32_update(crc, chunk);
    sink(chunk);
  }
  if (crc != m.crc32)
    throw Error(src.label(), m.data_offset, "CRC-32 mismatch in member '" + m.name + "': the data is corrupt (expected " +
                                                std::to_string(m.crc32) + ", computed " + std::to_string(crc) + ")");
}

namespace {
std::atomic<bool> g_prefix_decoder{true};
}  // namespace

void set_prefix_decoder_enabled(bool enabled) noexcept { g_prefix_decoder.store(enabled, std::memory_order_relaxed); }

struct PrefixReader::Impl {
  z_stream z{};
  bool ok = false;
  bool used = false;    // inflate has run since the last reset
  bool ended = false;   // the current member's deflate stream is complete
  const bool fast_enabled = g_prefix_decoder.load(std::memory_order_relaxed);
  bool zlib_only = false;  // the prefix decoder declined the current member
  InflatePrefix fast;
  const ByteSource* src = nullptr;
  const Member* m = nullptr;
  std::span<const std::byte> in;
  std::vector<std::byte> out;
  std::size_t produced = 0;
  Impl() { ok = ::inflateInit2(&z, -15) == Z_OK; }
  ~Impl() {
    if (ok) ::inflateEnd(&z);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
};

PrefixReader::PrefixReader() : impl_(std::make_unique<Impl>()) {}
PrefixReader::~PrefixReader() = default;

void PrefixReader::start(const ByteSource& src, const Member& m) {
  Impl& s = *impl_;
  s.src = &src;
  s.m = &m;
  s.in = member_bytes(src, m);
  s.produced = 0;
  s.ended = false;
  s.zlib_only = !s.fast_enabled;
  if (!s.zlib_only) s.fast.start(s.in);
  if (s.ok && s.used) {
    ::inflateReset(&s.z);
    s.used = false;
  }
}

std::span<const std::byte> PrefixReader::first(std::size_t n) {
  Impl& s = *impl_;
  const Member& m = *s.m;
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(n, m.size));
  if (m.method == kStored) return s.in.first(want);
  if (m.method != kDeflated)
    throw Error(s.src->label(), m.local_header_offset, "member '" + m.name + "' uses compression method " +
                                                           std::to_string(m.method) + "; only stored and deflated are supported");
  if (!s.ok) throw Error(s.src->label(), m.data_offset, "cannot start the deflate decoder (out of memory)");
  if (want <= s.produced || s.ended) return std::span<const std::byte>(s.out).first(std::min(want, s.produced));
  if (s.out.size() < want) s.out.resize(want);
  std::size_t from = s.produced;  // where zlib's output goes
  if (!s.zlib_only) {
    switch (s.fast.extend(s.out, want)) {
      case InflatePrefix::Status::Filled:
        s.produced = want;
        return std::span<const std::byte>(s.out).first(want);
      case InflatePrefix::Status::Ended:
        s.ended = true;
        s.produced = s.fast.produced();
        return std::span<const std::byte>(s.out).first(std::min(want, s.produced));
      case InflatePrefix::Status::Cant:
        // zlib starts over from the member's first byte, rewriting the same
        // bytes, and words the error if any; `produced` stays as it was
        // until zlib succeeds, as when zlib did all the calls.
        s.zlib_only = true;
        from = 0;
        break;
    }
  }
  if (!s.used) {
    s.z.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(s.in.data()));
    s.z.avail_in = static_cast<uInt>(std::min<std::size_t>(s.in.size(), std::numeric_limits<uInt>::max()));
    s.used = true;
  }
  s.z.next_out = reinterpret_cast<Bytef*>(s.out.data() + from);
  s.z.avail_out = static_cast<uInt>(want - from);
  while (s.z.avail_out > 0) {
    const int rc = ::inflate(&s.z, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      s.ended = true;
      break;
    }
    if (rc != Z_OK)
      throw Error(s.src->label(), m.data_offset, "member '" + m.name + "' has corrupt compressed data (" +
                                                     (s.z.msg ? s.z.msg : "deflate error") + ")");
  }
  // A stream ending early is reported by the full read, which checks the size.
  s.produced = want - s.z.avail_out;
  return std::span<const std::byte>(s.out).first(s.produced);
}

// ---- writing ----

Writer::Writer(AtomicFile& out, unsigned threads) : out_(out), threads_(threads == 0 ? default_threads() : threads) {}

// Members first: the pool joins its threads before the queue it fed is freed.
Writer::~Writer() { pool_.reset(); }

void Writer::expect_members(std::size_t members) { entries_.reserve(members); }

void Writer::begin_member(const std::string& name, std::uint16_t method, int level, std::uint32_t alignment,
                          std::uint32_t skew) {
  if (open_) throw Error(out_.destination(), out_.position(), "internal error: a zip member is already open");
  if (name.size() > 0xFFFF) throw Error(out_.destination(), out_.position(), "member name is longer than zip allows");
  if (method != kStored && method != kDeflated)
    throw Error(out_.destination(), out_.position(), "internal error: unsupported zip method " + std::to_string(method));
  // A stored member, or any aligned one, is written directly: everything
  // still in flight goes out first so the position is final.
  const bool queued = method == kDeflated && alignment == 0;
  if (!queued) drain(true);
  Entry e{name, method, 0};
  // Bit 11: the name is UTF-8 (set only when it is not plain ASCII, as Python does).
  if (std::any_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) e.flags |= 0x0800;
  // Version needed 20, DOS date 1980-01-01 00:00 (NumPy's ZipInfo default),
  // sizes and CRC patched in finish(); zip64 extra with both sizes.
  // The padding field's own 4 bytes always come first, then as many filler
  // bytes as bring the data to the next multiple of `alignment`.
  std::size_t pad = 0;
  if (alignment > 0) {
    const std::uint64_t start = out_.position() + kLocalSize + name.size() + 20 + 4;
    pad = 4 + static_cast<std::size_t>((alignment + skew % alignment - start % alignment) % alignment);
    if (pad > 0xFFFF - 20) throw Error(out_.destination(), out_.position(), "internal error: zip alignment too large");
  }
  e.extra_len = static_cast<std::uint16_t>(20 + pad);
  std::vector<std::byte> h(kLocalSize + name.size() + 20 + pad);
  auto* p = h.data();
  store_le<std::uint32_t>(p, kLocalSig);
  const auto core = local_header_core(e);
  std::memcpy(p + 4, core.data(), core.size());
  if (pad > 0) {
    auto* x = p + kLocalSize + name.size() + 20;
    x[0] = std::byte{'F'};
    x[1] = std::byte{'B'};
    store_le<std::uint16_t>(x + 2, static_cast<std::uint16_t>(pad - 4));
    std::memset(x + 4, 'Z', pad - 4);
  }
  entries_.push_back(std::move(e));
  const std::size_t index = entries_.size() - 1;
  if (queued) {
    pending_.push_back(Pending{Pending::Kind::Header, index, std::move(h), nullptr});
  } else {
    Entry& w = entries_.back();
    w.local_header_offset = out_.position();
    out_.write(h);
    w.data_start = out_.position();
  }
  deflating_ = method == kDeflated;
  if (deflating_) {
    if (!pool_) pool_ = std::make_unique<DeflatePool>(threads_);
    level_ = level;
    block_.clear();
    dict_.clear();
  }
  crc_ = 0;
  size_ = 0;
  open_ = true;
}

void Writer::submit_block(bool last) {
  auto b = std::make_shared<DeflateBlock>();
  b->level = level_;
  b->last = last;
  b->dict = dict_;
  // The next block's dictionary: this block's tail (blocks before the last
  // are full, so one block always holds the whole window).
  const std::size_t keep = std::min(block_.size(), kDeflateWindowBytes);
  dict_.assign(block_.end() - static_cast<std::ptrdiff_t>(keep), block_.end());
  b->in = std::move(block_);
  block_ = {};
  pending_.push_back(Pending{Pending::Kind::Block, entries_.size() - 1, {}, b});
  ++blocks_in_flight_;
  pool_->submit(std::move(b));
  // Two blocks per thread: one being compressed, one waiting, so no thread
  // idles while the caller writes; beyond that, memory would grow instead.
  const std::size_t cap = std::min<std::size_t>(2 * std::size_t{pool_->threads()}, 64);
  while (blocks_in_flight_ > cap) write_front();
  drain(false);
}

// Writes what is finished at the front of the queue; with `wait_all`, everything.
void Writer::drain(bool wait_all) {
  while (!pending_.empty()) {
    const Pending& f = pending_.front();
    if (!wait_all && f.kind == Pending::Kind::Block && !pool_->done(*f.block)) return;
    write_front();
  }
}

void Writer::write_front() {
  Pending f = std::move(pending_.front());
  pending_.pop_front();
  Entry& e = entries_[f.entry];
  switch (f.kind) {
    case Pending::Kind::Header:
      e.local_header_offset = out_.position();
      out_.write(f.header);
      e.data_start = out_.position();
      break;
    case Pending::Kind::Block:
      pool_->wait(*f.block);
      --blocks_in_flight_;
      if (f.block->error) std::rethrow_exception(f.block->error);
      out_.write(f.block->out);
      e.crc32 = crc32_combine_any(e.crc32, f.block->crc, f.block->in_size);
      e.size += f.block->in_size;
      break;
    case Pending::Kind::End:
      e.compressed_size = out_.position() - e.data_start;
      patch_if_buffered(e);
      break;
  }
}

void Writer::write(std::span<const std::byte> bytes) {
  if (!deflating_) {
    crc_ = crc32_alongside(crc_, bytes, [&] { out_.write(bytes); });
    size_ += bytes.size();
    return;
  }
  // A block is handed out only once the next byte arrives, so the member's
  // last block is known at end_member (it alone is final) and the cuts fall
  // at the same offsets however the caller splits its writes.
  while (!bytes.empty()) {
    if (block_.size() == kDeflateBlockBytes) submit_block(false);
    if (block_.capacity() < kDeflateBlockBytes) block_.reserve(kDeflateBlockBytes);
    const std::size_t n = std::min(bytes.size(), kDeflateBlockBytes - block_.size());
    block_.insert(block_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    bytes = bytes.subspan(n);
  }
}

void Writer::write_range(const ByteSource& file, std::uint64_t offset, std::uint64_t n,
                         const std::function<void(std::uint64_t)>& step) {
  // Below 1 MiB a checksum thread costs more than reading the bytes: 2,000
  // members of 1 KiB took 2,000 thread starts.
  constexpr std::uint64_t kAlongsideMin = std::uint64_t{1} << 20;
  // Small ranges through the file's read-ahead window: one read per window,
  // not one per member (50,000 members of 1 KiB: 50,000 preads).
  if (n <= kSmallRangeBytes) {
    if (!deflating_) {
      const auto bytes = out_.append_small(file, offset, n);
      crc_ = crc32_update(crc_, bytes);
      size_ += n;
    } else {
      small_.resize(static_cast<std::size_t>(n));
      out_.read_small(file, offset, small_);
      write(small_);
    }
    if (step) step(n);
    return;
  }
  if (deflating_ || n < kAlongsideMin) {
    std::vector<std::byte> buf(static_cast<std::size_t>(std::min<std::uint64_t>(n, kChunkBytes)));
    for (std::uint64_t done = 0; done < n;) {
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), n - done));
      file.read_at(offset + done, std::span<std::byte>(buf.data(), k));
      write(std::span<const std::byte>(buf.data(), k));
      done += k;
      if (step) step(k);
    }
    return;
  }
  // The copy runs here while a second thread checksums the same range with
  // pread (a file truncated meanwhile is an error, never a signal).
  std::atomic<bool> stop{false};
  std::uint32_t range_crc = 0;
  std::exception_ptr crc_error;
  std::thread checksum([&] {
    try {
      std::vector<std::byte> buf(static_cast<std::size_t>(std::min<std::uint64_t>(n, kChunkBytes)));
      for (std::uint64_t done = 0; done < n && !stop.load(std::memory_order_relaxed);) {
        const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), n - done));
        file.read_at(offset + done, std::span<std::byte>(buf.data(), k));
        range_crc = crc32_update(range_crc, std::span<const std::byte>(buf.data(), k));
        done += k;
      }
    } catch (...) {
      crc_error = std::current_exception();
    }
  });
  struct Joiner {  // a failed copy stops the checksum; a finished one waits for it
    std::atomic<bool>& stop;
    std::thread& t;
    bool copied = false;
    ~Joiner() {
      if (!copied) stop = true;
      t.join();
    }
  };
  {
    Joiner joiner{stop, checksum};
    out_.copy_range(file, offset, n, step);
    joiner.copied = true;
  }
  if (crc_error) std::rethrow_exception(crc_error);
  crc_ = static_cast<std::uint32_t>(crc32_combine_any(crc_, range_crc, n));
  size_ += n;
}

void Writer::end_member() {
  if (!open_) throw Error(out_.destination(), out_.position(), "internal error: no zip member is open");
  open_ = false;
  if (deflating_) {
    deflating_ = false;
    submit_block(true);
    pending_.push_back(Pending{Pending::Kind::End, entries_.size() - 1, {}, nullptr});
    drain(false);
    return;
  }
  Entry& e = entries_.back();
  e.crc32 = crc_;
  e.size = size_;
  e.compressed_size = out_.position() - e.data_start;
  patch_if_buffered(e);
}

std::vector<std::byte> Writer::local_header_core(const Entry& e) {
  const bool big = e.size >= kSat32 || e.compressed_size >= kSat32;
  std::vector<std::byte> h(kLocalSize - 4 + e.name.size() + 20);
  auto at = [&](std::size_t k) { return h.data() + (k - 4); };  // k: the local header's own offsets, from 4
  store_le<std::uint16_t>(at(4), big ? 45 : 20);
  store_le<std::uint16_t>(at(6), e.flags);
  store_le<std::uint16_t>(at(8), e.method);
  store_le<std::uint16_t>(at(10), 0);
  store_le<std::uint16_t>(at(12), 0x21);
  store_le<std::uint32_t>(at(14), e.crc32);
  store_le<std::uint32_t>(at(18), big ? kSat32 : static_cast<std::uint32_t>(e.compressed_size));
  store_le<std::uint32_t>(at(22), big ? kSat32 : static_cast<std::uint32_t>(e.size));
  store_le<std::uint16_t>(at(26), static_cast<std::uint16_t>(e.name.size()));
  store_le<std::uint16_t>(at(28), e.extra_len);
  std::memcpy(at(kLocalSize), e.name.data(), e.name.size());
  auto* z = at(kLocalSize + e.name.size());
  store_le<std::uint16_t>(z, 0x0001);
  store_le<std::uint16_t>(z + 2, 16);
  store_le<std::uint64_t>(z + 4, e.size);
  store_le<std::uint64_t>(z + 12, e.compressed_size);
  return h;
}

// The local header's CRC and sizes, known only after the data. Patched in
// the file for every member at the end rather than after each one: a page
// rewritten while the kernel is writing it back makes the writer wait for
// the disk. A header still in the write buffer is patched there at once:
// a pwrite per member was half of writing 50,000 members of 1 KiB.
void Writer::patch_local_header(Entry& e) {
  if (e.patched) return;
  out_.write_at(e.local_header_offset + 4, local_header_core(e));
  e.patched = true;
}

void Writer::patch_if_buffered(Entry& e) {
  e.patched = out_.rewrite_buffered(e.local_header_offset + 4, local_header_core(e));
}

void Writer::finish() {
  if (open_) throw Error(out_.destination(), out_.position(), "internal error: a zip member is still open");
  drain(true);
  const std::uint64_t cd_offset = out_.position();
  for (auto& e : entries_) patch_local_header(e);
  for (const auto& e : entries_) {
    // Only saturated fields go in the zip64 extra, in the specified order.
    const bool big_size = e.size >= kSat32, big_csize = e.compressed_size >= kSat32, big_off = e.local_header_offset >= kSat32;
    const std::size_t extra = (big_size || big_csize || big_off) ? 4 + 8 * (big_size + big_csize + big_off) : 0;
    std::vector<std::byte> h(kCentralSize + e.name.size() + extra);
    auto* p = h.data();
    const std::uint16_t version = extra ? 45 : 20;
    store_le<std::uint32_t>(p, kCentralSig);
    store_le<std::uint16_t>(p + 4, static_cast<std::uint16_t>(0x0300 | version));  // made by: Unix
    store_le<std::uint16_t>(p + 6, version);
    store_le<std::uint16_t>(p + 8, e.flags);
    store_le<std::uint16_t>(p + 10, e.method);
    store_le<std::uint16_t>(p + 12, 0);
    store_le<std::uint16_t>(p + 14, 0x21);
    store_le<std::uint32_t>(p + 16, e.crc32);
    store_le<std::uint32_t>(p + 20, big_csize ? kSat32 : static_cast<std::uint32_t>(e.compressed_size));
    store_le<std::uint32_t>(p + 24, big_size ? kSat32 : static_cast<std::uint32_t>(e.size));
    store_le<std::uint16_t>(p + 28, static_cast<std::uint16_t>(e.name.size()));
    store_le<std::uint16_t>(p + 30, static_cast<std::uint16_t>(extra));
    store_le<std::uint16_t>(p + 32, 0);
    store_le<std::uint16_t>(p + 34, 0);
    store_le<std::uint16_t>(p + 36, 0);
    store_le<std::uint32_t>(p + 38, 0600u << 16);  // rw------- like Python's zipfile
    store_le<std::uint32_t>(p + 42, big_off ? kSat32 : static_cast<std::uint32_t>(e.local_header_offset));
    std::memcpy(p + kCentralSize, e.name.data(), e.name.size());
    if (extra) {
      auto* x = p + kCentralSize + e.name.size();
      store_le<std::uint16_t>(x, 0x0001);
      store_le<std::uint16_t>(x + 2, static_cast<std::uint16_t>(extra - 4));
      x += 4;
      if (big_size) { store_le<std::uint64_t>(x, e.size); x += 8; }
      if (big_csize) { store_le<std::uint64_t>(x, e.compressed_size); x += 8; }
      if (big_off) { store_le<std::uint64_t>(x, e.local_header_offset); x += 8; }
    }
    out_.write(h);
  }
  const std::uint64_t cd_size = out_.position() - cd_offset;
  const std::uint64_t n = entries_.size();
  const bool zip64 = n >= kSat16 || cd_size >= kSat32 || cd_offset >= kSat32;
  if (zip64) {
    const std::uint64_t rec = out_.position();
    std::array<std::byte, kEnd64Size + kLocatorSize> z{};
    auto* p = z.data();
    store_le<std::uint32_t>(p, kEnd64Sig);
    store_le<std::uint64_t>(p + 4, kEnd64Size - 12);
    store_le<std::uint16_t>(p + 12, 0x0300 | 45);
    store_le<std::uint16_t>(p + 14, 45);
    store_le<std::uint64_t>(p + 24, n);
    store_le<std::uint64_t>(p + 32, n);
    store_le<std::uint64_t>(p + 40, cd_size);
    store_le<std::uint64_t>(p + 48, cd_offset);
    p += kEnd64Size;
    store_le<std::uint32_t>(p, kLocator64Sig);
    store_le<std::uint64_t>(p + 8, rec);
    store_le<std::uint32_t>(p + 16, 1);
    out_.write(z);
  }
  std::array<std::byte, kEndSize> e{};
  auto* p = e.data();
  store_le<std::uint32_t>(p, kEndSig);
  store_le<std::uint16_t>(p + 8, zip64 ? kSat16 : static_cast<std::uint16_t>(n));
  store_le<std::uint16_t>(p + 10, zip64 ? kSat16 : static_cast<std::uint16_t>(n));
  store_le<std::uint32_t>(p + 12, zip64 ? kSat32 : static_cast<std::uint32_t>(cd_size));
  store_le<std::uint32_t>(p + 16, zip64 ? kSat32 : static_cast<std::uint32_t>(cd_offset));
  out_.write(e);
}

}  // namespace ckpt::io::zip
