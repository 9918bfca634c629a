#pragma once
// Runs model::plan_map off the GUI thread. plan_map reads names and shapes
// only, but regex rules over 100 000 names take about half a second, which
// must not freeze typing in the rule table. One worker thread serves the
// latest request only: a request made while a plan runs replaces any
// waiting one, and results of superseded requests are dropped.
#include <QObject>
#include <QString>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "io/checkpoint.h"
#include "model/name_map.h"

namespace ckpt::ui {

class MapPlanner : public QObject {
  Q_OBJECT

 public:
  explicit MapPlanner(QObject* parent = nullptr);
  // Waits for a running plan to finish (plan_map cannot be interrupted) and
  // joins the worker; results not yet delivered are discarded.
  ~MapPlanner() override;
  MapPlanner(const MapPlanner&) = delete;
  MapPlanner& operator=(const MapPlanner&) = delete;

  // Plans `map` over the checkpoint's tensors; the checkpoint is kept alive
  // until the plan is done. Returns the request's generation.
  std::uint64_t request(model::NameMap map, std::shared_ptr<const io::Checkpoint> checkpoint);
  // Forgets pending work: nothing requested so far will be delivered.
  void cancel();
  // A request whose result has not been delivered yet.
  [[nodiscard]] bool busy() const { return delivered_ != latest_; }

 signals:
  // Delivered on the GUI thread, for the latest request only.
  void planned(std::shared_ptr<const model::MapReport> report);
  void failed(const QString& message);

 private:
  struct Job {
    std::uint64_t generation = 0;
    model::NameMap map;
    std::shared_ptr<const io::Checkpoint> checkpoint;
  };

  void run();
  void deliver(std::uint64_t generation, std::shared_ptr<const model::MapReport> report, const QString& error);

  // GUI thread only.
  std::uint64_t latest_ = 0;
  std::uint64_t delivered_ = 0;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<Job> pending_;  // guarded by mutex_
  bool stop_ = false;           // guarded by mutex_
  // Set (under mutex_) when the running plan is no longer wanted: a newer
  // request or the planner's destruction; cleared when a job starts.
  std::atomic<bool> abandon_{false};
  std::thread worker_;          // started by the first request
};

}  // namespace ckpt::ui
