#pragma once
// A fixed set of worker threads that split one piece of work into tasks, for
// kernels (casts, dequantization) that run on buffers of a few MiB many times
// per second, where starting threads for each buffer would cost more than the
// work. The calling thread runs tasks too, so a pool busy with another
// caller's work never blocks anyone: at worst the caller does all of its own.
#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ckpt::io {

// Threads for parallel work: $CKPT_THREADS when it holds a number ≥ 1, else
// every hardware thread. Read here only, so one knob governs the program
// (casts, deflate, statistics, checksums).
[[nodiscard]] unsigned default_threads();

class ThreadPool {
  struct Job;  // one piece of work: its function, its task counter, its first error

 public:
  // `threads` counts the caller: a pool of 1 has no workers and runs everything inline.
  explicit ThreadPool(unsigned threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  [[nodiscard]] unsigned threads() const noexcept { return static_cast<unsigned>(workers_.size()) + 1; }

  // Calls fn(k) for every k in [0, tasks), on the workers and the calling
  // thread, and returns when all calls have returned. If any throw, the first
  // exception is rethrown here once the others have finished.
  void parallel_for(std::size_t tasks, const std::function<void(std::size_t)>& fn);

  // Work started on the workers while the caller does something else, and
  // finished by the caller: finish() runs the tasks nobody has claimed yet
  // on the calling thread, waits for the rest and rethrows the first
  // exception. Dropped unfinished (an error on the caller's side), it lets
  // no further task start and waits for those running, so nothing a task
  // refers to goes away under it.
  class Pending {
   public:
    Pending() = default;
    Pending(Pending&& other) noexcept;
    Pending& operator=(Pending&& other) noexcept;
    ~Pending();
    Pending(const Pending&) = delete;
    Pending& operator=(const Pending&) = delete;
    void finish();

   private:
    friend class ThreadPool;
    void abandon() noexcept;
    ThreadPool* pool_ = nullptr;
    std::shared_ptr<Job> job_;
  };

  // Starts fn(k) for every k in [0, tasks) on the workers alone; the caller
  // joins in at finish(). A pool without workers runs nothing until then.
  [[nodiscard]] Pending start(std::size_t tasks, std::function<void(std::size_t)> fn);

  // The process's pool, one thread per hardware thread, started on first use.
  static ThreadPool& shared();

 private:
  void enqueue(const std::shared_ptr<Job>& job, std::size_t wake);
  void wait_and_unqueue(const std::shared_ptr<Job>& job);
  static void run_tasks(Job& job);
  void work();

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

// Splits `units` whole units (elements, blocks) into at most `parts`
// contiguous ranges of nearly equal size; range k is [begin(k), begin(k + 1)).
struct Split {
  std::size_t units, parts;
  [[nodiscard]] std::size_t count() const noexcept { return std::min(std::max<std::size_t>(parts, 1), units); }
  [[nodiscard]] std::size_t begin(std::size_t k) const noexcept {
    const std::size_t n = count();
    return n == 0 ? 0 : units / n * k + std::min(k, units % n);
  }
};

}  // namespace ckpt::io
