#pragma once
// The recent-files list, kept in QSettings so it survives restarts.
#include <QStringList>

namespace ckpt::ui {

class RecentFiles {
 public:
  static constexpr qsizetype kMax = 10;
  // Most recent first; files that no longer exist are left out.
  [[nodiscard]] static QStringList list();
  static void add(const QString& path);
  static void clear();
};

}  // namespace ckpt::ui
