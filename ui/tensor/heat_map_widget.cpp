#include "ui/tensor/heat_map_widget.h"

#include <QAction>
#include <QEvent>
#include <QHBoxLayout>
#include <QHelpEvent>
#include <QKeyEvent>
#include <QLabel>
#include <QMouseEvent>
#include <QPaintEvent>
#include <QPainter>
#include <QScrollArea>
#include <QScrollBar>
#include <QToolButton>
#include <QToolTip>
#include <QVBoxLayout>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>
#include <utility>

#include "ui/tensor/value_text.h"

namespace ckpt::ui {

// The scroll area's content: sized to the cells plus their index labels.
class HeatMapCanvas : public QWidget {
 public:
  explicit HeatMapCanvas(HeatMapWidget* owner) : QWidget(owner), owner_(owner) {
    setObjectName(QStringLiteral("heatMapCanvas"));
    setFocusPolicy(Qt::StrongFocus);
    setMouseTracking(true);
  }

  [[nodiscard]] QSize sizeHint() const override {
    const QSize m = owner_->labelMargins();
    const auto& v = owner_->values_;
    // Empty, it fills the view so its "No values" sits in the middle.
    if (v.rows == 0 || v.cols == 0) return owner_->scroll_->viewport()->size();
    return {m.width() + static_cast<int>(v.cols) * owner_->cell_ + 2,
            m.height() + static_cast<int>(v.rows) * owner_->cell_ + 2};
  }

 protected:
  void paintEvent(QPaintEvent* e) override {
    QPainter p(this);
    owner_->paintCanvas(p, e->rect());
  }

  void wheelEvent(QWheelEvent* e) override {
    if (!(e->modifiers() & Qt::ControlModifier)) {
      e->ignore();  // plain wheel scrolls the view
      return;
    }
    const int steps = e->angleDelta().y() / 120;
    if (steps == 0) return;
    const int cell = owner_->cell_;
    int target = cell;
    for (int i = 0; i < std::abs(steps); ++i)
      target = steps > 0 ? std::max(target + 1, static_cast<int>(std::lround(target * 1.25)))
                         : std::min(target - 1, static_cast<int>(std::lround(target / 1.25)));
    owner_->zoomAround(target, e->position().toPoint());
    e->accept();
  }

  void mousePressEvent(QMouseEvent* e) override {
    const QPoint cell = owner_->cellAt(e->position().toPoint());
    if (e->button() == Qt::LeftButton && cell.x() >= 0) emit owner_->cellClicked(cell.y(), cell.x());
    QWidget::mousePressEvent(e);
  }

  void keyPressEvent(QKeyEvent* e) override {
    switch (e->key()) {
      case Qt::Key_Plus:
      case Qt::Key_Equal: owner_->zoomIn(); return;
      case Qt::Key_Minus: owner_->zoomOut(); return;
      case Qt::Key_0: owner_->zoomToFit(); return;
      default: QWidget::keyPressEvent(e);
    }
  }

  bool event(QEvent* e) override {
    if (e->type() == QEvent::ToolTip) {
      auto* help = static_cast<QHelpEvent*>(e);
      const QPoint cell = owner_->cellAt(help->pos());
      if (cell.x() < 0) QToolTip::hideText();
      else QToolTip::showText(help->globalPos(), owner_->cellToolTip(cell.y(), cell.x()), this);
      return true;
    }
    return QWidget::event(e);
  }

 private:
  HeatMapWidget* owner_;
};

// A gradient bar with the scale's ends under it (and 0 in the middle of a
// diverging scale), then a NaN swatch when the window holds NaN.
class ColourLegend : public QWidget {
 public:
  explicit ColourLegend(HeatMapWidget* owner) : QWidget(owner), owner_(owner) {
    setObjectName(QStringLiteral("colourLegend"));
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
  }
  [[nodiscard]] QSize sizeHint() const override { return {240, fontMetrics().height() * 2 + 14}; }
  [[nodiscard]] QSize minimumSizeHint() const override { return {120, sizeHint().height()}; }

 protected:
  void paintEvent(QPaintEvent*) override {
    QPainter p(this);
    const ColourScale& s = owner_->scale_;
    const QFontMetrics fm = fontMetrics();
    if (!s.hasRange() && !s.hasNan()) return;
    const int nan_w = s.hasNan() ? fm.horizontalAdvance(QStringLiteral("NaN")) + 26 : 0;
    const QRect bar(4, 4, std::max(20, width() - 8 - nan_w), 10);
    if (s.hasRange()) {
      QLinearGradient g(bar.topLeft(), bar.topRight());
      for (int i = 0; i <= 16; ++i) g.setColorAt(i / 16.0, s.colourAt(i / 16.0));
      p.fillRect(bar, g);
      p.setPen(palette().color(QPalette::Mid));
      p.drawRect(bar.adjusted(0, 0, -1, -1));
      p.setPen(palette().color(QPalette::WindowText));
      const QRect labels(bar.left(), bar.bottom() + 3, bar.width(), fm.height());
      p.drawText(labels, Qt::AlignLeft | Qt::AlignTop, numberText(s.low()));
      p.drawText(labels, Qt::AlignRight | Qt::AlignTop, numberText(s.high()));
      if (s.diverging()) p.drawText(labels, Qt::AlignHCenter | Qt::AlignTop, QStringLiteral("0"));
    }
    if (s.hasNan()) {
      const QRect swatch(width() - nan_w + 8, bar.top(), 12, bar.height());
      p.fillRect(swatch, ColourScale::nanColour());
      p.fillRect(swatch, QBrush(Qt::black, Qt::BDiagPattern));
      p.setPen(palette().color(QPalette::WindowText));
      p.drawText(QRect(swatch.right() + 4, bar.top() - 3, nan_w, fm.height()), Qt::AlignLeft | Qt::AlignTop,
                 QStringLiteral("NaN"));
    }
  }

 private:
  HeatMapWidget* owner_;
};

HeatMapWidget::HeatMapWidget(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);

  auto* bar = new QHBoxLayout;
  zoom_out_ = new QToolButton;
  zoom_out_->setText(QStringLiteral("−"));
  zoom_out_->setToolTip(tr("Zoom out (−, Ctrl+wheel)"));
  zoom_out_->setAccessibleName(tr("Zoom out"));
  zoom_in_ = new QToolButton;
  zoom_in_->setText(QStringLiteral("+"));
  zoom_in_->setToolTip(tr("Zoom in (+, Ctrl+wheel)"));
  zoom_in_->setAccessibleName(tr("Zoom in"));
  auto* fit = new QToolButton;
  fit->setText(tr("Fit"));
  fit->setToolTip(tr("Fit the window into the view (0)"));
  zoom_label_ = new QLabel;
  zoom_label_->setForegroundRole(QPalette::PlaceholderText);
  bar->addWidget(zoom_out_);
  bar->addWidget(zoom_in_);
  bar->addWidget(fit);
  bar->addWidget(zoom_label_);
  bar->addStretch(1);
  layout->addLayout(bar);

  canvas_ = new HeatMapCanvas(this);
  scroll_ = new QScrollArea;
  scroll_->setWidget(canvas_);
  scroll_->setWidgetResizable(false);
  scroll_->setBackgroundRole(QPalette::Base);
  layout->addWidget(scroll_, 1);

  legend_ = new ColourLegend(this);
  layout->addWidget(legend_);

  connect(zoom_out_, &QToolButton::clicked, this, &HeatMapWidget::zoomOut);
  connect(zoom_in_, &QToolButton::clicked, this, &HeatMapWidget::zoomIn);
  connect(fit, &QToolButton::clicked, this, &HeatMapWidget::zoomToFit);
  auto* zoom_in_key = new QAction(this);
  zoom_in_key->setShortcuts(QKeySequence::ZoomIn);
  zoom_in_key->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  connect(zoom_in_key, &QAction::triggered, this, &HeatMapWidget::zoomIn);
  addAction(zoom_in_key);
  auto* zoom_out_key = new QAction(this);
  zoom_out_key->setShortcuts(QKeySequence::ZoomOut);
  zoom_out_key->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  connect(zoom_out_key, &QAction::triggered, this, &HeatMapWidget::zoomOut);
  addAction(zoom_out_key);

  refit();
}

void HeatMapWidget::setWindow(model::WindowValues values, model::Window window, int rank, io::DType dtype) {
  values_ = std::move(values);
  window_ = std::move(window);
  rank_ = rank;
  dtype_ = dtype;
  scale_ = ColourScale::fit(values_.values, palette());
  refit();
}

void HeatMapWidget::clear() {
  values_ = {};
  window_ = {};
  rank_ = 0;
  scale_ = {};
  refit();
}

void HeatMapWidget::setCellSize(int px) {
  px = std::clamp(px, kMinCell, kMaxCell);
  if (px == cell_) return;
  cell_ = px;
  refit();
  emit cellSizeChanged(cell_);
}

void HeatMapWidget::zoomIn() { setCellSize(std::max(cell_ + 1, static_cast<int>(std::lround(cell_ * 1.25)))); }

void HeatMapWidget::zoomOut() { setCellSize(std::min(cell_ - 1, static_cast<int>(std::lround(cell_ / 1.25)))); }

void HeatMapWidget::zoomToFit() {
  if (values_.rows == 0 || values_.cols == 0) return;
  const QSize m = labelMargins();
  const QSize room = scroll_->viewport()->size() - QSize(m.width() + 4, m.height() + 4);
  const auto fit = std::min(room.width() / static_cast<int>(values_.cols), room.height() / static_cast<int>(values_.rows));
  setCellSize(fit);
}

void HeatMapWidget::zoomAround(int px, QPoint canvas_anchor) {
  // Keep the value under the pointer under the pointer.
  const QPoint in_view = canvas_anchor - QPoint(scroll_->horizontalScrollBar()->value(), scroll_->verticalScrollBar()->value());
  const QSize m = labelMargins();
  const double fx = static_cast<double>(canvas_anchor.x() - m.width()) / cell_;
  const double fy = static_cast<double>(canvas_anchor.y() - m.height()) / cell_;
  setCellSize(px);
  scroll_->horizontalScrollBar()->setValue(static_cast<int>(std::lround(m.width() + fx * cell_)) - in_view.x());
  scroll_->verticalScrollBar()->setValue(static_cast<int>(std::lround(m.height() + fy * cell_)) - in_view.y());
}

void HeatMapWidget::refit() {
  canvas_->resize(canvas_->sizeHint());
  canvas_->update();
  legend_->update();
  zoom_in_->setEnabled(cell_ < kMaxCell);
  zoom_out_->setEnabled(cell_ > kMinCell);
  zoom_label_->setText(tr("%1 px per value").arg(cell_));
}

void HeatMapWidget::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  if (values_.rows == 0 || values_.cols == 0) refit();
}

void HeatMapWidget::changeEvent(QEvent* event) {
  // The diverging scale's neutral colour follows the palette (light/dark switch).
  if (event->type() == QEvent::PaletteChange) scale_ = ColourScale::fit(values_.values, palette());
  QWidget::changeEvent(event);
}

int HeatMapWidget::labelStep(bool columns) const {
  const QFontMetrics fm = fontMetrics();
  const std::int64_t last = columns ? window_.col0 + values_.cols : window_.row0 + values_.rows;
  const int need = columns ? fm.horizontalAdvance(QString::number(last)) + 6 : fm.height() + 2;
  for (int step : {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000})
    if (step * cell_ >= need) return step;
  return 1000;
}

QSize HeatMapWidget::labelMargins() const {
  if (values_.rows == 0) return {0, 0};
  const QFontMetrics fm = fontMetrics();
  const bool row_labels = rank_ >= 2;
  const bool col_labels = rank_ >= 1;
  const int w = row_labels ? fm.horizontalAdvance(QString::number(window_.row0 + values_.rows)) + 8 : 2;
  const int h = col_labels ? fm.height() + 4 : 2;
  return {w, h};
}

QRect HeatMapWidget::cellRect(int row, int col) const {
  const QSize m = labelMargins();
  return {m.width() + col * cell_, m.height() + row * cell_, cell_, cell_};
}

QPoint HeatMapWidget::cellAt(QPoint pos) const {
  const QSize m = labelMargins();
  const int x = pos.x() - m.width(), y = pos.y() - m.height();
  if (x < 0 || y < 0) return {-1, -1};
  const int c = x / cell_, r = y / cell_;
  if (c >= values_.cols || r >= values_.rows) return {-1, -1};
  return {c, r};
}

QColor HeatMapWidget::cellColour(int row, int col) const {
  return scale_.colour(values_.values.at(static_cast<std::size_t>(row * values_.cols + col)));
}

QString HeatMapWidget::cellToolTip(int row, int col) const {
  const double v = values_.values.at(static_cast<std::size_t>(row * values_.cols + col));
  return QStringLiteral("%1 = %2").arg(elementIndexText(window_, rank_, row, col), preciseValueText(v, dtype_));
}

void HeatMapWidget::paintCanvas(QPainter& p, const QRect& exposed) const {
  const QPalette& pal = palette();
  p.fillRect(exposed, pal.color(QPalette::Base));
  if (values_.rows == 0 || values_.cols == 0) {
    p.setPen(pal.color(QPalette::PlaceholderText));
    p.drawText(canvas_->rect(), Qt::AlignCenter, tr("No values"));
    return;
  }
  const QSize m = labelMargins();
  // A one-pixel gap between cells once they are big enough, so neighbours
  // of similar colour stay countable.
  const int gap = cell_ >= 10 ? 1 : 0;
  const QBrush hatch(pal.color(QPalette::Base), Qt::BDiagPattern);
  const int r0 = std::max(0, (exposed.top() - m.height()) / cell_);
  const int r1 = std::min(static_cast<int>(values_.rows) - 1, (exposed.bottom() - m.height()) / cell_);
  const int c0 = std::max(0, (exposed.left() - m.width()) / cell_);
  const int c1 = std::min(static_cast<int>(values_.cols) - 1, (exposed.right() - m.width()) / cell_);
  for (int r = r0; r <= r1; ++r) {
    for (int c = c0; c <= c1; ++c) {
      const QRect cell = cellRect(r, c).adjusted(0, 0, -gap, -gap);
      const double v = values_.values[static_cast<std::size_t>(r * values_.cols + c)];
      p.fillRect(cell, scale_.colour(v));
      if (std::isnan(v) && cell_ >= 6) p.fillRect(cell, hatch);
    }
  }

  // Absolute indices along the edges, thinned so labels never overlap.
  p.setPen(pal.color(QPalette::WindowText));
  const QFontMetrics fm = fontMetrics();
  if (rank_ >= 1) {
    const int step = labelStep(true);
    for (int c = 0; c < values_.cols; ++c) {
      const std::int64_t absolute = window_.col0 + c;
      if (absolute % step != 0) continue;
      const QRect cell = cellRect(0, c);
      const QString text = QString::number(absolute);
      const int w = fm.horizontalAdvance(text);
      p.drawText(QRect(cell.center().x() - w / 2, 0, w + 1, m.height()), Qt::AlignCenter, text);
    }
  }
  if (rank_ >= 2) {
    const int step = labelStep(false);
    for (int r = 0; r < values_.rows; ++r) {
      const std::int64_t absolute = window_.row0 + r;
      if (absolute % step != 0) continue;
      const QRect cell = cellRect(r, 0);
      p.drawText(QRect(0, cell.center().y() - fm.height() / 2, m.width() - 4, fm.height()),
                 Qt::AlignRight | Qt::AlignVCenter, QString::number(absolute));
    }
  }
}

}  // namespace ckpt::ui
