#include "io/convert.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "io/deflate.h"
#include "io/error.h"
#include "io/float_convert.h"
#include "io/formats/ggml_quants.h"
#include "io/open.h"
#include "io/thread_pool.h"

namespace ckpt::io {

bool format_can_store(Format format, DType t) {
  const auto& i = info(t);
  switch (format) {
    case Format::Npy:
    case Format::Npz: return !i.npy_descr.empty();
    case Format::Safetensors: return !i.safetensors.empty();
    case Format::Gguf: return i.ggml_id >= 0;
    case Format::PyTorch: return !i.torch.empty();
  }
  return false;
}

bool is_cast_target(DType t) {
  return t == DType::F16 || t == DType::BF16 || t == DType::F32 || t == DType::F64;
}

namespace {

// Streams `src` converted to `to`, a whole number of blocks at a time so that
// chunk boundaries of the source never split an element or a block. Each
// batch is cut into one range of whole units per thread; every range is
// converted in L2-sized pieces (decode to float32, encode to `to`) so the
// float32 intermediate never goes out to memory.
class CastData final : public TensorData {
 public:
  CastData(std::shared_ptr<const TensorData> src, DType from, DType to, unsigned threads)
      : src_(std::move(src)), from_(from), to_(to), threads_(threads) {}

  void stream(const ByteSink& sink) const override {
    const auto& fi = info(from_);
    const std::size_t unit_bytes = fi.block_bytes, unit_elems = fi.block_elems;
    const std::size_t out_item = item_size(to_);
    ThreadPool& pool = ThreadPool::shared();
    // Capped so a large request cannot make batches of hundreds of MiB.
    const std::size_t parts = std::min<std::size_t>(threads_ ? threads_ : pool.threads(), 64);
    // About 1 MiB of source per thread per batch: big enough that handing the
    // ranges to the pool costs little, small enough to stay near the cache.
    const std::size_t units_per_batch = std::max<std::size_t>(1, (parts << 20) / unit_bytes);
    const std::size_t batch_bytes = units_per_batch * unit_bytes;
    std::vector<std::byte> pending;
    std::vector<std::byte> out(units_per_batch * unit_elems * out_item);
    auto convert_units = [&](const std::byte* in, std::size_t units) {
      const Split split{units, parts};
      auto task = [&](std::size_t k) {
        const std::size_t u0 = split.begin(k), u1 = split.begin(k + 1);
        convert_range(in + u0 * unit_bytes, u1 - u0, out.data() + u0 * unit_elems * out_item);
      };
      if (split.count() == 1 || parts == 1) {
        for (std::size_t k = 0; k < split.count(); ++k) task(k);
      } else {
        pool.parallel_for(split.count(), task);
      }
      sink(std::span<const std::byte>(out.data(), units * unit_elems * out_item));
    };
    src_->stream([&](std::span<const std::byte> chunk) {
      while (!chunk.empty()) {
        // Whole batches straight from the source's buffer (or mapping) when nothing is pending.
        if (pending.empty() && chunk.size() >= batch_bytes) {
          convert_units(chunk.data(), units_per_batch);
          chunk = chunk.subspan(batch_bytes);
          continue;
        }
        const std::size_t take = std::min(batch_bytes - pending.size(), chunk.size());
        pending.insert(pending.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(take));
        chunk = chunk.subspan(take);
        if (pending.size() == batch_bytes) {
          convert_units(pending.data(), units_per_batch);
          pending.clear();
        }
      }
    });
    if (!pending.empty()) convert_units(pending.data(), pending.size() / unit_bytes);
  }

  const ByteSource* source() const noexcept override { return src_->source(); }

 private:
  // float64 → float16/bfloat16 goes through float32 rounded to odd, which
  // makes the second rounding exact (float32 has more than two extra bits).
  static float round_to_odd_f32(double d) {
    float f = static_cast<float>(d);
    if (!std::isfinite(f) || static_cast<double>(f) == d) return f;
    if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
    std::uint32_t bits;
    std::memcpy(&bits, &f, 4);
    bits |= 1u;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  // `units` whole units from `in` into `out`, in pieces whose float32 form fits in L2.
  void convert_range(const std::byte* in, std::size_t units, std::byte* out) const {
    const auto& fi = info(from_);
    const std::size_t out_item = item_size(to_);
    if (from_ == DType::F64 && to_ != DType::F32) {
      convert_f64(in, units, out);
      return;
    }
    if (to_ == DType::F32) {  // decode straight into the output
      decode(in, units * fi.block_elems, reinterpret_cast<float*>(out));
      return;
    }
    constexpr std::size_t kPieceElems = 16384;  // 64 KiB of float32
    const std::size_t piece_units = std::max<std::size_t>(1, kPieceElems / fi.block_elems);
    std::vector<float> f32(piece_units * fi.block_elems);
    for (std::size_t u = 0; u < units; u += piece_units) {
      const std::size_t n = std::min(piece_units, units - u);
      const std::byte* src = in + u * fi.block_bytes;
      const std::size_t elems = n * fi.block_elems;
      // Aligned f32 sources are encoded in place; the others go through a copy.
      if (from_ == DType::F32 && reinterpret_cast<std::uintptr_t>(src) % alignof(float) == 0)
        convert_from_f32(to_, reinterpret_cast<const float*>(src), out + u * fi.block_elems * out_item, elems);
      else {
        decode(src, elems, f32.data());
        convert_from_f32(to_, f32.data(), out + u * fi.block_elems * out_item, elems);
      }
    }
  }
  void decode(const std::byte* in, std::size_t elems, float* out) const {
    if (is_quantized(from_)) dequantize(from_, in, out, static_cast<std::int64_t>(elems));
    else convert_to_f32(from_, in, out, elems);
  }
  void convert_f64(const std::byte* in, std::size_t n, std::byte* out) const {
    for (std::size_t k = 0; k < n; ++k) {
      double d;
      std::memcpy(&d, in + 8 * k, 8);
      if (to_ == DType::F64) {
        std::memcpy(out + 8 * k, &d, 8);
      } else {
        const std::uint16_t h = to_ == DType::F16 ? f32_to_f16(round_to_odd_f32(d)) : f32_to_bf16(round_to_odd_f32(d));
        std::memcpy(out + 2 * k, &h, 2);
      }
    }
  }

  std::shared_ptr<const TensorData> src_;
  DType from_, to_;
  unsigned threads_;
};

std::string ext_of(Format f) {
  switch (f) {
    case Format::Npy: return ".npy";
    case Format::Npz: return ".npz";
    case Format::Safetensors: return ".safetensors";
    case Format::Gguf: return ".gguf";
    case Format::PyTorch: return "a PyTorch file";
  }
  return "?";
}

}  // namespace

TensorInfo cast_tensor(const TensorInfo& t, DType to, unsigned threads) {
  if (!t.data) throw Error(t.file, t.offset, "tensor '" + t.name + "' has a type this build cannot read, so it cannot be cast");
  if (!is_cast_target(to)) throw Error("", kNoOffset, std::string("cannot cast to ") + std::string(name(to)) + "; choose float16, bfloat16, float32 or float64");
  if (is_quantized(t.dtype) && !can_dequantize(t.dtype))
    throw Error(t.file, t.offset, "tensor '" + t.name + "' is " + std::string(name(t.dtype)) + ", which this build cannot dequantize");
  TensorInfo out = t;
  out.dtype = to;
  out.nbytes = byte_size(to, t.numel()).value();
  out.data = std::make_shared<CastData>(t.data, t.dtype, to, threads);
  out.ggml_ne.clear();
  out.ggml_type.reset();
  out.layout_note = "cast from " + std::string(name(t.dtype));
  return out;
}

namespace {

bool castable(const TensorInfo& t) { return is_floating(t.dtype) || is_quantized(t.dtype); }
bool needs_cast(const TensorInfo& t, std::optional<DType> cast) { return cast && castable(t) && t.dtype != *cast; }

void check_readable(const TensorInfo& t) {
  if (!t.data)
    throw Error(t.file, t.offset, "tensor '" + t.name + "' has ggml type id " + std::to_string(t.ggml_type.value_or(0)) +
                                      ", unknown to this build, so it cannot be converted");
}

// `w` is what will be written for the source tensor `t` (itself, or its cast).
void check_storable(const Checkpoint& src, const TensorInfo& t, const TensorInfo& w, Format target) {
  if (format_can_store(target, w.dtype)) return;
  std::string hint;
  if (castable(t)) hint = "; pass --dtype float16 (or float32, bfloat16) to convert it";
  else if (target == Format::Gguf) hint = "; GGUF holds only float, int8–int64 and ggml block types";
  throw Error(src.path, t.offset, "tensor '" + t.name + "' has dtype " + std::string(name(w.dtype)) + ", which " +
                                      ext_of(target) + " cannot store" + hint);
}

void check_count(const Checkpoint& src, Format target, std::size_t n) {
  if (target == Format::Npy && n != 1)
    throw Error(src.path, kNoOffset, "a .npy file holds exactly one array but the checkpoint has " +
                                         std::to_string(n) + " tensors; write .npz, .safetensors or .gguf instead");
}

}  // namespace

std::vector<TensorInfo> prepare_tensors(const Checkpoint& src, Format target, std::optional<DType> cast) {
  std::vector<TensorInfo> out;
  out.reserve(src.tensors.size());
  for (const auto& t : src.tensors) {
    check_readable(t);
    if (needs_cast(t, cast)) out.push_back(cast_tensor(t, *cast));
    else out.push_back(t);
    check_storable(src, t, out.back(), target);
  }
  check_count(src, target, out.size());
  return out;
}

std::span<const TensorInfo> tensors_to_write(const Checkpoint& src, Format target, std::optional<DType> cast,
                                             std::vector<TensorInfo>& copies) {
  if (std::any_of(src.tensors.begin(), src.tensors.end(), [&](const TensorInfo& t) { return needs_cast(t, cast); })) {
    copies = prepare_tensors(src, target, cast);
    return copies;
  }
  // Nothing to cast: the source's own records, checked as prepare_tensors
  // checks them. Copying 50,000 of them (names, shapes, paths) was 15 MB of
  // fresh memory, a tenth of converting them.
  for (const auto& t : src.tensors) {
    check_readable(t);
    check_storable(src, t, t, target);
  }
  check_count(src, target, src.tensors.size());
  return src.tensors;
}

Metadata prepare_metadata(const Checkpoint& src, Format target) {
  if (target == Format::Npy || target == Format::Npz || target == Format::PyTorch) return {};
  Metadata out;
  for (const auto& e : src.metadata) {
    if (target == Format::Gguf && e.value.type == MetaType::Null) continue;  // GGUF has no null
    if (target == Format::Gguf || e.value.type == MetaType::String) {
      out.push_back(e);
    } else {
      out.push_back({e.key, MetaValue::string(e.value.type == MetaType::Array ? to_json(e.value).dump()
                                                                               : to_display(e.value))});
    }
  }
  return out;
}

ConvertResult convert(const Checkpoint& src, const std::string& out_path, Format target,
                      std::optional<DType> cast, const WriteOptions& opt) {
  std::vector<TensorInfo> copies;
  const auto tensors = tensors_to_write(src, target, cast, copies);
  auto meta = prepare_metadata(src, target);
  ConvertResult r;
  if ((target == Format::Npy || target == Format::Npz || target == Format::PyTorch) && !src.metadata.empty())
    r.notes.push_back(std::to_string(src.metadata.size()) + " metadata entries were not written: " + ext_of(target) +
                      (target == Format::PyTorch ? " written here is a plain state_dict of tensors" : " has no place for metadata"));
  if (target == Format::Safetensors) {
    bool typed = false;
    for (const auto& e : src.metadata) typed = typed || e.value.type != MetaType::String;
    if (typed) r.notes.push_back("typed metadata values were written as strings (safetensors metadata holds strings only)");
  }
  if (target == Format::Npy || target == Format::Npz) {
    for (const auto& t : tensors)
      if (t.dtype == DType::BF16) {
        r.notes.push_back("bfloat16 tensors were written with descr '<V2' as MLX does; NumPy sees them as 2-byte voids");
        break;
      }
  }
  write_checkpoint(out_path, target, tensors, meta, opt);
  r.tensors = tensors.size();
  for (const auto& t : tensors) r.bytes += t.nbytes;
  return r;
}

namespace {
// Length and CRC-32 of a tensor's canonical bytes, streamed so memory stays bounded.
std::pair<std::uint64_t, std::uint32_t> digest(const TensorInfo& t) {
  std::uint64_t n = 0;
  std::uint32_t crc = 0;
  t.data->stream([&](std::span<const std::byte> b) {
    n += b.size();
    crc = crc32_update(crc, b);
  });
  return {n, crc};
}
}  // namespace

std::vector<std::string> verify_written(std::span<const TensorInfo> expected, const Checkpoint& written) {
  std::vector<std::string> diffs;
  if (written.tensors.size() != expected.size())
    diffs.push_back("wrote " + std::to_string(written.tensors.size()) + " tensors, expected " + std::to_string(expected.size()));
  std::unordered_map<std::string_view, const TensorInfo*> by_name;
  for (const auto& w : written.tensors) by_name.emplace(w.name, &w);
  for (const auto& e : expected) {
    auto found = by_name.find(e.name);
    if (found == by_name.end()) {
      diffs.push_back("tensor '" + e.name + "' is missing from the output");
      continue;
    }
    const TensorInfo* it = found->second;
    if (it->dtype != e.dtype || it->shape != e.shape) {
      diffs.push_back("tensor '" + e.name + "' changed dtype or shape");
      continue;
    }
    if (digest(e) != digest(*it)) diffs.push_back("tensor '" + e.name + "' differs after writing");
  }
  return diffs;
}

}  // namespace ckpt::io
