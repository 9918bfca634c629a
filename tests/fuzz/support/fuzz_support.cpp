#include "tests/fuzz/support/fuzz_support.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/checked.h"
#include "io/error.h"
#include "io/formats/gguf.h"
#include "io/formats/npy.h"
#include "io/formats/npz.h"
#include "io/formats/pytorch.h"
#include "io/formats/safetensors.h"
#include "io/formats/safetensors_fast_header.h"
#include "io/metadata.h"
#include "model/tensor_stats.h"

namespace ckpt::fuzz {
namespace {

// Thrown through a reader's stream() to stop it once the prefix is in; never
// escapes this file.
struct StopStream {};

// The first `limit` canonical bytes of another tensor's data. Streaming stops
// the underlying stream early, so a large deflated or strided tensor costs
// only its prefix.
class PrefixData final : public io::TensorData {
 public:
  PrefixData(std::shared_ptr<const io::TensorData> inner, std::uint64_t limit) : inner_(std::move(inner)), limit_(limit) {}

  void stream(const io::ByteSink& sink) const override {
    std::uint64_t seen = 0;
    try {
      inner_->stream([&](std::span<const std::byte> b) {
        const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(b.size(), limit_ - seen));
        if (take) sink(b.first(take));
        seen += take;
        if (seen >= limit_) throw StopStream{};
      });
    } catch (const StopStream&) {
    }
  }
  std::optional<std::span<const std::byte>> contiguous() const override {
    auto c = inner_->contiguous();
    if (!c) return std::nullopt;
    return c->first(static_cast<std::size_t>(std::min<std::uint64_t>(c->size(), limit_)));
  }
  std::optional<FileRange> file_range() const override {
    auto r = inner_->file_range();
    if (!r) return std::nullopt;
    r->size = std::min(r->size, limit_);
    return r;
  }
  const io::ByteSource* source() const noexcept override { return inner_->source(); }

 private:
  std::shared_ptr<const io::TensorData> inner_;
  std::uint64_t limit_;
};

model::StatsOptions stats_options() {
  model::StatsOptions o;
  o.bins = 16;
  o.threads = 1;  // one fuzzer process per core; threads would only add noise
  return o;
}

void touch_value(const io::MetaValue& v) {
  (void)io::to_display(v);
  // As `ckpt info --json` prints it: file strings need not be UTF-8.
  (void)io::to_json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The element count and bytes of the longest whole-unit prefix within `limit`.
struct Prefix {
  std::int64_t elems;
  std::uint64_t bytes;
};
std::optional<Prefix> prefix_of(const io::TensorInfo& t, std::uint64_t limit) {
  const auto& di = io::info(t.dtype);
  if (di.block_bytes == 0 || di.block_elems == 0) return std::nullopt;
  const auto numel = io::checked_numel(t.shape);
  if (!numel) return std::nullopt;
  const std::uint64_t total_units = static_cast<std::uint64_t>(*numel) / di.block_elems;
  const std::uint64_t units = std::min<std::uint64_t>(total_units, limit / di.block_bytes);
  return Prefix{static_cast<std::int64_t>(units * di.block_elems), units * di.block_bytes};
}

void window_at(const io::TensorInfo& t, bool far_corner) {
  model::Window w;
  w.rows = 4;
  w.cols = 4;
  const auto rank = t.shape.size();
  if (rank >= 2) {
    w.row_axis = static_cast<int>(rank) - 2;
    w.col_axis = static_cast<int>(rank) - 1;
    w.index.assign(rank, 0);
    if (far_corner) {
      for (std::size_t a = 0; a < rank; ++a) w.index[a] = std::max<std::int64_t>(0, t.shape[a] - 1);
      w.row0 = std::max<std::int64_t>(0, t.shape[rank - 2] - 4);
      w.col0 = std::max<std::int64_t>(0, t.shape[rank - 1] - 4);
    }
  } else if (rank == 1 && far_corner) {
    w.col0 = std::max<std::int64_t>(0, t.shape[0] - 4);
  }
  const auto values = model::read_window(t, w);
  if (values.values.size() != static_cast<std::size_t>(values.rows * values.cols))
    invariant_failed("read_window returned " + std::to_string(values.values.size()) + " values for a " +
                     std::to_string(values.rows) + "x" + std::to_string(values.cols) + " window");
}

struct HeaderOutcome {
  bool ok = false;
  io::safetensors::Header header;
  std::string error;
};

HeaderOutcome read_safetensors_header(const io::ByteSource& src, bool fast) {
  HeaderOutcome o;
  try {
    o.header = io::safetensors::detail::read_header(src, fast);
    o.ok = true;
  } catch (const io::Error& e) {
    o.error = std::to_string(e.offset()) + ": " + e.sentence();
  }
  return o;
}

bool same_header(const io::safetensors::Header& a, const io::safetensors::Header& b) {
  if (a.length != b.length || a.has_metadata_key != b.has_metadata_key || a.metadata != b.metadata ||
      a.tensors.size() != b.tensors.size())
    return false;
  for (std::size_t k = 0; k < a.tensors.size(); ++k) {
    const auto &x = a.tensors[k], &y = b.tensors[k];
    if (x.name != y.name || x.dtype != y.dtype || x.shape != y.shape || x.begin != y.begin || x.end != y.end) return false;
  }
  return true;
}

struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    std::error_code ec;
    std::filesystem::path base = "/dev/shm";
    if (!std::filesystem::is_directory(base, ec)) base = std::filesystem::temp_directory_path();
    std::string templ = (base / "ckpt-fuzz-XXXXXX").string();
    if (!mkdtemp(templ.data())) invariant_failed("cannot create a scratch folder under " + base.string());
    path = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

void invariant_failed(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

std::shared_ptr<const io::ByteSource> source_from_bytes(const std::uint8_t* data, std::size_t size,
                                                       const std::string& label) {
  if (size % 2 == 1) {
    const int fd = memfd_create("ckpt-fuzz-input", MFD_CLOEXEC);
    if (fd < 0) invariant_failed("memfd_create failed");
    for (std::size_t done = 0; done < size;) {
      const ssize_t n = ::write(fd, data + done, size - done);
      if (n <= 0) invariant_failed("cannot write the input to a memfd");
      done += static_cast<std::size_t>(n);
    }
    try {
      auto file = io::MappedFile::open("/proc/self/fd/" + std::to_string(fd));
      ::close(fd);
      return file;
    } catch (const io::Error& e) {
      invariant_failed(std::string("cannot map the memfd: ") + e.what());
    }
  }
  std::vector<std::byte> bytes(size);
  if (size) std::memcpy(bytes.data(), data, size);
  return std::make_shared<const io::MemorySource>(std::move(bytes), label);
}

std::optional<io::Checkpoint> open_from_bytes(const std::uint8_t* data, std::size_t size, io::Format format,
                                              const std::string& label) {
  auto src = source_from_bytes(data, size, label);
  try {
    switch (format) {
      case io::Format::Npy: return io::npy::describe(src);
      case io::Format::Npz: return io::npz::describe(src);
      case io::Format::Safetensors: return io::safetensors::describe(src);
      case io::Format::Gguf: return io::gguf::describe(src);
      case io::Format::PyTorch: return io::pytorch::describe(src);
    }
  } catch (const io::Error&) {
  }
  return std::nullopt;
}

void touch_tensor(const io::TensorInfo& t) {
  (void)t.numel();
  if (!t.data) return;  // a type this build cannot decode: listed, never read
  const auto numel = io::checked_numel(t.shape);
  const auto expect = numel ? io::byte_size(t.dtype, *numel) : std::nullopt;
  if (!expect || *expect != t.nbytes)
    invariant_failed("tensor '" + t.name + "' has data but nbytes " + std::to_string(t.nbytes) +
                     " does not match its dtype and shape");

  if (auto p = prefix_of(t, kTouchPrefixBytes); p && p->bytes > 0) {
    io::TensorInfo view;
    view.name = t.name;
    view.dtype = t.dtype;
    view.shape = {p->elems};
    view.nbytes = p->bytes;
    view.file = t.file;
    view.offset = t.offset;
    view.data = std::make_shared<PrefixData>(t.data, p->bytes);
    const auto stats = model::compute_stats(view, stats_options());
    if (stats.count > static_cast<std::uint64_t>(p->elems))
      invariant_failed("statistics counted " + std::to_string(stats.count) + " elements of " + std::to_string(p->elems));
    window_at(view, false);
  }

  const bool random_access = t.data->file_range() || t.data->contiguous();
  if (random_access || t.nbytes <= kTouchWholeBytes) {
    window_at(t, false);
    window_at(t, true);
  }
  if (t.nbytes <= kTouchWholeBytes) {
    std::uint64_t got = 0;
    t.data->stream([&](std::span<const std::byte> b) { got += b.size(); });
    if (got != t.nbytes)
      invariant_failed("tensor '" + t.name + "' streamed " + std::to_string(got) + " bytes, its nbytes is " +
                       std::to_string(t.nbytes));
  }
}

void touch_checkpoint(const io::Checkpoint& ck) {
  (void)ck.total_bytes();
  (void)ck.total_parameters();
  (void)io::format_name(ck.format);
  for (const auto& e : ck.metadata) touch_value(e.value);
  for (const auto& t : ck.tensors) {
    try {
      touch_tensor(t);
    } catch (const io::Error&) {
      // A damaged tensor is reported when it is read; the others stay readable.
    }
  }
}

bool open_and_touch(const std::uint8_t* data, std::size_t size, io::Format format) {
  auto ck = open_from_bytes(data, size, format);
  if (!ck) return false;
  touch_checkpoint(*ck);
  return true;
}

void check_safetensors_paths_agree(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(size);
  if (size) std::memcpy(bytes.data(), data, size);
  const io::MemorySource src(std::move(bytes), "fuzz-input");
  const HeaderOutcome fast = read_safetensors_header(src, true);
  const HeaderOutcome reference = read_safetensors_header(src, false);
  if (fast.ok != reference.ok)
    invariant_failed(std::string("the fast safetensors header parser ") + (fast.ok ? "accepted" : "rejected") +
                     " a header the reference " + (reference.ok ? "accepted" : "rejected") + " (" + fast.error +
                     reference.error + ")");
  if (!fast.ok && fast.error != reference.error)
    invariant_failed("the two safetensors header paths report different errors: '" + fast.error + "' vs '" +
                     reference.error + "'");
  if (fast.ok && !same_header(fast.header, reference.header))
    invariant_failed("the fast safetensors header parser and the reference read different headers");
}

const std::filesystem::path& scratch_dir() {
  static const ScratchDir dir;
  return dir.path;
}

std::string write_scratch_file(const std::string& name, std::span<const std::uint8_t> bytes) {
  const auto path = (scratch_dir() / name).string();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) invariant_failed("cannot write " + path);
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size())
    invariant_failed("cannot write " + path);
  if (std::fclose(f) != 0) invariant_failed("cannot write " + path);
  return path;
}

}  // namespace ckpt::fuzz
