// ckpt checksum: a CRC-32 of every tensor's canonical bytes (row-major,
// little-endian, its own dtype). The same tensor gives the same checksum in
// every format, so a conversion can be checked by comparing two listings, and
// `zlib.crc32(array.tobytes())` in Python agrees with it.
#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "app/cli_exit.h"
#include "app/commands.h"
#include "io/deflate.h"
#include "io/error.h"
#include "io/open.h"
#include "io/thread_pool.h"

namespace ckpt::app {

const io::TensorInfo& find_tensor(const io::Checkpoint& ck, const std::string& name);

namespace {

struct ChecksumArgs {
  std::string path;
  std::vector<std::string> names;
  std::string root;
  unsigned threads = 0;
  bool json = false;
};

constexpr std::size_t kPiece = std::size_t{8} << 20;

// CRC-32s of `pieces` consecutive pieces, computed on up to `threads`
// workers, each taking every n-th piece, then combined in order (so the
// result does not depend on the thread count).
template <typename PieceCrc>
std::uint32_t crc_in_pieces(std::uint64_t size, unsigned threads, const PieceCrc& piece_crc) {
  const std::size_t pieces = static_cast<std::size_t>((size + kPiece - 1) / kPiece);
  auto piece_size = [&](std::size_t k) { return static_cast<std::size_t>(std::min<std::uint64_t>(kPiece, size - k * kPiece)); };
  std::vector<std::uint32_t> crcs(pieces);
  const unsigned n = static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(threads, pieces)));
  std::vector<std::future<void>> workers;
  workers.reserve(n);
  for (unsigned w = 0; w < n; ++w)
    workers.push_back(std::async(n > 1 ? std::launch::async : std::launch::deferred, [&, w] {
      for (std::size_t k = w; k < pieces; k += n) crcs[k] = piece_crc(w, k * kPiece, piece_size(k));
    }));
  for (auto& f : workers) f.get();
  std::uint32_t crc = 0;
  for (std::size_t k = 0; k < pieces; ++k) crc = k ? io::crc32_combine_any(crc, crcs[k], piece_size(k)) : crcs[0];
  return crc;
}

// Tensors this small are read one per task, many tasks at once (below
// this, a deflated .npz member inflates faster than a thread starts on it).
constexpr std::uint64_t kSmallTensor = std::uint64_t{256} << 10;
// Small tensors per batch (their results wait to be printed in order) and per task.
constexpr std::size_t kSmallRun = 4096;
constexpr std::size_t kPerTask = 32;

bool small(const io::TensorInfo& t) { return t.nbytes <= kSmallTensor; }

std::uint32_t tensor_crc(const io::TensorInfo& t, unsigned threads) {
  if (!t.data) throw io::Error(t.file, t.offset, "tensor '" + t.name + "' has a type this build cannot read");
  // One range of a file: each worker preads its pieces into its own buffer,
  // so the disk is read from every core and nothing of the file stays
  // resident (a mapping would add the whole tensor to our memory).
  if (const auto r = t.data->file_range(); r && r->size > kPiece) {
    std::vector<std::vector<std::byte>> bufs(threads);  // one per worker, sized on first use
    return crc_in_pieces(r->size, threads, [&](unsigned worker, std::uint64_t pos, std::size_t n) {
      auto& buf = bufs[worker];
      if (buf.empty()) buf.resize(kPiece);
      const std::span<std::byte> b(buf.data(), n);
      r->file->read_at(r->offset + pos, b);
      return io::crc32_update(0, b);
    });
  }
  // Anything else streams: inflated, reordered or byte-swapped as needed, and
  // checked against its container's own CRC (.npz members) on the way.
  std::uint32_t crc = 0;
  std::uint64_t seen = 0;
  t.data->stream([&](std::span<const std::byte> chunk) {
    crc = io::crc32_update(crc, chunk);
    seen += chunk.size();
  });
  if (seen != t.nbytes)
    throw io::Error(t.file, t.offset, "tensor '" + t.name + "' gave " + std::to_string(seen) + " bytes, not " + std::to_string(t.nbytes));
  return crc;
}

int run_checksum(const ChecksumArgs& a) {
  const auto& ck = keep_until_exit(io::open_checkpoint(a.path, {a.root}));
  std::vector<const io::TensorInfo*> chosen;
  for (const auto& n : a.names) chosen.push_back(&find_tensor(ck, n));
  if (a.names.empty())
    for (const auto& t : ck.tensors) chosen.push_back(&t);
  const unsigned threads = std::min(a.threads ? a.threads : io::default_threads(), 256u);

  auto out = nlohmann::ordered_json::array();
  int failures = 0;
  // One tensor's line (or JSON entry), in order; its error is thrown when
  // tensors were named, else reported and counted.
  auto report = [&](const io::TensorInfo& t, const std::string& crc_text, const std::exception_ptr& error) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const io::Error& e) {
        if (!a.names.empty()) throw;
        ++failures;
        if (a.json) out.push_back({{"name", t.name}, {"dtype", io::name(t.dtype)}, {"bytes", t.nbytes}, {"error", e.sentence()}});
        else fmt::print("{:8}  {}  ({})\n", "-", t.name, e.sentence());
      }
      return;
    }
    if (a.json) out.push_back({{"name", t.name}, {"dtype", io::name(t.dtype)}, {"bytes", t.nbytes}, {"crc32", crc_text}});
    else fmt::print("{}  {}\n", crc_text, t.name);
  };
  auto crc_of = [](const io::TensorInfo& t, unsigned n, std::string& crc_text, std::exception_ptr& error) {
    try {
      crc_text = fmt::format("{:08x}", tensor_crc(t, n));
    } catch (const io::Error&) {
      error = std::current_exception();
    }
  };
  auto& pool = io::ThreadPool::shared();
  std::vector<std::string> crcs;
  std::vector<std::exception_ptr> errors;
  for (std::size_t k = 0; k < chosen.size();) {
    if (small(*chosen[k])) {
      // A run of small tensors, each one short read or inflate, on all
      // cores at once: one after another, the 50,000 deflated members of
      // 1 KiB took 0.36 s on one core.
      std::size_t end = k;
      while (end < chosen.size() && end - k < kSmallRun && small(*chosen[end])) ++end;
      // The large tensor after the run may decode meanwhile, as below.
      if (end < chosen.size() && chosen[end]->data) chosen[end]->data->prepare();
      crcs.assign(end - k, {});
      errors.assign(end - k, nullptr);
      const auto run = [&](std::size_t task) {
        for (std::size_t j = task * kPerTask; j < std::min(end - k, (task + 1) * kPerTask); ++j)
          crc_of(*chosen[k + j], 1, crcs[j], errors[j]);
      };
      const std::size_t tasks = (end - k + kPerTask - 1) / kPerTask;
      if (threads > 1) pool.parallel_for(tasks, run);
      else for (std::size_t task = 0; task < tasks; ++task) run(task);
      for (std::size_t j = 0; j < end - k; ++j) report(*chosen[k + j], crcs[j], errors[j]);
      k = end;
      continue;
    }
    const io::TensorInfo* t = chosen[k];
    // The next tensor may decode (inflate) on another core while this one is read.
    if (k + 1 < chosen.size() && chosen[k + 1]->data) chosen[k + 1]->data->prepare();
    std::string crc_text;
    std::exception_ptr error;
    crc_of(*t, threads, crc_text, error);
    report(*t, crc_text, error);
    ++k;
  }
  if (a.json) fmt::print("{}\n", out.dump(1, ' ', false, nlohmann::json::error_handler_t::replace));
  return failures ? 2 : 0;
}

}  // namespace

void add_checksum(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<ChecksumArgs>();
  auto* cmd = app.add_subcommand("checksum", "Read every tensor in full and print the CRC-32 of its bytes (the same in every format)");
  cmd->add_option("file", a->path, "Checkpoint file")->required();
  cmd->add_option("names", a->names, "Tensor names (all tensors when none)");
  cmd->add_option("--threads", a->threads, "Worker threads (0: every core)")->default_val(0);
  cmd->add_option("--root", a->root, "Only what lies under this dotted path, with the path stripped");
  cmd->add_flag("--json", a->json, "Print a JSON array: name, dtype, bytes, crc32 (hex) per tensor");
  cmd->callback([a, &ctx] { ctx.exit_code = run_checksum(*a); });
}

}  // namespace ckpt::app
