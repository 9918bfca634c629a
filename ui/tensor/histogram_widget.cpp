#include "ui/tensor/histogram_widget.h"

#include <QHelpEvent>
#include <QPainter>
#include <QToolTip>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "ui/param_tree_model.h"
#include "ui/tensor/value_text.h"

namespace ckpt::ui {

HistogramWidget::HistogramWidget(QWidget* parent) : QWidget(parent), placeholder_(tr("No histogram")) {
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
  setMouseTracking(true);
}

void HistogramWidget::setHistogram(std::vector<std::uint64_t> counts, double low, double high) {
  counts_ = std::move(counts);
  low_ = low;
  high_ = high;
  update();
}

void HistogramWidget::setPlaceholderText(const QString& text) {
  placeholder_ = text;
  update();
}

void HistogramWidget::clear() {
  counts_.clear();
  low_ = high_ = 0;
  update();
}

void HistogramWidget::setLogScale(bool on) {
  if (log_ == on) return;
  log_ = on;
  update();
}

std::uint64_t HistogramWidget::total() const {
  return std::accumulate(counts_.begin(), counts_.end(), std::uint64_t{0});
}

QSize HistogramWidget::sizeHint() const { return {420, 200}; }
QSize HistogramWidget::minimumSizeHint() const { return {200, 110}; }

QRect HistogramWidget::plotRect() const {
  const QFontMetrics fm = fontMetrics();
  const QString widest = humanCount(std::max<std::uint64_t>(1, counts_.empty() ? 1 : *std::max_element(counts_.begin(), counts_.end())));
  const int left = std::max(fm.horizontalAdvance(widest), fm.horizontalAdvance(tr("count"))) + 10;
  const int top = fm.height() + 4;                 // the "count" title
  const int bottom = 2 * fm.height() + 8;          // tick labels and the "value" title
  const int right = fm.horizontalAdvance(QStringLiteral("-0.00000")) / 2;  // room for the last tick label
  return rect().adjusted(left, top, -right, -bottom);
}

double HistogramWidget::barHeight(std::uint64_t count, std::uint64_t max) const {
  if (count == 0 || max == 0) return 0;
  if (!log_) return static_cast<double>(count) / static_cast<double>(max);
  // log1p keeps a count of 1 visible above an empty bin.
  return std::log1p(static_cast<double>(count)) / std::log1p(static_cast<double>(max));
}

int HistogramWidget::binAt(int x) const {
  const QRect plot = plotRect();
  if (counts_.empty() || x < plot.left() || x > plot.right()) return -1;
  const auto n = static_cast<int>(counts_.size());
  return std::clamp(static_cast<int>((x - plot.left()) * static_cast<double>(n) / plot.width()), 0, n - 1);
}

QString HistogramWidget::binToolTip(int bin) const {
  if (bin < 0 || bin >= static_cast<int>(counts_.size())) return {};
  const double w = (high_ - low_) / static_cast<double>(counts_.size());
  const double a = low_ + w * bin, b = bin + 1 == static_cast<int>(counts_.size()) ? high_ : a + w;
  const bool last = bin + 1 == static_cast<int>(counts_.size());
  return tr("[%1, %2%3: %4 values").arg(numberText(a), numberText(b), last ? QStringLiteral("]") : QStringLiteral(")"))
      .arg(counts_[static_cast<std::size_t>(bin)]);
}

bool HistogramWidget::event(QEvent* e) {
  if (e->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(e);
    const QString text = binToolTip(binAt(help->pos().x()));
    if (text.isEmpty()) QToolTip::hideText();
    else QToolTip::showText(help->globalPos(), text, this);
    return true;
  }
  return QWidget::event(e);
}

void HistogramWidget::paintEvent(QPaintEvent*) {
  QPainter p(this);
  const QPalette& pal = palette();
  const QFontMetrics fm = fontMetrics();
  const QRect plot = plotRect();
  p.fillRect(plot, pal.color(QPalette::Base));
  if (counts_.empty() || total() == 0) {
    p.setPen(pal.color(QPalette::PlaceholderText));
    p.drawText(plot, Qt::AlignCenter, counts_.empty() ? placeholder_ : tr("No finite values"));
    return;
  }

  const std::uint64_t max = *std::max_element(counts_.begin(), counts_.end());
  const auto n = static_cast<double>(counts_.size());
  p.setPen(Qt::NoPen);
  p.setBrush(pal.color(QPalette::Highlight));
  for (std::size_t k = 0; k < counts_.size(); ++k) {
    const double h = barHeight(counts_[k], max);
    if (h <= 0) continue;
    const double x0 = plot.left() + plot.width() * (static_cast<double>(k) / n);
    const double x1 = plot.left() + plot.width() * (static_cast<double>(k + 1) / n);
    // At least one pixel tall, so a bin with a few values among millions shows.
    const double top = plot.bottom() + 1 - std::max(1.0, h * plot.height());
    p.drawRect(QRectF(x0, top, std::max(1.0, x1 - x0 - (x1 - x0 > 3 ? 1 : 0)), plot.bottom() + 1 - top));
  }

  // Axes.
  p.setPen(pal.color(QPalette::WindowText));
  p.setBrush(Qt::NoBrush);
  p.drawLine(plot.bottomLeft(), plot.bottomRight());
  p.drawLine(plot.bottomLeft(), plot.topLeft());

  // Count axis: 0 and the largest count, titled above.
  const int label_right = plot.left() - 4;
  p.drawText(QRect(0, plot.top() - fm.height() / 2, label_right, fm.height()), Qt::AlignRight | Qt::AlignVCenter,
             humanCount(max));
  p.drawText(QRect(0, plot.bottom() - fm.height() / 2, label_right, fm.height()), Qt::AlignRight | Qt::AlignVCenter,
             QStringLiteral("0"));
  p.drawText(QRect(0, 0, width(), fm.height()), Qt::AlignLeft | Qt::AlignTop,
             log_ ? tr("count (log scale)") : tr("count"));

  // Value axis: the ends and the middle, then the title.
  const int tick_y = plot.bottom() + 3;
  const int ticks = plot.width() > 6 * fm.horizontalAdvance(QStringLiteral("-0.000000")) ? 5 : 3;
  for (int i = 0; i < ticks; ++i) {
    const double f = static_cast<double>(i) / (ticks - 1);
    const int x = plot.left() + static_cast<int>(std::lround(f * plot.width()));
    p.drawLine(x, plot.bottom(), x, tick_y);
    // Ticks are landmarks; four digits read at a glance (tooltips have six).
    const double v = low_ + f * (high_ - low_);
    const QString text = QString::number(std::abs(v) < 1e-12 * std::max(std::abs(low_), std::abs(high_)) ? 0.0 : v, 'g', 4);
    const int w = fm.horizontalAdvance(text);
    const int left = std::clamp(x - w / 2, 0, width() - w);
    p.drawText(QRect(left, tick_y + 1, w, fm.height()), Qt::AlignCenter, text);
  }
  p.drawText(QRect(plot.left(), tick_y + fm.height() + 2, plot.width(), fm.height()), Qt::AlignHCenter | Qt::AlignTop,
             tr("value"));
}

}  // namespace ckpt::ui
