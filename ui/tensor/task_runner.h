#pragma once
// One worker thread that runs the most recent task posted to it. Posting a
// task cancels the one running (its flag turns true; the core polls it
// between chunks) and replaces any that had not started, so a user moving
// through tensors never queues up work for the ones already left behind.
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace ckpt::ui {

class LatestTaskRunner {
 public:
  // `cancelled` stays valid for the whole call; a task polls it and returns
  // early once it reads true. Tasks must not throw (anything that escapes is
  // swallowed so the worker survives).
  using Task = std::function<void(const std::atomic<bool>& cancelled)>;

  LatestTaskRunner() = default;
  ~LatestTaskRunner();  // cancels, drops what is pending and joins
  LatestTaskRunner(const LatestTaskRunner&) = delete;
  LatestTaskRunner& operator=(const LatestTaskRunner&) = delete;

  void post(Task task);
  void cancel();
  // True while a task runs or waits to run.
  [[nodiscard]] bool busy() const;

 private:
  void loop();

  mutable std::mutex mu_;
  std::condition_variable wake_;
  Task pending_;
  std::shared_ptr<std::atomic<bool>> running_;  // the running task's flag, null when idle
  bool stop_ = false;
  std::thread thread_;  // started by the first post()
};

}  // namespace ckpt::ui
