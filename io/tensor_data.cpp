#include <algorithm>
#include <cstring>

#include "io/checked.h"
#include "io/checkpoint.h"
#include "io/deflate.h"
#include "io/endian.h"
#include "io/error.h"
#include "io/read_window.h"

namespace ckpt::io {

namespace {
template <class T>
void swap_words(std::byte* data, std::size_t count) noexcept {
  for (std::size_t k = 0; k < count; ++k) {
    T v;
    std::memcpy(&v, data + k * sizeof(T), sizeof(T));
    v = byteswap(v);
    std::memcpy(data + k * sizeof(T), &v, sizeof(T));
  }
}
}  // namespace

void swap_elements_inplace(std::byte* data, std::size_t count, std::size_t item) noexcept {
  switch (item) {
    case 1: return;
    case 2: return swap_words<std::uint16_t>(data, count);
    case 4: return swap_words<std::uint32_t>(data, count);
    case 8: return swap_words<std::uint64_t>(data, count);
    default:
      for (std::size_t k = 0; k < count; ++k) std::reverse(data + k * item, data + (k + 1) * item);
  }
}

namespace {

bool is_c_contiguous(const Shape& shape, const std::vector<std::int64_t>& strides) {
  if (strides.empty()) return true;
  std::int64_t expect = 1;
  for (std::size_t k = shape.size(); k-- > 0;) {
    if (shape[k] != 1 && strides[k] != expect) return false;
    // Only an empty tensor's other dimensions can multiply past int64 (its
    // element count is 0); such a layout reads nothing, contiguous or not.
    if (__builtin_mul_overflow(expect, shape[k], &expect)) return false;
  }
  return true;
}

class StoredData final : public TensorData {
 public:
  explicit StoredData(StoredLayout l) : l_(std::move(l)) {
    const auto& label = l_.file->label();
    const auto numel = checked_numel(l_.shape);
    if (!numel) throw Error(label, l_.offset, "tensor shape has a negative dimension or too many elements");
    numel_ = *numel;
    const auto nbytes = byte_size(l_.dtype, numel_);
    if (!nbytes) throw Error(label, l_.offset, "tensor element count does not fill whole blocks of its type");
    nbytes_ = *nbytes;
    // The stored bytes must lie inside the file.
    (void)l_.file->view(l_.offset, l_.stored_size, "tensor data");
    if (l_.compression == Compression::None) l_.raw_size = l_.stored_size;
    contiguous_ = is_c_contiguous(l_.shape, l_.strides);
    item_ = item_size(l_.dtype);
    const std::size_t half = info(l_.dtype).kind == DTypeKind::Complex ? item_ / 2 : item_;
    swap_ = l_.big_endian && half > 1;
    if (!contiguous_ && item_ == 0)
      throw Error(label, l_.offset, "a strided layout is not possible for block-packed type " + std::string(name(l_.dtype)));
    // Every element the layout can reach must lie within the raw bytes.
    if (numel_ > 0) {
      std::uint64_t last = static_cast<std::uint64_t>(l_.element_offset);
      if (l_.element_offset < 0) throw Error(label, l_.offset, "tensor has a negative storage offset");
      if (contiguous_) {
        auto first_byte = checked_mul(last, std::max<std::uint32_t>(item_, 1));
        auto end = first_byte ? checked_add(*first_byte, nbytes_) : std::nullopt;
        if (!end || *end > l_.raw_size)
          throw Error(label, l_.offset, "tensor needs " + std::to_string(nbytes_) + " bytes but its storage holds " +
                                            std::to_string(l_.raw_size));
      } else {
        for (std::size_t k = 0; k < l_.shape.size(); ++k) {
          if (l_.strides[k] < 0) throw Error(label, l_.offset, "tensor has a negative stride");
          auto span = checked_mul(static_cast<std::uint64_t>(l_.shape[k] - 1), static_cast<std::uint64_t>(l_.strides[k]));
          auto next = span ? checked_add(last, *span) : std::nullopt;
          if (!next) throw Error(label, l_.offset, "tensor strides overflow");
          last = *next;
        }
        auto end = checked_mul(last + 1, item_);
        if (!end || *end > l_.raw_size)
          throw Error(label, l_.offset, "tensor strides reach past the end of its storage (" +
                                            std::to_string(l_.raw_size) + " bytes)");
      }
    }
    // Only the strided walk reads them again. Given back now, the next
    // tensor's shape takes the same heap block: 50,000 records' copies
    // were fresh pages otherwise.
    if (contiguous_) {
      Shape().swap(l_.shape);
      std::vector<std::int64_t>().swap(l_.strides);
    }
  }

  std::optional<std::span<const std::byte>> contiguous() const override {
    if (l_.compression != Compression::None || !contiguous_ || swap_) return std::nullopt;
    return l_.file->all().subspan(static_cast<std::size_t>(l_.offset + first_byte()), static_cast<std::size_t>(nbytes_));
  }

  const ByteSource* source() const noexcept override { return l_.file.get(); }

  std::optional<FileRange> file_range() const override {
    if (l_.file->native_fd() < 0 || !contiguous()) return std::nullopt;
    return FileRange{l_.file.get(), l_.offset + first_byte(), nbytes_};
  }

  void stream(const ByteSink& sink) const override {
    if (numel_ == 0) return;
    if (auto r = file_range()) {
      // pread into one buffer: no page faults, and nothing of the file stays resident.
      std::vector<std::byte> buf(static_cast<std::size_t>(std::min<std::uint64_t>(kChunkBytes, r->size)));
      if (r->size <= kSmallRangeBytes) {  // tensors stored one after another: through a read-ahead window
        read_small(*r->file, r->offset, buf);
        sink(buf);
        return;
      }
      for (std::uint64_t pos = 0; pos < r->size; pos += buf.size()) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), r->size - pos));
        r->file->read_at(r->offset + pos, std::span<std::byte>(buf.data(), n));
        sink(std::span<const std::byte>(buf.data(), n));
      }
      return;
    }
    if (auto c = contiguous()) {
      const std::uint64_t base = l_.offset + first_byte();
      for (std::size_t pos = 0; pos < c->size(); pos += kChunkBytes) {
        const std::size_t n = std::min(kChunkBytes, c->size() - pos);
        l_.file->prefetch(base + pos + n, kChunkBytes * 2);
        sink(c->subspan(pos, n));
        l_.file->release(base + pos, n);
      }
      return;
    }
    // Whatever path is taken below, the stored bytes leave the resident set afterwards.
    struct Release {
      const StoredLayout& l;
      ~Release() { l.file->release(l.offset, l.stored_size); }
    } release{l_};
    const auto stored = l_.file->all().subspan(static_cast<std::size_t>(l_.offset), static_cast<std::size_t>(l_.stored_size));
    if (l_.compression == Compression::Deflate && contiguous_ && !swap_ && l_.element_offset == 0 &&
        nbytes_ == l_.raw_size) {
      inflate_raw(stored, l_.raw_size, l_.crc32, sink, l_.file->label(), l_.offset);
      return;
    }
    std::vector<std::byte> inflated;
    std::span<const std::byte> raw = stored;
    if (l_.compression == Compression::Deflate) {
      inflated.reserve(static_cast<std::size_t>(l_.raw_size));
      inflate_raw(stored, l_.raw_size, l_.crc32,
                  [&](std::span<const std::byte> b) { inflated.insert(inflated.end(), b.begin(), b.end()); },
                  l_.file->label(), l_.offset);
      raw = inflated;
    }
    if (contiguous_) {
      emit_swapped(raw.subspan(static_cast<std::size_t>(first_byte()), static_cast<std::size_t>(nbytes_)), sink);
    } else {
      gather(raw, sink);
    }
  }

 private:
  std::uint64_t first_byte() const { return static_cast<std::uint64_t>(l_.element_offset) * std::max<std::uint32_t>(item_, 1); }

  void emit_swapped(std::span<const std::byte> bytes, const ByteSink& sink) const {
    if (!swap_) {
      for (std::size_t pos = 0; pos < bytes.size(); pos += kChunkBytes)
        sink(bytes.subspan(pos, std::min(kChunkBytes, bytes.size() - pos)));
      return;
    }
    const std::size_t half = info(l_.dtype).kind == DTypeKind::Complex ? item_ / 2 : item_;
    std::vector<std::byte> buf(std::min<std::size_t>(kChunkBytes, bytes.size()));
    for (std::size_t pos = 0; pos < bytes.size(); pos += buf.size()) {
      const std::size_t n = std::min(buf.size(), bytes.size() - pos);
      std::memcpy(buf.data(), bytes.data() + pos, n);
      swap_elements_inplace(buf.data(), n / half, half);
      sink(std::span<const std::byte>(buf.data(), n));
    }
  }

  // Walks the elements in row-major order through the strides.
  void gather(std::span<const std::byte> raw, const ByteSink& sink) const {
    const std::size_t rank = l_.shape.size();
    const std::size_t half = info(l_.dtype).kind == DTypeKind::Complex ? item_ / 2 : item_;
    const std::size_t per_chunk = std::max<std::size_t>(1, kChunkBytes / item_);
    std::vector<std::byte> buf(std::min<std::uint64_t>(per_chunk, static_cast<std::uint64_t>(numel_)) * item_);
    std::vector<std::int64_t> idx(rank, 0);
    std::int64_t src = l_.element_offset;
    std::size_t fill = 0;
    for (std::int64_t n = 0; n < numel_; ++n) {
      std::memcpy(buf.data() + fill, raw.data() + static_cast<std::size_t>(src) * item_, item_);
      if (swap_) swap_elements_inplace(buf.data() + fill, item_ / half, half);
      fill += item_;
      if (fill == buf.size()) {
        sink(std::span<const std::byte>(buf.data(), fill));
        fill = 0;
      }
      for (std::size_t k = rank; k-- > 0;) {
        if (++idx[k] < l_.shape[k]) {
          src += l_.strides[k];
          break;
        }
        src -= l_.strides[k] * (l_.shape[k] - 1);
        idx[k] = 0;
      }
    }
    if (fill) sink(std::span<const std::byte>(buf.data(), fill));
  }

  StoredLayout l_;
  std::int64_t numel_ = 0;
  std::uint64_t nbytes_ = 0;
  std::uint32_t item_ = 0;
  bool contiguous_ = true;
  bool swap_ = false;
};

class MemoryData final : public TensorData {
 public:
  explicit MemoryData(std::vector<std::byte> b) : bytes_(std::move(b)) {}
  void stream(const ByteSink& sink) const override {
    for (std::size_t pos = 0; pos < bytes_.size(); pos += kChunkBytes)
      sink(std::span<const std::byte>(bytes_).subspan(pos, std::min(kChunkBytes, bytes_.size() - pos)));
  }
  std::optional<std::span<const std::byte>> contiguous() const override { return std::span<const std::byte>(bytes_); }

 private:
  std::vector<std::byte> bytes_;
};

}  // namespace

std::shared_ptr<const TensorData> make_stored_data(StoredLayout layout) {
  return std::make_shared<StoredData>(std::move(layout));
}

std::shared_ptr<const TensorData> make_memory_data(std::vector<std::byte> bytes) {
  return std::make_shared<MemoryData>(std::move(bytes));
}

std::int64_t TensorInfo::numel() const { return checked_numel(shape).value_or(0); }

std::vector<std::byte> read_all(const TensorInfo& t) {
  if (!t.data) throw Error(t.file, t.offset, "tensor '" + t.name + "' has a type this build cannot read");
  std::vector<std::byte> out;
  out.reserve(static_cast<std::size_t>(t.nbytes));
  t.data->stream([&](std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); });
  if (out.size() != t.nbytes)
    throw Error(t.file, t.offset, "tensor '" + t.name + "' produced " + std::to_string(out.size()) + " bytes, expected " +
                                      std::to_string(t.nbytes));
  return out;
}

const char* format_name(Format f) noexcept {
  switch (f) {
    case Format::Npy: return "npy";
    case Format::Npz: return "npz";
    case Format::Safetensors: return "safetensors";
    case Format::Gguf: return "gguf";
    case Format::PyTorch: return "pytorch";
  }
  return "unknown";
}

std::uint64_t Checkpoint::total_bytes() const {
  std::uint64_t n = 0;
  for (const auto& t : tensors) n += t.nbytes;
  return n;
}

std::uint64_t Checkpoint::total_parameters() const {
  std::uint64_t n = 0;
  for (const auto& t : tensors) n += static_cast<std::uint64_t>(t.numel());
  return n;
}

}  // namespace ckpt::io
