#pragma once
// Shared by every libFuzzer harness (and by tests/io/test_fuzz_regressions.cpp,
// which replays saved inputs through the same path): open bytes as a
// checkpoint, then touch everything a user could reach — names, metadata and
// a bounded prefix of every tensor's data — so the data paths are fuzzed as
// well as the headers.
//
// The contract being tested: a reader either succeeds or throws io::Error.
// Only io::Error is caught here; any other exception escapes to libFuzzer
// (reported as a crash), and so do sanitizer reports, hangs and OOMs.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "io/checkpoint.h"

namespace ckpt::fuzz {

// Data bytes of each tensor whose statistics are computed: enough to cross
// several ggml blocks and deflate windows, small enough for thousands of
// inputs a second.
inline constexpr std::uint64_t kTouchPrefixBytes = std::uint64_t{64} << 10;
// Tensors up to this size are also streamed whole (checking that the stream
// yields exactly nbytes and, for zip members, the CRC) and windowed.
inline constexpr std::uint64_t kTouchWholeBytes = std::uint64_t{1} << 20;

// The input as a ByteSource. Odd-sized inputs become a real mapped file (a
// memfd opened through /proc/self/fd), as the program reads every checkpoint:
// contiguous tensors are then read with pread (TensorData::file_range), a
// path memory sources never take. Even-sized ones stay in memory
// (io::MemorySource labelled `label`), the mapping-only paths. Deciding by
// size keeps each input's run deterministic while the fuzzer reaches both.
[[nodiscard]] std::shared_ptr<const io::ByteSource> source_from_bytes(const std::uint8_t* data, std::size_t size,
                                                                      const std::string& label = "fuzz-input");

// Runs the format's describe() on source_from_bytes(); nullopt when it throws
// io::Error. For the formats whose reader takes a ByteSource (everything but
// the *.index.json shard lists).
[[nodiscard]] std::optional<io::Checkpoint> open_from_bytes(const std::uint8_t* data, std::size_t size, io::Format format,
                                                            const std::string& label = "fuzz-input");

// Metadata (to_display, to_json), names, shapes and every tensor (see
// touch_tensor). io::Error from one tensor does not stop the others.
void touch_checkpoint(const io::Checkpoint& ck);
// Statistics over the first kTouchPrefixBytes of the data, a value window at
// the start of that prefix; when the tensor has random access or is at most
// kTouchWholeBytes, also windows at both corners of the real shape and (small
// ones) a full stream. Throws io::Error from the data path.
void touch_tensor(const io::TensorInfo& t);

// open_from_bytes + touch_checkpoint; returns whether the input opened.
bool open_and_touch(const std::uint8_t* data, std::size_t size, io::Format format);

// The safetensors fast header parser and the nlohmann reference must agree
// on every input: the same Header, or the same error sentence at the same
// offset (the fast path gives up on anything unusual, and the reference then
// decides). Calls invariant_failed when they do not.
void check_safetensors_paths_agree(const std::uint8_t* data, std::size_t size);

// PyTorch's fast state_dict scan and the general pickle interpreter
// (pytorch::describe vs describe_general) must agree on every input: the
// same tensors, metadata and data, or the same error sentence.
void check_torch_readers_agree(const std::uint8_t* data, std::size_t size);

// A per-process scratch folder in /dev/shm (memory-backed; falls back to the
// system temp folder), removed at exit. For readers that only open paths.
[[nodiscard]] const std::filesystem::path& scratch_dir();
// Writes `bytes` to scratch_dir()/name (replacing it) and returns the path.
std::string write_scratch_file(const std::string& name, std::span<const std::uint8_t> bytes);

// Aborts with `what` on stderr: for invariants whose violation is a bug even
// though no sanitizer would notice (e.g. a stream shorter than nbytes).
[[noreturn]] void invariant_failed(const std::string& what);

}  // namespace ckpt::fuzz
