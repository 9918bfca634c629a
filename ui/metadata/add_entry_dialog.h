#pragma once
// Asks for a new metadata key: name, type (the format's types, plus arrays of
// them where the format has arrays) and value. OK adds it to the model; what
// the model refuses is shown in the dialog, which stays open to be fixed.
#include <QDialog>

class QComboBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;

namespace ckpt::ui {

class MetadataModel;

class AddEntryDialog : public QDialog {
  Q_OBJECT

 public:
  AddEntryDialog(MetadataModel* model, QWidget* parent = nullptr);

  [[nodiscard]] QLineEdit* keyEdit() const { return key_; }
  [[nodiscard]] QComboBox* typeBox() const { return type_; }
  [[nodiscard]] QComboBox* elementTypeBox() const { return element_; }
  [[nodiscard]] QLineEdit* valueEdit() const { return value_; }
  [[nodiscard]] QString errorText() const;

  void accept() override;

 signals:
  // The row the new key took.
  void added(const QModelIndex& index);

 private:
  void typeChanged();

  MetadataModel* model_;
  QLineEdit* key_ = nullptr;
  QComboBox* type_ = nullptr;
  QComboBox* element_ = nullptr;
  QLabel* element_label_ = nullptr;
  QLineEdit* value_ = nullptr;
  QLabel* error_ = nullptr;
  QDialogButtonBox* buttons_ = nullptr;
};

}  // namespace ckpt::ui
