#include "ui/main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QKeySequence>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QToolBar>
#include <QUrl>

#include "io/open.h"
#include "model/name_map.h"
#include "ui/checkpoint_tab.h"
#include "ui/compare/compare_view.h"
#include "ui/export/drop_bar.h"
#include "ui/export/export_dialog.h"
#include "ui/icons.h"
#include "ui/metadata/metadata_panel.h"
#include "ui/param_tree_view.h"
#include "ui/recent_files.h"

namespace ckpt::ui {

namespace {

QStringList localFiles(const QMimeData* mime) {
  QStringList files;
  if (mime == nullptr || !mime->hasUrls()) return files;
  for (const QUrl& url : mime->urls())
    if (url.isLocalFile() && QFileInfo(url.toLocalFile()).isFile()) files << url.toLocalFile();
  return files;
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  tabs_ = new QTabWidget;
  tabs_->setDocumentMode(true);
  tabs_->setTabsClosable(true);
  tabs_->setMovable(true);
  setCentralWidget(tabs_);
  connect(tabs_, &QTabWidget::tabCloseRequested, this, &MainWindow::closeTab);
  connect(tabs_, &QTabWidget::currentChanged, this, &MainWindow::onCurrentTabChanged);

  // Drag-and-drop conversion: a bar of format targets along the bottom.
  drop_bar_ = new DropBar;
  auto* drops = new QToolBar(tr("Convert"));
  drops->setObjectName(QStringLiteral("dropBar"));
  drops->setMovable(false);
  drops->addWidget(drop_bar_);
  addToolBar(Qt::BottomToolBarArea, drops);
  connect(drop_bar_, &DropBar::openRequested, this, [this](const QString& p) { openFile(p); });
  connect(drop_bar_, &DropBar::conversionFinished, this,
          [this](const QString& p) { statusBar()->showMessage(tr("Wrote %1").arg(p), 8000); });

  status_ = new QLabel;
  statusBar()->addWidget(status_, 1);
  buildMenus();
  setAcceptDrops(true);
  setWindowTitle(tr("Checkpoint Inspector"));
  setWindowIcon(appIcon());
  resize(1280, 800);
  const QSettings settings;
  restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
  restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
  updateStatus();
}

MainWindow::~MainWindow() = default;

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&Open…"), QKeySequence::Open, this, &MainWindow::chooseFiles);
  recent_menu_ = file->addMenu(tr("Open &Recent"));
  connect(recent_menu_, &QMenu::aboutToShow, this, &MainWindow::rebuildRecentMenu);
  file->addAction(tr("Compare &With…"), QKeySequence(Qt::CTRL | Qt::Key_K), this, &MainWindow::chooseComparison);
  file->addAction(tr("&Export…"), QKeySequence(Qt::CTRL | Qt::Key_E), this, [this] { showExportDialog(); });
  file->addSeparator();
  file->addAction(tr("&Close Tab"), QKeySequence::Close, this, [this] { closeTab(tabs_->currentIndex()); });
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

  auto onTab = [this](auto fn) {
    return [this, fn] {
      if (CheckpointTab* tab = currentTab()) fn(tab);
    };
  };
  QMenu* edit = menuBar()->addMenu(tr("&Edit"));
  edit->addAction(tr("Copy &Path"), QKeySequence::Copy, this,
                  onTab([](CheckpointTab* t) { t->treeView()->copyToClipboard(ParamTreeView::CopyWhat::Path); }));
  edit->addAction(tr("Copy &Name"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_C), this,
                  onTab([](CheckpointTab* t) { t->treeView()->copyToClipboard(ParamTreeView::CopyWhat::Name); }));
  edit->addAction(tr("Copy &Shape"), QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_C), this,
                  onTab([](CheckpointTab* t) { t->treeView()->copyToClipboard(ParamTreeView::CopyWhat::Shape); }));
  edit->addSeparator();
  edit->addAction(tr("&Filter…"), QKeySequence::Find, this, onTab([](CheckpointTab* t) { t->focusFilter(); }));

  QMenu* view = menuBar()->addMenu(tr("&View"));
  view->addAction(tr("&Expand All"), QKeySequence(Qt::CTRL | Qt::Key_Plus), this,
                  onTab([](CheckpointTab* t) { t->expandAll(); }));
  view->addAction(tr("&Collapse All"), QKeySequence(Qt::CTRL | Qt::Key_Minus), this,
                  onTab([](CheckpointTab* t) { t->collapseAll(); }));
  view->addSeparator();
  const std::pair<QString, CheckpointTab::Page> pages[] = {
      {tr("&Tensors"), CheckpointTab::Page::Tensors},
      {tr("&Metadata"), CheckpointTab::Page::Metadata},
      {tr("C&ompare"), CheckpointTab::Page::Compare},
      {tr("Name &Map"), CheckpointTab::Page::NameMap},
  };
  int key = Qt::Key_1;
  for (const auto& [label, page] : pages) {
    const CheckpointTab::Page p = page;
    view->addAction(label, QKeySequence(Qt::CTRL | static_cast<Qt::Key>(key++)), this,
                    onTab([p](CheckpointTab* t) { t->showPage(p); }));
  }
  view->addSeparator();
  QAction* toggle = qobject_cast<QToolBar*>(drop_bar_->parentWidget())->toggleViewAction();
  toggle->setText(tr("Conversion &Drop Bar"));
  view->addAction(toggle);

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About Checkpoint Inspector"), this, [this] {
    QMessageBox::about(this, tr("About Checkpoint Inspector"),
                       tr("<b>Checkpoint Inspector</b> %1<p>Opens, compares, maps and converts "
                          "safetensors, GGUF, NumPy and PyTorch checkpoints.")
                           .arg(QApplication::applicationVersion()));
  });
}

CheckpointTab* MainWindow::openFile(const QString& path) {
  const QString absolute = QFileInfo(path).absoluteFilePath();
  for (int i = 0; i < tabs_->count(); ++i) {
    if (tabAt(i)->path() == absolute) {
      tabs_->setCurrentIndex(i);
      return tabAt(i);
    }
  }
  auto* tab = new CheckpointTab(absolute);
  // Each new tab starts with the map last edited, so a porting session
  // continues across files and restarts.
  const QString last_map = QSettings().value(QStringLiteral("lastMap")).toString();
  if (!last_map.isEmpty()) {
    try {
      tab->setNameMap(model::parse_map(last_map.toStdString(), "the last name map"));
    } catch (const std::exception&) {
      QSettings().remove(QStringLiteral("lastMap"));  // from an older version: start clean
    }
  }
  connect(tab, &CheckpointTab::nameMapChanged, this, [this, tab](const model::NameMap& map) {
    QSettings().setValue(QStringLiteral("lastMap"), QString::fromStdString(model::to_json(map)));
    if (tab == currentTab()) drop_bar_->setMap(map);
  });
  const auto format = io::format_from_extension(absolute.toStdString());
  const int index = tabs_->addTab(tab, format ? formatIcon(*format) : QIcon(), QFileInfo(absolute).fileName());
  tabs_->setTabToolTip(index, absolute);
  tabs_->setCurrentIndex(index);
  connect(tab, &CheckpointTab::statusChanged, this, [this, tab] {
    if (tab == currentTab()) updateStatus();
  });
  connect(tab, &CheckpointTab::openRequested, this, [this](const QString& p) { openFile(p); });
  connect(tab, &CheckpointTab::loaded, this, [this, tab] {
    RecentFiles::add(tab->path());
    if (tab == currentTab()) onCurrentTabChanged();
    emit fileOpened(tab->path());
  });
  connect(tab, &CheckpointTab::loadFailed, this, [this, tab](const QString& message) {
    // Only this tab goes; the others are untouched.
    const QString failed_path = tab->path();
    closeTab(tabs_->indexOf(tab));
    showError(tr("Cannot open checkpoint"), tr("Could not open %1.").arg(QFileInfo(failed_path).fileName()),
              message);
    emit openFailed(failed_path, message);
  });
  updateStatus();
  return tab;
}

void MainWindow::openFiles(const QStringList& paths) {
  for (const QString& p : paths) openFile(p);
}

int MainWindow::tabCount() const { return tabs_->count(); }

CheckpointTab* MainWindow::tabAt(int index) const { return qobject_cast<CheckpointTab*>(tabs_->widget(index)); }

CheckpointTab* MainWindow::currentTab() const { return qobject_cast<CheckpointTab*>(tabs_->currentWidget()); }

void MainWindow::closeTab(int index) {
  CheckpointTab* w = tabAt(index);
  if (w == nullptr) return;
  if (w->isLoaded() && w->metadataPanel()->isDirty()) {
    const auto answer = QMessageBox::question(
        this, tr("Unsaved metadata"),
        tr("The metadata of %1 has unsaved edits. Close it anyway?").arg(QFileInfo(w->path()).fileName()),
        QMessageBox::Discard | QMessageBox::Cancel, QMessageBox::Cancel);
    if (answer != QMessageBox::Discard) return;
  }
  tabs_->removeTab(index);
  w->deleteLater();
  updateStatus();
  updateTitle();
}

void MainWindow::onCurrentTabChanged() {
  CheckpointTab* tab = currentTab();
  drop_bar_->setCheckpoint(tab != nullptr ? tab->checkpoint() : nullptr);
  drop_bar_->setMap(tab != nullptr ? tab->nameMap() : model::NameMap{});
  updateStatus();
  updateTitle();
}

ExportDialog* MainWindow::showExportDialog() {
  CheckpointTab* tab = currentTab();
  if (tab == nullptr || !tab->isLoaded()) {
    statusBar()->showMessage(tr("Open a checkpoint to export it."), 5000);
    return nullptr;
  }
  auto* dialog = new ExportDialog(tab->checkpoint(), tab->nameMap(), this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  connect(dialog, &ExportDialog::openRequested, this, [this](const QString& p) { openFile(p); });
  dialog->open();
  return dialog;
}

void MainWindow::chooseComparison() {
  CheckpointTab* tab = currentTab();
  if (tab == nullptr || !tab->isLoaded()) return;
  const QString path = QFileDialog::getOpenFileName(
      this, tr("Compare with a module spec or a checkpoint"), QFileInfo(tab->path()).absolutePath(),
      tr("Specs and checkpoints (*.json *.safetensors *.gguf *.npz *.npy *.pt *.pth *.bin);;All files (*)"));
  if (path.isEmpty()) return;
  tab->showPage(CheckpointTab::Page::Compare);
  // A .json that is not a sharded index is a module spec; anything else a checkpoint.
  const bool spec = path.endsWith(QLatin1String(".json")) && !path.endsWith(QLatin1String(".index.json"));
  if (spec) tab->compareView()->loadSpec(path);
  else tab->compareView()->loadCheckpoint(path);
}

void MainWindow::chooseFiles() {
  const QString dir = QSettings().value(QStringLiteral("lastOpenDir")).toString();
  const QStringList paths = QFileDialog::getOpenFileNames(
      this, tr("Open checkpoints"), dir,
      tr("Checkpoints (*.safetensors *.gguf *.npz *.npy *.pt *.pth *.bin *.ckpt *.json);;All files (*)"));
  if (paths.isEmpty()) return;
  QSettings().setValue(QStringLiteral("lastOpenDir"), QFileInfo(paths.front()).absolutePath());
  openFiles(paths);
}

void MainWindow::rebuildRecentMenu() {
  recent_menu_->clear();
  const QStringList files = RecentFiles::list();
  int n = 1;
  for (const QString& f : files) {
    // Mnemonics 1–9 so the list works from the keyboard.
    const QString label = n <= 9 ? QStringLiteral("&%1  %2").arg(n).arg(QFileInfo(f).fileName())
                                 : QFileInfo(f).fileName();
    QAction* a = recent_menu_->addAction(label, this, [this, f] { openFile(f); });
    a->setToolTip(f);
    a->setStatusTip(f);
    ++n;
  }
  if (files.isEmpty()) recent_menu_->addAction(tr("(none)"))->setEnabled(false);
  recent_menu_->addSeparator();
  recent_menu_->addAction(tr("Clear List"), this, [] { RecentFiles::clear(); })->setEnabled(!files.isEmpty());
}

void MainWindow::updateStatus() {
  const CheckpointTab* tab = currentTab();
  status_->setText(tab != nullptr ? tab->statusText()
                                  : tr("No checkpoint open — File › Open… (Ctrl+O) or drop files here"));
}

void MainWindow::updateTitle() {
  const CheckpointTab* tab = currentTab();
  setWindowTitle(tab != nullptr ? QFileInfo(tab->path()).fileName() + QStringLiteral(" — Checkpoint Inspector")
                                : tr("Checkpoint Inspector"));
}

void MainWindow::showError(const QString& title, const QString& text, const QString& detail) {
  // Not exec(): a modal loop would stall scripted runs and tests.
  auto* box = new QMessageBox(QMessageBox::Critical, title, text, QMessageBox::Ok, this);
  box->setInformativeText(detail);
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->open();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (!localFiles(event->mimeData()).isEmpty()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  const QStringList files = localFiles(event->mimeData());
  if (files.isEmpty()) return;
  event->acceptProposedAction();
  openFiles(files);
}

void MainWindow::closeEvent(QCloseEvent* event) {
  QSettings settings;
  settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
  settings.setValue(QStringLiteral("window/state"), saveState());
  QMainWindow::closeEvent(event);
}

}  // namespace ckpt::ui
