#include "ui/metadata/add_entry_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QVBoxLayout>

#include "io/metadata.h"
#include "io/metadata_edit.h"
#include "ui/metadata/message_banner.h"
#include "ui/metadata/metadata_model.h"

namespace ckpt::ui {

namespace {

QString placeholderFor(io::MetaType type, io::MetaType element) {
  switch (type) {
    case io::MetaType::Bool: return QStringLiteral("true or false");
    case io::MetaType::F32:
    case io::MetaType::F64: return QStringLiteral("e.g. 10000.0 or 1e-5");
    case io::MetaType::String: return QStringLiteral("text");
    case io::MetaType::Array:
      return element == io::MetaType::String ? QStringLiteral(R"(JSON, e.g. ["a", "b"])") : QStringLiteral("JSON, e.g. [1, 2, 3]");
    case io::MetaType::U8:
    case io::MetaType::I8:
    case io::MetaType::U16:
    case io::MetaType::I16:
    case io::MetaType::U32:
    case io::MetaType::I32:
    case io::MetaType::U64:
    case io::MetaType::I64: return QStringLiteral("a whole number");
    case io::MetaType::Null: break;
  }
  return {};
}

}  // namespace

AddEntryDialog::AddEntryDialog(MetadataModel* model, QWidget* parent) : QDialog(parent), model_(model) {
  setWindowTitle(tr("Add metadata key"));
  key_ = new QLineEdit;
  key_->setPlaceholderText(model->format() == io::Format::Gguf ? QStringLiteral("e.g. general.name")
                                                               : QStringLiteral("e.g. description"));
  type_ = new QComboBox;
  element_ = new QComboBox;
  for (io::MetaType t : MetadataModel::valueTypes(model->format())) {
    const QString name = QString::fromLatin1(io::meta_type_name(t));
    type_->addItem(name, static_cast<int>(t));
    element_->addItem(name, static_cast<int>(t));
  }
  if (io::format_stores_meta_type(model->format(), io::MetaType::Array))
    type_->addItem(tr("array"), static_cast<int>(io::MetaType::Array));
  type_->setEnabled(type_->count() > 1);
  value_ = new QLineEdit;
  error_ = new MessageBanner(MessageBanner::Error);
  error_->hide();

  auto* form = new QFormLayout;
  form->addRow(tr("&Key:"), key_);
  form->addRow(tr("&Type:"), type_);
  element_label_ = new QLabel(tr("&Elements:"));
  element_label_->setBuddy(element_);
  form->addRow(element_label_, element_);
  form->addRow(tr("&Value:"), value_);

  buttons_ = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  connect(buttons_, &QDialogButtonBox::accepted, this, &AddEntryDialog::accept);
  connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(type_, &QComboBox::currentIndexChanged, this, &AddEntryDialog::typeChanged);
  connect(element_, &QComboBox::currentIndexChanged, this, &AddEntryDialog::typeChanged);
  connect(key_, &QLineEdit::textChanged, error_, &QWidget::hide);
  connect(value_, &QLineEdit::textChanged, error_, &QWidget::hide);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(error_);
  layout->addWidget(buttons_);
  typeChanged();
  setMinimumWidth(420);
}

QString AddEntryDialog::errorText() const { return error_->isHidden() ? QString() : error_->text(); }

void AddEntryDialog::typeChanged() {
  const auto type = static_cast<io::MetaType>(type_->currentData().toInt());
  const auto element = static_cast<io::MetaType>(element_->currentData().toInt());
  element_->setVisible(type == io::MetaType::Array);
  element_label_->setVisible(type == io::MetaType::Array);
  value_->setPlaceholderText(placeholderFor(type, element));
  error_->hide();
}

void AddEntryDialog::accept() {
  QString why;
  const QModelIndex index =
      model_->addEntry(key_->text(), static_cast<io::MetaType>(type_->currentData().toInt()), value_->text(),
                       static_cast<io::MetaType>(element_->currentData().toInt()), &why);
  if (!index.isValid()) {
    error_->setText(why);
    error_->show();
    return;
  }
  emit added(index);
  QDialog::accept();
}

}  // namespace ckpt::ui
