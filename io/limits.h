#pragma once
// Limits every reader applies to what a file claims, so a hostile or broken
// file ends in an io::Error with a plain sentence instead of exhausting
// memory or time. Each value is far above anything a real writer produces
// (NumPy, torch, safetensors, llama.cpp, MLX) and is documented with its
// error sentence in docs/reliability.md; readers include this header rather
// than keeping their own copies, so the table there stays the whole story.
#include <cstddef>
#include <cstdint>

namespace ckpt::io {

// ---- header sizes ----

// The dict text of one .npy header. NumPy's writer needs a few hundred bytes
// for any numeric array; 1 MiB still leaves room for long shapes.
inline constexpr std::uint64_t kMaxNpyHeaderBytes = std::uint64_t{1} << 20;
// Parsed values (strings, tuples, booleans, ...) in one .npy header; the
// integers of a shape are kept apart at 8 bytes each and do not count. A real
// header holds about 5; each value costs ~100 bytes, so without a cap a 1 MiB
// header of "(),(),..." would take ~35 MiB to parse.
inline constexpr std::size_t kMaxNpyHeaderValues = 4096;
// Keys of one dict in a .npy header (NumPy writes 3).
inline constexpr std::size_t kMaxNpyHeaderDictKeys = 64;
// The JSON header of a .safetensors file: the reference crate's own limit
// (MAX_HEADER_SIZE), so we accept exactly the files it accepts.
inline constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;
// A *.safetensors.index.json. Hugging Face indexes hold ~100 bytes per
// tensor; 64 MiB is half a million tensors.
inline constexpr std::uint64_t kMaxSafetensorsIndexBytes = std::uint64_t{64} << 20;
// A zip central directory (npz, PyTorch zip). 46 bytes plus the name per
// member: 256 MiB is millions of members.
inline constexpr std::uint64_t kMaxZipCentralDirectoryBytes = std::uint64_t{256} << 20;

// ---- counts ----

// Tensors (or archive members) in one file. The largest public checkpoints
// hold tens of thousands; every listed tensor costs a few hundred bytes of
// memory, so this also caps what opening can allocate for them.
inline constexpr std::uint64_t kMaxTensorCount = 10'000'000;
// Deflate cannot expand better than about 1032:1 (a 258-byte match costs at
// least two bits); a zip member claiming more is corrupt or a decompression
// bomb. The inflater also stops at the member's declared size, so the cap
// holds while inflating, not only in the headers.
inline constexpr std::uint64_t kMaxDeflateRatio = 1032;

// A PyTorch zip's data.pkl, the pickle that describes every tensor. torch
// writes ~150 bytes per tensor, so this is over a million tensors; a deflated
// one (torch stores it, other zip tools may not) is inflated whole.
inline constexpr std::uint64_t kMaxTorchPickleBytes = std::uint64_t{256} << 20;

// ---- names ----

// Tensor names and metadata keys. Real names are under 200 bytes; a name is
// copied into messages, trees and outputs, so a multi-megabyte one is refused.
inline constexpr std::uint64_t kMaxNameBytes = std::uint64_t{64} << 10;

// ---- GGUF ----

// Elements of all GGUF metadata arrays of one file together (nested arrays
// count each element). A real file holds about a million (tokens, merges,
// scores, types). Every element is one ~88-byte MetaValue whatever its type,
// so this caps the metadata at ~740 MB even for arrays of 1-byte elements,
// which cost 88 bytes per header byte.
inline constexpr std::uint64_t kMaxGgufMetadataElements = std::uint64_t{1} << 23;

}  // namespace ckpt::io
