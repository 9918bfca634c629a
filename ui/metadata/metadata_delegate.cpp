#include "ui/metadata/metadata_delegate.h"

#include <QComboBox>
#include <QKeyEvent>
#include <QPlainTextEdit>

#include <algorithm>

#include "io/metadata.h"
#include "ui/metadata/metadata_model.h"

namespace ckpt::ui {

namespace {

bool isMultiLine(const QModelIndex& index) {
  return index.column() == MetadataModel::Value &&
         index.data(MetadataModel::MetaTypeRole).toInt() == static_cast<int>(io::MetaType::String) &&
         index.data(Qt::EditRole).toString().contains(QLatin1Char('\n'));
}

bool isBool(const QModelIndex& index) {
  return index.column() == MetadataModel::Value &&
         index.data(MetadataModel::MetaTypeRole).toInt() == static_cast<int>(io::MetaType::Bool);
}

}  // namespace

QWidget* MetadataDelegate::createEditor(QWidget* parent, const QStyleOptionViewItem& option,
                                        const QModelIndex& index) const {
  const auto* model = qobject_cast<const MetadataModel*>(index.model());
  if (model != nullptr && index.column() == MetadataModel::Type) {
    auto* box = new QComboBox(parent);
    for (io::MetaType t : MetadataModel::valueTypes(model->format()))
      box->addItem(QString::fromLatin1(io::meta_type_name(t)), static_cast<int>(t));
    box->setMaxVisibleItems(box->count());
    return box;
  }
  if (isBool(index)) {
    auto* box = new QComboBox(parent);
    box->addItems({QStringLiteral("true"), QStringLiteral("false")});
    return box;
  }
  if (isMultiLine(index)) {
    auto* edit = new QPlainTextEdit(parent);
    edit->setToolTip(tr("Ctrl+Enter to apply, Esc to cancel"));
    edit->setTabChangesFocus(true);
    return edit;
  }
  return QStyledItemDelegate::createEditor(parent, option, index);
}

void MetadataDelegate::setEditorData(QWidget* editor, const QModelIndex& index) const {
  if (auto* box = qobject_cast<QComboBox*>(editor)) {
    const QVariant v = index.data(Qt::EditRole);
    const int at = index.column() == MetadataModel::Type ? box->findData(v) : box->findText(v.toString());
    box->setCurrentIndex(std::max(at, 0));
    return;
  }
  if (auto* edit = qobject_cast<QPlainTextEdit*>(editor)) {
    edit->setPlainText(index.data(Qt::EditRole).toString());
    return;
  }
  QStyledItemDelegate::setEditorData(editor, index);
}

void MetadataDelegate::setModelData(QWidget* editor, QAbstractItemModel* model, const QModelIndex& index) const {
  if (auto* box = qobject_cast<QComboBox*>(editor)) {
    model->setData(index, index.column() == MetadataModel::Type ? box->currentData() : QVariant(box->currentText()));
    return;
  }
  if (auto* edit = qobject_cast<QPlainTextEdit*>(editor)) {
    model->setData(index, edit->toPlainText());
    return;
  }
  QStyledItemDelegate::setModelData(editor, model, index);
}

void MetadataDelegate::updateEditorGeometry(QWidget* editor, const QStyleOptionViewItem& option,
                                            const QModelIndex& index) const {
  if (qobject_cast<QPlainTextEdit*>(editor) == nullptr) {
    QStyledItemDelegate::updateEditorGeometry(editor, option, index);
    return;
  }
  // A template needs more than one row of room: open downwards over the
  // rows below, or upwards when the cell sits near the bottom.
  QRect r = option.rect;
  const QWidget* area = editor->parentWidget();
  const int bottom = area ? area->height() : r.bottom() + 1;
  r.setHeight(std::max(r.height() * 10, 200));
  if (r.bottom() >= bottom) r.moveBottom(std::max(bottom - 1, option.rect.bottom()));
  if (area && r.top() < 0) r.setTop(0);
  editor->setGeometry(r);
}

bool MetadataDelegate::eventFilter(QObject* object, QEvent* event) {
  auto* edit = qobject_cast<QPlainTextEdit*>(object);
  if (edit != nullptr && event->type() == QEvent::KeyPress) {
    const auto* key = static_cast<QKeyEvent*>(event);
    if ((key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter) && (key->modifiers() & Qt::ControlModifier)) {
      emit commitData(edit);
      emit closeEditor(edit, QAbstractItemDelegate::NoHint);
      return true;
    }
  }
  return QStyledItemDelegate::eventFilter(object, event);
}

}  // namespace ckpt::ui
