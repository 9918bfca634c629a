#pragma once
// A table over a name map's preview (model::MapReport from plan_map): one
// row per source tensor with its name and shape before and after the map.
// Rows that need attention are tinted and explained in tooltips: conflicts
// (several sources on one target), report errors, dropped and unmapped
// names. A filter narrows the rows to one of those kinds and/or a substring.
#include <QAbstractTableModel>
#include <QString>
#include <QStringList>

#include <memory>
#include <unordered_map>
#include <vector>

#include "model/name_map.h"

namespace ckpt::ui {

class PreviewModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column : int { Source, SourceShape, Target, TargetShape, DType, Rule, ColumnCount };
  // What happened to a name; an entry may carry several.
  enum Flag : int {
    Renamed = 1 << 0,
    Transformed = 1 << 1,  // permuted, transposed, cast or dequantized
    Dropped = 1 << 2,
    Unmapped = 1 << 3,  // no rule matched (then "unmapped" decides)
    Conflict = 1 << 4,  // its target also comes from another source
    Error = 1 << 5,     // named by one of the report's errors
  };
  enum Role : int {
    FlagsRole = Qt::UserRole + 1,  // int of Flag bits
    EntryRole,                     // index into the report's entries
  };
  enum class Filter { All, Changed, Problems, Unmapped, Dropped };

  struct Counts {
    int names = 0;
    int renamed = 0;
    int transformed = 0;
    int dropped = 0;
    int unmapped = 0;
    int conflicts = 0;      // targets with several sources
    int conflictNames = 0;  // sources involved in those
    int errors = 0;         // the report's error lines
  };

  explicit PreviewModel(QObject* parent = nullptr);

  void setReport(std::shared_ptr<const model::MapReport> report);
  void clear();
  [[nodiscard]] const model::MapReport* report() const { return report_.get(); }
  [[nodiscard]] Counts counts() const { return counts_; }

  void setFilter(Filter filter);
  [[nodiscard]] Filter filter() const { return filter_; }
  // Case-insensitive substring of the source or target name; empty shows all.
  void setTextFilter(const QString& text);

  // The report entry behind a row (nullptr for an invalid index).
  [[nodiscard]] const model::MapEntry* entry(const QModelIndex& index) const;
  [[nodiscard]] int entryFlags(const QModelIndex& index) const;
  // The row showing the entry whose source is `name` (-1 when filtered out or absent).
  [[nodiscard]] int rowOfSource(const QString& name) const;

  [[nodiscard]] int rowCount(const QModelIndex& parent = {}) const override;
  [[nodiscard]] int columnCount(const QModelIndex& parent = {}) const override;
  [[nodiscard]] QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  [[nodiscard]] QVariant headerData(int section, Qt::Orientation orientation,
                                    int role = Qt::DisplayRole) const override;

 private:
  // A cell of this table (invalid indexes are normal queries, not misuse).
  [[nodiscard]] bool isCell(const QModelIndex& index) const;
  void classify();
  [[nodiscard]] std::vector<int> visibleEntries() const;
  void refreshRows(bool same_entries);
  [[nodiscard]] QVariant displayText(const model::MapEntry& e, int column) const;
  [[nodiscard]] QString toolTip(int entry) const;

  std::shared_ptr<const model::MapReport> report_;
  std::vector<int> flags_;                         // per entry
  std::unordered_map<int, QStringList> problems_;  // entry → conflict / error sentences
  std::vector<int> rows_;                          // visible entries, in source order
  Counts counts_;
  Filter filter_ = Filter::All;
  QString text_filter_;
};

}  // namespace ckpt::ui
