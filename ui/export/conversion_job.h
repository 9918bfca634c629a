#pragma once
// One conversion — open (when given a path), name map, cast, write — on a
// worker thread, reported back on the thread that owns the job. The core's
// AtomicFile leaves no output and no temporary behind on cancel or failure.
#include <QObject>
#include <QString>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "io/checkpoint.h"
#include "io/dtype.h"
#include "io/write_options.h"
#include "model/name_map.h"

namespace ckpt::ui {

struct ConversionRequest {
  // The source; when null, `sourcePath` is opened in the worker thread.
  std::shared_ptr<const io::Checkpoint> checkpoint;
  QString sourcePath;
  // Applied before the cast and the target check when it has rules, as
  // `ckpt convert --map` does: a dropped tensor never has to be storable.
  model::NameMap map;
  io::Format format = io::Format::Safetensors;
  std::optional<io::DType> dtype;
  // on_progress and cancelled are replaced by the job's own.
  io::WriteOptions options;
  QString outputPath;
};

class ConversionJob : public QObject {
  Q_OBJECT

 public:
  explicit ConversionJob(QObject* parent = nullptr);
  ~ConversionJob() override;  // cancels, then waits for the worker
  ConversionJob(const ConversionJob&) = delete;
  ConversionJob& operator=(const ConversionJob&) = delete;

  // Starts `request` on a worker thread. Returns false, starting nothing,
  // while the previous run has not reported its end yet.
  bool start(ConversionRequest request);
  // Asks the core to stop at its next check; cancelled() follows unless the
  // write had already completed (then finished() does).
  void cancel();
  // From start() until one of finished/failed/cancelled has been emitted.
  [[nodiscard]] bool isRunning() const { return running_; }

  // Where a write to `outputPath` puts the result a user opens: the
  // `.safetensors.index.json` when the options split safetensors into shards.
  [[nodiscard]] static QString resultPath(const QString& outputPath, io::Format format, const io::WriteOptions& options,
                                          std::uint64_t bytesWritten);

 signals:
  // Bytes never decrease within one run; the last report before finished() has bytesDone == bytesTotal.
  void progress(quint64 bytesDone, quint64 bytesTotal, const QString& tensorName);
  void finished(const QString& outputPath, const QString& summary);
  void failed(const QString& message);
  void cancelled();

 private:
  void run(const ConversionRequest& request, std::uint64_t generation);
  void noteProgress(const io::Progress& p, std::uint64_t generation);
  void deliverProgress(std::uint64_t generation);

  std::thread worker_;
  std::atomic<bool> cancel_{false};
  bool running_ = false;
  // Tags everything a worker posts, so nothing from an earlier run lands in a later one.
  std::uint64_t generation_ = 0;

  // The worker overwrites the latest report and posts at most one delivery at
  // a time: a fast copy never floods the event queue with stale numbers.
  std::mutex progress_mutex_;
  io::Progress latest_;
  bool progress_posted_ = false;
};

}  // namespace ckpt::ui
