// ckpt-inspector: the desktop app. Opens the file given, or the bundled sample.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>

#include "app/inspector_script.h"
#include "ui/icons.h"
#include "ui/main_window.h"

namespace {

// Beside an installed binary (../share/ckpt-inspector) or in a build tree
// below the sources (../../resources). Never the source folder it was built
// from, so an installed copy shows what it installed.
QString findSample() {
  const QDir exe(QCoreApplication::applicationDirPath());
  const QStringList candidates{
      exe.filePath(QStringLiteral("resources/sample.safetensors")),
      exe.filePath(QStringLiteral("../resources/sample.safetensors")),
      exe.filePath(QStringLiteral("../../resources/sample.safetensors")),
      exe.filePath(QStringLiteral("../share/ckpt-inspector/sample.safetensors")),
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
  QApplication::setWindowIcon(ckpt::ui::appIcon());

  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("Inspect, compare, map and convert machine-learning checkpoints."));
  parser.addHelpOption();
  parser.addVersionOption();
  const QCommandLineOption page(QStringLiteral("page"), QStringLiteral("Show a page: tensors, values, metadata, compare, namemap."),
                                QStringLiteral("name"));
  const QCommandLineOption map(QStringLiteral("map"), QStringLiteral("Apply a name map file or preset."),
                               QStringLiteral("map"));
  const QCommandLineOption compare(QStringLiteral("compare"),
                                   QStringLiteral("Compare with a module spec (.json) or a checkpoint."),
                                   QStringLiteral("file"));
  const QCommandLineOption select(QStringLiteral("select"), QStringLiteral("Select a tensor by name."),
                                  QStringLiteral("name"));
  const QCommandLineOption filter(QStringLiteral("filter"), QStringLiteral("Filter the tree."), QStringLiteral("text"));
  const QCommandLineOption export_dialog(QStringLiteral("export-dialog"), QStringLiteral("Open the export dialog."));
  const QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                      QStringLiteral("Save an image of the window (or the export dialog) to <path> and exit."),
                                      QStringLiteral("path"));
  const QCommandLineOption size(QStringLiteral("size"), QStringLiteral("Window size, e.g. 1280x800."),
                                QStringLiteral("WxH"));
  parser.addOptions({page, map, compare, select, filter, export_dialog, screenshot, size});
  parser.addPositionalArgument(QStringLiteral("files"), QStringLiteral("Checkpoints to open (default: the sample)."),
                               QStringLiteral("[file…]"));
  parser.process(app);

  QStringList files = parser.positionalArguments();
  if (files.isEmpty()) {
    const QString sample = findSample();
    if (!sample.isEmpty()) files << sample;
  }

  InspectorScript script;
  script.page = parser.value(page);
  script.map = parser.value(map);
  script.compare = parser.value(compare);
  script.select = parser.value(select);
  script.filter = parser.value(filter);
  script.export_dialog = parser.isSet(export_dialog);
  script.screenshot = parser.value(screenshot);
  if (parser.isSet(size)) {
    const QStringList wh = parser.value(size).split(QLatin1Char('x'));
    if (wh.size() == 2) script.size = QSize(wh[0].toInt(), wh[1].toInt());
  }

  ckpt::ui::MainWindow window;
  window.show();
  window.openFiles(files);
  runInspectorScript(window, script);
  return QApplication::exec();
}
