#include "ui/tensor/task_runner.h"

#include <utility>

namespace ckpt::ui {

LatestTaskRunner::~LatestTaskRunner() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    pending_ = nullptr;
    if (running_) running_->store(true);
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LatestTaskRunner::post(Task task) {
  {
    std::lock_guard lock(mu_);
    if (running_) running_->store(true);
    pending_ = std::move(task);
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  }
  wake_.notify_all();
}

void LatestTaskRunner::cancel() {
  std::lock_guard lock(mu_);
  pending_ = nullptr;
  if (running_) running_->store(true);
}

bool LatestTaskRunner::busy() const {
  std::lock_guard lock(mu_);
  return running_ != nullptr || pending_ != nullptr;
}

void LatestTaskRunner::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || pending_ != nullptr; });
    if (stop_) return;
    Task task = std::move(pending_);
    pending_ = nullptr;
    auto flag = std::make_shared<std::atomic<bool>>(false);
    running_ = flag;
    lock.unlock();
    try {
      task(*flag);
    } catch (...) {
      // A task reports its own failures; one that escapes must not take the
      // whole program down through std::terminate.
    }
    task = nullptr;  // captured state (a checkpoint, buffers) goes away here, off the GUI thread
    lock.lock();
    running_.reset();
  }
}

}  // namespace ckpt::ui
