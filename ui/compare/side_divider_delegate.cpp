#include "ui/compare/side_divider_delegate.h"

#include <QPainter>

namespace ckpt::ui {

void SideDividerDelegate::paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const {
  QStyledItemDelegate::paint(painter, option, index);
  painter->save();
  // Mid is the palette's own separator colour, visible on light and dark Base.
  painter->setPen(QPen(option.palette.color(QPalette::Mid), 1));
  painter->drawLine(option.rect.topLeft(), option.rect.bottomLeft());
  painter->restore();
}

}  // namespace ckpt::ui
