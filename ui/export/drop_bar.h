#pragma once
// The drop bar: five format targets (safetensors, GGUF, NPZ, NPY, PyTorch).
// A checkpoint dropped on one is converted beside its source with the
// current name map; clicking one converts the open checkpoint. Conversions
// run one at a time on a ConversionJob, later ones queued, with progress and
// the result shown inline.
#include <QString>
#include <QWidget>

#include <array>
#include <deque>
#include <memory>

#include "io/checkpoint.h"
#include "io/write_options.h"
#include "model/name_map.h"

class QLabel;
class QProgressBar;
class QToolButton;

namespace ckpt::ui {

class ConversionJob;
class DropTarget;

class DropBar : public QWidget {
  Q_OBJECT

 public:
  explicit DropBar(QWidget* parent = nullptr);
  ~DropBar() override;  // cancels a running conversion and waits for it to stop

  void setMap(const model::NameMap& map);
  void setCheckpoint(std::shared_ptr<const io::Checkpoint> current);  // used when a target is clicked
  // Options for every later conversion (progress and cancel are the bar's own).
  void setWriteOptions(const io::WriteOptions& options);
  // The conversion a drop of `source` onto `format` performs: queued behind a
  // running one, written to convertedPath(source, format) chosen when it starts.
  void convertFile(const QString& source, io::Format format);
  // Stops the running conversion and forgets the queued ones.
  void cancel();

  [[nodiscard]] bool isBusy() const;
  [[nodiscard]] int queuedCount() const { return static_cast<int>(queue_.size()); }
  [[nodiscard]] DropTarget* target(io::Format format) const;
  // The inline status line in full (the label may show it elided).
  [[nodiscard]] QString statusText() const { return status_text_; }

 signals:
  void conversionFinished(const QString& outputPath);
  void conversionFailed(const QString& message);
  void openRequested(const QString& path);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  struct Pending {
    QString source;
    io::Format format;
    std::shared_ptr<const io::Checkpoint> checkpoint;  // null: open `source` in the job thread
  };
  enum class Tone { Normal, Error };
  void convertCurrent(io::Format format);
  void startNext();
  void setStatus(const QString& text, Tone tone);
  void refreshStatusLabel();
  [[nodiscard]] QString jobTitle() const;

  model::NameMap map_;
  std::shared_ptr<const io::Checkpoint> current_;
  io::WriteOptions options_;
  std::deque<Pending> queue_;
  Pending active_{};
  QString last_output_;
  QString status_text_;
  Tone status_tone_ = Tone::Normal;
  std::unique_ptr<ConversionJob> job_;

  std::array<DropTarget*, 5> targets_{};
  QProgressBar* progress_ = nullptr;
  QLabel* status_ = nullptr;
  QToolButton* open_ = nullptr;
  QToolButton* cancel_ = nullptr;
  QToolButton* details_ = nullptr;  // shown with an error, which rarely fits the bar
};

}  // namespace ckpt::ui
