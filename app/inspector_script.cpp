#include "app/inspector_script.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QPixmap>
#include <QTimer>

#include <cstdio>
#include <memory>

#include "ui/checkpoint_tab.h"
#include "ui/compare/compare_view.h"
#include "ui/export/export_dialog.h"
#include "ui/main_window.h"
#include "ui/namemap/name_map_editor.h"
#include "ui/tensor/tensor_panel.h"

using ckpt::ui::CheckpointTab;

namespace {

std::optional<CheckpointTab::Page> pageNamed(const QString& name) {
  if (name == QLatin1String("tensors")) return CheckpointTab::Page::Tensors;
  if (name == QLatin1String("metadata")) return CheckpointTab::Page::Metadata;
  if (name == QLatin1String("compare")) return CheckpointTab::Page::Compare;
  if (name == QLatin1String("namemap")) return CheckpointTab::Page::NameMap;
  return std::nullopt;
}

bool allSettled(const ckpt::ui::MainWindow& window) {
  for (int i = 0; i < window.tabCount(); ++i)
    if (!window.tabAt(i)->isLoaded()) return false;
  return true;
}

// Whether the current tab still computes something it will show.
bool busy(const ckpt::ui::MainWindow& window) {
  const CheckpointTab* tab = window.currentTab();
  if (tab == nullptr) return false;
  return tab->tensorPanel()->busy() || tab->compareView()->agreementRunning() ||
         tab->nameMapEditor()->previewPending();
}

void fail(const char* what, const QString& detail) {
  std::fprintf(stderr, "ckpt-inspector: %s %s\n", what, qPrintable(detail));
}

}  // namespace

void runInspectorScript(ckpt::ui::MainWindow& window, const InspectorScript& script) {
  auto failures = std::make_shared<int>(0);
  QObject::connect(&window, &ckpt::ui::MainWindow::openFailed, &window, [failures](const QString& path, const QString& e) {
    fail("cannot open", path + QStringLiteral(": ") + e);
    ++*failures;
  });
  if (script.size.isValid()) window.resize(script.size);

  auto* poll = new QTimer(&window);
  QObject::connect(poll, &QTimer::timeout, &window, [&window, poll, script, failures] {
    if (!allSettled(window)) return;
    poll->stop();
    QWidget* target = &window;
    for (int i = 0; i < window.tabCount(); ++i) {
      CheckpointTab* tab = window.tabAt(i);
      if (!script.map.isEmpty() && !tab->nameMapEditor()->loadMap(script.map)) {
        fail("cannot load the name map", script.map);
        ++*failures;
      }
    }
    if (CheckpointTab* tab = window.currentTab()) {
      if (!script.compare.isEmpty()) {
        const bool spec = script.compare.endsWith(QLatin1String(".json")) &&
                          !script.compare.endsWith(QLatin1String(".index.json"));
        const bool ok = spec ? tab->compareView()->loadSpec(script.compare)
                             : tab->compareView()->loadCheckpoint(script.compare);
        if (!ok) {
          fail("cannot compare with", script.compare);
          ++*failures;
        }
      }
      if (!script.filter.isEmpty()) tab->setFilter(script.filter);
      if (!script.select.isEmpty() && !tab->selectTensor(script.select)) {
        fail("no tensor named", script.select);
        ++*failures;
      }
      if (script.page == QLatin1String("values")) {
        tab->showPage(CheckpointTab::Page::Tensors);
        tab->tensorPanel()->setCurrentPage(ckpt::ui::TensorPanel::ValuesPage);
      } else if (const auto page = pageNamed(script.page)) {
        tab->showPage(*page);
      } else if (!script.page.isEmpty()) {
        fail("unknown page", script.page);
      }
    } else if (!script.select.isEmpty()) {
      fail("no checkpoint is open to select", script.select);
      ++*failures;
    }
    if (script.export_dialog) {
      if (ckpt::ui::ExportDialog* dialog = window.showExportDialog()) target = dialog;
      else ++*failures;
    }
    if (script.screenshot.isEmpty()) return;
    // Grab once the background work the picture shows (statistics, value
    // agreement, map preview) has delivered, so the image is complete and
    // the run's duration measures the app, not a fixed wait.
    auto* settle = new QTimer(&window);
    auto started = std::make_shared<QElapsedTimer>();
    started->start();
    QObject::connect(settle, &QTimer::timeout, &window, [&window, settle, started, target, script, failures] {
      if (busy(window) && started->elapsed() < 20000) return;
      settle->stop();
      // One more event-loop turn so results delivered just now are painted.
      QTimer::singleShot(0, &window, [&window, target, script, failures] {
        const bool saved = target->grab().save(script.screenshot);
        if (!saved) fail("cannot write", script.screenshot);
        const bool ok = saved && *failures == 0 && window.tabCount() > 0;
        QCoreApplication::exit(ok ? 0 : 1);
      });
    });
    settle->start(5);
  });
  poll->start(5);
}
