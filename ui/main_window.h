#pragma once
// The main window: a filterable tree of one checkpoint's tensors beside a
// panel describing the selected row, with totals in the status bar.
#include <QMainWindow>
#include <QString>

#include <memory>
#include <optional>

#include "io/checkpoint.h"
#include "model/param_tree.h"

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QTreeView;
class QModelIndex;

namespace ckpt::ui {

class ParamTreeModel;
class TensorFilterProxy;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // Opens `path`, replacing what is shown. On failure shows the error in a
  // message box, keeps the previous checkpoint and returns false.
  bool openFile(const QString& path);
  // Expands the tree's first levels so a fresh window shows some content.
  void expandToDepth(int depth);

 private:
  void chooseFile();
  void selectFirstTensor();
  void showSelection(const QModelIndex& proxy_index);
  void updateStatus();

  // Declared before the model so the model is reset before these go away.
  std::optional<io::Checkpoint> checkpoint_;
  std::optional<model::ParamTree> tree_;

  ParamTreeModel* model_ = nullptr;      // owned by this (QObject parent)
  TensorFilterProxy* proxy_ = nullptr;   // owned by this
  QLineEdit* filter_ = nullptr;
  QTreeView* view_ = nullptr;
  QPlainTextEdit* details_ = nullptr;
  QLabel* status_ = nullptr;
};

}  // namespace ckpt::ui
