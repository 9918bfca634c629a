#include "ui/export/drop_bar.h"

#include <QEvent>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QMessageBox>
#include <QProgressBar>
#include <QToolButton>

#include <utility>

#include "ui/export/conversion_job.h"
#include "ui/export/drop_target.h"
#include "ui/export/feedback.h"
#include "ui/export/output_naming.h"

namespace ckpt::ui {

DropBar::DropBar(QWidget* parent) : QWidget(parent), job_(std::make_unique<ConversionJob>()) {
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(4);
  auto* caption = new QLabel(tr("Convert to:"));
  caption->setToolTip(tr("Drop checkpoints on a format to convert them beside themselves with the current name map."));
  layout->addWidget(caption);
  for (std::size_t i = 0; i < kExportFormats.size(); ++i) {
    auto* t = new DropTarget(kExportFormats[i]);
    t->setObjectName(QStringLiteral("dropTarget_%1").arg(formatLabel(kExportFormats[i])));
    targets_[i] = t;
    layout->addWidget(t);
    connect(t, &DropTarget::filesDropped, this, [this, t](const QStringList& files) {
      for (const QString& f : files) convertFile(f, t->format());
    });
    connect(t, &QToolButton::clicked, this, [this, t] { convertCurrent(t->format()); });
  }

  progress_ = new QProgressBar;
  progress_->setRange(0, kProgressSteps);
  progress_->setFixedWidth(110);
  progress_->setVisible(false);
  status_ = new QLabel;
  status_->setObjectName(QStringLiteral("dropStatus"));
  // The label shows what fits; its full text is the tooltip. It must not
  // widen the toolbar it sits in.
  status_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  status_->setMinimumWidth(160);
  status_->installEventFilter(this);
  open_ = new QToolButton;
  open_->setObjectName(QStringLiteral("dropOpen"));
  open_->setText(tr("Open"));
  open_->setToolTip(tr("Open the converted file"));
  open_->setVisible(false);
  cancel_ = new QToolButton;
  cancel_->setObjectName(QStringLiteral("dropCancel"));
  cancel_->setText(tr("Cancel"));
  cancel_->setToolTip(tr("Stop this conversion and the queued ones; nothing is left half-written"));
  cancel_->setVisible(false);
  details_ = new QToolButton;
  details_->setObjectName(QStringLiteral("dropDetails"));
  details_->setText(tr("Details…"));
  details_->setToolTip(tr("Show the whole message"));
  details_->setVisible(false);
  layout->addSpacing(6);
  layout->addWidget(progress_);
  layout->addWidget(status_, 1);
  layout->addWidget(open_);
  layout->addWidget(details_);
  layout->addWidget(cancel_);

  connect(open_, &QToolButton::clicked, this, [this] { emit openRequested(last_output_); });
  connect(cancel_, &QToolButton::clicked, this, &DropBar::cancel);
  connect(details_, &QToolButton::clicked, this, [this] {
    // Not exec(): a modal loop would stall scripted and offscreen runs.
    auto* box = new QMessageBox(QMessageBox::Warning, tr("Conversion failed"), status_text_, QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
  });
  connect(job_.get(), &ConversionJob::progress, this, [this](quint64 done, quint64 total, const QString& tensor) {
    progress_->setValue(progressValue(done, total));
    setStatus(tensor.isEmpty() ? jobTitle() : QStringLiteral("%1: %2").arg(jobTitle(), tensor), Tone::Normal);
  });
  connect(job_.get(), &ConversionJob::finished, this, [this](const QString& path, const QString& summary) {
    last_output_ = path;
    setStatus(tr("Wrote %1").arg(QFileInfo(path).fileName()), Tone::Normal);
    status_->setToolTip(path + QLatin1Char('\n') + summary);
    open_->setVisible(true);
    emit conversionFinished(path);
    startNext();
  });
  connect(job_.get(), &ConversionJob::failed, this, [this](const QString& message) {
    // The title names the source already; the core's sentence may too.
    QString sentence = message;
    const QString prefix = QFileInfo(active_.source).fileName() + QStringLiteral(": ");
    if (sentence.startsWith(prefix)) sentence.remove(0, prefix.size());
    setStatus(tr("%1 failed: %2").arg(jobTitle(), sentence), Tone::Error);
    emit conversionFailed(message);
    startNext();
  });
  connect(job_.get(), &ConversionJob::cancelled, this, [this] {
    setStatus(tr("%1 cancelled; nothing was written").arg(jobTitle()), Tone::Normal);
    startNext();
  });

  setStatus(tr("Drop a checkpoint on a format"), Tone::Normal);
}

DropBar::~DropBar() {
  queue_.clear();
  job_.reset();
}

void DropBar::setMap(const model::NameMap& map) { map_ = map; }

void DropBar::setCheckpoint(std::shared_ptr<const io::Checkpoint> current) { current_ = std::move(current); }

void DropBar::setWriteOptions(const io::WriteOptions& options) {
  options_ = options;
  options_.on_progress = nullptr;
  options_.cancelled = nullptr;
}

void DropBar::convertFile(const QString& source, io::Format format) {
  queue_.push_back({source, format, nullptr});
  startNext();
}

void DropBar::convertCurrent(io::Format format) {
  if (!current_) {
    setStatus(tr("Open a checkpoint first, or drop files on a format"), Tone::Normal);
    return;
  }
  queue_.push_back({QString::fromStdString(current_->path), format, current_});
  startNext();
}

void DropBar::cancel() {
  queue_.clear();
  job_->cancel();
}

bool DropBar::isBusy() const { return job_->isRunning() || !queue_.empty(); }

DropTarget* DropBar::target(io::Format format) const {
  for (DropTarget* t : targets_)
    if (t->format() == format) return t;
  return nullptr;
}

void DropBar::startNext() {
  const bool idle = !job_->isRunning();
  if (idle && !queue_.empty()) {
    active_ = std::move(queue_.front());
    queue_.pop_front();
    ConversionRequest request;
    request.checkpoint = active_.checkpoint;
    request.sourcePath = active_.source;
    request.map = map_;
    request.format = active_.format;
    request.options = options_;
    // Chosen now, not at drop time, so a queued conversion sees the files earlier ones wrote.
    request.outputPath = convertedPath(active_.source, active_.format);
    job_->start(std::move(request));
    progress_->setValue(0);
    open_->setVisible(false);
    setStatus(jobTitle(), Tone::Normal);
  }
  const bool busy = job_->isRunning();
  progress_->setVisible(busy);
  cancel_->setVisible(busy);
}

QString DropBar::jobTitle() const {
  QString title = QStringLiteral("%1 → %2").arg(QFileInfo(active_.source).fileName(), formatLabel(active_.format));
  if (!queue_.empty()) title += tr(" (%1 more queued)").arg(queue_.size());
  return title;
}

void DropBar::setStatus(const QString& text, Tone tone) {
  status_text_ = text;
  status_tone_ = tone;
  status_->setToolTip(text);
  QPalette pal = palette();
  if (tone == Tone::Error) pal.setColor(QPalette::WindowText, errorText(palette()));
  status_->setPalette(pal);
  details_->setVisible(tone == Tone::Error);
  refreshStatusLabel();
}

void DropBar::refreshStatusLabel() {
  status_->setText(status_->fontMetrics().elidedText(status_text_, Qt::ElideRight, status_->width()));
}

bool DropBar::eventFilter(QObject* watched, QEvent* event) {
  if (watched == status_ && event->type() == QEvent::Resize) refreshStatusLabel();
  return QWidget::eventFilter(watched, event);
}

}  // namespace ckpt::ui
