#pragma once
// Raw deflate on a pool of threads, pigz-style: a member's bytes are cut into
// fixed blocks that compress independently, each block ending on a byte
// boundary (Z_SYNC_FLUSH) except the member's last (Z_FINISH), so the blocks'
// outputs concatenate into one valid deflate stream. Each block is primed
// with the 32 KiB of input before it, which keeps the ratio of one long
// stream. The bytes depend on the data, the level and kDeflateBlockBytes
// only, never on the number of threads.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "io/thread_pool.h"  // default_threads()

namespace ckpt::io {

// Measured in docs/compression.md: 1 MiB keeps both cores busy on members of
// a few MiB, costs 3 % for re-reading each block's dictionary, and keeps the
// in-flight memory at a few MiB per thread.
inline constexpr std::size_t kDeflateBlockBytes = std::size_t{1} << 20;
// Deflate's window: what a block may refer back to in the block before it.
inline constexpr std::size_t kDeflateWindowBytes = std::size_t{32} << 10;


struct DeflateBlock {
  // Input, set before submit().
  std::vector<std::byte> in;    // the block's uncompressed bytes (freed once compressed)
  std::vector<std::byte> dict;  // the up to 32 KiB of the member just before `in`
  int level = 6;
  bool last = false;            // ends the member's stream (Z_FINISH, final block bit)
  // Output, valid once the pool reports the block done.
  std::uint64_t in_size = 0;
  std::vector<std::byte> out;
  std::uint32_t crc = 0;        // CRC-32 of `in` alone
  std::exception_ptr error;     // what compressing threw, rethrown by the consumer
  bool finished = false;        // guarded by the pool's mutex
};

class DeflatePool {
 public:
  // With one thread, blocks compress in submit() on the caller's thread.
  explicit DeflatePool(unsigned threads);
  // Stops the workers and joins them; blocks not yet started are dropped.
  ~DeflatePool();
  DeflatePool(const DeflatePool&) = delete;
  DeflatePool& operator=(const DeflatePool&) = delete;

  void submit(std::shared_ptr<DeflateBlock> block);
  // Blocks until `block` is compressed (or failed: see block.error).
  void wait(const DeflateBlock& block);
  [[nodiscard]] bool done(const DeflateBlock& block);
  [[nodiscard]] unsigned threads() const noexcept { return threads_; }

 private:
  struct Stream;
  void run();
  unsigned threads_;
  std::unique_ptr<Stream> inline_;  // the caller's own deflate state, one-thread pools only
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<std::shared_ptr<DeflateBlock>> queue_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace ckpt::io
