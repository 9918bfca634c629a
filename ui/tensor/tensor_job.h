#pragma once
// The tensor panel's background work: statistics on one worker thread, value
// windows on another (so moving through a window never waits behind the
// statistics of a 1 GB tensor). Each kind keeps only its latest request: a
// new one cancels the previous, whose results are never delivered.
// Results arrive as signals on the thread that owns the job (the GUI thread).
#include <QObject>
#include <QString>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "io/checkpoint.h"
#include "model/tensor_stats.h"
#include "ui/tensor/task_runner.h"

namespace ckpt::ui {

class TensorJob : public QObject {
  Q_OBJECT

 public:
  explicit TensorJob(QObject* parent = nullptr);
  ~TensorJob() override;  // cancels both kinds of work and joins their threads

  // Statistics of `checkpoint->tensors[index]` with `bins` histogram bins.
  // The job keeps `checkpoint` alive until the work ends.
  void requestStats(std::shared_ptr<const io::Checkpoint> checkpoint, std::size_t index, int bins);
  // The values of window `w` of `checkpoint->tensors[index]`.
  void requestWindow(std::shared_ptr<const io::Checkpoint> checkpoint, std::size_t index, model::Window w);

  // Stop the work of one kind (or both); nothing requested before is delivered.
  void cancelStats();
  void cancelWindow();
  void cancel();

  [[nodiscard]] bool statsBusy() const { return stats_runner_.busy(); }
  [[nodiscard]] bool windowBusy() const { return window_runner_.busy(); }

 signals:
  void statsProgress(double fraction);  // 0..1, at most a thousand times per request
  void statsReady(const ckpt::model::TensorStats& stats);
  void statsFailed(const QString& message);
  void windowReady(const ckpt::model::WindowValues& values, const ckpt::model::Window& window);
  void windowFailed(const QString& message);

 private:
  // Generations, read and written on the owner's thread only: a delivery
  // whose generation is no longer current belongs to abandoned work.
  std::uint64_t stats_generation_ = 0;
  std::uint64_t window_generation_ = 0;
  // Last members: destroyed (and joined) first, while everything a queued
  // delivery could touch still exists.
  LatestTaskRunner stats_runner_;
  LatestTaskRunner window_runner_;
};

}  // namespace ckpt::ui
