#pragma once
// What the export UI calls each target format and where a conversion writes
// by default: beside its source, never over an existing file.
#include <QString>

#include <array>

#include "io/checkpoint.h"

namespace ckpt::ui {

// The five targets in the order the UI offers them.
inline constexpr std::array<io::Format, 5> kExportFormats = {io::Format::Safetensors, io::Format::Gguf, io::Format::Npz,
                                                             io::Format::Npy, io::Format::PyTorch};

// "safetensors", "GGUF", "NPZ", "NPY", "PyTorch".
[[nodiscard]] QString formatLabel(io::Format format);
// ".safetensors", ".gguf", ".npz", ".npy", ".pt".
[[nodiscard]] QString formatExtension(io::Format format);
// The file name without its checkpoint extension: "model" for model.safetensors,
// model.safetensors.index.json and model.gguf.
[[nodiscard]] QString checkpointStem(const QString& path);
// `<stem>.<ext>` beside `source`; when that exists or is the source itself,
// `<stem>-converted.<ext>`, then `<stem>-converted-2.<ext>`, … (the first free one).
[[nodiscard]] QString convertedPath(const QString& source, io::Format format);
// Whether two paths name one file (resolving links when both exist).
[[nodiscard]] bool sameFile(const QString& a, const QString& b);
// `path` with its checkpoint extension replaced by `format`'s.
[[nodiscard]] QString withExtension(const QString& path, io::Format format);

}  // namespace ckpt::ui
