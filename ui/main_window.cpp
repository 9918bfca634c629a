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
#include <QUrl>

#include "io/open.h"
#include "ui/checkpoint_tab.h"
#include "ui/icons.h"
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
  connect(tabs_, &QTabWidget::currentChanged, this, [this] {
    updateStatus();
    updateTitle();
  });

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
    updateTitle();
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
  QWidget* w = tabs_->widget(index);
  if (w == nullptr) return;
  tabs_->removeTab(index);
  w->deleteLater();
  updateStatus();
  updateTitle();
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
