#pragma once
// NumPy .npy: one array. See npy.cpp for the layout.
#include <memory>
#include <span>
#include <string>

#include "io/checkpoint.h"
#include "io/limits.h"
#include "io/write_options.h"

namespace ckpt::io::npy {

// Headers longer than this are refused before they are tokenized (NumPy's
// own writer never needs more than a few hundred bytes for a numeric array).
inline constexpr std::uint64_t kMaxHeaderBytes = kMaxNpyHeaderBytes;

// Parsed header of one .npy image starting at `offset` in `src`.
struct Header {
  int major = 1, minor = 0;
  std::uint64_t header_len = 0;
  std::uint64_t data_offset = 0;  // absolute, in src (parse_header_bytes: relative to the bytes given)
  std::string descr;              // as written, e.g. "<f4", "|b1", "<V2"
  DType dtype = DType::F32;
  bool big_endian = false;
  bool fortran_order = false;
  Shape shape;
  std::uint64_t nbytes = 0;       // data bytes the header implies
};

// Parses and validates the header at `offset` (the data is not read). `limit`
// is the number of bytes available from `offset` (e.g. an uncompressed npz
// member); a header or data running past it is an error.
[[nodiscard]] Header parse_header(const ByteSource& src, std::uint64_t offset, std::uint64_t limit);
// Parses a header from memory (an npz member's first bytes after inflation).
// Does not check that the data fits: the caller knows how many bytes follow.
[[nodiscard]] Header parse_header_bytes(std::span<const std::byte> bytes, const std::string& label, std::uint64_t label_offset);
// How many bytes from the start of an image the magic, version, length and
// header take, as far as `prefix` tells (0 when it is too short to say or is
// no .npy; parsing then reports why). Lets an npz reader inflate just enough.
[[nodiscard]] std::uint64_t header_extent(std::span<const std::byte> prefix);

// The exact header bytes NumPy writes for this array (v1.0, v2.0 when needed),
// padded so the data starts on a multiple of 64.
[[nodiscard]] std::string make_header(DType dtype, const Shape& shape);

// Name, dtype, shape, bytes and location of the array `h` describes, with its
// layout noted ("fortran order", "big-endian"); no data handle. Shared by the
// .npy reader and the .npz reader's stored and deflated members.
[[nodiscard]] TensorInfo describe_array(const Header& h, std::string name, SharedText file, std::uint64_t offset);

// A tensor for the array of a .npy at `offset` in `src` (for npz: a stored member).
// `file`: the name of src's file, shared by the caller's tensors.
[[nodiscard]] TensorInfo tensor_from(const std::shared_ptr<const ByteSource>& src, const Header& h, std::string name,
                                     SharedText file);

[[nodiscard]] Checkpoint describe(std::shared_ptr<const ByteSource> src);
[[nodiscard]] Checkpoint open(const std::string& path);
// Writes exactly one tensor; metadata is not representable and is ignored.
void write(const std::string& path, std::span<const TensorInfo> tensors, const Metadata& meta, const WriteOptions& opt);

}  // namespace ckpt::io::npy
