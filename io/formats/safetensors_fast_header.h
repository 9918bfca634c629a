#pragma once
// A single-pass reader for the common, well-formed .safetensors header.
//
// The general reader (nlohmann DOM + a SAX pass for key order and duplicates)
// stays the reference: it decides every error message and every acceptance.
// This parser only takes the shape almost every writer produces and gives up
// on anything else, so the reference then runs on the same text. It never
// accepts what the reference rejects and, where it accepts, yields the same
// Header, because it checks the same rules (strict JSON, UTF-8, no duplicate
// key at any depth, string metadata, per-tensor dtype/shape/offset checks).
#include <cstdint>
#include <memory>
#include <string_view>

#include "io/formats/safetensors.h"

namespace ckpt::io::safetensors::detail {

// Parses `text` (the JSON header bytes) into out.tensors, out.metadata and
// out.has_metadata_key and returns true, or returns false leaving `out`
// untouched when the text is anything but the plain case:
//   - one top-level object starting at the first byte, JSON whitespace
//     only inside and after it;
//   - "__metadata__": null or an object of string -> string;
//   - every other value an object with exactly "dtype" (a string naming a
//     safetensors dtype), "shape" (array of integers up to INT64_MAX) and
//     "data_offsets" (array of two integers), in any order, that passes the
//     same per-tensor checks as the reference (element count, byte span,
//     inside a `data_size`-byte data section);
//   - numbers: unsigned decimal integers without leading zeros that fit 64 bits;
//   - strings: valid UTF-8 without control characters; escapes are decoded
//     as JSON (and nlohmann) define them;
//   - no key twice in any object.
// The tiling of the data section is not checked here (the caller's common step).
[[nodiscard]] bool parse_header_fast(std::string_view text, std::uint64_t data_size, Header& out);

// read_header / describe with the fast path allowed or not, so tests can
// compare both paths on the same bytes.
[[nodiscard]] Header read_header(const ByteSource& src, bool allow_fast);
[[nodiscard]] Checkpoint describe(std::shared_ptr<const ByteSource> src, bool allow_fast);

}  // namespace ckpt::io::safetensors::detail
