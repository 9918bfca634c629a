#pragma once
// The main window: one tab per open checkpoint, menus, recent files, files
// dropped on the window open as tabs, totals of the current tab in the
// status bar.
#include <QMainWindow>
#include <QString>
#include <QStringList>

class QLabel;
class QMenu;
class QTabWidget;

namespace ckpt::ui {

class CheckpointTab;
class DropBar;
class ExportDialog;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // Opens `path` in a new tab (or switches to the tab that has it open).
  // Loading runs in the background; a failure shows a message, removes
  // only that tab and emits openFailed.
  CheckpointTab* openFile(const QString& path);
  void openFiles(const QStringList& paths);

  [[nodiscard]] int tabCount() const;
  [[nodiscard]] CheckpointTab* tabAt(int index) const;
  [[nodiscard]] CheckpointTab* currentTab() const;
  void closeTab(int index);
  // File › Export… for the current tab (with its name map); nullptr when no
  // checkpoint is loaded. The dialog deletes itself when closed.
  ExportDialog* showExportDialog();
  [[nodiscard]] DropBar* dropBar() const { return drop_bar_; }

 signals:
  void fileOpened(const QString& path);
  void openFailed(const QString& path, const QString& message);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildMenus();
  void chooseFiles();
  void rebuildRecentMenu();
  void updateStatus();
  void onCurrentTabChanged();
  void chooseComparison();
  void updateTitle();
  void showError(const QString& title, const QString& text, const QString& detail);

  QTabWidget* tabs_ = nullptr;
  QLabel* status_ = nullptr;
  QMenu* recent_menu_ = nullptr;
  DropBar* drop_bar_ = nullptr;
};

}  // namespace ckpt::ui
