#include "io/parallel_deflate.h"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "io/deflate.h"
#include "io/error.h"

namespace ckpt::io {

// One zlib compressor, reused from block to block: deflateInit allocates a
// few hundred KiB, too much to pay per block of a tiny member.
struct DeflatePool::Stream {
  z_stream z{};
  int level = -100;  // none yet
  Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (level != -100) ::deflateEnd(&z);
  }

  void compress(DeflateBlock& b) {
    if (level != b.level) {
      if (level != -100) ::deflateEnd(&z);
      level = -100;
      z = z_stream{};
      if (::deflateInit2(&z, b.level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw Error("", kNoOffset, "cannot start the deflate encoder (out of memory)");
      level = b.level;
    } else if (::deflateReset(&z) != Z_OK) {
      throw Error("", kNoOffset, "cannot restart the deflate encoder");
    }
    if (!b.dict.empty() &&
        ::deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(b.dict.data()), static_cast<uInt>(b.dict.size())) != Z_OK)
      throw Error("", kNoOffset, "cannot prime the deflate encoder with the preceding block");
    b.in_size = b.in.size();
    b.crc = crc32_update(0, b.in);
    // deflateBound covers Z_FINISH; a sync flush adds an empty stored block.
    b.out.resize(::deflateBound(&z, static_cast<uLong>(b.in.size())) + 16);
    z.next_in = reinterpret_cast<Bytef*>(b.in.data());
    z.avail_in = static_cast<uInt>(b.in.size());
    const int flush = b.last ? Z_FINISH : Z_SYNC_FLUSH;
    std::size_t used = 0;
    for (;;) {
      z.next_out = reinterpret_cast<Bytef*>(b.out.data() + used);
      z.avail_out = static_cast<uInt>(b.out.size() - used);
      const int rc = ::deflate(&z, flush);
      used = b.out.size() - z.avail_out;
      if (rc == Z_STREAM_ERROR) throw Error("", kNoOffset, "the deflate encoder failed");
      const bool complete = b.last ? rc == Z_STREAM_END : (z.avail_out > 0 && z.avail_in == 0);
      if (complete) break;
      b.out.resize(b.out.size() + (64u << 10));  // never expected: the bound was not enough
    }
    b.out.resize(used);
    b.in = {};  // the input is no longer needed; only the output waits to be written
    b.dict = {};
  }
};

DeflatePool::DeflatePool(unsigned threads) : threads_(std::max(1u, threads)) {
  if (threads_ == 1) {
    inline_ = std::make_unique<Stream>();
    return;
  }
  workers_.reserve(threads_);
  try {
    for (unsigned k = 0; k < threads_; ++k) workers_.emplace_back([this] { run(); });
  } catch (...) {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
    throw;
  }
}

DeflatePool::~DeflatePool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void DeflatePool::run() {
  Stream s;
  for (;;) {
    std::shared_ptr<DeflateBlock> b;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      b = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      s.compress(*b);
    } catch (...) {
      b->error = std::current_exception();
    }
    {
      std::lock_guard lock(mu_);
      b->finished = true;
    }
    done_cv_.notify_all();
  }
}

void DeflatePool::submit(std::shared_ptr<DeflateBlock> block) {
  if (inline_) {
    try {
      inline_->compress(*block);
    } catch (...) {
      block->error = std::current_exception();
    }
    block->finished = true;
    return;
  }
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(block));
  }
  work_cv_.notify_one();
}

void DeflatePool::wait(const DeflateBlock& block) {
  if (inline_) return;
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return block.finished; });
}

bool DeflatePool::done(const DeflateBlock& block) {
  if (inline_) return true;
  std::lock_guard lock(mu_);
  return block.finished;
}

}  // namespace ckpt::io
