#pragma once
// The parameter tree's view: copy name / shape / path, expand and collapse,
// and dragging tensors out as .npy files a file manager can drop.
#include <QTreeView>

#include <functional>
#include <memory>

class QTemporaryDir;

namespace ckpt::io {
struct TensorInfo;
}

namespace ckpt::ui {

class ParamTreeView : public QTreeView {
  Q_OBJECT

 public:
  explicit ParamTreeView(QWidget* parent = nullptr);
  ~ParamTreeView() override;

  // Maps a view index to the tensor it shows (nullptr for groups); set by
  // the owner, which knows the proxy and the source model.
  void setTensorLookup(std::function<const io::TensorInfo*(const QModelIndex&)> lookup);

  // Text of the current row for the clipboard: the dotted path, the last
  // segment, or the shape ("[64, 3, 7, 7]").
  enum class CopyWhat { Path, Name, Shape };
  [[nodiscard]] QString copyText(CopyWhat what) const;
  void copyToClipboard(CopyWhat what) const;

  // Writes the selected tensors as .npy files into a folder that lives as
  // long as this view, and returns their paths (what a drag carries).
  [[nodiscard]] QStringList exportSelectionAsNpy(QString* error);

 protected:
  void contextMenuEvent(QContextMenuEvent* event) override;
  void startDrag(Qt::DropActions supported) override;

 private:
  std::function<const io::TensorInfo*(const QModelIndex&)> lookup_;
  std::unique_ptr<QTemporaryDir> drag_dir_;
};

}  // namespace ckpt::ui
