#include "ui/tensor/value_window_model.h"

#include <utility>

#include "ui/tensor/value_text.h"

namespace ckpt::ui {

ValueWindowModel::ValueWindowModel(QObject* parent) : QAbstractTableModel(parent) {}

void ValueWindowModel::setWindow(model::WindowValues values, model::Window window, int rank, io::DType dtype) {
  beginResetModel();
  values_ = std::move(values);
  window_ = std::move(window);
  rank_ = rank;
  dtype_ = dtype;
  endResetModel();
}

void ValueWindowModel::clear() {
  beginResetModel();
  values_ = {};
  window_ = {};
  rank_ = 0;
  endResetModel();
}

double ValueWindowModel::value(int row, int column) const {
  return values_.values.at(static_cast<std::size_t>(row * values_.cols + column));
}

int ValueWindowModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(values_.rows);
}

int ValueWindowModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(values_.cols);
}

QVariant ValueWindowModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const double v = value(index.row(), index.column());
  switch (role) {
    case Qt::DisplayRole: return valueText(v, dtype_);
    case Qt::ToolTipRole:
      return QStringLiteral("%1 = %2").arg(elementIndexText(window_, rank_, index.row(), index.column()),
                                           preciseValueText(v, dtype_));
    case Qt::TextAlignmentRole: return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    case ValueRole: return v;
    case IndexRole: return elementIndexText(window_, rank_, index.row(), index.column());
    default: return {};
  }
}

QVariant ValueWindowModel::headerData(int section, Qt::Orientation orientation, int role) const {
  const bool rows = orientation == Qt::Vertical;
  if (section < 0 || section >= (rows ? rowCount() : columnCount())) return {};
  // A 1-D tensor's single row and a scalar's cell have no index of their own.
  const bool meaningful = rows ? rank_ >= 2 : rank_ >= 1;
  const std::int64_t absolute = (rows ? window_.row0 : window_.col0) + section;
  switch (role) {
    case Qt::DisplayRole: return meaningful ? QString::number(absolute) : QString();
    case Qt::ToolTipRole:
      if (!meaningful) return {};
      return tr("index %1 of axis %2").arg(absolute).arg(rank_ == 1 ? 0 : (rows ? window_.row_axis : window_.col_axis));
    default: return {};
  }
}

}  // namespace ckpt::ui
