#pragma once
// The metadata panel: a checkpoint's key/values (safetensors __metadata__,
// GGUF key/values, PyTorch's non-tensor entries) in an editable tree, with
// Add / Remove / Revert / Save / Save As…. Saving rewrites the file through
// its format's writer on a worker thread (tensor data copied by the kernel),
// with progress, Cancel and errors shown inline. Checkpoints whose metadata
// cannot be saved (npy/npz, PyTorch, sharded) are shown read-only with the reason.
#include <QString>
#include <QWidget>

#include <memory>

#include "io/checkpoint.h"
#include "io/metadata.h"

class QLabel;
class QProgressBar;
class QPushButton;
class QTreeView;

namespace ckpt::ui {

class MessageBanner;
class MetadataModel;
class MetadataSaver;

class MetadataPanel : public QWidget {
  Q_OBJECT

 public:
  explicit MetadataPanel(QWidget* parent = nullptr);
  ~MetadataPanel() override;

  // Shows `checkpoint`'s metadata (nullptr: nothing), dropping unsaved edits
  // and stopping a save in progress. Read-only with a reason when not editable.
  void setCheckpoint(std::shared_ptr<const io::Checkpoint> checkpoint);
  [[nodiscard]] bool isDirty() const;
  [[nodiscard]] bool isSaving() const;
  [[nodiscard]] bool isEditable() const;
  // The message shown above the tree (error or read-only reason), empty when none.
  [[nodiscard]] QString message() const;

  [[nodiscard]] MetadataModel* model() const { return model_; }
  [[nodiscard]] QTreeView* view() const { return view_; }
  // Flush to disk before renaming into place (default on; off for scratch files).
  void setSyncOnSave(bool sync) { sync_ = sync; }

 public slots:
  void save();                        // over the checkpoint's own file
  void saveAs();                      // asks where, without blocking
  void saveTo(const QString& path);
  void addEntry();                    // opens the Add dialog
  void removeSelected();
  void revert();
  void cancelSave();

 signals:
  void dirtyChanged(bool dirty);
  void saved(const QString& path);  // after a successful save; the main window reopens `path`

 private:
  void allowEditing(bool allow);
  void showError(const QString& text);
  void clearError();
  void updateActions();
  void updateSummary();
  void fetchVisibleElements();
  void saveFinished(const QString& path);
  void saveStopped(const QString& error);

  std::shared_ptr<const io::Checkpoint> checkpoint_;
  io::Metadata pending_;  // what the running save writes, the file's metadata once it succeeds
  QString reason_;        // why the metadata is read-only; empty when editable
  bool sync_ = true;

  MetadataModel* model_ = nullptr;
  MetadataSaver* saver_ = nullptr;
  QTreeView* view_ = nullptr;
  QLabel* summary_ = nullptr;
  QLabel* dirty_label_ = nullptr;
  MessageBanner* banner_ = nullptr;
  QPushButton* add_ = nullptr;
  QPushButton* remove_ = nullptr;
  QPushButton* revert_ = nullptr;
  QPushButton* save_ = nullptr;
  QPushButton* save_as_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QProgressBar* progress_ = nullptr;
};

}  // namespace ckpt::ui
