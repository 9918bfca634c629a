#include "io/open.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>

#include "io/error.h"
#include "io/formats/gguf.h"
#include "io/formats/npy.h"
#include "io/formats/npz.h"
#include "io/formats/pytorch.h"
#include "io/formats/safetensors.h"
#include "io/formats/zip.h"
#include "io/atomic_file.h"

namespace ckpt::io {
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.rbegin(), suffix.rend(), s.rbegin(),
                    [](char a, char b) { return a == static_cast<char>(std::tolower(static_cast<unsigned char>(b))); });
}

constexpr const char* kSupported =
    "supported formats are .npy, .npz, .safetensors (and *.safetensors.index.json), .gguf and PyTorch "
    ".pt/.pth/.bin/.ckpt (and pytorch_model.bin.index.json)";

// A zip archive is a PyTorch checkpoint when it holds TOP/data.pkl, an .npz
// otherwise. The names are all in the central directory: the local headers,
// one per member spread through the file, are left to the reader chosen.
bool zip_is_pytorch(const std::string& path) {
  try {
    const auto file = MappedFile::open(path);
    for (const auto& m : zip::read_central_directory(*file).members) {
      const auto slash = m.name.find('/');
      if (slash != std::string::npos && m.name.compare(slash, std::string::npos, "/data.pkl") == 0) return true;
    }
  } catch (const Error&) {
    // A damaged archive: let the reader its extension names report what is wrong.
  }
  return false;
}

}  // namespace

std::optional<Format> format_from_extension(const std::string& path) {
  if (ends_with(path, ".npy")) return Format::Npy;
  if (ends_with(path, ".npz")) return Format::Npz;
  if (ends_with(path, ".safetensors") || ends_with(path, ".safetensors.index.json")) return Format::Safetensors;
  if (ends_with(path, ".gguf")) return Format::Gguf;
  for (const char* ext : {".pt", ".pth", ".bin", ".ckpt", ".bin.index.json"})
    if (ends_with(path, ext)) return Format::PyTorch;
  return std::nullopt;
}

std::optional<Format> detect_format(const std::string& path) {
  if (ends_with(path, ".index.json")) return format_from_extension(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, kNoOffset, "cannot open the file");
  std::array<unsigned char, 16> head{};
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  const auto got = static_cast<std::size_t>(in.gcount());
  auto starts = [&](std::string_view magic) {
    return got >= magic.size() && std::memcmp(head.data(), magic.data(), magic.size()) == 0;
  };
  if (starts("\x93NUMPY")) return Format::Npy;
  if (starts("GGUF")) return Format::Gguf;
  if (starts("PK\x03\x04") || starts("PK\x05\x06")) {
    const auto ext = format_from_extension(path);
    if (ext == Format::PyTorch || ext == Format::Npz) return ext;
    return zip_is_pytorch(path) ? Format::PyTorch : Format::Npz;
  }
  if (got >= 9 && head[8] == '{') {
    std::uint64_t n = 0;
    for (int k = 7; k >= 0; --k) n = (n << 8) | head[static_cast<std::size_t>(k)];
    if (n >= 2 && n <= 100'000'000) return Format::Safetensors;
  }
  if (got >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) return Format::PyTorch;  // legacy torch.save pickle
  return format_from_extension(path);
}

namespace {
Checkpoint open_any(const std::string& path) {
  const auto fmt = detect_format(path);
  if (!fmt) throw Error(path, 0, std::string("is not a checkpoint this program can read; ") + kSupported);
  switch (*fmt) {
    case Format::Npy: return npy::open(path);
    case Format::Npz: return npz::open(path);
    case Format::Safetensors: return safetensors::open(path);
    case Format::Gguf: return gguf::open(path);
    case Format::PyTorch: return pytorch::open(path);
  }
  throw Error(path, 0, kSupported);
}
}  // namespace

Checkpoint select_root(Checkpoint ck, const std::string& root) {
  if (root.empty()) return ck;
  const std::string prefix = root + ".";
  auto under = [&](const std::string& name) { return name.rfind(prefix, 0) == 0; };
  std::vector<TensorInfo> kept;
  for (auto& t : ck.tensors) {
    if (!under(t.name)) continue;
    t.name.erase(0, prefix.size());
    kept.push_back(std::move(t));
  }
  if (kept.empty()) {
    std::vector<std::string> tops;
    for (const auto& t : ck.tensors) {
      std::string top = t.name.substr(0, t.name.find('.'));
      if (std::find(tops.begin(), tops.end(), top) == tops.end()) tops.push_back(top);
      if (tops.size() == 10) break;
    }
    std::string list;
    for (const auto& s : tops) list += (list.empty() ? "'" : ", '") + s + "'";
    throw Error(ck.path, kNoOffset, "no tensor lies under '" + root + "'" +
                                        (list.empty() ? std::string() : "; the top-level names are " + list));
  }
  Metadata meta;
  for (auto& e : ck.metadata) {
    if (!under(e.key)) continue;
    e.key.erase(0, prefix.size());
    meta.push_back(std::move(e));
  }
  ck.tensors = std::move(kept);
  ck.metadata = std::move(meta);
  ck.format_detail += ck.format_detail.empty() ? "root '" + root + "'" : ", root '" + root + "'";
  return ck;
}

Checkpoint open_checkpoint(const std::string& path, const OpenOptions& options) {
  auto ck = select_root(open_any(path), options.root);
  // Headers were read through the mapping; on kernels that cache files in
  // large folios one touched header maps up to megabytes of the file into
  // our resident set. Drop those mappings: opening leaves nothing resident.
  for (const auto& f : ck.files) f->release(0, f->size());
  return ck;
}

Checkpoint open_for_tensors(const std::string& path, std::span<const std::string> names, const OpenOptions& options) {
  if (!names.empty() && options.root.empty() && detect_format(path) == Format::Npz) {
    if (auto ck = npz::describe_named(MappedFile::open(path), names)) {
      for (const auto& f : ck->files) f->release(0, f->size());  // as open_checkpoint does
      return std::move(*ck);
    }
  }
  return open_checkpoint(path, options);
}

void write_checkpoint(const std::string& path, Format format, std::span<const TensorInfo> tensors,
                      const Metadata& meta, const WriteOptions& opt) {
  refuse_overwriting_inputs(path, tensors, opt);
  switch (format) {
    case Format::Npy: return npy::write(path, tensors, meta, opt);
    case Format::Npz: return npz::write(path, tensors, meta, opt);
    case Format::Safetensors: return safetensors::write(path, tensors, meta, opt);
    case Format::Gguf: return gguf::write(path, tensors, meta, opt);
    case Format::PyTorch: return pytorch::write(path, tensors, meta, opt);
  }
}

}  // namespace ckpt::io
