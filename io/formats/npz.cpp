// NumPy .npz: a zip archive (see zip.cpp) whose members are .npy images.
//
//   member "NAME.npy"  -> tensor NAME (names may hold dots and slashes;
//                         np.savez names positional arrays arr_0, arr_1, …)
//   method 0 (stored, np.savez)             the .npy image lies verbatim in the
//                                           archive: the tensor is a view of
//                                           the mapping at data offset + npy
//                                           header length
//   method 8 (deflated, np.savez_compressed) raw deflate of the .npy image:
//                                           the npy header is read from the
//                                           first inflated bytes only
//
// Members whose names do not end in ".npy" (and folders) are not arrays:
// they are skipped and listed in the checkpoint's format_detail. Two members
// with the same name are an error (NumPy would silently use one of them).
// CRC-32 is checked whenever a member's data is streamed in full.
#include "io/formats/npz.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>

#include "io/atomic_file.h"
#include "io/checked.h"
#include "io/deflate.h"
#include "io/error.h"
#include "io/first_repeat.h"
#include "io/formats/npy.h"
#include "io/formats/zip.h"
#include "io/formats/zip_headers_in_order.h"
#include "io/read_window.h"
#include "io/thread_pool.h"

namespace ckpt::io::npz {

namespace {

// Inflated first of a deflated member: the .npy magic, version and header
// length of any version, which tell how much more the header takes. Only
// that much more is inflated (zlib's byte-at-a-time path for small outputs
// costs ~3.5 ns a byte over a ~3 µs block set-up).
constexpr std::size_t kPreamble = 12;
// What a header whose extent cannot be read from its preamble is parsed
// from (the parser's sentences count these bytes).
constexpr std::size_t kHeaderPeek = 4096;
// Members whose headers are parsed together, on all cores, before their
// tensors are taken in order: at most this many, spread over at most this
// much of the file (bounds the pages mapped before they are released).
constexpr std::size_t kBatch = 4096;
constexpr std::uint64_t kBatchSpan = std::uint64_t{32} << 20;
// Members one task prepares; a batch of no more is prepared on the calling thread.
constexpr std::size_t kPerTask = 128;

[[noreturn]] void crc_mismatch(const ByteSource& src, const zip::Member& m, std::uint32_t crc) {
  throw Error(src.label(), m.data_offset, "CRC-32 mismatch in member '" + m.name + "': the data is corrupt (expected " +
                                              std::to_string(m.crc32) + ", computed " + std::to_string(crc) + ")");
}

// C order, little-endian (or one-byte items): the canonical bytes are the stored ones.
bool straight(const npy::Header& h) {
  const bool reordered = h.fortran_order && h.shape.size() > 1 && checked_numel(h.shape).value_or(0) > 0;
  return !reordered && !h.big_endian;
}

// A stored member: a zero-copy view of the mapping whose full reads also
// check the member's CRC-32. contiguous() hands out the mapped bytes
// directly and so cannot check it. A straight array is read here as
// StoredData would (pread where there is a descriptor, else the mapping);
// any other layout goes through StoredData (`inner`), which reorders.
class StoredMemberData final : public TensorData {
 public:
  StoredMemberData(const ByteSource& file, const zip::Member& m, std::uint64_t data_rel, std::uint64_t nbytes,
                   std::shared_ptr<const TensorData> inner)
      : file_(file), m_(m), data_rel_(data_rel), nbytes_(nbytes), inner_(std::move(inner)) {}

  void stream(const ByteSink& sink) const override {
    if (!inner_ && m_.size <= kSmallRangeBytes && file_.native_fd() >= 0) {
      // A small member whole, through the read-ahead window: members one
      // after another cost a fault and two madvise calls each through the
      // mapping (50,000 of 1 KiB: 0.45 s). Its CRC is checked before any
      // byte is handed out.
      std::vector<std::byte> whole(static_cast<std::size_t>(m_.size));
      read_small(file_, m_.data_offset, whole);
      const std::uint32_t crc = crc32_update(0, whole);
      if (crc != m_.crc32) crc_mismatch(file_, m_, crc);
      if (nbytes_ > 0) sink(std::span<const std::byte>(whole).subspan(static_cast<std::size_t>(data_rel_), static_cast<std::size_t>(nbytes_)));
      return;
    }
    const auto member = zip::member_bytes(file_, m_);
    const auto head = member.first(static_cast<std::size_t>(data_rel_));
    const auto tail = member.subspan(static_cast<std::size_t>(data_rel_ + nbytes_));
    // The header, the tail and (below) a reordered array are read through
    // the mapping, and leave the resident set at once: a file the page cache
    // holds in 2 MiB folios is mapped 2 MiB at a touch, and 200 members'
    // headers kept 420 MiB resident converting a 2 GB .npz.
    std::uint32_t crc = crc32_update(0, head);
    file_.release_around(m_.data_offset, head.size());
    auto check_tail = [&] {
      crc = crc32_update(crc, tail);
      if (!tail.empty()) file_.release_around(data_at() + nbytes_, tail.size());
      if (crc != m_.crc32) crc_mismatch(file_, m_, crc);
    };
    if (contiguous()) {
      // The canonical bytes are the stored bytes: check them as they pass.
      stream_canonical([&](std::span<const std::byte> chunk) { crc = crc32_alongside(crc, chunk, [&] { sink(chunk); }); });
      check_tail();
      return;
    }
    // Reordered or byte-swapped: check the stored bytes before handing any out.
    crc = crc32_update(crc, member.subspan(static_cast<std::size_t>(data_rel_), static_cast<std::size_t>(nbytes_)));
    file_.release_around(data_at(), nbytes_);
    check_tail();
    inner_->stream(sink);
  }
  std::optional<std::span<const std::byte>> contiguous() const override {
    if (inner_) return inner_->contiguous();
    return file_.all().subspan(static_cast<std::size_t>(data_at()), static_cast<std::size_t>(nbytes_));
  }
  // Like contiguous(), the range skips the member's CRC check; it lets
  // statistics and conversions read with pread or copy in the kernel instead
  // of faulting the whole member into this process (2 GB member: 1.9 GB RSS).
  std::optional<FileRange> file_range() const override {
    if (inner_) return inner_->file_range();
    if (file_.native_fd() < 0) return std::nullopt;
    return FileRange{&file_, data_at(), nbytes_};
  }
  const ByteSource* source() const noexcept override { return &file_; }

 private:
  std::uint64_t data_at() const { return m_.data_offset + data_rel_; }
  void stream_canonical(const ByteSink& sink) const {
    if (inner_) return inner_->stream(sink);
    if (nbytes_ == 0) return;
    if (const auto r = file_range()) {
      // pread into one buffer: no page faults, and nothing of the file stays resident.
      std::vector<std::byte> buf(static_cast<std::size_t>(std::min<std::uint64_t>(kChunkBytes, r->size)));
      for (std::uint64_t pos = 0; pos < r->size; pos += buf.size()) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), r->size - pos));
        file_.read_at(r->offset + pos, std::span<std::byte>(buf.data(), n));
        sink(std::span<const std::byte>(buf.data(), n));
      }
      return;
    }
    const auto c = *contiguous();
    for (std::size_t pos = 0; pos < c.size(); pos += kChunkBytes) {
      const std::size_t n = std::min(kChunkBytes, c.size() - pos);
      file_.prefetch(data_at() + pos + n, kChunkBytes * 2);
      sink(c.subspan(pos, n));
      file_.release(data_at() + pos, n);
    }
  }

  const ByteSource& file_;
  const zip::Member& m_;
  std::uint64_t data_rel_, nbytes_;
  std::shared_ptr<const TensorData> inner_;  // only for layouts that need reordering
};

// A deflated member. C-order little-endian data streams straight out of the
// inflater past the npy header; any other layout is inflated into memory and
// reordered there (the whole member is needed to reorder it anyway).
class DeflatedMemberData final : public TensorData {
 public:
  DeflatedMemberData(const ByteSource& file, const zip::Member& m, npy::Header h)
      : file_(file), m_(m), data_offset_(h.data_offset), nbytes_(h.nbytes),
        reorder_(straight(h) ? nullptr : std::make_unique<const npy::Header>(std::move(h))) {}

  ~DeflatedMemberData() override {
    std::lock_guard lock(mu_);
    if (ready_.valid()) ready_.wait();  // the task reads this object's members
  }
  DeflatedMemberData(const DeflatedMemberData&) = delete;
  DeflatedMemberData& operator=(const DeflatedMemberData&) = delete;

  // Inflates the whole member on a thread of its own into one buffer, for
  // the stream() to come. Only where that stream hands the bytes out as
  // they are (C order, little-endian) and the member is big enough to be
  // worth a thread and small enough for one buffer (the bound libdeflate's
  // whole-member path already keeps).
  void prepare() const override {
    if (reorder_ || m_.size < kPrepareMin || m_.size > kWholeInflateBytes) return;
    std::lock_guard lock(mu_);
    if (ready_.valid()) return;
    ready_ = std::async(std::launch::async, [this]() -> Inflated {
      Inflated out{std::make_unique_for_overwrite<std::byte[]>(static_cast<std::size_t>(m_.size))};
      const std::span<std::byte> all(out.get(), static_cast<std::size_t>(m_.size));
      const bool ok = inflate_exact(zip::member_bytes(file_, m_), all) && crc32_update(0, all) == m_.crc32;
      file_.release(m_.data_offset, m_.compressed_size);
      if (!ok) out.reset();  // stream() reads it again the usual way, which words the error
      return out;
    });
  }

  void stream(const ByteSink& sink) const override {
    if (const Inflated done = take_prepared()) {
      const std::span<const std::byte> data(done.get() + data_offset_, static_cast<std::size_t>(nbytes_));
      for (std::size_t pos = 0; pos < data.size(); pos += kChunkBytes)
        sink(data.subspan(pos, std::min(kChunkBytes, data.size() - pos)));
      return;
    }
    if (!reorder_) {
      std::uint64_t skip = data_offset_, left = nbytes_;
      zip::read_member(file_, m_, [&](std::span<const std::byte> chunk) {
        const auto drop = std::min<std::uint64_t>(skip, chunk.size());
        skip -= drop;
        chunk = chunk.subspan(static_cast<std::size_t>(drop));
        const auto take = std::min<std::uint64_t>(left, chunk.size());
        if (take > 0) sink(chunk.first(static_cast<std::size_t>(take)));
        left -= take;
      });
      return;
    }
    std::vector<std::byte> raw;
    raw.reserve(static_cast<std::size_t>(m_.size));
    zip::read_member(file_, m_, [&](std::span<const std::byte> c) { raw.insert(raw.end(), c.begin(), c.end()); });
    const auto mem = std::make_shared<MemorySource>(std::move(raw), file_.label());
    npy::tensor_from(mem, *reorder_, m_.name, mem->label()).data->stream(sink);
  }
  const ByteSource* source() const noexcept override { return &file_; }

 private:
  using Inflated = std::unique_ptr<std::byte[]>;
  // Below this a member inflates faster than a thread starts.
  static constexpr std::uint64_t kPrepareMin = std::uint64_t{256} << 10;

  Inflated take_prepared() const {
    std::lock_guard lock(mu_);
    if (!ready_.valid()) return nullptr;
    return ready_.get();
  }

  const ByteSource& file_;
  const zip::Member& m_;
  std::uint64_t data_offset_, nbytes_;
  std::unique_ptr<const npy::Header> reorder_;  // only for layouts that need reordering
  mutable std::mutex mu_;
  mutable std::future<Inflated> ready_;
};

// Everything the tensors of one archive read through, in one place: the
// file, the members, and every member's data object. Each tensor's data is
// an aliasing pointer into it, so 50,000 tensors share one reference count
// instead of owning two objects and a copy of their member each (a third of
// listing them, and of the memory). Members are fixed once listed: the data
// objects refer to them.
struct MemberTable {
  std::shared_ptr<const ByteSource> file;
  zip::Archive archive;  // its members, in archive order
  std::deque<StoredMemberData> stored;      // deques: the objects never move
  std::deque<DeflatedMemberData> deflated;  // (and are destroyed before the members)
};

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A deflated member's npy header, from as few inflated bytes as it takes.
// Runs on any thread; touches nothing but the member.
npy::Header deflated_header(const ByteSource& src, const zip::Member& m, zip::PrefixReader& reader) {
  reader.start(src, m);
  auto prefix = reader.first(kPreamble);
  const std::uint64_t extent = npy::header_extent(prefix);
  const bool known = extent > 0 && extent <= m.size && extent <= npy::kMaxHeaderBytes + 12;
  prefix = reader.first(known ? static_cast<std::size_t>(extent) : kHeaderPeek);
  npy::Header h = npy::parse_header_bytes(prefix, src.label(), m.data_offset);
  const std::uint64_t after = m.size - std::min(m.size, h.data_offset);
  if (after < h.nbytes)
    throw Error(src.label(), m.data_offset, "the array needs " + std::to_string(h.nbytes) + " data bytes but only " +
                                                std::to_string(after) + " follow its header");
  return h;
}

bool is_array_member(const zip::Member& m) { return !m.is_directory() && ends_with(m.name, ".npy"); }

// The index of the first array member whose name an earlier one already
// has, or SIZE_MAX. An open-addressed table of indices hashed by name: a
// set of strings, then a sort of views, were a fifth of listing 50,000.
std::size_t first_repeated_name(const std::vector<zip::Member>& members) {
  return first_repeat(
      members.size(), [&](std::size_t k) -> const std::string& { return members[k].name; },
      [&](std::size_t k) { return !is_array_member(members[k]); });
}

// A member's tensor as far as it can be made on any thread: everything but
// its data handle, which describe() attaches in archive order. Or the
// error making it threw, kept for its turn: what describe() reports, and
// in which order, is the same on any number of threads. Inflating 50,000
// deflated headers one after another was most of listing such an archive.
struct Prepared {
  TensorInfo tensor;
  npy::Header header;
  std::exception_ptr error;
};

void prepare(const std::shared_ptr<const ByteSource>& src, const SharedText& file, const zip::Member& m,
             zip::PrefixReader& reader, Prepared& out) {
  std::string name = m.name.substr(0, m.name.size() - 4);
  npy::Header& h = out.header;
  if (m.method == zip::kStored) {
    h = npy::parse_header(*src, m.data_offset, m.size);
    // A layout to reorder keeps StoredData's own handle, which does that.
    out.tensor = straight(h) ? npy::describe_array(h, std::move(name), file, h.data_offset)
                             : npy::tensor_from(src, h, std::move(name), file);
    return;
  }
  h = deflated_header(*src, m, reader);
  TensorInfo& t = out.tensor;
  t = npy::describe_array(h, std::move(name), file, m.data_offset);
  const std::string order = t.layout_note;
  t.layout_note = "deflated " + std::to_string(m.compressed_size) + " → " + std::to_string(m.size) + " bytes";
  if (!order.empty()) t.layout_note += ", " + order;
}

bool wanted(const zip::Member& m) {
  return is_array_member(m) && (m.method == zip::kStored || m.method == zip::kDeflated);
}

// The array members of [begin, end) prepared on the pool's workers while
// the caller takes the batch before (take() is a third of listing 50,000
// members, and the workers sat idle through it), then by the caller too.
// A batch of one task's size is prepared on the calling thread alone.
class BatchPrep {
 public:
  BatchPrep() = default;
  BatchPrep(const BatchPrep&) = delete;
  BatchPrep& operator=(const BatchPrep&) = delete;

  void start(const std::shared_ptr<const ByteSource>& src, const SharedText& file, const std::vector<zip::Member>& members,
             std::size_t begin, std::size_t end) {
    src_ = &src;
    file_ = &file;
    members_ = &members;
    begin_ = begin;
    end_ = end;
    todo_.clear();
    for (std::size_t k = begin; k < end; ++k)
      if (wanted(members[k])) todo_.push_back(k);
    out_.clear();
    out_.resize(todo_.empty() ? 0 : end - begin);
    tasks_ = (todo_.size() + kPerTask - 1) / kPerTask;
    if (tasks_ > 1) pending_ = ThreadPool::shared().start(tasks_, [this](std::size_t task) { run(task); });
  }
  // Prepared member k is at [k - begin()].
  std::vector<Prepared>& finish() {
    if (tasks_ == 1) run(0);
    else pending_.finish();
    return out_;
  }
  std::size_t begin() const noexcept { return begin_; }
  std::size_t end() const noexcept { return end_; }

 private:
  void run(std::size_t task) {
    zip::PrefixReader reader;
    const std::size_t last = std::min(todo_.size(), (task + 1) * kPerTask);
    for (std::size_t j = task * kPerTask; j < last; ++j) {
      Prepared& p = out_[todo_[j] - begin_];
      try {
        prepare(*src_, *file_, (*members_)[todo_[j]], reader, p);
      } catch (...) {
        p.error = std::current_exception();
      }
    }
  }

  const std::shared_ptr<const ByteSource>* src_ = nullptr;
  const SharedText* file_ = nullptr;
  const std::vector<zip::Member>* members_ = nullptr;
  std::size_t begin_ = 0, end_ = 0, tasks_ = 0;
  std::vector<std::size_t> todo_;
  std::vector<Prepared> out_;
  ThreadPool::Pending pending_;  // last: it is waited for before the rest goes
};

// Where the batch of members from `begin` ends: at kBatch members, or
// where they spread over kBatchSpan bytes of the file, so the pages their
// headers map are released (BatchedHint) before many more are mapped.
std::size_t batch_end(const std::vector<zip::Member>& members, std::size_t begin) {
  const std::uint64_t first = members[begin].local_header_offset;
  std::size_t k = begin + 1;
  while (k < members.size() && k - begin < kBatch) {
    const std::uint64_t at = members[k].local_header_offset;
    if ((at > first ? at - first : first - at) >= kBatchSpan) break;
    ++k;
  }
  return k;
}

}  // namespace

namespace {

struct Counts {
  std::size_t stored = 0, deflated = 0;
};

// Member `m`'s tensor, from what prepare() made of it, onto `ck`: its data
// handle in the table. Errors are worded alike wherever they were thrown.
void take(const std::shared_ptr<MemberTable>& table, const zip::Member& m, Prepared& p, BatchedHint& headers_read,
          Checkpoint& ck, Counts& counts) {
  const ByteSource& src = *table->file;
  try {
    if (m.method != zip::kStored && m.method != zip::kDeflated)
      throw Error(src.label(), m.local_header_offset, "compression method " + std::to_string(m.method) +
                                                          " is not supported (only stored and deflated)");
    if (p.error) std::rethrow_exception(p.error);
    TensorInfo& t = p.tensor;
    npy::Header& h = p.header;
    if (m.method == zip::kStored) {
      headers_read.add(m.data_offset, h.data_offset - m.data_offset);  // the header page, mapped just now
      const auto& d = table->stored.emplace_back(src, m, h.data_offset - m.data_offset, h.nbytes, std::move(t.data));
      t.data = std::shared_ptr<const TensorData>(table, &d);
      ++counts.stored;
    } else {
      // The compressed pages mapped to inflate the header (whole large
      // folios: listing a 1 GB deflated archive left 325 MB resident).
      headers_read.add(m.data_offset, std::min<std::uint64_t>(m.compressed_size, std::max<std::uint64_t>(h.data_offset, kHeaderPeek)));
      const auto& d = table->deflated.emplace_back(src, m, std::move(h));
      t.data = std::shared_ptr<const TensorData>(table, &d);
      ++counts.deflated;
    }
    ck.tensors.push_back(std::move(t));
  } catch (const Error& e) {
    if (e.sentence().find("member '" + m.name + "'") != std::string::npos) throw;
    throw Error(e.file(), e.offset(), "member '" + m.name + "': " + e.sentence());
  }
}

std::string detail(const Counts& c, const zip::Archive& archive) {
  return "npz (" + std::to_string(c.stored) + " stored, " + std::to_string(c.deflated) + " deflated members" +
         (archive.zip64 ? ", zip64" : "") + ")";
}

}  // namespace

Checkpoint describe(std::shared_ptr<const ByteSource> src) {
  const auto table = std::make_shared<MemberTable>();
  table->file = src;
  table->archive = zip::read_central_directory(*src);
  zip::Archive& archive = table->archive;
  std::vector<zip::Member>& members = archive.members;
  Checkpoint ck;
  ck.path = src->label();
  ck.format = Format::Npz;
  const SharedText file(src->label());
  const std::size_t repeat = first_repeated_name(members);
  ck.tensors.reserve(members.size());
  std::vector<std::string> ignored;
  Counts counts;
  // The local headers on a thread of their own, in archive order: a batch
  // is prepared once its headers are in, while a cold disk delivers the
  // rest. The archive's own problems still come first: finish() below.
  zip::HeadersInOrder headers(*src, archive);
  std::size_t applied = 0;
  const auto start_batch = [&](BatchPrep& p, std::size_t begin) {
    const std::size_t end = batch_end(members, begin);
    headers.wait_for(end);
    for (; applied < end; ++applied) {
      members[applied].data_offset = headers[applied].data_offset;
      members[applied].zip64_local = headers[applied].zip64;
    }
    p.start(src, file, members, begin, end);
  };
  try {
    const ScatteredReads scattered(*src, archive.headers_far_apart());  // the npy headers lie scattered too
    // Every 8 MiB, as the local headers' pages are released.
    BatchedHint headers_read(*src, BatchedHint::Kind::ReleaseAround, std::uint64_t{64} << 20, std::uint64_t{8} << 20);
    // Two batches: the next one is prepared while this one is taken, when
    // its headers are in by then (else once this one is taken).
    std::array<BatchPrep, 2> preps;
    std::size_t current = 0;
    bool started = !members.empty();
    if (started) start_batch(preps[0], 0);
    std::vector<Prepared>* prepared = nullptr;
    Prepared unsupported;  // for members of other methods, which take() refuses
    std::size_t batch = 0, batch_stop = 0;
    for (std::size_t k = 0; k < members.size(); ++k) {
      if (k == batch_stop) {
        BatchPrep& now = preps[current];
        if (!started) start_batch(now, k);
        prepared = &now.finish();
        batch = now.begin();
        batch_stop = now.end();
        current ^= 1;
        started = batch_stop < members.size() && headers.ready(batch_end(members, batch_stop));
        if (started) start_batch(preps[current], batch_stop);
      }
      const zip::Member& m = members[k];
      if (m.is_directory()) continue;
      if (!is_array_member(m)) {
        ignored.push_back(m.name);
        continue;
      }
      if (k == repeat)
        throw Error(src->label(), m.local_header_offset, "the archive holds two members named '" + m.name + "'");
      take(table, m, wanted(m) ? (*prepared)[k - batch] : unsupported, headers_read, ck, counts);
    }
    headers.finish();
  } catch (...) {
    headers.finish();  // an archive problem anywhere is reported ahead of a member's
    throw;
  }
  ck.format_detail = detail(counts, archive);
  if (!ignored.empty()) {
    ck.format_detail += "; ignored non-.npy members:";
    for (const auto& n : ignored) ck.format_detail += " " + n;
  }
  ck.files.push_back(std::move(src));
  return ck;
}

std::optional<Checkpoint> describe_named(std::shared_ptr<const ByteSource> src, std::span<const std::string> names) {
  zip::Archive archive = zip::read_archive(*src);
  if (first_repeated_name(archive.members) != SIZE_MAX) return std::nullopt;
  std::vector<std::size_t> picks;
  for (const auto& name : names) {
    const auto it = std::find_if(archive.members.begin(), archive.members.end(), [&](const zip::Member& m) {
      return is_array_member(m) && m.name.size() == name.size() + 4 && m.name.starts_with(name);
    });
    if (it == archive.members.end()) return std::nullopt;
    picks.push_back(static_cast<std::size_t>(it - archive.members.begin()));
  }
  std::sort(picks.begin(), picks.end());  // archive order, as describe() lists them
  picks.erase(std::unique(picks.begin(), picks.end()), picks.end());
  Checkpoint ck;
  ck.path = src->label();
  ck.format = Format::Npz;
  const SharedText file(src->label());
  const auto table = std::make_shared<MemberTable>();
  table->file = src;
  table->archive = std::move(archive);
  Counts counts;
  BatchedHint headers_read(*src, BatchedHint::Kind::ReleaseAround, std::uint64_t{64} << 20, std::uint64_t{64} << 20);
  zip::PrefixReader reader;
  for (const std::size_t k : picks) {
    const zip::Member& m = table->archive.members[k];
    Prepared p;
    if (wanted(m)) {
      try {
        prepare(src, file, m, reader, p);
      } catch (...) {
        p.error = std::current_exception();
      }
    }
    take(table, m, p, headers_read, ck, counts);
  }
  ck.format_detail = detail(counts, table->archive) + "; " + std::to_string(picks.size()) + " of " +
                     std::to_string(table->archive.members.size()) + " members read";
  ck.files.push_back(std::move(src));
  return ck;
}

Checkpoint open(const std::string& path) { return describe(MappedFile::open(path)); }

void write(const std::string& path, std::span<const TensorInfo> tensors, const Metadata&, const WriteOptions& opt) {
  // Check every tensor before the first byte is written.
  // An unnamed tensor (a lone .npy) gets NumPy's positional name.
  std::vector<std::string> members;
  members.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i)
    members.push_back((tensors[i].name.empty() ? "arr_" + std::to_string(i) : tensors[i].name) + ".npy");
  const std::size_t repeat = first_repeat(members.size(), [&](std::size_t k) -> const std::string& { return members[k]; });
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = tensors[i];
    if (info(t.dtype).npy_descr.empty())
      throw Error(path, kNoOffset, "tensor '" + t.name + "' has dtype " + std::string(name(t.dtype)) + ", which .npy cannot store");
    const auto numel = checked_numel(t.shape);
    const auto want = numel ? byte_size(t.dtype, *numel) : std::nullopt;
    if (!want || *want != t.nbytes || !t.data)
      throw Error(path, kNoOffset, "tensor '" + t.name + "' has no readable data matching its shape and dtype");
    if (i == repeat) throw Error(path, kNoOffset, "two tensors would both be stored as member '" + members[i] + "'");
  }
  refuse_overwriting_inputs(path, tensors, opt);

  AtomicFile out(path, opt.sync, opt.file_mode);
  zip::Writer zw(out);
  zw.expect_members(tensors.size());
  ProgressTracker progress(opt, tensors);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = tensors[i];
    const std::string header = npy::make_header(t.dtype, t.shape);
    // Plain copies of the range (GCC 12 misjudges std::optional here as maybe uninitialised).
    const ByteSource* range_file = nullptr;
    std::uint64_t range_offset = 0, range_size = 0;
    if (const auto r = t.data ? t.data->file_range() : std::nullopt) {
      range_file = r->file;
      range_offset = r->offset;
      range_size = r->size;
    }
    // A large stored tensor copied from a file gets its data at the same
    // offset within a page as in the source (padding the local header, as
    // PyTorch's writer does): the kernel copies such ranges without
    // re-splitting every page, at cp speed. NumPy ignores the padding field.
    const bool copyable = !opt.compress && range_file && range_size == t.nbytes;
    const bool page_match = copyable && t.nbytes >= (std::uint64_t{1} << 20);
    const std::uint32_t skew = page_match ? static_cast<std::uint32_t>((range_offset + 4096 * 16 - header.size()) % 4096) : 0;
    zw.begin_member(members[i], opt.compress ? zip::kDeflated : zip::kStored, opt.compression_level,
                    page_match ? 4096 : 0, skew);
    zw.write(std::as_bytes(std::span<const char>(header)));
    if (copyable) {
      progress.begin_tensor(i);
      zw.write_range(*range_file, range_offset, range_size, [&](std::uint64_t n) { progress.advance(n); });
    } else {
      stream_tensor(progress, i, [&](std::span<const std::byte> chunk) { zw.write(chunk); }, path);
    }
    zw.end_member();
  }
  zw.finish();
  out.commit();
}

}  // namespace ckpt::io::npz
