#pragma once
// Runs io::save_with_metadata on a worker thread and reports back on the
// GUI thread. Even a kernel-side copy of a 50 GB data section takes a while
// on a filesystem without reflinks, and the window must not freeze for it.
//
// One save at a time: starting another, cancel() or destroying the saver
// raises the running save's cancel flag (the writers poll it between copied
// pieces), and results of a save that was superseded are dropped. The
// destructor joins the thread, so nothing outlives the saver.
#include <QObject>
#include <QString>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "io/checkpoint.h"
#include "io/metadata.h"

namespace ckpt::ui {

class MetadataSaver : public QObject {
  Q_OBJECT

 public:
  explicit MetadataSaver(QObject* parent = nullptr);
  ~MetadataSaver() override;
  MetadataSaver(const MetadataSaver&) = delete;
  MetadataSaver& operator=(const MetadataSaver&) = delete;

  // Saves `checkpoint`'s tensors with `meta` to `path`; the checkpoint stays
  // alive (and its files mapped) until the save ends. `sync` flushes to disk
  // before the rename (off only for scratch files).
  void start(std::shared_ptr<const io::Checkpoint> checkpoint, io::Metadata meta, const QString& path,
             bool sync = true);
  // Stops the running save; the destination is left as it was (unless the
  // save had already completed, which is then reported as finished).
  void cancel();
  [[nodiscard]] bool isRunning() const { return running_; }

 signals:
  void progress(quint64 bytes_done, quint64 bytes_total);
  void finished(const QString& path);
  void failed(const QString& message);
  void cancelled();

 private:
  // What the GUI and the worker share about one save.
  struct Job {
    std::atomic<bool> cancel{false};
    std::atomic<bool> succeeded{false};
    QString path;
  };
  void stopWorker();

  std::thread worker_;
  std::shared_ptr<Job> job_;
  std::uint64_t generation_ = 0;
  bool running_ = false;
};

}  // namespace ckpt::ui
