#pragma once
// Edits a cell by picking one of a fixed list of words (a rule's match kind)
// from a combo box, so a typo cannot be entered.
#include <QStringList>
#include <QStyledItemDelegate>

namespace ckpt::ui {

class ChoiceDelegate : public QStyledItemDelegate {
  Q_OBJECT

 public:
  ChoiceDelegate(QStringList choices, QObject* parent = nullptr);

  [[nodiscard]] QWidget* createEditor(QWidget* parent, const QStyleOptionViewItem& option,
                                      const QModelIndex& index) const override;
  void setEditorData(QWidget* editor, const QModelIndex& index) const override;
  void setModelData(QWidget* editor, QAbstractItemModel* model, const QModelIndex& index) const override;

 private:
  void commitAndClose();

  QStringList choices_;
};

}  // namespace ckpt::ui
