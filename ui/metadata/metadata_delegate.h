#pragma once
// Editors for MetadataModel cells: a list of the format's types in the Type
// column, true/false for booleans, a multi-line editor for strings that hold
// line breaks (chat templates), a line edit for everything else. The model
// validates whatever is entered; the editors only make valid input easy.
#include <QStyledItemDelegate>

namespace ckpt::ui {

class MetadataDelegate : public QStyledItemDelegate {
  Q_OBJECT

 public:
  using QStyledItemDelegate::QStyledItemDelegate;

  QWidget* createEditor(QWidget* parent, const QStyleOptionViewItem& option, const QModelIndex& index) const override;
  void setEditorData(QWidget* editor, const QModelIndex& index) const override;
  void setModelData(QWidget* editor, QAbstractItemModel* model, const QModelIndex& index) const override;
  void updateEditorGeometry(QWidget* editor, const QStyleOptionViewItem& option, const QModelIndex& index) const override;

 protected:
  bool eventFilter(QObject* object, QEvent* event) override;
};

}  // namespace ckpt::ui
