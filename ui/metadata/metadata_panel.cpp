#include "ui/metadata/metadata_panel.h"

#include <QAction>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QKeySequence>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollBar>
#include <QTreeView>
#include <QVBoxLayout>

#include <algorithm>
#include <vector>

#include "io/error.h"
#include "io/metadata_edit.h"
#include "ui/metadata/add_entry_dialog.h"
#include "ui/metadata/message_banner.h"
#include "ui/metadata/metadata_delegate.h"
#include "ui/metadata/metadata_model.h"
#include "ui/metadata/metadata_saver.h"

namespace ckpt::ui {

MetadataPanel::MetadataPanel(QWidget* parent) : QWidget(parent) {
  model_ = new MetadataModel(this);
  saver_ = new MetadataSaver(this);

  auto* title = new QLabel(tr("Metadata"));
  QFont bold = title->font();
  bold.setBold(true);
  title->setFont(bold);
  summary_ = new QLabel;
  summary_->setForegroundRole(QPalette::PlaceholderText);
  dirty_label_ = new QLabel(tr("● Unsaved changes"));
  dirty_label_->setFont(bold);
  dirty_label_->hide();
  auto* header = new QHBoxLayout;
  header->addWidget(title);
  header->addWidget(summary_, 1);
  header->addWidget(dirty_label_);

  banner_ = new MessageBanner(MessageBanner::Info, this);
  banner_->hide();

  view_ = new QTreeView;
  view_->setModel(model_);
  view_->setItemDelegate(new MetadataDelegate(view_));
  view_->setUniformRowHeights(true);
  view_->setAlternatingRowColors(true);
  view_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  view_->header()->setStretchLastSection(true);
  view_->header()->resizeSection(MetadataModel::Key, 260);
  view_->header()->resizeSection(MetadataModel::Type, 110);

  add_ = new QPushButton(tr("&Add…"));
  add_->setToolTip(tr("Add a key (Insert)"));
  remove_ = new QPushButton(tr("&Remove"));
  remove_->setToolTip(tr("Remove the selected keys or array elements (Delete)"));
  revert_ = new QPushButton(tr("Re&vert"));
  revert_->setToolTip(tr("Discard the edits"));
  save_ = new QPushButton(tr("&Save"));
  save_->setToolTip(tr("Write the edits into this file (Ctrl+S)"));
  save_as_ = new QPushButton(tr("Save &As…"));
  save_as_->setToolTip(tr("Write a copy with the edits"));
  cancel_ = new QPushButton(tr("Cancel"));
  cancel_->hide();
  progress_ = new QProgressBar;
  progress_->setRange(0, 1000);
  progress_->setTextVisible(true);
  progress_->setFormat(tr("Saving… %p%"));
  progress_->setMaximumWidth(220);
  progress_->hide();

  auto* buttons = new QHBoxLayout;
  buttons->addWidget(add_);
  buttons->addWidget(remove_);
  buttons->addWidget(revert_);
  buttons->addStretch(1);
  buttons->addWidget(progress_);
  buttons->addWidget(cancel_);
  buttons->addWidget(save_);
  buttons->addWidget(save_as_);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(header);
  layout->addWidget(banner_);
  layout->addWidget(view_, 1);
  layout->addLayout(buttons);

  auto* remove_key = new QAction(this);
  remove_key->setShortcut(QKeySequence::Delete);
  remove_key->setShortcutContext(Qt::WidgetShortcut);
  connect(remove_key, &QAction::triggered, this, &MetadataPanel::removeSelected);
  view_->addAction(remove_key);
  auto* add_key = new QAction(this);
  add_key->setShortcut(Qt::Key_Insert);
  add_key->setShortcutContext(Qt::WidgetShortcut);
  connect(add_key, &QAction::triggered, this, &MetadataPanel::addEntry);
  view_->addAction(add_key);
  auto* save_key = new QAction(this);
  save_key->setShortcut(QKeySequence::Save);
  save_key->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  connect(save_key, &QAction::triggered, this, [this] {
    if (save_->isEnabled()) save();
  });
  addAction(save_key);

  connect(add_, &QPushButton::clicked, this, &MetadataPanel::addEntry);
  connect(remove_, &QPushButton::clicked, this, &MetadataPanel::removeSelected);
  connect(revert_, &QPushButton::clicked, this, &MetadataPanel::revert);
  connect(save_, &QPushButton::clicked, this, &MetadataPanel::save);
  connect(save_as_, &QPushButton::clicked, this, &MetadataPanel::saveAs);
  connect(cancel_, &QPushButton::clicked, this, &MetadataPanel::cancelSave);

  connect(model_, &MetadataModel::dirtyChanged, this, [this](bool dirty) {
    updateActions();
    emit dirtyChanged(dirty);
  });
  connect(model_, &MetadataModel::editRejected, this, &MetadataPanel::showError);
  connect(model_, &QAbstractItemModel::dataChanged, this, &MetadataPanel::clearError);
  connect(model_, &QAbstractItemModel::rowsInserted, this, &MetadataPanel::updateSummary);
  connect(model_, &QAbstractItemModel::rowsRemoved, this, &MetadataPanel::updateSummary);
  connect(view_->selectionModel(), &QItemSelectionModel::selectionChanged, this, &MetadataPanel::updateActions);

  // Element rows exist only as far as they were fetched. QTreeView fetches
  // more only when an array is the last thing in the view; an array with keys
  // below it would stop at its first chunk, so fetch whenever its last
  // fetched element scrolls into sight.
  connect(view_->verticalScrollBar(), &QScrollBar::valueChanged, this, &MetadataPanel::fetchVisibleElements);
  connect(view_, &QTreeView::expanded, this, &MetadataPanel::fetchVisibleElements, Qt::QueuedConnection);

  connect(saver_, &MetadataSaver::progress, this, [this](quint64 done, quint64 total) {
    progress_->setValue(total ? static_cast<int>(done * 1000 / total) : 1000);
  });
  connect(saver_, &MetadataSaver::finished, this, &MetadataPanel::saveFinished);
  connect(saver_, &MetadataSaver::failed, this, &MetadataPanel::saveStopped);
  connect(saver_, &MetadataSaver::cancelled, this, [this] { saveStopped(QString()); });

  setCheckpoint(nullptr);
}

// QWidget deletes the model and saver only after this class is gone; a signal
// they send while dying must not reach a half-destroyed panel (UBSan vptr).
MetadataPanel::~MetadataPanel() {
  model_->disconnect(this);
  saver_->disconnect(this);
}

void MetadataPanel::setCheckpoint(std::shared_ptr<const io::Checkpoint> checkpoint) {
  saver_->cancel();
  checkpoint_ = std::move(checkpoint);
  reason_.clear();
  if (!checkpoint_) {
    model_->clear();
  } else {
    std::string why;
    const bool editable = io::metadata_editable(*checkpoint_, &why);
    if (!editable) reason_ = QString::fromStdString(why);
    model_->setMetadata(checkpoint_->metadata, checkpoint_->format, editable);
  }
  allowEditing(true);
  clearError();
  updateSummary();
  updateActions();
  // GGUF keys run long (llama.attention.layer_norm_rms_epsilon): fit them,
  // within reason, so the values keep most of the width.
  view_->resizeColumnToContents(MetadataModel::Key);
  view_->setColumnWidth(MetadataModel::Key, std::clamp(view_->columnWidth(MetadataModel::Key) + 12, 160, 420));
}

bool MetadataPanel::isDirty() const { return model_->isDirty(); }
bool MetadataPanel::isSaving() const { return saver_->isRunning(); }
bool MetadataPanel::isEditable() const { return model_->isEditable(); }
QString MetadataPanel::message() const { return banner_->isHidden() ? QString() : banner_->text(); }

void MetadataPanel::allowEditing(bool allow) {
  // While a save runs the tree stays browsable but not editable: the file
  // gets the snapshot taken when Save was pressed, not later edits.
  view_->setEditTriggers(allow && model_->isEditable() ? QAbstractItemView::DoubleClicked |
                                                             QAbstractItemView::EditKeyPressed |
                                                             QAbstractItemView::SelectedClicked
                                                       : QAbstractItemView::NoEditTriggers);
}

void MetadataPanel::showError(const QString& text) { banner_->showMessage(text, MessageBanner::Error); }

void MetadataPanel::clearError() {
  if (!reason_.isEmpty()) banner_->showMessage(reason_, MessageBanner::Info);
  else banner_->hide();
}

void MetadataPanel::updateSummary() {
  if (!checkpoint_) {
    summary_->setText(tr("no checkpoint open"));
    return;
  }
  const int keys = model_->rowCount();
  QString text = keys == 0 ? tr("no keys") : keys == 1 ? tr("1 key") : tr("%1 keys").arg(keys);
  text += QStringLiteral(" · ") + QString::fromStdString(checkpoint_->format_detail);
  if (!model_->isEditable()) text += QStringLiteral(" · ") + tr("read-only");
  summary_->setText(text);
}

void MetadataPanel::updateActions() {
  const bool editable = checkpoint_ && model_->isEditable();
  const bool busy = saver_->isRunning();
  const bool dirty = model_->isDirty();
  add_->setEnabled(editable && !busy);
  remove_->setEnabled(editable && !busy && view_->selectionModel()->hasSelection());
  revert_->setEnabled(dirty && !busy);
  save_->setEnabled(editable && dirty && !busy);
  save_as_->setEnabled(editable && !busy);
  dirty_label_->setVisible(dirty);
  progress_->setVisible(busy);
  cancel_->setVisible(busy);
}

void MetadataPanel::fetchVisibleElements() {
  const int height = view_->viewport()->height();
  for (int r = 0; r < model_->rowCount(); ++r) {
    const QModelIndex key = model_->index(r, 0);
    if (!view_->isExpanded(key) || !model_->canFetchMore(key)) continue;
    const QRect last = view_->visualRect(model_->index(model_->fetchedCount(key) - 1, 0, key));
    if (last.isValid() && last.top() < height) model_->fetchMore(key);
  }
}

void MetadataPanel::save() {
  if (checkpoint_) saveTo(QString::fromStdString(checkpoint_->path));
}

void MetadataPanel::saveAs() {
  if (!checkpoint_ || !model_->isEditable() || saver_->isRunning()) return;
  const QFileInfo source(QString::fromStdString(checkpoint_->path));
  const QString suffix = source.suffix();
  auto* dialog = new QFileDialog(this, tr("Save checkpoint with edited metadata"), source.absolutePath());
  dialog->setAcceptMode(QFileDialog::AcceptSave);
  dialog->setFileMode(QFileDialog::AnyFile);
  dialog->setNameFilter(tr("%1 files (*.%2)").arg(QString::fromLatin1(io::format_name(checkpoint_->format)), suffix));
  dialog->setDefaultSuffix(suffix);
  dialog->selectFile(source.completeBaseName() + QStringLiteral("-edited.") + suffix);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  connect(dialog, &QFileDialog::fileSelected, this, &MetadataPanel::saveTo);
  dialog->open();
}

void MetadataPanel::saveTo(const QString& path) {
  if (!checkpoint_ || !model_->isEditable() || saver_->isRunning() || path.isEmpty()) return;
  // The model's own check runs again in the core; doing it here first
  // reports a problem before the worker starts.
  try {
    io::check_metadata(checkpoint_->format, model_->metadata(), path.toStdString());
  } catch (const io::Error& e) {
    showError(QString::fromStdString(e.sentence()));
    return;
  }
  pending_ = model_->metadata();
  clearError();
  progress_->setValue(0);
  saver_->start(checkpoint_, pending_, path, sync_);
  allowEditing(false);
  updateActions();
}

void MetadataPanel::saveFinished(const QString& path) {
  model_->markSaved(pending_);
  pending_.clear();
  allowEditing(true);
  updateActions();
  banner_->showMessage(tr("Saved %1.").arg(QFileInfo(path).fileName()), MessageBanner::Info);
  emit saved(path);
}

void MetadataPanel::saveStopped(const QString& error) {
  pending_.clear();
  allowEditing(true);
  updateActions();
  if (error.isEmpty()) banner_->showMessage(tr("Save cancelled; the file was not changed."), MessageBanner::Info);
  else showError(tr("Could not save: %1").arg(error));
}

void MetadataPanel::addEntry() {
  if (!model_->isEditable() || saver_->isRunning()) return;
  auto* dialog = new AddEntryDialog(model_, this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  connect(dialog, &AddEntryDialog::added, this, [this](const QModelIndex& index) {
    view_->setCurrentIndex(index);
    view_->scrollTo(index);
  });
  dialog->open();
}

void MetadataPanel::removeSelected() {
  if (!model_->isEditable() || saver_->isRunning()) return;
  std::vector<int> keys;
  bool elements = false;
  for (const QModelIndex& i : view_->selectionModel()->selectedRows()) {
    if (i.parent().isValid()) elements = true;
    else keys.push_back(i.row());
  }
  if (keys.empty() && elements) {
    showError(tr("Array elements cannot be removed: an element's position is its meaning (a token's id). Edit it instead."));
    return;
  }
  // Bottom-up, so each removal leaves the rows still to go where they were.
  std::sort(keys.rbegin(), keys.rend());
  for (int k : keys) model_->removeRows(k, 1);
}

void MetadataPanel::revert() {
  if (saver_->isRunning()) return;
  model_->discardEdits();
  clearError();
  updateSummary();
}

void MetadataPanel::cancelSave() { saver_->cancel(); }

}  // namespace ckpt::ui
