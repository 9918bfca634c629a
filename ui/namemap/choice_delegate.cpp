#include "ui/namemap/choice_delegate.h"

#include <QComboBox>

#include <utility>

namespace ckpt::ui {

ChoiceDelegate::ChoiceDelegate(QStringList choices, QObject* parent)
    : QStyledItemDelegate(parent), choices_(std::move(choices)) {}

QWidget* ChoiceDelegate::createEditor(QWidget* parent, const QStyleOptionViewItem&, const QModelIndex&) const {
  auto* combo = new QComboBox(parent);
  combo->addItems(choices_);
  // Picking a word is the whole edit: commit it without a second keypress.
  connect(combo, &QComboBox::activated, this, &ChoiceDelegate::commitAndClose);
  return combo;
}

void ChoiceDelegate::commitAndClose() {
  auto* combo = qobject_cast<QComboBox*>(sender());
  if (combo == nullptr) return;
  emit commitData(combo);
  emit closeEditor(combo);
}

void ChoiceDelegate::setEditorData(QWidget* editor, const QModelIndex& index) const {
  auto* combo = static_cast<QComboBox*>(editor);
  const int at = combo->findText(index.data(Qt::EditRole).toString());
  if (at >= 0) combo->setCurrentIndex(at);
}

void ChoiceDelegate::setModelData(QWidget* editor, QAbstractItemModel* model, const QModelIndex& index) const {
  model->setData(index, static_cast<QComboBox*>(editor)->currentText(), Qt::EditRole);
}

}  // namespace ckpt::ui
