#include "ui/param_tree_view.h"

#include <QApplication>
#include <QClipboard>
#include <QContextMenuEvent>
#include <QDir>
#include <QDrag>
#include <QGuiApplication>
#include <QMenu>
#include <QMimeData>
#include <QSet>
#include <QTemporaryDir>
#include <QUrl>

#include <exception>
#include <span>

#include "io/open.h"
#include "io/tensor.h"
#include "ui/param_tree_model.h"

namespace ckpt::ui {

namespace {

// A tensor name as a file name: path separators and other characters file
// managers dislike become '_', so "layers.0/attn" cannot escape the folder.
QString fileNameFor(const std::string& tensor_name) {
  QString name = QString::fromStdString(tensor_name);
  for (QChar& c : name)
    if (c == QLatin1Char('/') || c == QLatin1Char('\\') || c == QLatin1Char(':') || c.unicode() < 32) c = QLatin1Char('_');
  if (name.isEmpty() || name.startsWith(QLatin1Char('.'))) name.prepend(QLatin1String("tensor"));
  return name + QLatin1String(".npy");
}

}  // namespace

ParamTreeView::ParamTreeView(QWidget* parent) : QTreeView(parent) {
  setUniformRowHeights(true);
  setAlternatingRowColors(true);
  setSortingEnabled(true);
  setSelectionMode(QAbstractItemView::ExtendedSelection);
  setDragEnabled(true);
  setDragDropMode(QAbstractItemView::DragOnly);
  setDefaultDropAction(Qt::CopyAction);
}

ParamTreeView::~ParamTreeView() = default;

void ParamTreeView::setTensorLookup(std::function<const io::TensorInfo*(const QModelIndex&)> lookup) {
  lookup_ = std::move(lookup);
}

QString ParamTreeView::copyText(CopyWhat what) const {
  const QModelIndex current = currentIndex();
  if (!current.isValid()) return {};
  const QModelIndex name = current.siblingAtColumn(ParamTreeModel::Name);
  switch (what) {
    case CopyWhat::Path: return name.data(ParamTreeModel::PathRole).toString();
    case CopyWhat::Name: return name.data(Qt::DisplayRole).toString();
    case CopyWhat::Shape: {
      const io::TensorInfo* t = lookup_ ? lookup_(name) : nullptr;
      return t != nullptr ? shapeText(t->shape) : QString();
    }
  }
  return {};
}

void ParamTreeView::copyToClipboard(CopyWhat what) const {
  const QString text = copyText(what);
  if (!text.isEmpty()) QGuiApplication::clipboard()->setText(text);
}

QStringList ParamTreeView::exportSelectionAsNpy(QString* error) {
  QSet<const io::TensorInfo*> seen;
  std::vector<const io::TensorInfo*> tensors;
  for (const QModelIndex& index : selectionModel()->selectedRows(ParamTreeModel::Name)) {
    const io::TensorInfo* t = lookup_ ? lookup_(index) : nullptr;
    if (t != nullptr && !seen.contains(t)) {
      seen.insert(t);
      tensors.push_back(t);
    }
  }
  if (tensors.empty()) return {};
  if (!drag_dir_) drag_dir_ = std::make_unique<QTemporaryDir>();
  QStringList paths;
  try {
    for (const io::TensorInfo* t : tensors) {
      const QString path = QDir(drag_dir_->path()).filePath(fileNameFor(t->name));
      io::WriteOptions opt;
      opt.sync = false;  // a scratch copy the drop target copies again
      io::write_checkpoint(path.toStdString(), io::Format::Npy, std::span<const io::TensorInfo>(t, 1), {}, opt);
      paths << path;
    }
  } catch (const std::exception& e) {
    if (error != nullptr) *error = QString::fromUtf8(e.what());
    return {};
  }
  return paths;
}

void ParamTreeView::startDrag(Qt::DropActions /*supported*/) {
  // The drop target needs real files when the drag starts (X11 and Wayland
  // file drops carry paths, not callbacks), so the tensors are written now.
  QGuiApplication::setOverrideCursor(Qt::WaitCursor);
  QString error;
  const QStringList paths = exportSelectionAsNpy(&error);
  QGuiApplication::restoreOverrideCursor();
  if (paths.isEmpty()) return;
  auto* mime = new QMimeData;
  QList<QUrl> urls;
  for (const QString& p : paths) urls << QUrl::fromLocalFile(p);
  mime->setUrls(urls);
  auto* drag = new QDrag(this);
  drag->setMimeData(mime);
  drag->exec(Qt::CopyAction, Qt::CopyAction);
}

void ParamTreeView::contextMenuEvent(QContextMenuEvent* event) {
  const QModelIndex at = indexAt(event->pos());
  QMenu menu(this);
  if (at.isValid()) {
    menu.addAction(tr("Copy Path"), this, [this] { copyToClipboard(CopyWhat::Path); });
    menu.addAction(tr("Copy Name"), this, [this] { copyToClipboard(CopyWhat::Name); });
    QAction* shape = menu.addAction(tr("Copy Shape"), this, [this] { copyToClipboard(CopyWhat::Shape); });
    shape->setEnabled(lookup_ && lookup_(at.siblingAtColumn(ParamTreeModel::Name)) != nullptr);
    menu.addSeparator();
    if (model()->hasChildren(at.siblingAtColumn(0))) {
      menu.addAction(tr("Expand Branch"), this, [this, at] { expandRecursively(at.siblingAtColumn(0)); });
      menu.addAction(tr("Collapse Branch"), this, [this, at] { collapse(at.siblingAtColumn(0)); });
    }
  }
  menu.addAction(tr("Expand All"), this, &QTreeView::expandAll);
  menu.addAction(tr("Collapse All"), this, &QTreeView::collapseAll);
  menu.exec(event->globalPos());
}

}  // namespace ckpt::ui
