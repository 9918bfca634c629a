#include "ui/tensor/stats_pane.h"

#include <QCheckBox>
#include <QFontDatabase>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QTimer>
#include <QVBoxLayout>

#include <cmath>

#include "ui/param_tree_model.h"
#include "ui/tensor/histogram_widget.h"
#include "ui/tensor/value_text.h"

namespace ckpt::ui {

namespace {

constexpr int kProgressDelayMs = 150;

QString countText(std::uint64_t n) {
  QString text = QString::number(n);
  if (n >= 10000) text += QStringLiteral(" (%1)").arg(humanCount(n));
  return text;
}

QString shareText(std::uint64_t n, std::uint64_t of) {
  if (n == 0 || of == 0) return QString::number(n);
  return QStringLiteral("%1 (%2 %)").arg(countText(n), QString::number(100.0 * static_cast<double>(n) / static_cast<double>(of), 'g', 3));
}

}  // namespace

StatsPane::StatsPane(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);

  note_ = new QLabel;
  note_->setWordWrap(true);
  note_->setForegroundRole(QPalette::PlaceholderText);
  note_->hide();
  layout->addWidget(note_);

  fields_ = new QWidget;
  auto* grid = new QGridLayout(fields_);
  grid->setContentsMargins(0, 0, 0, 0);
  grid->setHorizontalSpacing(12);
  const QFont fixed = QFontDatabase::systemFont(QFontDatabase::FixedFont);
  // Two columns of pairs, in the order a reader checks a weight: how many,
  // the range, the spread, then what is suspicious.
  const struct {
    Field field;
    const char* name;
    int row, col;
  } cells[] = {
      {Count, QT_TR_NOOP("count"), 0, 0}, {Zeros, QT_TR_NOOP("zeros"), 0, 1}, {Min, QT_TR_NOOP("min"), 1, 0},
      {Max, QT_TR_NOOP("max"), 1, 1},     {Mean, QT_TR_NOOP("mean"), 2, 0},   {Std, QT_TR_NOOP("std"), 2, 1},
      {NaN, QT_TR_NOOP("NaN"), 3, 0},     {Inf, QT_TR_NOOP("Inf"), 3, 1},
  };
  for (const auto& c : cells) {
    auto* name = new QLabel(tr(c.name));
    name->setForegroundRole(QPalette::PlaceholderText);
    auto* value = new QLabel;
    value->setObjectName(QStringLiteral("stat_%1").arg(QLatin1String(c.name)));
    value->setFont(fixed);
    value->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
    grid->addWidget(name, c.row, c.col * 3);
    grid->addWidget(value, c.row, c.col * 3 + 1);
    values_[c.field] = value;
  }
  // The two columns of pairs stay together on the left; a wide panel
  // spreading them apart makes each value hard to match with its name.
  grid->setColumnMinimumWidth(2, 32);
  grid->setColumnStretch(5, 1);
  layout->addWidget(fields_);

  progress_row_ = new QWidget;
  auto* progress_layout = new QHBoxLayout(progress_row_);
  progress_layout->setContentsMargins(0, 0, 0, 0);
  progress_ = new QProgressBar;
  progress_->setRange(0, 1000);
  progress_->setFormat(tr("Computing statistics… %p%"));
  auto* stop = new QPushButton(tr("S&top"));
  stop->setToolTip(tr("Stop computing the statistics of this tensor"));
  progress_layout->addWidget(progress_, 1);
  progress_layout->addWidget(stop);
  progress_row_->hide();
  layout->addWidget(progress_row_);
  progress_delay_ = new QTimer(this);
  progress_delay_->setSingleShot(true);
  progress_delay_->setInterval(kProgressDelayMs);
  connect(progress_delay_, &QTimer::timeout, this, [this] {
    if (computing_) progress_row_->show();
  });
  connect(stop, &QPushButton::clicked, this, &StatsPane::stopRequested);

  message_ = new QLabel;
  message_->setObjectName(QStringLiteral("statsMessage"));
  message_->setWordWrap(true);
  message_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  message_->hide();
  layout->addWidget(message_);
  retry_ = new QPushButton(tr("Compute a&gain"));
  retry_->hide();
  layout->addWidget(retry_, 0, Qt::AlignLeft);
  connect(retry_, &QPushButton::clicked, this, &StatsPane::retryRequested);

  histogram_ = new HistogramWidget;
  histogram_->setToolTip(QString());
  layout->addWidget(histogram_, 1);
  log_scale_ = new QCheckBox(tr("&Log count scale"));
  log_scale_->setToolTip(tr("Show the counts on a log scale, so sparse tails become visible"));
  layout->addWidget(log_scale_);
  connect(log_scale_, &QCheckBox::toggled, histogram_, &HistogramWidget::setLogScale);
  // Takes the room the histogram leaves when a message stands in for it, so
  // the message stays at the top beside what it explains.
  layout->addStretch(0);

  clear();
}

void StatsPane::clear() {
  stats_.reset();
  computing_ = false;
  progress_delay_->stop();
  progress_row_->hide();
  for (QLabel* v : values_) v->clear();
  message_->hide();
  retry_->hide();
  note_->hide();
  setFieldsVisible(true);
  histogram_->clear();
  histogram_->setPlaceholderText(tr("No histogram"));
}

void StatsPane::showComputing() {
  stats_.reset();
  computing_ = true;
  for (QLabel* v : values_) v->setText(QStringLiteral("…"));
  message_->hide();
  retry_->hide();
  setFieldsVisible(true);
  histogram_->clear();
  histogram_->setPlaceholderText(tr("The histogram follows the statistics."));
  progress_->setValue(0);
  progress_row_->hide();
  progress_delay_->start();
}

void StatsPane::setProgress(double fraction) {
  progress_->setValue(static_cast<int>(std::lround(fraction * 1000)));
}

void StatsPane::showStats(const model::TensorStats& s) {
  stats_ = s;
  computing_ = false;
  progress_delay_->stop();
  progress_row_->hide();
  message_->hide();
  retry_->hide();
  setFieldsVisible(true);
  const bool any_finite = s.count > s.nan + s.inf;
  values_[Count]->setText(countText(s.count));
  values_[Zeros]->setText(shareText(s.zeros, s.count));
  values_[NaN]->setText(shareText(s.nan, s.count));
  values_[Inf]->setText(shareText(s.inf, s.count));
  values_[Min]->setText(any_finite ? numberText(s.min) : tr("—"));
  values_[Max]->setText(any_finite ? numberText(s.max) : tr("—"));
  values_[Mean]->setText(any_finite ? numberText(s.mean) : tr("—"));
  values_[Std]->setText(any_finite ? numberText(s.std) : tr("—"));
  // compute_stats bins one distinct value over (v − 0.5, v + 0.5), as numpy does.
  const double low = s.max > s.min ? s.min : s.min - 0.5;
  const double high = s.max > s.min ? s.max : s.min + 0.5;
  histogram_->setHistogram(s.histogram, low, high);
}

void StatsPane::showMessage(const QString& text, bool retry) {
  stats_.reset();
  computing_ = false;
  progress_delay_->stop();
  progress_row_->hide();
  setFieldsVisible(false);
  histogram_->clear();
  message_->setText(text);
  message_->show();
  retry_->setVisible(retry);
}

void StatsPane::setNote(const QString& note) {
  note_->setText(note);
  note_->setVisible(!note.isEmpty());
}

QString StatsPane::fieldText(Field f) const { return f >= 0 && f < FieldCount ? values_[f]->text() : QString(); }

QString StatsPane::message() const { return message_->isHidden() ? QString() : message_->text(); }

void StatsPane::setFieldsVisible(bool on) {
  fields_->setVisible(on);
  histogram_->setVisible(on);
  log_scale_->setVisible(on);
}

}  // namespace ckpt::ui
