#include "ui/tensor/window_controls.h"

#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>
#include <QSpinBox>

#include <algorithm>
#include <climits>
#include <utility>

namespace ckpt::ui {

namespace {

// Spin boxes hold ints; a dimension past 2^31 (a huge 1-D tensor) is reached
// up to that point only.
int spinMax(std::int64_t dim) { return static_cast<int>(std::clamp<std::int64_t>(dim - 1, 0, INT_MAX)); }

QLabel* buddyLabel(const QString& text, QWidget* buddy) {
  auto* l = new QLabel(text);
  l->setBuddy(buddy);
  return l;
}

}  // namespace

WindowControls::WindowControls(QWidget* parent) : QWidget(parent) {
  row_axis_ = new QComboBox;
  row_axis_->setObjectName(QStringLiteral("rowAxis"));
  row_axis_->setToolTip(tr("The axis that runs down the rows"));
  col_axis_ = new QComboBox;
  col_axis_->setObjectName(QStringLiteral("colAxis"));
  col_axis_->setToolTip(tr("The axis that runs across the columns"));
  size_ = new QComboBox;
  size_->setObjectName(QStringLiteral("windowSize"));
  size_->setToolTip(tr("How many rows and columns the window reads"));
  // Axis names carry their sizes, which change with every tensor.
  row_axis_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  col_axis_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  for (int s : {8, 16, 32, 64, 128}) size_->addItem(QStringLiteral("%1 × %1").arg(s), s);
  size_->setCurrentIndex(size_->findData(kDefaultSize));

  row0_ = new QSpinBox;
  row0_->setObjectName(QStringLiteral("rowStart"));
  row0_->setToolTip(tr("First row of the window (PgUp/PgDn move by ten)"));
  col0_ = new QSpinBox;
  col0_->setObjectName(QStringLiteral("colStart"));
  col0_->setToolTip(tr("First column of the window (PgUp/PgDn move by ten)"));
  for (QSpinBox* s : {row0_, col0_}) {
    s->setAccelerated(true);
    s->setKeyboardTracking(false);  // typing "4096" reads one window, not four
  }
  row_of_ = new QLabel;
  col_of_ = new QLabel;
  for (QLabel* l : {row_of_, col_of_}) l->setForegroundRole(QPalette::PlaceholderText);

  auto* grid = new QGridLayout(this);
  grid->setContentsMargins(0, 0, 0, 0);
  grid->addWidget(buddyLabel(tr("&Rows:"), row_axis_), 0, 0);
  grid->addWidget(row_axis_, 0, 1);
  grid->addWidget(buddyLabel(tr("from"), row0_), 0, 2);
  grid->addWidget(row0_, 0, 3);
  grid->addWidget(row_of_, 0, 4);
  grid->addWidget(buddyLabel(tr("Si&ze:"), size_), 0, 5);
  grid->addWidget(size_, 0, 6);
  grid->addWidget(buddyLabel(tr("&Columns:"), col_axis_), 1, 0);
  grid->addWidget(col_axis_, 1, 1);
  grid->addWidget(buddyLabel(tr("from"), col0_), 1, 2);
  grid->addWidget(col0_, 1, 3);
  grid->addWidget(col_of_, 1, 4);
  grid->setColumnMinimumWidth(4, 60);
  grid->setColumnStretch(7, 1);

  index_row_ = new QWidget;
  auto* index_layout = new QHBoxLayout(index_row_);
  index_layout->setContentsMargins(0, 0, 0, 0);
  index_label_ = new QLabel(tr("Other axes:"));
  index_layout->addWidget(index_label_);
  index_layout->addStretch(1);
  grid->addWidget(index_row_, 2, 0, 1, 8);

  connect(row_axis_, &QComboBox::activated, this, [this] { axisChosen(true); });
  connect(col_axis_, &QComboBox::activated, this, [this] { axisChosen(false); });
  connect(size_, &QComboBox::currentIndexChanged, this, [this] { changed(); });
  connect(row0_, &QSpinBox::valueChanged, this, [this] { changed(); });
  connect(col0_, &QSpinBox::valueChanged, this, [this] { changed(); });

  clear();
}

void WindowControls::clear() { setShape({}); }

void WindowControls::setShape(const io::Shape& shape) {
  // Stepping through layers.0 … layers.31 of one kind keeps the place a
  // user chose, so the same slice of each layer can be compared.
  if (shape == shape_ && row_axis_->count() + col_axis_->count() > 0) return;
  quiet_ = true;
  shape_ = shape;
  const int rank = static_cast<int>(shape_.size());
  row_axis_value_ = std::max(0, rank - 2);
  col_axis_value_ = std::max(0, rank - 1);
  {
    const QSignalBlocker b1(row_axis_), b2(col_axis_);
    row_axis_->clear();
    col_axis_->clear();
    for (int a = 0; a < rank; ++a) {
      const QString text = tr("axis %1 (%2)").arg(a).arg(shape_[static_cast<std::size_t>(a)]);
      row_axis_->addItem(text, a);
      col_axis_->addItem(text, a);
    }
    if (rank == 1) row_axis_->clear();  // one row: no axis runs down it
    row_axis_->setCurrentIndex(row_axis_->findData(row_axis_value_));
    col_axis_->setCurrentIndex(col_axis_->findData(col_axis_value_));
  }
  row_axis_->setEnabled(rank >= 2);
  col_axis_->setEnabled(rank >= 2);
  {
    const QSignalBlocker b1(row0_), b2(col0_);
    row0_->setValue(0);
    col0_->setValue(0);
  }
  rebuildIndexBoxes();
  updateRanges();
  quiet_ = false;
}

model::Window WindowControls::window() const {
  model::Window w;
  const int rank = static_cast<int>(shape_.size());
  w.row_axis = rank >= 2 ? row_axis_value_ : 0;
  w.col_axis = rank >= 2 ? col_axis_value_ : 1;
  w.index.assign(shape_.size(), 0);
  for (std::size_t a = 0; a < index_boxes_.size(); ++a)
    if (index_boxes_[a]) w.index[a] = index_boxes_[a]->value();
  w.row0 = rank >= 2 ? row0_->value() : 0;
  w.col0 = rank >= 1 ? col0_->value() : 0;
  const int size = size_->currentData().toInt();
  w.rows = rank >= 2 ? size : 1;
  w.cols = rank >= 1 ? size : 1;
  return w;
}

QSpinBox* WindowControls::indexBox(int axis) const {
  if (axis < 0 || static_cast<std::size_t>(axis) >= index_boxes_.size()) return nullptr;
  return index_boxes_[static_cast<std::size_t>(axis)];
}

void WindowControls::setAxes(int row_axis, int col_axis) {
  const int rank = static_cast<int>(shape_.size());
  if (rank < 2 || row_axis == col_axis || row_axis < 0 || col_axis < 0 || row_axis >= rank || col_axis >= rank) return;
  if (row_axis == row_axis_value_ && col_axis == col_axis_value_) return;
  row_axis_value_ = row_axis;
  col_axis_value_ = col_axis;
  {
    const QSignalBlocker b1(row_axis_), b2(col_axis_);
    row_axis_->setCurrentIndex(row_axis_->findData(row_axis));
    col_axis_->setCurrentIndex(col_axis_->findData(col_axis));
  }
  quiet_ = true;
  rebuildIndexBoxes();
  updateRanges();
  quiet_ = false;
  changed();
}

void WindowControls::setIndex(int axis, std::int64_t index) {
  if (QSpinBox* box = indexBox(axis)) box->setValue(static_cast<int>(std::clamp<std::int64_t>(index, 0, INT_MAX)));
}

void WindowControls::setOrigin(std::int64_t row0, std::int64_t col0) {
  quiet_ = true;
  row0_->setValue(static_cast<int>(std::clamp<std::int64_t>(row0, 0, INT_MAX)));
  col0_->setValue(static_cast<int>(std::clamp<std::int64_t>(col0, 0, INT_MAX)));
  quiet_ = false;
  changed();
}

void WindowControls::setWindowSize(int size) {
  const int i = size_->findData(size);
  if (i >= 0) size_->setCurrentIndex(i);
}

void WindowControls::axisChosen(bool rows) {
  const int picked = (rows ? row_axis_ : col_axis_)->currentData().toInt();
  int r = row_axis_value_, c = col_axis_value_;
  if (rows) {
    if (picked == c) c = r;  // the two axes swap places rather than collide
    r = picked;
  } else {
    if (picked == r) r = c;
    c = picked;
  }
  setAxes(r, c);
}

void WindowControls::rebuildIndexBoxes() {
  // Keep what the user chose on axes that stay "other".
  std::vector<int> previous(shape_.size(), 0);
  for (std::size_t a = 0; a < index_boxes_.size() && a < previous.size(); ++a)
    if (index_boxes_[a]) previous[a] = index_boxes_[a]->value();
  auto* layout = static_cast<QHBoxLayout*>(index_row_->layout());
  for (QSpinBox* box : index_boxes_) delete box;
  for (QLabel* label : index_labels_) delete label;
  index_boxes_.assign(shape_.size(), nullptr);
  index_labels_.clear();

  const int rank = static_cast<int>(shape_.size());
  int insert_at = 1;  // after "Other axes:"
  for (int a = 0; a < rank && rank > 2; ++a) {
    if (a == row_axis_value_ || a == col_axis_value_) continue;
    const std::int64_t dim = shape_[static_cast<std::size_t>(a)];
    auto* box = new QSpinBox;
    box->setObjectName(QStringLiteral("axisIndex%1").arg(a));
    box->setRange(0, spinMax(dim));
    box->setValue(std::min(previous[static_cast<std::size_t>(a)], box->maximum()));
    box->setSuffix(QStringLiteral(" / %1").arg(dim));
    box->setKeyboardTracking(false);
    box->setToolTip(tr("Index along axis %1 (size %2)").arg(a).arg(dim));
    auto* label = buddyLabel(tr("axis %1").arg(a), box);
    index_labels_.push_back(label);
    layout->insertWidget(insert_at++, label);
    layout->insertWidget(insert_at++, box);
    connect(box, &QSpinBox::valueChanged, this, [this] { changed(); });
    index_boxes_[static_cast<std::size_t>(a)] = box;
  }
  index_row_->setVisible(rank > 2);
  // Tab follows the visual order: axes, starts, then the other-axis boxes.
  QWidget* prev = col0_;
  for (QSpinBox* box : index_boxes_) {
    if (!box) continue;
    setTabOrder(prev, box);
    prev = box;
  }
}

void WindowControls::updateRanges() {
  const int rank = static_cast<int>(shape_.size());
  const QSignalBlocker b1(row0_), b2(col0_);
  const std::int64_t rows = rank >= 2 ? shape_[static_cast<std::size_t>(row_axis_value_)] : 1;
  const std::int64_t cols = rank >= 2 ? shape_[static_cast<std::size_t>(col_axis_value_)] : rank == 1 ? shape_[0] : 1;
  row0_->setRange(0, spinMax(rows));
  col0_->setRange(0, spinMax(cols));
  row0_->setEnabled(rank >= 2);
  col0_->setEnabled(rank >= 1);
  row_of_->setText(tr("of %1").arg(rows));
  col_of_->setText(tr("of %1").arg(cols));
}

void WindowControls::changed() {
  if (!quiet_) emit windowChanged();
}

}  // namespace ckpt::ui
