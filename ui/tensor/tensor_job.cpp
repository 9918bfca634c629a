#include "ui/tensor/tensor_job.h"

#include <QMetaObject>

#include <atomic>
#include <exception>
#include <optional>
#include <span>
#include <utility>

#include "io/error.h"

namespace ckpt::ui {

namespace {

// model::read_window has no cancel hook, and on data without random access
// (deflated .npz members, strided or byte-swapped views) it walks the whole
// stream. Wrapping the data lets the stream stop at the next piece once the
// request is abandoned; random-access data pass through untouched.
class CancellableData final : public io::TensorData {
 public:
  CancellableData(std::shared_ptr<const io::TensorData> inner, const std::atomic<bool>& cancelled, std::string file)
      : inner_(std::move(inner)), cancelled_(cancelled), file_(std::move(file)) {}

  void stream(const io::ByteSink& sink) const override {
    inner_->stream([&](std::span<const std::byte> bytes) {
      if (cancelled_.load()) throw io::Error(file_, io::kNoOffset, "the work was cancelled");
      sink(bytes);
    });
  }
  [[nodiscard]] std::optional<std::span<const std::byte>> contiguous() const override { return inner_->contiguous(); }
  [[nodiscard]] std::optional<FileRange> file_range() const override { return inner_->file_range(); }
  [[nodiscard]] const io::ByteSource* source() const noexcept override { return inner_->source(); }

 private:
  std::shared_ptr<const io::TensorData> inner_;
  const std::atomic<bool>& cancelled_;
  std::string file_;
};

io::TensorInfo cancellable(const io::TensorInfo& t, const std::atomic<bool>& cancelled) {
  io::TensorInfo copy = t;
  if (copy.data) copy.data = std::make_shared<CancellableData>(t.data, cancelled, t.file);
  return copy;
}

QString failureText(std::exception_ptr e) {
  try {
    std::rethrow_exception(std::move(e));
  } catch (const io::Error& err) {
    // The panel already names the file; the sentence is what a user acts on.
    QString text = QString::fromStdString(err.sentence());
    // Core sentences follow "file: at byte N: "; standing alone they start a sentence.
    if (!text.isEmpty()) text[0] = text[0].toUpper();
    if (err.offset() != io::kNoOffset)
      text += QObject::tr(" (at byte %1 of %2)").arg(err.offset()).arg(QString::fromStdString(err.file()));
    return text;
  } catch (const std::bad_alloc&) {
    return QObject::tr("Not enough memory for this work.");
  } catch (const std::exception& err) {
    return QString::fromUtf8(err.what());
  } catch (...) {
    return QObject::tr("An unexpected error stopped the work.");
  }
}

}  // namespace

TensorJob::TensorJob(QObject* parent) : QObject(parent) {}

TensorJob::~TensorJob() {
  // Explicit so the order is plain: stop, then join (the runners' destructors).
  stats_runner_.cancel();
  window_runner_.cancel();
}

void TensorJob::requestStats(std::shared_ptr<const io::Checkpoint> checkpoint, std::size_t index, int bins) {
  const std::uint64_t generation = ++stats_generation_;
  stats_runner_.post([this, checkpoint = std::move(checkpoint), index, bins, generation](const std::atomic<bool>& cancelled) {
    // Written by compute_stats's workers (under its own lock), so atomic only
    // to be safe against a future change of that.
    auto last_permille = std::make_shared<std::atomic<int>>(-1);
    model::StatsOptions opt;
    opt.bins = bins;
    opt.cancelled = [&cancelled] { return cancelled.load(); };
    opt.progress = [this, generation, last_permille](std::uint64_t done, std::uint64_t total) {
      const int permille = total == 0 ? 1000 : static_cast<int>(done * 1000 / total);
      if (last_permille->exchange(permille) == permille) return;
      QMetaObject::invokeMethod(
          this,
          [this, generation, permille] {
            if (generation == stats_generation_) emit statsProgress(permille / 1000.0);
          },
          Qt::QueuedConnection);
    };
    try {
      if (index >= checkpoint->tensors.size()) throw io::Error(checkpoint->path, io::kNoOffset, "no such tensor");
      model::TensorStats stats = model::compute_stats(cancellable(checkpoint->tensors[index], cancelled), opt);
      if (cancelled) return;
      QMetaObject::invokeMethod(
          this,
          [this, generation, stats = std::move(stats)] {
            if (generation == stats_generation_) emit statsReady(stats);
          },
          Qt::QueuedConnection);
    } catch (...) {
      if (cancelled) return;
      QMetaObject::invokeMethod(
          this,
          [this, generation, message = failureText(std::current_exception())] {
            if (generation == stats_generation_) emit statsFailed(message);
          },
          Qt::QueuedConnection);
    }
  });
}

void TensorJob::requestWindow(std::shared_ptr<const io::Checkpoint> checkpoint, std::size_t index, model::Window w) {
  const std::uint64_t generation = ++window_generation_;
  window_runner_.post([this, checkpoint = std::move(checkpoint), index, w = std::move(w), generation](
                          const std::atomic<bool>& cancelled) {
    try {
      if (index >= checkpoint->tensors.size()) throw io::Error(checkpoint->path, io::kNoOffset, "no such tensor");
      model::WindowValues values = model::read_window(cancellable(checkpoint->tensors[index], cancelled), w);
      if (cancelled) return;
      QMetaObject::invokeMethod(
          this,
          [this, generation, values = std::move(values), w] {
            if (generation == window_generation_) emit windowReady(values, w);
          },
          Qt::QueuedConnection);
    } catch (...) {
      if (cancelled) return;
      QMetaObject::invokeMethod(
          this,
          [this, generation, message = failureText(std::current_exception())] {
            if (generation == window_generation_) emit windowFailed(message);
          },
          Qt::QueuedConnection);
    }
  });
}

void TensorJob::cancelStats() {
  ++stats_generation_;
  stats_runner_.cancel();
}

void TensorJob::cancelWindow() {
  ++window_generation_;
  window_runner_.cancel();
}

void TensorJob::cancel() {
  cancelStats();
  cancelWindow();
}

}  // namespace ckpt::ui
