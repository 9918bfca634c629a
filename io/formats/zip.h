#pragma once
// Our own zip layer (PKWARE APPNOTE subset): reading an archive's central
// directory into members whose data offsets are known, so stored members can
// be memory-mapped in place, and writing archives member by member through an
// AtomicFile. Supports stored (0) and deflated (8) members, zip64 extra fields
// in local headers and the central directory, zip64 end records, and data
// descriptors (general-purpose bit 3) on reading. No encryption, no multi-disk.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "io/byte_source.h"
#include "io/deflate.h"
#include "io/limits.h"
#include "io/parallel_deflate.h"
#include "io/tensor.h"

namespace ckpt::io::zip {

inline constexpr std::uint16_t kStored = 0;
inline constexpr std::uint16_t kDeflated = 8;
// A deflated member claiming more than this ratio is refused (io/limits.h).
inline constexpr std::uint64_t kMaxDeflateRatio = ::ckpt::io::kMaxDeflateRatio;

struct Member {
  std::string name;
  std::uint16_t method = kStored;
  std::uint16_t flags = 0;
  std::uint32_t crc32 = 0;
  std::uint64_t compressed_size = 0;
  std::uint64_t size = 0;                 // uncompressed
  std::uint64_t local_header_offset = 0;  // absolute
  std::uint64_t data_offset = 0;          // absolute start of the (compressed) bytes
  std::uint64_t central_header_offset = 0;  // where its central directory header is (for messages)
  bool zip64_local = false;               // the local header carries a zip64 extra field
  [[nodiscard]] bool is_directory() const { return !name.empty() && name.back() == '/'; }
};

struct Archive {
  std::vector<Member> members;  // central directory order
  bool zip64 = false;           // zip64 end records were present
  std::uint64_t central_directory_offset = 0;
  // Members a megabyte apart or more on average: reading their headers
  // through a mapping should not read around each one (ScatteredReads).
  [[nodiscard]] bool headers_far_apart() const {
    return !members.empty() && central_directory_offset / members.size() >= (std::uint64_t{1} << 20);
  }
};

// Reads and validates the end records, the central directory and every local
// header. Every count, offset and size is checked against the source before
// use. Throws Error naming the source and offset.
[[nodiscard]] Archive read_archive(const ByteSource& src);

// read_archive in two steps, so a reader can start on one member (PyTorch's
// data.pkl) while the local headers scattered through the file are read:
//   read_central_directory: the end records and the central directory;
//     members' data_offset are still 0;
//   read_local_headers: every member's local header (on all cores unless
//     told otherwise), then the check that no two members overlap; the
//     problem a pass in archive order meets first throws, with the sentence
//     read_archive gives;
//   apply_local_headers: their results into the members;
//   read_local_header: one member's alone (the same checks but the overlap).
// A const Archive may be read on several threads at once.
struct LocalHeader {
  std::uint64_t data_offset = 0;
  bool zip64 = false;
};
[[nodiscard]] Archive read_central_directory(const ByteSource& src);
[[nodiscard]] std::vector<LocalHeader> read_local_headers(const ByteSource& src, const Archive& a, bool all_cores = true);
[[nodiscard]] LocalHeader read_local_header(const ByteSource& src, const Archive& a, std::size_t k);
void apply_local_headers(Archive& a, const std::vector<LocalHeader>& headers);
// read_local_headers' parts for readers that pace the pass themselves
// (zip_headers_in_order.h): the read-ahead hints for every local header,
// and the last check, that no two members share bytes (headers[k] for
// every member k).
void ask_for_local_headers(const ByteSource& src, const Archive& a);
void check_members_apart(const ByteSource& src, const Archive& a, const std::vector<LocalHeader>& headers);

// The member's (compressed) bytes, bounds-checked.
[[nodiscard]] std::span<const std::byte> member_bytes(const ByteSource& src, const Member& m);

// Streams the whole uncompressed member to `sink`, checking its size and CRC-32.
void read_member(const ByteSource& src, const Member& m, const ByteSink& sink);

// The first bytes of members, one member after another. Deflated ones go
// through our prefix decoder (io/inflate_prefix.h), whose set-up costs a
// fraction of zlib's; what it declines goes through one zlib stream reset
// between members, with zlib's errors. One per thread.
class PrefixReader {
 public:
  PrefixReader();
  ~PrefixReader();
  PrefixReader(const PrefixReader&) = delete;
  PrefixReader& operator=(const PrefixReader&) = delete;

  // Moves to member `m` of `src` (its data bounds-checked); `m` and `src`
  // must outlive the calls to first() that follow.
  void start(const ByteSource& src, const Member& m);
  // The first min(n, m.size) uncompressed bytes of the current member,
  // inflating only what earlier calls did not (no CRC check: the member is
  // not read in full). Shorter when the deflate stream ends early;
  // read_member reports that as an error. Valid until the next call.
  [[nodiscard]] std::span<const std::byte> first(std::size_t n);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Test and benchmark seam: false makes PrefixReaders made after the call
// inflate with zlib alone, the reference their own decoder (io/inflate_prefix.h)
// is held to.
void set_prefix_decoder_enabled(bool enabled) noexcept;

// Writes an archive member by member. Each local header carries a zip64 extra
// field (as NumPy and MLX write them) so members may exceed 4 GiB; sizes and
// CRC are patched in place after the data, so no data descriptor is needed.
// The central directory gets zip64 fields and end records only when needed.
//
// Deflated members compress on a pool of `threads` threads (0: the default,
// see default_threads()) in blocks of kDeflateBlockBytes, see
// io/parallel_deflate.h; the archive's bytes do not depend on the count.
// The blocks of one member and of the members after it are in flight
// together (at most two per thread), and the calling thread writes the
// finished ones in order, so archives of many tiny members keep every
// thread busy too. If anything throws, the destructor joins the threads.
class Writer {
 public:
  explicit Writer(AtomicFile& out, unsigned threads = 0);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // `alignment` > 0 pads the local header with an extra field (id "FB",
  // filled with 'Z', as PyTorch's writer does) so the member's data starts
  // on a multiple of it: stored tensors can then be mapped aligned. With
  // `skew`, the data starts `skew` bytes past such a multiple instead.
  // Room for `members` members' records up front (a hint): a table grown
  // by doubling touches twice its size in fresh pages.
  void expect_members(std::size_t members);
  void begin_member(const std::string& name, std::uint16_t method, int level = 6, std::uint32_t alignment = 0,
                    std::uint32_t skew = 0);
  void write(std::span<const std::byte> bytes);
  // Appends [offset, offset+n) of `file` to a stored member: the bytes are
  // copied in the kernel while a second thread reads them for the CRC-32.
  // `step` is called with each piece's size.
  void write_range(const ByteSource& file, std::uint64_t offset, std::uint64_t n,
                   const std::function<void(std::uint64_t)>& step);
  void end_member();
  // Writes the central directory and end records. The caller then commits the AtomicFile.
  void finish();

 private:
  struct Entry {
    std::string name;
    std::uint16_t method;
    std::uint16_t flags;
    std::uint32_t crc32 = 0;
    std::uint64_t compressed_size = 0;
    std::uint64_t size = 0;
    std::uint64_t local_header_offset = 0;
    std::uint64_t data_start = 0;
    std::uint16_t extra_len = 20;  // the zip64 extra, plus any alignment padding after it
    bool patched = false;          // the local header already has the CRC and sizes
  };
  // What the calling thread writes next, in archive order.
  struct Pending {
    enum class Kind : std::uint8_t { Header, Block, End } kind;
    std::size_t entry;
    std::vector<std::byte> header;        // Header
    std::shared_ptr<DeflateBlock> block;  // Block
  };
  void patch_local_header(Entry& e);
  void patch_if_buffered(Entry& e);
  // The local header from its version field to the end of its zip64 extra
  // (padding excluded): written whole at the start, and again at the end
  // once CRC and sizes are known, in one write per member.
  static std::vector<std::byte> local_header_core(const Entry& e);
  void submit_block(bool last);
  void drain(bool wait_all);
  void write_front();
  AtomicFile& out_;
  unsigned threads_;
  std::vector<Entry> entries_;
  std::unique_ptr<DeflatePool> pool_;  // made with the first deflated member
  std::deque<Pending> pending_;
  std::size_t blocks_in_flight_ = 0;
  std::vector<std::byte> block_;  // the open deflated member's block being filled
  std::vector<std::byte> small_;  // a small range on its way into a deflated member
  std::vector<std::byte> dict_;   // the 32 KiB of that member before block_
  int level_ = 6;
  bool deflating_ = false;
  bool open_ = false;
  std::uint32_t crc_ = 0;
  std::uint64_t size_ = 0;
};

}  // namespace ckpt::io::zip
