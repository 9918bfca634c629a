#pragma once
// One open checkpoint: its parameter tree with a filter, and the pages that
// work on it (tensor details, metadata, compare, name map). The main window
// holds one of these per tab.
#include <QString>
#include <QWidget>

#include <memory>

#include "model/name_map.h"
#include "ui/checkpoint_loader.h"

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QStackedWidget;
class QTabWidget;
class QToolButton;

namespace ckpt::ui {

class CompareView;
class MetadataPanel;
class NameMapEditor;
class ParamTreeModel;
class TensorPanel;
class ParamTreeView;
class TensorFilterProxy;

class CheckpointTab : public QWidget {
  Q_OBJECT

 public:
  // Starts opening `path` in the background; loaded() or loadFailed() follows.
  explicit CheckpointTab(const QString& path, QWidget* parent = nullptr);
  ~CheckpointTab() override;

  enum class Page { Tensors, Metadata, Compare, NameMap };

  [[nodiscard]] QString path() const { return path_; }
  [[nodiscard]] bool isLoaded() const { return doc_.checkpoint != nullptr; }
  [[nodiscard]] const Document& document() const { return doc_; }
  [[nodiscard]] std::shared_ptr<const io::Checkpoint> checkpoint() const { return doc_.checkpoint; }
  [[nodiscard]] const model::NameMap& nameMap() const { return map_; }
  void setNameMap(const model::NameMap& map);

  [[nodiscard]] ParamTreeView* treeView() const { return view_; }
  [[nodiscard]] TensorFilterProxy* proxy() const { return proxy_; }
  [[nodiscard]] ParamTreeModel* treeModel() const { return model_; }
  [[nodiscard]] QLineEdit* filterEdit() const { return filter_; }
  [[nodiscard]] TensorPanel* tensorPanel() const { return tensor_panel_; }
  [[nodiscard]] CompareView* compareView() const { return compare_; }
  [[nodiscard]] MetadataPanel* metadataPanel() const { return metadata_; }
  [[nodiscard]] NameMapEditor* nameMapEditor() const { return map_editor_; }
  [[nodiscard]] Page currentPage() const;

  // Applies a filter as if typed (regex when `regex`); false when invalid.
  bool setFilter(const QString& text, bool regex = false);
  void focusFilter();
  void expandAll();
  void collapseAll();
  void showPage(Page page);
  // Opens `path` again in this tab (after its metadata was saved over it).
  void reload();
  // Selects the tensor named `name`; false when there is none.
  bool selectTensor(const QString& name);
  // One line for the status bar: totals, format, filter matches.
  [[nodiscard]] QString statusText() const;

 signals:
  void loaded();
  void loadFailed(const QString& message);
  void statusChanged();
  void nameMapChanged(const model::NameMap& map);
  void openRequested(const QString& path);

 private:
  void onLoaded(const Document& doc);
  void applyFilter();
  void selectFirstTensor();
  void showSelection(const QModelIndex& proxy_index);

  QString path_;
  // Declared before the model so the model is reset before these go away.
  Document doc_;
  model::NameMap map_;

  CheckpointLoader* loader_ = nullptr;
  ParamTreeModel* model_ = nullptr;
  TensorFilterProxy* proxy_ = nullptr;
  QTabWidget* pages_ = nullptr;
  QLineEdit* filter_ = nullptr;
  QToolButton* regex_ = nullptr;
  QLabel* filter_info_ = nullptr;
  ParamTreeView* view_ = nullptr;
  QStackedWidget* detail_stack_ = nullptr;
  QPlainTextEdit* group_details_ = nullptr;
  TensorPanel* tensor_panel_ = nullptr;
  MetadataPanel* metadata_ = nullptr;
  CompareView* compare_ = nullptr;
  NameMapEditor* map_editor_ = nullptr;
  QLabel* opening_ = nullptr;
  QStackedWidget* body_ = nullptr;
};

}  // namespace ckpt::ui
