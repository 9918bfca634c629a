#pragma once
// Export dialog: target format with its options, dtype, name map and output
// path; the conversion runs on a ConversionJob with a progress bar and a
// working Cancel, and ends in an inline error, a cancel note, or a success
// message offering to open the result or its folder.
#include <QDialog>
#include <QString>

#include <memory>
#include <optional>

#include "io/checkpoint.h"
#include "io/dtype.h"
#include "io/write_options.h"
#include "model/name_map.h"

class QCheckBox;
class QComboBox;
class QDialogButtonBox;
class QDoubleSpinBox;
class QFrame;
class QGroupBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QStackedWidget;

namespace ckpt::ui {

class ConversionJob;

class ExportDialog : public QDialog {
  Q_OBJECT

 public:
  ExportDialog(std::shared_ptr<const io::Checkpoint> checkpoint, model::NameMap map, QWidget* parent = nullptr);
  ~ExportDialog() override;  // cancels a running export and waits for it to stop

  // For tests and scripted use: set fields and start as if the user clicked.
  void setTarget(io::Format format, const QString& outputPath);
  void setDType(std::optional<io::DType> dtype);
  // The per-format fields (tag, shard size, compression, alignment) and
  // whether the result is flushed to disk before it is renamed into place.
  void setWriteOptions(const io::WriteOptions& options);
  void setApplyMap(bool apply);  // ignored when the map is empty
  void start();
  void cancel();
  [[nodiscard]] bool isRunning() const;

  [[nodiscard]] io::Format format() const;
  [[nodiscard]] QString outputPath() const;
  [[nodiscard]] std::optional<io::DType> dtype() const;
  [[nodiscard]] io::WriteOptions writeOptions() const;
  [[nodiscard]] bool applyMap() const;
  // The inline message a user reads after an export ends (error, cancel or success).
  [[nodiscard]] QString message() const;

  // Cancel while an export runs; close when idle (Escape and the window's close button too).
  void reject() override;

 signals:
  void exportFinished(const QString& path);
  void exportFailed(const QString& message);
  void exportCancelled();
  void openRequested(const QString& path);

 private:
  enum class Tone { Info, Error, Success };
  QWidget* buildOptionsPages();
  void formatChanged();
  [[nodiscard]] QString npyNote() const;
  void outputChanged();
  void browse();
  void setRunning(bool running);
  void showProgress(quint64 done, quint64 total, const QString& tensor);
  void showMessage(Tone tone, const QString& text, bool offerResult);
  void clearMessage();

  std::shared_ptr<const io::Checkpoint> checkpoint_;
  model::NameMap map_;
  QString result_path_;
  bool output_edited_ = false;  // the user typed or chose a path: keep it, change only its extension
  bool sync_ = true;
  std::unique_ptr<ConversionJob> job_;

  QComboBox* format_ = nullptr;
  QGroupBox* options_box_ = nullptr;
  QStackedWidget* pages_ = nullptr;
  QComboBox* st_tag_ = nullptr;
  QDoubleSpinBox* shard_gb_ = nullptr;
  QCheckBox* compress_ = nullptr;
  QSpinBox* level_ = nullptr;
  QComboBox* alignment_ = nullptr;
  QLabel* npy_note_ = nullptr;
  QComboBox* dtype_ = nullptr;
  QCheckBox* apply_map_ = nullptr;
  QLineEdit* output_ = nullptr;
  QPushButton* browse_ = nullptr;
  QLabel* output_hint_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QFrame* message_frame_ = nullptr;
  QLabel* message_icon_ = nullptr;
  QLabel* message_ = nullptr;
  QPushButton* open_result_ = nullptr;
  QPushButton* show_folder_ = nullptr;
  QDialogButtonBox* buttons_ = nullptr;
  QPushButton* export_ = nullptr;
  QPushButton* close_ = nullptr;
};

}  // namespace ckpt::ui
