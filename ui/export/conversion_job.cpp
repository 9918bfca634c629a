#include "ui/export/conversion_job.h"

#include <QFileInfo>
#include <QMetaObject>
#include <QStringList>

#include <chrono>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "io/convert.h"
#include "io/error.h"
#include "io/open.h"
#include "ui/param_tree_model.h"

namespace ckpt::ui {

namespace {

QString fromStd(const std::string& s) { return QString::fromStdString(s); }

// The core's sentence, with the file it concerns when that is not simply the
// output the user named (a source shard, a dropped file).
QString errorMessage(const io::Error& e, const QString& outputPath) {
  const QString file = fromStd(e.file());
  const QString sentence = fromStd(e.sentence());
  if (file.isEmpty() || QFileInfo(file).absoluteFilePath() == QFileInfo(outputPath).absoluteFilePath()) return sentence;
  return QFileInfo(file).fileName() + QStringLiteral(": ") + sentence;
}

}  // namespace

ConversionJob::ConversionJob(QObject* parent) : QObject(parent) {}

ConversionJob::~ConversionJob() {
  cancel_.store(true);
  if (worker_.joinable()) worker_.join();
}

bool ConversionJob::start(ConversionRequest request) {
  if (running_) return false;
  // The previous worker has posted its end and is returning; joining is immediate.
  if (worker_.joinable()) worker_.join();
  cancel_.store(false);
  running_ = true;
  const std::uint64_t generation = ++generation_;
  {
    std::lock_guard lock(progress_mutex_);
    latest_ = {};
    progress_posted_ = false;
  }
  worker_ = std::thread([this, request = std::move(request), generation] { run(request, generation); });
  return true;
}

void ConversionJob::cancel() {
  if (running_) cancel_.store(true);
}

QString ConversionJob::resultPath(const QString& outputPath, io::Format format, const io::WriteOptions& options,
                                  std::uint64_t bytesWritten) {
  static const QLatin1String kSuffix(".safetensors");
  const bool sharded = format == io::Format::Safetensors && options.max_shard_bytes > 0 &&
                       bytesWritten > options.max_shard_bytes;
  if (!sharded) return outputPath;
  const QString stem = outputPath.endsWith(kSuffix) ? outputPath.left(outputPath.size() - kSuffix.size()) : outputPath;
  return stem + QStringLiteral(".safetensors.index.json");
}

void ConversionJob::run(const ConversionRequest& request, std::uint64_t generation) {
  // Everything reaches the owner's thread through posted calls bound to
  // `this`: Qt discards them if the job is destroyed before they run.
  auto post = [this, generation](auto deliver) {
    QMetaObject::invokeMethod(
        this,
        [this, generation, deliver = std::move(deliver)] {
          if (generation != generation_) return;
          running_ = false;
          deliver();
        },
        Qt::QueuedConnection);
  };
  try {
    std::optional<io::Checkpoint> opened;
    const io::Checkpoint* source = request.checkpoint.get();
    if (source == nullptr) {
      opened = io::open_checkpoint(request.sourcePath.toStdString());
      source = &*opened;
    }
    QStringList notes;
    if (!request.map.rules.empty()) {
      model::MapReport report;
      io::Checkpoint mapped = *source;
      mapped.tensors = model::apply_map(request.map, source->tensors, &report);
      std::size_t dropped = 0;
      for (const auto& e : report.entries) dropped += e.dropped ? 1 : 0;
      notes << tr("name map: %1 tensors in, %2 out (%3 dropped)")
                   .arg(report.entries.size())
                   .arg(mapped.tensors.size())
                   .arg(dropped);
      for (const auto& n : report.notes) notes << fromStd(n);
      opened = std::move(mapped);
      source = &*opened;
    }
    io::WriteOptions options = request.options;
    options.cancelled = [this] { return cancel_.load(std::memory_order_relaxed); };
    options.on_progress = [this, generation](const io::Progress& p) { noteProgress(p, generation); };
    const auto t0 = std::chrono::steady_clock::now();
    const io::ConvertResult result =
        io::convert(*source, request.outputPath.toStdString(), request.format, request.dtype, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const auto& n : result.notes) notes << fromStd(n);
    QString summary = (result.tensors == 1 ? tr("1 tensor") : tr("%1 tensors").arg(result.tensors)) +
                      tr(", %1 in %2 s").arg(humanBytes(result.bytes)).arg(seconds, 0, 'f', 2);
    for (const QString& n : notes) summary += QLatin1Char('\n') + n;
    const QString path = resultPath(request.outputPath, request.format, request.options, result.bytes);
    post([this, path, summary] { emit finished(path, summary); });
  } catch (const io::Error& e) {
    if (cancel_.load()) post([this] { emit cancelled(); });
    else post([this, message = errorMessage(e, request.outputPath)] { emit failed(message); });
  } catch (const std::exception& e) {
    if (cancel_.load()) post([this] { emit cancelled(); });
    else post([this, message = QString::fromUtf8(e.what())] { emit failed(message); });
  } catch (...) {
    // Nothing may escape a std::thread: it would terminate the program.
    post([this] { emit failed(tr("the conversion stopped on an unexpected error")); });
  }
}

void ConversionJob::noteProgress(const io::Progress& p, std::uint64_t generation) {
  std::lock_guard lock(progress_mutex_);
  latest_ = p;
  if (progress_posted_) return;
  progress_posted_ = true;
  QMetaObject::invokeMethod(this, [this, generation] { deliverProgress(generation); }, Qt::QueuedConnection);
}

void ConversionJob::deliverProgress(std::uint64_t generation) {
  io::Progress p;
  {
    std::lock_guard lock(progress_mutex_);
    p = latest_;
    progress_posted_ = false;
  }
  // A cancelled run's numbers would only move a bar the user asked to stop.
  if (generation != generation_ || !running_ || cancel_.load()) return;
  emit progress(p.bytes_done, p.bytes_total, fromStd(p.tensor_name));
}

}  // namespace ckpt::ui
