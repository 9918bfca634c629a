// ckpt-inspector: the desktop app. Opens the file given, or the bundled sample.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QPixmap>
#include <QTimer>

#include <cstdio>
#include <memory>

#include "ui/checkpoint_tab.h"
#include "ui/main_window.h"

namespace {

// Beside an installed binary (../share), in a build tree below the sources
// (../../resources), and finally the source tree this was built from.
QString findSample() {
  const QDir exe(QCoreApplication::applicationDirPath());
  const QStringList candidates{
      exe.filePath(QStringLiteral("resources/sample.safetensors")),
      exe.filePath(QStringLiteral("../resources/sample.safetensors")),
      exe.filePath(QStringLiteral("../../resources/sample.safetensors")),
      exe.filePath(QStringLiteral("../share/ckpt-inspector/sample.safetensors")),
      QStringLiteral(CKPT_SOURCE_DIR "/resources/sample.safetensors"),
  };
  for (const QString& c : candidates)
    if (QFileInfo::exists(c)) return QDir::cleanPath(c);
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("Checkpoint Inspector"));
  QApplication::setOrganizationName(QStringLiteral("checkpoint-inspector"));
  QApplication::setApplicationVersion(QStringLiteral(CKPT_VERSION));

  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("Inspect, compare, map and convert machine-learning checkpoints."));
  parser.addHelpOption();
  parser.addVersionOption();
  const QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                      QStringLiteral("Save an image of the window to <path> and exit."),
                                      QStringLiteral("path"));
  parser.addOption(screenshot);
  parser.addPositionalArgument(QStringLiteral("files"), QStringLiteral("Checkpoints to open (default: the sample)."),
                               QStringLiteral("[file…]"));
  parser.process(app);

  QStringList files = parser.positionalArguments();
  if (files.isEmpty()) {
    const QString sample = findSample();
    if (!sample.isEmpty()) files << sample;
  }

  ckpt::ui::MainWindow window;
  window.show();
  window.openFiles(files);

  if (parser.isSet(screenshot)) {
    const QString out = parser.value(screenshot);
    // Waits until every tab has loaded (or failed), then lets the window
    // paint once more before the grab.
    auto* poll = new QTimer(&window);
    auto failures = std::make_shared<int>(0);
    QObject::connect(&window, &ckpt::ui::MainWindow::openFailed, &window, [failures] { ++*failures; });
    QObject::connect(poll, &QTimer::timeout, &window, [&window, poll, out, failures] {
      for (int i = 0; i < window.tabCount(); ++i)
        if (!window.tabAt(i)->isLoaded()) return;
      poll->stop();
      QTimer::singleShot(50, &window, [&window, out, failures] {
        const bool saved = window.grab().save(out);
        if (!saved) std::fprintf(stderr, "ckpt-inspector: cannot write %s\n", qPrintable(out));
        const bool ok = saved && *failures == 0 && window.tabCount() > 0;
        QCoreApplication::exit(ok ? 0 : 1);
      });
    });
    poll->start(10);
  }
  return QApplication::exec();
}
