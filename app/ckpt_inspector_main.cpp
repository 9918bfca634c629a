// ckpt-inspector: the desktop app. Opens the file given, or the bundled sample.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QPixmap>
#include <QTimer>

#include <cstdio>

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

  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("Inspect machine-learning checkpoints."));
  parser.addHelpOption();
  const QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                      QStringLiteral("Save an image of the window to <path> and exit."),
                                      QStringLiteral("path"));
  parser.addOption(screenshot);
  parser.addPositionalArgument(QStringLiteral("file"), QStringLiteral("Checkpoint to open (default: the sample)."));
  parser.process(app);

  const QStringList files = parser.positionalArguments();
  const QString path = files.isEmpty() ? findSample() : files.front();

  ckpt::ui::MainWindow window;
  const bool opened = !path.isEmpty() && window.openFile(path);
  if (opened) window.expandToDepth(1);
  window.show();

  if (parser.isSet(screenshot)) {
    const QString out = parser.value(screenshot);
    // Queued so the window has been laid out and painted once before the grab.
    QTimer::singleShot(0, &window, [&window, out, opened] {
      const bool saved = window.grab().save(out);
      if (!saved) std::fprintf(stderr, "ckpt-inspector: cannot write %s\n", qPrintable(out));
      QCoreApplication::exit(saved && opened ? 0 : 1);
    });
  }
  return QApplication::exec();
}
