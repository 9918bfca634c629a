#include "ui/namemap/map_planner.h"

#include <exception>
#include <span>
#include <utility>

namespace ckpt::ui {

MapPlanner::MapPlanner(QObject* parent) : QObject(parent) {}

MapPlanner::~MapPlanner() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    abandon_ = true;  // the running plan stops at its next tensor, so this join is short
    pending_.reset();
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
  // Deliveries the worker queued are posted events of this object; QObject's
  // destructor discards them, so none runs on a dead planner.
}

std::uint64_t MapPlanner::request(model::NameMap map, std::shared_ptr<const io::Checkpoint> checkpoint) {
  const std::uint64_t generation = ++latest_;
  {
    std::lock_guard lock(mutex_);
    pending_ = Job{generation, std::move(map), std::move(checkpoint)};
    abandon_ = true;  // a plan still running is stale now
  }
  if (!worker_.joinable()) worker_ = std::thread([this] { run(); });
  wake_.notify_one();
  return generation;
}

void MapPlanner::cancel() {
  {
    std::lock_guard lock(mutex_);
    pending_.reset();
    abandon_ = true;
  }
  // A plan already running stops early, and its generation is stale anyway.
  delivered_ = ++latest_;
}

void MapPlanner::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || pending_.has_value(); });
      if (stop_) return;
      job = std::move(*pending_);
      pending_.reset();
      abandon_ = false;
    }
    std::shared_ptr<const model::MapReport> report;
    QString error;
    try {
      std::span<const io::TensorInfo> tensors;
      if (job.checkpoint) tensors = job.checkpoint->tensors;
      report = std::make_shared<const model::MapReport>(model::plan_map(job.map, tensors, &abandon_));
    } catch (const model::PlanAbandoned&) {
      job = Job{};  // stale: nobody waits for it
      continue;
    } catch (const std::exception& e) {
      error = QString::fromUtf8(e.what());
    }
    const std::uint64_t generation = job.generation;
    // The checkpoint may be the last reference: release it here rather than
    // in the GUI thread.
    job = Job{};
    QMetaObject::invokeMethod(
        this,
        [this, generation, report = std::move(report), error]() mutable {
          deliver(generation, std::move(report), error);
        },
        Qt::QueuedConnection);
  }
}

void MapPlanner::deliver(std::uint64_t generation, std::shared_ptr<const model::MapReport> report,
                         const QString& error) {
  if (generation != latest_) return;  // a newer request is on its way
  delivered_ = generation;
  if (report)
    emit planned(std::move(report));
  else
    emit failed(error);
}

}  // namespace ckpt::ui
