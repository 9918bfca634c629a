#include "io/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <exception>

namespace ckpt::io {

unsigned default_threads() {
  if (const char* env = std::getenv("CKPT_THREADS")) {
    unsigned n = 0;
    const char* end = env + std::strlen(env);
    const auto [p, ec] = std::from_chars(env, end, n);
    if (ec == std::errc() && p == end && n >= 1) return std::min(n, 1024u);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

// One parallel_for call. Tasks are claimed through `next`, so whoever is
// free takes the next one; `done` counts returns for the caller's wait.
struct ThreadPool::Job {
  std::function<void(std::size_t)> owned;  // start()'s function, which outlives its caller's frame
  const std::function<void(std::size_t)>* fn;
  std::size_t tasks;
  std::atomic<std::size_t> next{0};
  std::size_t done = 0;  // guarded by mu
  std::mutex mu;
  std::condition_variable finished;
  std::exception_ptr error;  // guarded by mu
};

ThreadPool::ThreadPool(unsigned threads) {
  for (unsigned k = 1; k < threads; ++k) workers_.emplace_back([this] { work(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

ThreadPool& ThreadPool::shared() {
  static ThreadPool pool(std::clamp(default_threads(), 1u, 256u));
  return pool;
}

void ThreadPool::run_tasks(Job& job) {
  for (;;) {
    const std::size_t k = job.next.fetch_add(1);
    if (k >= job.tasks) return;
    std::exception_ptr error;
    try {
      (*job.fn)(k);
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard lock(job.mu);
    if (error && !job.error) job.error = error;
    if (++job.done == job.tasks) job.finished.notify_all();
  }
}

void ThreadPool::work() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = queue_.front();
      // Every task claimed: nobody else needs to see this job.
      if (job->next.load() + 1 >= job->tasks) queue_.pop_front();
    }
    run_tasks(*job);
  }
}

void ThreadPool::enqueue(const std::shared_ptr<Job>& job, std::size_t wake) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(job);
  }
  if (wake >= workers_.size()) wake_.notify_all();
  else for (std::size_t k = 0; k < wake; ++k) wake_.notify_one();
}

void ThreadPool::wait_and_unqueue(const std::shared_ptr<Job>& job) {
  {
    std::unique_lock lock(job->mu);
    job->finished.wait(lock, [&] { return job->done == job->tasks; });
  }
  // Workers drop a job once its tasks are all claimed, but one may still be
  // queued if the last tasks were claimed by the caller.
  std::lock_guard lock(mu_);
  auto it = std::find(queue_.begin(), queue_.end(), job);
  if (it != queue_.end()) queue_.erase(it);
}

void ThreadPool::parallel_for(std::size_t tasks, const std::function<void(std::size_t)>& fn) {
  if (tasks == 0) return;
  if (workers_.empty() || tasks == 1) {
    for (std::size_t k = 0; k < tasks; ++k) fn(k);
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->tasks = tasks;
  enqueue(job, tasks - 1);  // the caller takes one
  run_tasks(*job);
  wait_and_unqueue(job);
  if (job->error) std::rethrow_exception(job->error);
}

ThreadPool::Pending ThreadPool::start(std::size_t tasks, std::function<void(std::size_t)> fn) {
  Pending p;
  if (tasks == 0) return p;
  p.pool_ = this;
  p.job_ = std::make_shared<Job>();
  p.job_->owned = std::move(fn);
  p.job_->fn = &p.job_->owned;
  p.job_->tasks = tasks;
  if (!workers_.empty()) enqueue(p.job_, tasks);  // else finish() runs it all
  return p;
}

ThreadPool::Pending::Pending(Pending&& other) noexcept : pool_(other.pool_), job_(std::move(other.job_)) {
  other.pool_ = nullptr;
}

ThreadPool::Pending& ThreadPool::Pending::operator=(Pending&& other) noexcept {
  if (this != &other) {
    abandon();
    pool_ = other.pool_;
    job_ = std::move(other.job_);
    other.pool_ = nullptr;
  }
  return *this;
}

ThreadPool::Pending::~Pending() { abandon(); }

void ThreadPool::Pending::finish() {
  if (!job_) return;
  const auto job = std::move(job_);
  run_tasks(*job);
  pool_->wait_and_unqueue(job);
  if (job->error) std::rethrow_exception(job->error);
}

void ThreadPool::Pending::abandon() noexcept {
  if (!job_) return;
  const auto job = std::move(job_);
  // Unclaimed tasks will never run: count them as done, then wait for the running ones.
  const std::size_t claimed = std::min(job->next.exchange(job->tasks), job->tasks);
  {
    std::lock_guard lock(job->mu);
    job->done += job->tasks - claimed;
  }
  try {
    pool_->wait_and_unqueue(job);
  } catch (...) {
    // wait_and_unqueue only throws if a mutex does: nothing to do about it here.
  }
}

}  // namespace ckpt::io
