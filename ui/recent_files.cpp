#include "ui/recent_files.h"

#include <QFileInfo>
#include <QSettings>

namespace ckpt::ui {

namespace {
const QString kKey = QStringLiteral("recentFiles");
}

QStringList RecentFiles::list() {
  QStringList out;
  for (const QString& p : QSettings().value(kKey).toStringList())
    if (QFileInfo::exists(p)) out << p;
  return out;
}

void RecentFiles::add(const QString& path) {
  const QString absolute = QFileInfo(path).absoluteFilePath();
  QStringList files = QSettings().value(kKey).toStringList();
  files.removeAll(absolute);
  files.prepend(absolute);
  while (files.size() > kMax) files.removeLast();
  QSettings().setValue(kKey, files);
}

void RecentFiles::clear() { QSettings().remove(kKey); }

}  // namespace ckpt::ui
