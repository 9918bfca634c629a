#include "ui/checkpoint_tab.h"

#include <QAction>
#include <QFileInfo>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QSettings>
#include <QSplitter>
#include <QStackedWidget>
#include <QTabWidget>
#include <QToolButton>
#include <QVBoxLayout>

#include "io/dtype.h"
#include "ui/param_tree_model.h"
#include "ui/param_tree_view.h"
#include "ui/compare/compare_view.h"
#include "ui/metadata/metadata_panel.h"
#include "ui/namemap/name_map_editor.h"
#include "ui/tensor/tensor_panel.h"
#include "ui/tensor_filter_proxy.h"

namespace ckpt::ui {

namespace {

QString fromStd(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size())); }

QString groupText(const model::TreeNode& node) {
  QStringList dtypes;
  for (io::DType d : node.dtypes) dtypes << fromStd(io::name(d));
  QString text = QStringLiteral("%1%2\n\n").arg(node.path.empty() ? QObject::tr("(whole checkpoint)")
                                                                   : QString::fromStdString(node.path),
                                               node.is_list ? QObject::tr("  (list)") : QString());
  text += QObject::tr("tensors     %1\n").arg(node.tensor_count);
  text += QObject::tr("parameters  %1 (%2)\n").arg(node.parameters).arg(humanCount(node.parameters));
  text += QObject::tr("bytes       %1 (%2)\n").arg(node.bytes).arg(humanBytes(node.bytes));
  text += QObject::tr("dtypes      %1\n").arg(dtypes.join(QLatin1String(", ")));
  text += QObject::tr("children    %1\n").arg(node.children.size());
  return text;
}

QString tensorText(const io::TensorInfo& t) {
  QString text = QStringLiteral("%1\n\n").arg(QString::fromStdString(t.name));
  text += QObject::tr("dtype       %1\n").arg(fromStd(io::name(t.dtype)));
  text += QObject::tr("shape       %1\n").arg(shapeText(t.shape));
  text += QObject::tr("parameters  %1 (%2)\n").arg(t.numel()).arg(humanCount(static_cast<std::uint64_t>(t.numel())));
  text += QObject::tr("bytes       %1 (%2)\n").arg(t.nbytes).arg(humanBytes(t.nbytes));
  text += QObject::tr("file        %1\n").arg(QString::fromStdString(t.file));
  text += QObject::tr("offset      %1\n").arg(t.offset);
  const QString storage = storageText(t);
  if (!storage.isEmpty()) text += QObject::tr("storage     %1\n").arg(storage);
  return text;
}

}  // namespace

CheckpointTab::CheckpointTab(const QString& path, QWidget* parent) : QWidget(parent), path_(path) {
  model_ = new ParamTreeModel(this);
  proxy_ = new TensorFilterProxy(this);
  proxy_->setSourceModel(model_);

  // Tree page: filter row above the tree, details on the right.
  auto* left = new QWidget;
  auto* left_layout = new QVBoxLayout(left);
  left_layout->setContentsMargins(0, 0, 0, 0);
  auto* filter_row = new QHBoxLayout;
  filter_ = new QLineEdit;
  filter_->setPlaceholderText(tr("Filter by path: text, wildcards (layers.*.attn) or a regex  (Ctrl+F)"));
  filter_->setClearButtonEnabled(true);
  regex_ = new QToolButton;
  regex_->setText(QStringLiteral(".*"));
  regex_->setCheckable(true);
  regex_->setToolTip(tr("Treat the filter as a regular expression"));
  filter_info_ = new QLabel;
  filter_row->addWidget(filter_, 1);
  filter_row->addWidget(regex_);
  filter_row->addWidget(filter_info_);
  left_layout->addLayout(filter_row);

  view_ = new ParamTreeView;
  view_->setModel(proxy_);
  view_->sortByColumn(ParamTreeModel::Name, Qt::AscendingOrder);
  view_->setTensorLookup([this](const QModelIndex& index) { return model_->tensor(proxy_->mapToSource(index)); });
  QHeaderView* header = view_->header();
  header->setStretchLastSection(false);
  header->resizeSection(ParamTreeModel::Name, 280);
  header->resizeSection(ParamTreeModel::Shape, 120);
  header->resizeSection(ParamTreeModel::DType, 70);
  header->resizeSection(ParamTreeModel::Parameters, 85);
  header->resizeSection(ParamTreeModel::Size, 85);
  header->resizeSection(ParamTreeModel::Storage, 150);
  header->setSectionResizeMode(ParamTreeModel::Offset, QHeaderView::Stretch);
  left_layout->addWidget(view_);

  group_details_ = new QPlainTextEdit;
  group_details_->setReadOnly(true);
  group_details_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  group_details_->setPlaceholderText(tr("Select a tensor to see its details."));
  detail_stack_ = new QStackedWidget;
  detail_stack_->addWidget(group_details_);
  tensor_panel_ = new TensorPanel;
  detail_stack_->addWidget(tensor_panel_);

  auto* splitter = new QSplitter;
  splitter->addWidget(left);
  splitter->addWidget(detail_stack_);
  splitter->setStretchFactor(0, 3);
  splitter->setStretchFactor(1, 2);
  splitter->setSizes({680, 600});
  // Every tab shares one remembered split, so a panel widened once stays so.
  splitter->restoreState(QSettings().value(QStringLiteral("tab/splitter")).toByteArray());
  connect(splitter, &QSplitter::splitterMoved, this,
          [splitter] { QSettings().setValue(QStringLiteral("tab/splitter"), splitter->saveState()); });

  pages_ = new QTabWidget;
  pages_->setDocumentMode(true);
  pages_->setTabPosition(QTabWidget::South);
  pages_->addTab(splitter, tr("Tensors"));
  metadata_ = new MetadataPanel;
  compare_ = new CompareView;
  map_editor_ = new NameMapEditor;
  pages_->addTab(metadata_, tr("Metadata"));
  pages_->addTab(compare_, tr("Compare"));
  pages_->addTab(map_editor_, tr("Name Map"));
  pages_->setTabToolTip(0, tr("Parameter tree and the selected tensor (Ctrl+1)"));
  pages_->setTabToolTip(1, tr("Format metadata, editable where the format allows (Ctrl+2)"));
  pages_->setTabToolTip(2, tr("Against a module spec or a second checkpoint (Ctrl+3)"));
  pages_->setTabToolTip(3, tr("Rename and re-lay-out tensors (Ctrl+4)"));

  // A save over this file swaps in the new file; a save elsewhere opens it.
  connect(metadata_, &MetadataPanel::saved, this, [this](const QString& saved_path) {
    if (QFileInfo(saved_path).absoluteFilePath() == path_) reload();
    else emit openRequested(saved_path);
  });
  connect(metadata_, &MetadataPanel::dirtyChanged, this, [this](bool dirty) {
    pages_->setTabText(pages_->indexOf(metadata_), dirty ? tr("Metadata *") : tr("Metadata"));
  });

  // The map drives the compare view; the compare view's right-hand side is
  // what "Suggest from spec" aims at.
  connect(map_editor_, &NameMapEditor::mapChanged, this, [this](const model::NameMap& map) {
    map_ = map;
    compare_->setMap(map_);
    emit nameMapChanged(map_);
  });
  connect(compare_, &CompareView::specChanged, this, [this] {
    const model::ModuleSpec* spec = compare_->spec();
    map_editor_->setSpec(spec != nullptr ? std::optional<model::ModuleSpec>(*spec) : std::nullopt);
  });

  opening_ = new QLabel(tr("Opening %1…").arg(path));
  opening_->setAlignment(Qt::AlignCenter);
  opening_->setWordWrap(true);
  body_ = new QStackedWidget;
  body_->addWidget(opening_);
  body_->addWidget(pages_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(body_);

  connect(filter_, &QLineEdit::textChanged, this, &CheckpointTab::applyFilter);
  connect(regex_, &QToolButton::toggled, this, &CheckpointTab::applyFilter);
  connect(view_->selectionModel(), &QItemSelectionModel::currentChanged, this,
          [this](const QModelIndex& current) { showSelection(current); });

  loader_ = new CheckpointLoader(this);
  connect(loader_, &CheckpointLoader::loaded, this, &CheckpointTab::onLoaded);
  connect(loader_, &CheckpointLoader::failed, this, &CheckpointTab::loadFailed);
  loader_->start(path);
}

CheckpointTab::~CheckpointTab() = default;

void CheckpointTab::onLoaded(const Document& doc) {
  model_->clear();
  doc_ = doc;
  model_->setTree(*doc_.tree, doc_.checkpoint->tensors);
  tensor_panel_->clear();
  metadata_->setCheckpoint(doc_.checkpoint);
  compare_->setCheckpoint(doc_.checkpoint);
  compare_->setMap(map_);
  map_editor_->setCheckpoint(doc_.checkpoint);
  body_->setCurrentWidget(pages_);
  view_->expandToDepth(0);
  selectFirstTensor();
  emit loaded();
  emit statusChanged();
}

void CheckpointTab::setNameMap(const model::NameMap& map) {
  // The editor echoes the map through mapChanged, which updates the rest.
  map_editor_->setMap(map);
  map_ = map;
  compare_->setMap(map_);
}

bool CheckpointTab::setFilter(const QString& text, bool regex) {
  const QSignalBlocker block_text(filter_);
  const QSignalBlocker block_regex(regex_);
  filter_->setText(text);
  regex_->setChecked(regex);
  applyFilter();
  return proxy_->errorString().isEmpty();
}

void CheckpointTab::applyFilter() {
  const QString text = filter_->text();
  const bool ok = proxy_->setPattern(text, regex_->isChecked() ? TensorFilterProxy::Syntax::Regex
                                                               : TensorFilterProxy::Syntax::Wildcard);
  if (!ok) {
    // Keep the last good filter on screen and say what is wrong with this one.
    filter_info_->setText(tr("invalid"));
    filter_info_->setToolTip(proxy_->errorString());
    filter_->setToolTip(proxy_->errorString());
    QPalette p = filter_->palette();
    p.setColor(QPalette::Text, QColor(0xd0, 0x30, 0x30));
    filter_->setPalette(p);
    return;
  }
  filter_->setPalette(QPalette());
  filter_->setToolTip({});
  filter_info_->setToolTip({});
  if (proxy_->isFiltering()) {
    const qsizetype m = proxy_->matchingTensors();
    filter_info_->setText(m == 1 ? tr("1 match") : tr("%1 matches").arg(m));
    // A filtered tree is small enough to open fully, so the hits are visible;
    // a broad filter over a huge tree would take long, so it stays collapsed.
    if (proxy_->matchingTensors() <= 5000) view_->expandAll();
  } else {
    filter_info_->clear();
  }
  emit statusChanged();
}

void CheckpointTab::focusFilter() {
  showPage(Page::Tensors);
  filter_->setFocus();
  filter_->selectAll();
}

void CheckpointTab::expandAll() { view_->expandAll(); }
void CheckpointTab::collapseAll() { view_->collapseAll(); }

void CheckpointTab::showPage(Page page) {
  switch (page) {
    case Page::Tensors: pages_->setCurrentIndex(0); break;
    case Page::Metadata: pages_->setCurrentWidget(metadata_); break;
    case Page::Compare: pages_->setCurrentWidget(compare_); break;
    case Page::NameMap: pages_->setCurrentWidget(map_editor_); break;
  }
}

void CheckpointTab::reload() {
  opening_->setText(tr("Opening %1…").arg(path_));
  loader_->start(path_);
}

CheckpointTab::Page CheckpointTab::currentPage() const {
  QWidget* w = pages_->currentWidget();
  if (w == metadata_) return Page::Metadata;
  if (w == compare_) return Page::Compare;
  if (w == map_editor_) return Page::NameMap;
  return Page::Tensors;
}

bool CheckpointTab::selectTensor(const QString& name) {
  if (!doc_.tree) return false;
  const auto node = doc_.tree->find(name.toStdString());
  if (!node) return false;
  const QModelIndex index = proxy_->mapFromSource(model_->indexOfNode(*node));
  if (!index.isValid()) return false;
  view_->setCurrentIndex(index);
  view_->scrollTo(index);
  return true;
}

void CheckpointTab::selectFirstTensor() {
  // An empty panel beside a full tree reads as broken; show the first leaf.
  QModelIndex index = proxy_->index(0, 0);
  while (index.isValid() && proxy_->hasChildren(index)) index = proxy_->index(0, 0, index);
  if (!index.isValid()) return;
  view_->setCurrentIndex(index);
  view_->scrollTo(index);
}

void CheckpointTab::showSelection(const QModelIndex& proxy_index) {
  const QModelIndex index = proxy_->mapToSource(proxy_index);
  const model::TreeNode* node = model_->node(index);
  if (node == nullptr) {
    group_details_->clear();
    return;
  }
  if (node->tensor && node->children.empty()) {
    tensor_panel_->setTensor(doc_.checkpoint, *node->tensor);
    detail_stack_->setCurrentWidget(tensor_panel_);
    return;
  }
  QString text;
  if (const io::TensorInfo* t = model_->tensor(index)) text = tensorText(*t);
  if (!node->children.empty()) {
    if (!text.isEmpty()) text += QLatin1Char('\n');
    text += groupText(*node);
  }
  group_details_->setPlainText(text);
  detail_stack_->setCurrentWidget(group_details_);
}

QString CheckpointTab::statusText() const {
  if (!doc_.checkpoint) return tr("Opening %1…").arg(path_);
  const io::Checkpoint& ck = *doc_.checkpoint;
  const std::size_t n = ck.tensors.size();
  QString text = QStringLiteral("%1 · %2 parameters · %3 · %4")
                     .arg(n == 1 ? tr("1 tensor") : tr("%1 tensors").arg(n))
                     .arg(humanCount(ck.total_parameters()))
                     .arg(humanBytes(ck.total_bytes()))
                     .arg(QString::fromStdString(ck.format_detail));
  if (proxy_->isFiltering())
    text += tr(" · filter: %1 matching").arg(proxy_->matchingTensors());
  return text;
}

}  // namespace ckpt::ui
