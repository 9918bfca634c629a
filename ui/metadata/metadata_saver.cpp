#include "ui/metadata/metadata_saver.h"

#include <QFileInfo>
#include <QMetaObject>

#include <exception>

#include "io/error.h"
#include "io/metadata_edit.h"

namespace ckpt::ui {

namespace {

QString message(const io::Error& e) {
  const QString sentence = QString::fromStdString(e.sentence());
  if (e.file().empty()) return sentence;
  return QStringLiteral("%1: %2").arg(QFileInfo(QString::fromStdString(e.file())).fileName(), sentence);
}

}  // namespace

MetadataSaver::MetadataSaver(QObject* parent) : QObject(parent) {}

MetadataSaver::~MetadataSaver() { stopWorker(); }

void MetadataSaver::stopWorker() {
  if (job_) job_->cancel.store(true);
  if (worker_.joinable()) worker_.join();
}

void MetadataSaver::cancel() {
  if (!running_) return;
  ++generation_;
  stopWorker();
  running_ = false;
  // The worker may have renamed the file into place before it saw the flag.
  if (job_->succeeded.load()) emit finished(job_->path);
  else emit cancelled();
}

void MetadataSaver::start(std::shared_ptr<const io::Checkpoint> checkpoint, io::Metadata meta, const QString& path,
                          bool sync) {
  // A superseded save is stopped first: two writers must never race for one destination.
  ++generation_;
  stopWorker();
  running_ = true;
  const std::uint64_t generation = generation_;
  job_ = std::make_shared<Job>();
  job_->path = path;

  // Results are posted to this object: if it is deleted first (after the
  // join in the destructor), Qt drops the posted calls with it.
  auto deliver = [this, generation](auto&& f) {
    QMetaObject::invokeMethod(
        this,
        [this, generation, f = std::forward<decltype(f)>(f)]() {
          if (generation != generation_) return;  // superseded or cancelled meanwhile
          f();
        },
        Qt::QueuedConnection);
  };

  worker_ = std::thread([this, deliver, job = job_, checkpoint = std::move(checkpoint), meta = std::move(meta),
                         dest = path.toStdString(), path, sync] {
    io::WriteOptions opt;
    opt.sync = sync;
    opt.cancelled = [&job] { return job->cancel.load(); };
    // Post at most one progress update per percent so the GUI queue stays short.
    int last_permille = -1;
    opt.on_progress = [&](const io::Progress& p) {
      const int permille = p.bytes_total ? static_cast<int>(p.bytes_done * 1000 / p.bytes_total) : 1000;
      if (permille / 10 == last_permille / 10) return;
      last_permille = permille;
      const quint64 done = p.bytes_done, total = p.bytes_total;
      deliver([this, done, total] { emit progress(done, total); });
    };
    try {
      io::save_with_metadata(*checkpoint, meta, dest, opt);
      job->succeeded.store(true);
      deliver([this, path] {
        running_ = false;
        emit finished(path);
      });
    } catch (const io::Error& e) {
      if (job->cancel.load()) {
        deliver([this] {
          running_ = false;
          emit cancelled();
        });
        return;
      }
      deliver([this, m = message(e)] {
        running_ = false;
        emit failed(m);
      });
    } catch (const std::exception& e) {
      deliver([this, m = QString::fromLocal8Bit(e.what())] {
        running_ = false;
        emit failed(m);
      });
    }
  });
}

}  // namespace ckpt::ui
