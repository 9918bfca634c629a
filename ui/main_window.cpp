#include "ui/main_window.h"

#include <QAction>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontDatabase>
#include <QHeaderView>
#include <QKeySequence>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QSplitter>
#include <QStatusBar>
#include <QTreeView>
#include <QVBoxLayout>

#include <exception>

#include "io/open.h"
#include "ui/param_tree_model.h"
#include "ui/tensor_filter_proxy.h"

namespace ckpt::ui {

namespace {

QString fromStd(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size())); }

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  model_ = new ParamTreeModel(this);
  proxy_ = new TensorFilterProxy(this);
  proxy_->setSourceModel(model_);

  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* open = file->addAction(tr("&Open…"), this, &MainWindow::chooseFile);
  open->setShortcut(QKeySequence::Open);
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  auto* left = new QWidget;
  auto* left_layout = new QVBoxLayout(left);
  left_layout->setContentsMargins(0, 0, 0, 0);
  filter_ = new QLineEdit;
  filter_->setPlaceholderText(tr("Filter by path, e.g. layers.*.attn  (Ctrl+F)"));
  filter_->setClearButtonEnabled(true);
  left_layout->addWidget(filter_);
  view_ = new QTreeView;
  view_->setModel(proxy_);
  view_->setUniformRowHeights(true);
  view_->setAlternatingRowColors(true);
  view_->setSortingEnabled(true);
  view_->sortByColumn(ParamTreeModel::Name, Qt::AscendingOrder);
  view_->header()->setStretchLastSection(false);
  view_->header()->resizeSection(ParamTreeModel::Name, 340);
  view_->header()->resizeSection(ParamTreeModel::Shape, 130);
  view_->header()->resizeSection(ParamTreeModel::DType, 80);
  view_->header()->resizeSection(ParamTreeModel::Parameters, 90);
  view_->header()->resizeSection(ParamTreeModel::Size, 90);
  view_->header()->setSectionResizeMode(ParamTreeModel::Offset, QHeaderView::Stretch);
  left_layout->addWidget(view_);

  details_ = new QPlainTextEdit;
  details_->setReadOnly(true);
  details_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  details_->setPlaceholderText(tr("Select a tensor to see its details."));

  auto* splitter = new QSplitter;
  splitter->addWidget(left);
  splitter->addWidget(details_);
  splitter->setStretchFactor(0, 3);
  splitter->setStretchFactor(1, 1);
  splitter->setSizes({820, 380});
  setCentralWidget(splitter);

  auto* focus_filter = new QAction(this);
  focus_filter->setShortcut(QKeySequence::Find);
  connect(focus_filter, &QAction::triggered, filter_, [this] {
    filter_->setFocus();
    filter_->selectAll();
  });
  addAction(focus_filter);

  connect(filter_, &QLineEdit::textChanged, this, [this](const QString& text) {
    proxy_->setPattern(text);
    // A filtered tree is small; open it so the matches are visible.
    if (!text.trimmed().isEmpty()) view_->expandAll();
  });
  connect(view_->selectionModel(), &QItemSelectionModel::currentChanged, this,
          [this](const QModelIndex& current) { showSelection(current); });

  status_ = new QLabel;
  statusBar()->addWidget(status_, 1);
  updateStatus();
  setWindowTitle(tr("Checkpoint Inspector"));
  resize(1200, 750);
}

MainWindow::~MainWindow() = default;

bool MainWindow::openFile(const QString& path) {
  try {
    io::Checkpoint ck = io::open_checkpoint(path.toStdString());
    model::ParamTree tree = model::ParamTree::build(ck.tensors);
    // The model points into the old checkpoint: detach it before replacing.
    model_->clear();
    checkpoint_ = std::move(ck);
    tree_ = std::move(tree);
    model_->setTree(*tree_, checkpoint_->tensors);
  } catch (const std::exception& e) {
    // Not exec(): a modal loop would stall scripted runs (--screenshot).
    auto* box = new QMessageBox(QMessageBox::Critical, tr("Cannot open checkpoint"),
                                tr("Could not open %1.").arg(QFileInfo(path).fileName()), QMessageBox::Ok, this);
    box->setInformativeText(QString::fromUtf8(e.what()));
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
    return false;
  }
  setWindowTitle(QFileInfo(path).fileName() + QStringLiteral(" — Checkpoint Inspector"));
  filter_->clear();
  details_->clear();
  selectFirstTensor();
  updateStatus();
  return true;
}

void MainWindow::expandToDepth(int depth) { view_->expandToDepth(depth); }

void MainWindow::selectFirstTensor() {
  // An empty panel beside a full tree reads as broken; show the first leaf.
  QModelIndex index = proxy_->index(0, 0);
  while (index.isValid() && proxy_->hasChildren(index)) index = proxy_->index(0, 0, index);
  if (!index.isValid()) return;
  view_->setCurrentIndex(index);
  view_->scrollTo(index);
}

void MainWindow::chooseFile() {
  const QString path = QFileDialog::getOpenFileName(
      this, tr("Open checkpoint"), QString(),
      tr("Checkpoints (*.safetensors *.gguf *.npz *.npy *.pt *.pth *.bin *.ckpt *.json);;All files (*)"));
  if (!path.isEmpty()) openFile(path);
}

void MainWindow::showSelection(const QModelIndex& proxy_index) {
  const QModelIndex index = proxy_->mapToSource(proxy_index);
  const model::TreeNode* node = model_->node(index);
  if (node == nullptr) {
    details_->clear();
    return;
  }
  QString text;
  if (const io::TensorInfo* t = model_->tensor(index)) {
    text += QStringLiteral("%1\n\n").arg(QString::fromStdString(t->name));
    text += tr("dtype       %1\n").arg(fromStd(io::name(t->dtype)));
    text += tr("shape       %1\n").arg(shapeText(t->shape));
    text += tr("parameters  %1 (%2)\n").arg(t->numel()).arg(humanCount(static_cast<std::uint64_t>(t->numel())));
    text += tr("bytes       %1 (%2)\n").arg(t->nbytes).arg(humanBytes(t->nbytes));
    text += tr("file        %1\n").arg(QString::fromStdString(t->file));
    text += tr("offset      %1\n").arg(t->offset);
    if (!t->layout_note.empty()) text += tr("layout      %1\n").arg(QString::fromStdString(t->layout_note));
  }
  if (!node->children.empty()) {
    if (!text.isEmpty()) text += QLatin1Char('\n');
    text += QStringLiteral("%1%2\n\n").arg(QString::fromStdString(node->path), node->is_list ? tr("  (list)") : QString());
    QStringList dtypes;
    for (io::DType d : node->dtypes) dtypes << fromStd(io::name(d));
    text += tr("tensors     %1\n").arg(node->tensor_count);
    text += tr("parameters  %1 (%2)\n").arg(node->parameters).arg(humanCount(node->parameters));
    text += tr("bytes       %1 (%2)\n").arg(node->bytes).arg(humanBytes(node->bytes));
    text += tr("dtypes      %1\n").arg(dtypes.join(QLatin1String(", ")));
    text += tr("children    %1\n").arg(node->children.size());
  }
  details_->setPlainText(text);
}

void MainWindow::updateStatus() {
  if (!checkpoint_) {
    status_->setText(tr("No checkpoint open — File › Open… (Ctrl+O)"));
    return;
  }
  const std::uint64_t n = checkpoint_->tensors.size();
  status_->setText(QStringLiteral("%1 · %2 parameters · %3 · %4")
                       .arg(n == 1 ? tr("1 tensor") : tr("%1 tensors").arg(n))
                       .arg(humanCount(checkpoint_->total_parameters()))
                       .arg(humanBytes(checkpoint_->total_bytes()))
                       .arg(QString::fromStdString(checkpoint_->format_detail)));
}

}  // namespace ckpt::ui
