#pragma once
// Editing a checkpoint's metadata and saving it without touching the tensors:
// the same format is written again through its writer, whose tensors come
// straight from the open checkpoint, so every tensor that is one range of the
// source is copied in the kernel (copy_file_range; a reflink where the
// filesystem shares extents) and a metadata edit of a 50 GB file costs what
// the filesystem's copy costs, never a pass through user space.
//
// Also the text <-> typed value conversions editors need, so the UI and the
// command line validate "300 as uint8" the same way.
#include <string>
#include <string_view>

#include "io/checkpoint.h"
#include "io/metadata.h"
#include "io/write_options.h"

namespace ckpt::io {

// Whether `ck`'s metadata can be edited and saved back. When not, `why_not`
// (if given) receives one sentence a user can act on (npy/npz have no
// metadata, PyTorch extras cannot be written back, sharded checkpoints, …).
[[nodiscard]] bool metadata_editable(const Checkpoint& ck, std::string* why_not = nullptr);

// Whether metadata of `format` can hold a value of type `type`
// (safetensors: strings only; GGUF: every GGUF type; others: none).
[[nodiscard]] bool format_stores_meta_type(Format format, MetaType type);

// Checks `meta` against what `format` stores: keys present and unique, value
// types the format holds, GGUF arrays of one element type, a GGUF
// general.alignment that is a uint32 power of two, a safetensors "format" the
// writer can keep. Throws Error(file, kNoOffset, sentence) on the first problem.
void check_metadata(Format format, const Metadata& meta, const std::string& file);

// Writes `ck`'s tensors with `meta` as their metadata to `dest`, in `ck`'s
// format. `dest` may be the checkpoint's own file ("Save"): the result is then
// written to a new file beside it and renamed over it, so the old file's bytes
// are never modified and a checkpoint still mapping them stays readable. A
// failure or a cancel (opt.cancelled) leaves `dest` as it was. Throws Error.
void save_with_metadata(const Checkpoint& ck, const Metadata& meta, const std::string& dest, const WriteOptions& opt);

// The text an editor shows for `v`: scalars in a form meta_value_from_text
// reads back exactly (float32 as the shortest text that round-trips a float),
// strings as they are, arrays as JSON.
[[nodiscard]] std::string meta_value_text(const MetaValue& v);

// Parses `text` as a value of `type` (for Array: a JSON array whose items are
// `element_type`). Integers must fit the type, booleans are true/false/1/0,
// floats accept what strtod does. Throws Error("", kNoOffset, sentence).
[[nodiscard]] MetaValue meta_value_from_text(MetaType type, std::string_view text,
                                             MetaType element_type = MetaType::String);

// `v` as another type (an array: every element as `element_type`), through
// its text, so 7 → "7" → 7.0 works and 1.5 → uint32 is refused. Throws Error.
[[nodiscard]] MetaValue convert_meta_value(const MetaValue& v, MetaType type, MetaType element_type = MetaType::String);

}  // namespace ckpt::io
