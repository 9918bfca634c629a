#include "ui/namemap/map_summary.h"

#include <QObject>
#include <QStringList>

#include <algorithm>

#include "ui/namemap/counted.h"

namespace ckpt::ui {

namespace {

constexpr int kMaxDetailLines = 30;

}  // namespace

QString ruleList(const std::vector<int>& rows) {
  QStringList numbers;
  for (int r : rows) numbers << QString::number(r);
  return (rows.size() == 1 ? QObject::tr("rule %1") : QObject::tr("rules %1")).arg(numbers.join(QLatin1String(", ")));
}

MapSummary summarize(const model::MapReport* report, const PreviewModel::Counts& c,
                     const std::vector<int>& invalid_rows, bool has_checkpoint) {
  MapSummary out;
  QStringList parts;
  QStringList details;
  if (!has_checkpoint) {
    parts << QObject::tr("No checkpoint: open one to preview its names under this map");
  } else if (report != nullptr) {
    QStringList counts;
    if (c.renamed) counts << QObject::tr("%1 renamed").arg(c.renamed);
    if (c.transformed) counts << QObject::tr("%1 transformed").arg(c.transformed);
    if (c.dropped) counts << QObject::tr("%1 dropped").arg(c.dropped);
    if (c.unmapped) counts << QObject::tr("%1 unmapped").arg(c.unmapped);
    if (c.conflicts) counts << counted(c.conflicts, "conflict", "conflicts");
    if (c.errors) counts << counted(c.errors, "error", "errors");
    if (counts.isEmpty()) counts << QObject::tr("no name changes");
    std::vector<int> unused;
    for (int r : report->unused_rules)
      if (!std::binary_search(invalid_rows.begin(), invalid_rows.end(), r)) unused.push_back(r);
    if (!unused.empty()) counts << QObject::tr("%1 matched nothing").arg(ruleList(unused));
    if (!report->notes.empty()) counts << counted(static_cast<long long>(report->notes.size()), "note", "notes");
    parts << counted(c.names, "name", "names") + QLatin1String(": ") + counts.join(QLatin1String(", "));
    for (const auto& err : report->errors) {
      if (details.size() >= kMaxDetailLines) break;
      details << QObject::tr("error: %1").arg(QString::fromStdString(err));
    }
    for (const auto& note : report->notes) {
      if (details.size() >= kMaxDetailLines) break;
      details << QObject::tr("note: %1").arg(QString::fromStdString(note));
    }
  }
  if (!invalid_rows.empty())
    parts << (invalid_rows.size() == 1 ? QObject::tr("%1 is invalid and not applied")
                                       : QObject::tr("%1 are invalid and not applied"))
                 .arg(ruleList(invalid_rows));
  out.line = parts.join(QLatin1String("; "));
  out.details = details.join(QLatin1Char('\n'));
  return out;
}

}  // namespace ckpt::ui
