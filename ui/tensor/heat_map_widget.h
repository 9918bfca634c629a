#pragma once
// A heat map of one value window: one square cell per value, coloured by a
// ColourScale fitted to the window, absolute indices along the top and left
// edges, a legend with the scale's ends (and zero when diverging), NaN
// cells hatched in a colour of their own, and each cell's full index and
// value in its tooltip. Zoom with Ctrl+wheel, the +/− buttons, the + and −
// keys, or Ctrl++ / Ctrl+−; 0 or "Fit" fits the window into the view.
#include <QWidget>

#include <cstdint>

#include "io/dtype.h"
#include "model/tensor_stats.h"
#include "ui/tensor/colour_scale.h"

class QLabel;
class QScrollArea;
class QToolButton;

namespace ckpt::ui {

class HeatMapWidget : public QWidget {
  Q_OBJECT

 public:
  static constexpr int kMinCell = 2;
  static constexpr int kMaxCell = 64;

  explicit HeatMapWidget(QWidget* parent = nullptr);

  void setWindow(model::WindowValues values, model::Window window, int rank, io::DType dtype);
  void clear();

  [[nodiscard]] const model::WindowValues& values() const { return values_; }
  [[nodiscard]] const ColourScale& scale() const { return scale_; }
  [[nodiscard]] int cellSize() const { return cell_; }
  void setCellSize(int px);  // clamped to [kMinCell, kMaxCell]
  void zoomIn();
  void zoomOut();
  void zoomToFit();

  // What the map shows for window cell (row, col).
  [[nodiscard]] QColor cellColour(int row, int col) const;
  [[nodiscard]] QString cellToolTip(int row, int col) const;
  // The drawing surface inside the scroll area (receives wheel, keys, tooltips).
  [[nodiscard]] QWidget* canvas() const { return canvas_; }
  // Cell geometry in canvas coordinates; (-1, -1) for a point outside every cell.
  [[nodiscard]] QRect cellRect(int row, int col) const;
  [[nodiscard]] QPoint cellAt(QPoint canvas_pos) const;

 signals:
  void cellSizeChanged(int px);
  void cellClicked(int row, int col);  // a window cell, by mouse

 protected:
  void changeEvent(QEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;

 private:
  friend class HeatMapCanvas;
  friend class ColourLegend;

  [[nodiscard]] QSize labelMargins() const;  // width of the row labels, height of the column labels
  [[nodiscard]] int labelStep(bool columns) const;
  void paintCanvas(QPainter& p, const QRect& exposed) const;
  void zoomAround(int px, QPoint canvas_anchor);
  void refit();

  model::WindowValues values_;
  model::Window window_;
  int rank_ = 0;
  io::DType dtype_ = io::DType::F32;
  ColourScale scale_;
  int cell_ = 14;

  QScrollArea* scroll_ = nullptr;
  QWidget* canvas_ = nullptr;
  QWidget* legend_ = nullptr;
  QLabel* zoom_label_ = nullptr;
  QToolButton* zoom_out_ = nullptr;
  QToolButton* zoom_in_ = nullptr;
};

}  // namespace ckpt::ui
