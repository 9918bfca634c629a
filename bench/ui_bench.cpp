// ckpt_ui_bench FILE: how the desktop app's tree behaves on a large
// checkpoint — open to a painted tree, applying filters, expanding and
// collapsing everything. Runs the real MainWindow offscreen; prints medians
// in milliseconds as Markdown rows.
#include <QApplication>
#include <QElapsedTimer>
#include <QSignalSpy>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "ui/checkpoint_tab.h"
#include "ui/main_window.h"
#include "ui/tensor_filter_proxy.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Time of `action` plus the synchronous repaint it causes, in ms.
double timed(QWidget& window, const std::function<void()>& action) {
  QElapsedTimer t;
  t.start();
  action();
  window.repaint();
  return static_cast<double>(t.nsecsElapsed()) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: ckpt_ui_bench FILE [RUNS]\n");
    return 2;
  }
  const QString path = QString::fromLocal8Bit(argv[1]);
  const int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;

  ckpt::ui::MainWindow window;
  window.resize(1280, 800);
  window.show();
  std::vector<double> core, open, filter_broad, filter_narrow, filter_regex, clear, expand, collapse;
  qsizetype broad_matches = 0, narrow_matches = 0, regex_matches = 0;
  std::size_t tensors = 0;
  for (int r = 0; r < runs; ++r) {
    {
      QElapsedTimer t;
      t.start();
      const ckpt::ui::Document doc = ckpt::ui::openDocument(path);
      core.push_back(static_cast<double>(t.nsecsElapsed()) / 1e6);
    }
    ckpt::ui::CheckpointTab* tab = nullptr;
    open.push_back(timed(window, [&] {
      tab = window.openFile(path);
      QSignalSpy loaded(tab, &ckpt::ui::CheckpointTab::loaded);
      if (!tab->isLoaded() && !loaded.wait(60000)) {
        std::fprintf(stderr, "ckpt_ui_bench: %s did not open\n", argv[1]);
        std::exit(1);
      }
    }));
    tensors = tab->checkpoint()->tensors.size();
    filter_broad.push_back(timed(window, [&] { tab->setFilter(QStringLiteral("q_proj")); }));
    broad_matches = tab->proxy()->matchingTensors();
    filter_narrow.push_back(timed(window, [&] { tab->setFilter(QStringLiteral("layers.12*.mlp")); }));
    narrow_matches = tab->proxy()->matchingTensors();
    filter_regex.push_back(timed(window, [&] { tab->setFilter(QStringLiteral("layers\\.7\\d\\.self_attn"), true); }));
    regex_matches = tab->proxy()->matchingTensors();
    clear.push_back(timed(window, [&] { tab->setFilter(QString()); }));
    tab->collapseAll();
    expand.push_back(timed(window, [&] { tab->expandAll(); }));
    collapse.push_back(timed(window, [&] { tab->collapseAll(); }));
    window.closeTab(0);
    QCoreApplication::processEvents();
  }
  std::printf("| step (%zu tensors, median of %d) | ms |\n|---|---|\n", tensors, runs);
  std::printf("| open_checkpoint + ParamTree (core only, no UI) | %.1f |\n", median(core));
  std::printf("| open in a new tab until the tree is painted | %.1f |\n", median(open));
  std::printf("| filter `q_proj` (%lld matches) | %.1f |\n", static_cast<long long>(broad_matches), median(filter_broad));
  std::printf("| filter `layers.12*.mlp` (%lld matches, expanded) | %.1f |\n", static_cast<long long>(narrow_matches),
              median(filter_narrow));
  std::printf("| regex filter `layers\\.7\\d\\.self_attn` (%lld matches, expanded) | %.1f |\n",
              static_cast<long long>(regex_matches), median(filter_regex));
  std::printf("| clear the filter | %.1f |\n", median(clear));
  std::printf("| expand all | %.1f |\n", median(expand));
  std::printf("| collapse all | %.1f |\n", median(collapse));
  return 0;
}
