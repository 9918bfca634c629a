#pragma once
// A tensor as the core sees it: its description (name, dtype, row-major shape,
// bytes, where it lives) plus a handle that streams its data on demand. Opening
// a checkpoint builds these from headers only; data stays in the file.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/byte_source.h"
#include "io/dtype.h"
#include "io/shared_text.h"

namespace ckpt::io {

using Shape = std::vector<std::int64_t>;
// Receives successive chunks of a tensor's bytes.
using ByteSink = std::function<void(std::span<const std::byte>)>;

inline constexpr std::size_t kChunkBytes = std::size_t{4} << 20;

// Streams a tensor's bytes in canonical layout: row-major (C order),
// little-endian, in the tensor's own dtype (ggml blocks as stored).
class TensorData {
 public:
  virtual ~TensorData() = default;
  virtual void stream(const ByteSink& sink) const = 0;
  // The canonical bytes as one span without copying, when they already sit
  // that way in a mapping (the fast path for same-dtype conversion).
  [[nodiscard]] virtual std::optional<std::span<const std::byte>> contiguous() const { return std::nullopt; }
  // When the canonical bytes are exactly one range of a file: that range, so
  // a writer can copy it in the kernel (copy_file_range) without reading it.
  struct FileRange {
    const ByteSource* file;
    std::uint64_t offset;
    std::uint64_t size;
  };
  [[nodiscard]] virtual std::optional<FileRange> file_range() const { return std::nullopt; }
  // The file this data is read from, if any (to refuse overwriting it).
  [[nodiscard]] virtual const ByteSource* source() const noexcept { return nullptr; }
  // A hint that stream() comes soon, given while the caller is busy with the
  // tensor before: data that must be decoded first (deflated .npz members)
  // starts decoding on another thread, so two members inflate at once.
  // Errors surface from stream(), worded as without the hint.
  virtual void prepare() const {}
};

enum class Compression : std::uint8_t { None, Deflate };

// How a tensor's bytes are stored in a file.
struct StoredLayout {
  std::shared_ptr<const ByteSource> file;
  std::uint64_t offset = 0;          // absolute offset of the stored (maybe compressed) bytes
  std::uint64_t stored_size = 0;     // bytes in the file
  Compression compression = Compression::None;
  std::uint64_t raw_size = 0;        // bytes after decompression
  std::optional<std::uint32_t> crc32;  // checked when the whole member is read
  DType dtype = DType::U8;
  Shape shape;                       // row-major
  // Element strides (row-major convention); empty means C-contiguous. Used for
  // Fortran-order .npy and strided PyTorch views.
  std::vector<std::int64_t> strides;
  std::int64_t element_offset = 0;   // first element within the raw bytes
  bool big_endian = false;
};

// Reads a stored tensor: memory-mapped, decompressed, byte-swapped and
// reordered as needed. Validates that every element it can touch lies in the
// stored bytes when constructed.
[[nodiscard]] std::shared_ptr<const TensorData> make_stored_data(StoredLayout layout);
// Tensor data held in memory (tests, transforms).
[[nodiscard]] std::shared_ptr<const TensorData> make_memory_data(std::vector<std::byte> bytes);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;                  // row-major dims
  std::uint64_t nbytes = 0;     // bytes of the canonical data
  std::shared_ptr<const TensorData> data;  // null when the data cannot be read (unknown ggml type)

  // Where it is, for display (`ckpt info`): file and absolute byte offset.
  // One shared string for all the tensors of a file.
  SharedText file;
  std::uint64_t offset = 0;
  std::string layout_note;      // "fortran order", "big-endian", "deflated 123 → 456 bytes", …

  // GGUF details: ggml dims (fastest first) and the raw type id.
  std::vector<std::uint64_t> ggml_ne;
  std::optional<std::uint32_t> ggml_type;

  [[nodiscard]] std::int64_t numel() const;
};

// Reads a whole tensor's canonical bytes into memory (tests, small tensors).
[[nodiscard]] std::vector<std::byte> read_all(const TensorInfo& t);

}  // namespace ckpt::io
