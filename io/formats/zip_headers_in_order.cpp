#include "io/formats/zip_headers_in_order.h"

#include <stdexcept>

namespace ckpt::io::zip {
namespace {
// Members checked between two publications of the count: waking the reader
// for each of 50,000 cost more than the checks.
constexpr std::size_t kPublishEvery = 256;
constexpr std::size_t kThreadFrom = 256;
}  // namespace

HeadersInOrder::HeadersInOrder(const ByteSource& src, const Archive& a) : headers_(a.members.size()) {
  if (a.members.size() < kThreadFrom) run(src, a);
  else thread_ = std::thread([this, &src, &a] { run(src, a); });
}

HeadersInOrder::~HeadersInOrder() {
  stop_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
}

void HeadersInOrder::run(const ByteSource& src, const Archive& a) noexcept {
  try {
    ask_for_local_headers(src, a);
    const ScatteredReads scattered(src, a.headers_far_apart());
    // Released every 8 MiB, as read_local_headers does: an archive of many
    // small members has a header on every page.
    BatchedHint done_with(src, BatchedHint::Kind::ReleaseAround, std::uint64_t{64} << 20, std::uint64_t{8} << 20);
    const std::size_t n = a.members.size();
    for (std::size_t k = 0; k < n; ++k) {
      if (stop_.load(std::memory_order_relaxed)) break;
      headers_[k] = read_local_header(src, a, k);
      done_with.add(a.members[k].local_header_offset, headers_[k].data_offset - a.members[k].local_header_offset);
      if ((k + 1) % kPublishEvery == 0 || k + 1 == n) {
        progress_.store(std::uint64_t{k + 1} << 1, std::memory_order_release);
        progress_.notify_all();
      }
    }
    if (!stop_.load(std::memory_order_relaxed)) check_members_apart(src, a, headers_);
  } catch (...) {
    error_ = std::current_exception();
  }
  progress_.fetch_or(1, std::memory_order_release);
  progress_.notify_all();
}

bool HeadersInOrder::ready(std::size_t end) const noexcept {
  return (progress_.load(std::memory_order_acquire) >> 1) >= end;
}

void HeadersInOrder::wait_for(std::size_t end) {
  for (;;) {
    const std::uint64_t now = progress_.load(std::memory_order_acquire);
    if ((now >> 1) >= end) return;
    if (now & 1) {
      finish();  // throws the problem that stopped the pass
      throw std::logic_error("zip local headers: the pass stopped before the member asked for");
    }
    progress_.wait(now, std::memory_order_acquire);
  }
}

void HeadersInOrder::finish() {
  if (thread_.joinable()) thread_.join();
  if (error_) std::rethrow_exception(error_);
}

std::vector<LocalHeader> HeadersInOrder::take() {
  finish();
  return std::move(headers_);
}

}  // namespace ckpt::io::zip
