#pragma once
// The controls that pick a 2-D window of an N-d tensor: which axis runs down
// the rows and which across the columns (default: the last two), an index
// for every other axis, where the window starts along its two axes, and how
// big it is. A 1-D tensor is one row; a scalar one cell.
#include <QWidget>

#include <cstdint>
#include <vector>

#include "io/tensor.h"
#include "model/tensor_stats.h"

class QComboBox;
class QGridLayout;
class QLabel;
class QSpinBox;

namespace ckpt::ui {

class WindowControls : public QWidget {
  Q_OBJECT

 public:
  static constexpr int kDefaultSize = 32;

  explicit WindowControls(QWidget* parent = nullptr);

  // Rebuilds the controls for `shape` with their defaults, unless the shape
  // is the one already shown, whose window stays (emits nothing).
  void setShape(const io::Shape& shape);
  void clear();

  // The window the controls describe.
  [[nodiscard]] model::Window window() const;

  // Each of these changes the controls as a user would (and so emits
  // windowChanged once). Choosing as rows the axis shown as columns swaps them.
  void setAxes(int row_axis, int col_axis);
  void setIndex(int axis, std::int64_t index);
  void setOrigin(std::int64_t row0, std::int64_t col0);
  void setWindowSize(int size);

  [[nodiscard]] QComboBox* rowAxisBox() const { return row_axis_; }
  [[nodiscard]] QComboBox* colAxisBox() const { return col_axis_; }
  [[nodiscard]] QSpinBox* indexBox(int axis) const;  // null for the window's own axes
  [[nodiscard]] QSpinBox* rowStartBox() const { return row0_; }
  [[nodiscard]] QSpinBox* colStartBox() const { return col0_; }

 signals:
  void windowChanged();

 private:
  void axisChosen(bool rows);
  void rebuildIndexBoxes();
  void updateRanges();
  void changed();

  io::Shape shape_;
  int row_axis_value_ = 0, col_axis_value_ = 1;
  bool quiet_ = false;  // set while controls are filled in programmatically

  QComboBox* row_axis_ = nullptr;
  QComboBox* col_axis_ = nullptr;
  QComboBox* size_ = nullptr;
  QSpinBox* row0_ = nullptr;
  QSpinBox* col0_ = nullptr;
  QLabel* row_of_ = nullptr;
  QLabel* col_of_ = nullptr;
  QLabel* index_label_ = nullptr;
  QWidget* index_row_ = nullptr;
  std::vector<QSpinBox*> index_boxes_;  // one per axis, null for the window's axes
  std::vector<QLabel*> index_labels_;
};

}  // namespace ckpt::ui
