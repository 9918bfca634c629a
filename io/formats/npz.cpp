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
#include <future>
#include <memory>
#include <mutex>
#include <cstdint>
#include <set>
#include <string_view>

#include "io/atomic_file.h"
#include "io/checked.h"
#include "io/deflate.h"
#include "io/error.h"
#include "io/formats/npy.h"
#include "io/formats/zip.h"

namespace ckpt::io::npz {

namespace {

// Enough inflated bytes for any ordinary npy header; longer ones are inflated again.
constexpr std::size_t kHeaderPeek = 4096;

[[noreturn]] void crc_mismatch(const ByteSource& src, const zip::Member& m, std::uint32_t crc) {
  throw Error(src.label(), m.data_offset, "CRC-32 mismatch in member '" + m.name + "': the data is corrupt (expected " +
                                              std::to_string(m.crc32) + ", computed " + std::to_string(crc) + ")");
}

// A stored member: a zero-copy view of the mapping (StoredData) whose full
// reads also check the member's CRC-32. contiguous() hands out the mapped
// bytes directly and so cannot check it.
class StoredMemberData final : public TensorData {
 public:
  StoredMemberData(std::shared_ptr<const TensorData> inner, std::shared_ptr<const ByteSource> file, zip::Member m,
                   std::uint64_t data_rel, std::uint64_t nbytes)
      : inner_(std::move(inner)), file_(std::move(file)), m_(std::move(m)), data_rel_(data_rel), nbytes_(nbytes) {}

  void stream(const ByteSink& sink) const override {
    const auto member = zip::member_bytes(*file_, m_);
    const auto head = member.first(static_cast<std::size_t>(data_rel_));
    const auto tail = member.subspan(static_cast<std::size_t>(data_rel_ + nbytes_));
    std::uint32_t crc = crc32_update(0, head);
    if (inner_->contiguous()) {
      // The canonical bytes are the stored bytes: check them as they pass.
      inner_->stream([&](std::span<const std::byte> chunk) { crc = crc32_alongside(crc, chunk, [&] { sink(chunk); }); });
      crc = crc32_update(crc, tail);
      if (crc != m_.crc32) crc_mismatch(*file_, m_, crc);
      return;
    }
    // Reordered or byte-swapped: check the stored bytes before handing any out.
    crc = crc32_update(crc, member.subspan(static_cast<std::size_t>(data_rel_), static_cast<std::size_t>(nbytes_)));
    crc = crc32_update(crc, tail);
    if (crc != m_.crc32) crc_mismatch(*file_, m_, crc);
    inner_->stream(sink);
  }
  std::optional<std::span<const std::byte>> contiguous() const override { return inner_->contiguous(); }
  // Like contiguous(), the range skips the member's CRC check; it lets
  // statistics and conversions read with pread or copy in the kernel instead
  // of faulting the whole member into this process (2 GB member: 1.9 GB RSS).
  std::optional<FileRange> file_range() const override { return inner_->file_range(); }
  const ByteSource* source() const noexcept override { return file_.get(); }

 private:
  std::shared_ptr<const TensorData> inner_;
  std::shared_ptr<const ByteSource> file_;
  zip::Member m_;
  std::uint64_t data_rel_, nbytes_;
};

// A deflated member. C-order little-endian data streams straight out of the
// inflater past the npy header; any other layout is inflated into memory and
// reordered there (the whole member is needed to reorder it anyway).
class DeflatedMemberData final : public TensorData {
 public:
  DeflatedMemberData(std::shared_ptr<const ByteSource> file, zip::Member m, npy::Header h)
      : file_(std::move(file)), m_(std::move(m)), h_(std::move(h)) {}

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
    if (!straight() || m_.size < kPrepareMin || m_.size > kWholeInflateBytes) return;
    std::lock_guard lock(mu_);
    if (ready_.valid()) return;
    ready_ = std::async(std::launch::async, [this]() -> Inflated {
      Inflated out{std::make_unique_for_overwrite<std::byte[]>(static_cast<std::size_t>(m_.size))};
      const std::span<std::byte> all(out.get(), static_cast<std::size_t>(m_.size));
      const bool ok = inflate_exact(zip::member_bytes(*file_, m_), all) && crc32_update(0, all) == m_.crc32;
      file_->release(m_.data_offset, m_.compressed_size);
      if (!ok) out.reset();  // stream() reads it again the usual way, which words the error
      return out;
    });
  }

  void stream(const ByteSink& sink) const override {
    if (const Inflated done = take_prepared()) {
      const std::span<const std::byte> data(done.get() + h_.data_offset, static_cast<std::size_t>(h_.nbytes));
      for (std::size_t pos = 0; pos < data.size(); pos += kChunkBytes)
        sink(data.subspan(pos, std::min(kChunkBytes, data.size() - pos)));
      return;
    }
    if (straight()) {
      std::uint64_t skip = h_.data_offset, left = h_.nbytes;
      zip::read_member(*file_, m_, [&](std::span<const std::byte> chunk) {
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
    zip::read_member(*file_, m_, [&](std::span<const std::byte> c) { raw.insert(raw.end(), c.begin(), c.end()); });
    const auto mem = std::make_shared<MemorySource>(std::move(raw), file_->label());
    npy::tensor_from(mem, h_, m_.name).data->stream(sink);
  }
  const ByteSource* source() const noexcept override { return file_.get(); }

 private:
  using Inflated = std::unique_ptr<std::byte[]>;
  // Below this a member inflates faster than a thread starts.
  static constexpr std::uint64_t kPrepareMin = std::uint64_t{256} << 10;

  bool straight() const { return !(h_.fortran_order && h_.shape.size() > 1) && !h_.big_endian; }
  Inflated take_prepared() const {
    std::lock_guard lock(mu_);
    if (!ready_.valid()) return nullptr;
    return ready_.get();
  }

  std::shared_ptr<const ByteSource> file_;
  zip::Member m_;
  npy::Header h_;
  mutable std::mutex mu_;
  mutable std::future<Inflated> ready_;
};

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TensorInfo stored_tensor(const std::shared_ptr<const ByteSource>& src, const zip::Member& m, std::string name,
                         BatchedHint& headers_read) {
  const npy::Header h = npy::parse_header(*src, m.data_offset, m.size);
  headers_read.add(m.data_offset, h.data_offset - m.data_offset);  // the header page, mapped just now
  TensorInfo t = npy::tensor_from(src, h, std::move(name));
  t.data = std::make_shared<StoredMemberData>(t.data, src, m, h.data_offset - m.data_offset, h.nbytes);
  return t;
}

TensorInfo deflated_tensor(const std::shared_ptr<const ByteSource>& src, const zip::Member& m, std::string name,
                           BatchedHint& headers_read) {
  // Inflate only the npy header: a first peek, then exactly its extent if it is longer.
  auto prefix = zip::read_member_prefix(*src, m, kHeaderPeek);
  const std::uint64_t extent = npy::header_extent(prefix);
  if (extent > prefix.size() && extent <= m.size && extent <= npy::kMaxHeaderBytes + 12)
    prefix = zip::read_member_prefix(*src, m, static_cast<std::size_t>(extent));
  // The compressed pages just mapped to inflate the header (whole large
  // folios: listing a 1 GB deflated archive left 325 MB resident).
  headers_read.add(m.data_offset, std::min<std::uint64_t>(m.compressed_size, std::max<std::uint64_t>(extent, kHeaderPeek)));
  npy::Header h = npy::parse_header_bytes(prefix, src->label(), m.data_offset);
  const std::uint64_t after = m.size - std::min(m.size, h.data_offset);
  if (after < h.nbytes)
    throw Error(src->label(), m.data_offset, "the array needs " + std::to_string(h.nbytes) + " data bytes but only " +
                                                 std::to_string(after) + " follow its header");
  TensorInfo t = describe_array(h, std::move(name), src->label(), m.data_offset);
  const std::string order = t.layout_note;
  t.layout_note = "deflated " + std::to_string(m.compressed_size) + " → " + std::to_string(m.size) + " bytes";
  if (!order.empty()) t.layout_note += ", " + order;
  t.data = std::make_shared<DeflatedMemberData>(src, m, std::move(h));
  return t;
}

bool is_array_member(const zip::Member& m) { return !m.is_directory() && ends_with(m.name, ".npy"); }

// The index of the first array member whose name an earlier one already
// has, or SIZE_MAX. A sort of views, not a set of strings: the set's
// allocations and scattered lookups were a fifth of listing 50,000 members.
std::size_t first_repeated_name(const std::vector<zip::Member>& members) {
  std::vector<std::pair<std::string_view, std::size_t>> names;
  names.reserve(members.size());
  for (std::size_t k = 0; k < members.size(); ++k)
    if (is_array_member(members[k])) names.emplace_back(members[k].name, k);
  std::sort(names.begin(), names.end());  // equal names sit together, in archive order
  std::size_t first = SIZE_MAX;
  for (std::size_t i = 1; i < names.size(); ++i)
    if (names[i].first == names[i - 1].first) first = std::min(first, names[i].second);
  return first;
}

}  // namespace

Checkpoint describe(std::shared_ptr<const ByteSource> src) {
  const zip::Archive archive = zip::read_archive(*src);
  Checkpoint ck;
  ck.path = src->label();
  ck.format = Format::Npz;
  const std::size_t repeat = first_repeated_name(archive.members);
  ck.tensors.reserve(archive.members.size());
  std::vector<std::string> ignored;
  std::size_t stored = 0, deflated = 0;
  const ScatteredReads scattered(*src, archive.headers_far_apart());  // the npy headers lie scattered too
  BatchedHint headers_read(*src, BatchedHint::Kind::ReleaseAround, std::uint64_t{64} << 20, std::uint64_t{64} << 20);
  for (std::size_t k = 0; k < archive.members.size(); ++k) {
    const zip::Member& m = archive.members[k];
    if (m.is_directory()) continue;
    if (!is_array_member(m)) {
      ignored.push_back(m.name);
      continue;
    }
    const std::string_view stem = std::string_view(m.name).substr(0, m.name.size() - 4);
    if (k == repeat)
      throw Error(src->label(), m.local_header_offset, "the archive holds two members named '" + m.name + "'");
    try {
      if (m.method == zip::kStored) {
        ck.tensors.push_back(stored_tensor(src, m, std::string(stem), headers_read));
        ++stored;
      } else if (m.method == zip::kDeflated) {
        ck.tensors.push_back(deflated_tensor(src, m, std::string(stem), headers_read));
        ++deflated;
      } else {
        throw Error(src->label(), m.local_header_offset, "compression method " + std::to_string(m.method) +
                                                              " is not supported (only stored and deflated)");
      }
    } catch (const Error& e) {
      if (e.sentence().find("member '" + m.name + "'") != std::string::npos) throw;
      throw Error(e.file(), e.offset(), "member '" + m.name + "': " + e.sentence());
    }
  }
  ck.format_detail = "npz (" + std::to_string(stored) + " stored, " + std::to_string(deflated) + " deflated members" +
                     (archive.zip64 ? ", zip64" : "") + ")";
  if (!ignored.empty()) {
    ck.format_detail += "; ignored non-.npy members:";
    for (const auto& n : ignored) ck.format_detail += " " + n;
  }
  ck.files.push_back(std::move(src));
  return ck;
}

Checkpoint open(const std::string& path) { return describe(MappedFile::open(path)); }

void write(const std::string& path, std::span<const TensorInfo> tensors, const Metadata&, const WriteOptions& opt) {
  // Check every tensor before the first byte is written.
  std::vector<std::string> members;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = tensors[i];
    if (info(t.dtype).npy_descr.empty())
      throw Error(path, kNoOffset, "tensor '" + t.name + "' has dtype " + std::string(name(t.dtype)) + ", which .npy cannot store");
    const auto numel = checked_numel(t.shape);
    const auto want = numel ? byte_size(t.dtype, *numel) : std::nullopt;
    if (!want || *want != t.nbytes || !t.data)
      throw Error(path, kNoOffset, "tensor '" + t.name + "' has no readable data matching its shape and dtype");
    // An unnamed tensor (a lone .npy) gets NumPy's positional name.
    std::string member = (t.name.empty() ? "arr_" + std::to_string(i) : t.name) + ".npy";
    if (!seen.insert(member).second)
      throw Error(path, kNoOffset, "two tensors would both be stored as member '" + member + "'");
    members.push_back(std::move(member));
  }
  refuse_overwriting_inputs(path, tensors, opt);

  AtomicFile out(path, opt.sync, opt.file_mode);
  zip::Writer zw(out);
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
