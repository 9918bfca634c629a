#pragma once
// Draws a vertical rule at the left edge of its column's cells, so the
// checkpoint's columns and the wanted side's columns read as two sides of one
// row even though every cell carries the same category tint.
#include <QStyledItemDelegate>

namespace ckpt::ui {

class SideDividerDelegate : public QStyledItemDelegate {
  Q_OBJECT

 public:
  using QStyledItemDelegate::QStyledItemDelegate;

  void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override;
};

}  // namespace ckpt::ui
