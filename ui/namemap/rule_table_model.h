#pragma once
// An editable table over a name map's rules: one row per model::Rule, in
// match order. Each edit is checked by the core's own map parser; a row it
// rejects (a bad regular expression, a permutation that does not fit the
// rank, …) keeps what the user typed, is flagged (tint + tooltip) and is left
// out of the map until fixed.
#include <QAbstractTableModel>
#include <QString>

#include <vector>

#include "model/name_map.h"

namespace ckpt::ui {

class RuleTableModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column : int { Match, Pattern, Replacement, Drop, Rank, Transforms, Matches, Note, ColumnCount };
  enum Role : int {
    ErrorRole = Qt::UserRole + 1,  // why the row is not applied (empty when valid)
  };

  explicit RuleTableModel(QObject* parent = nullptr);

  void setRules(const std::vector<model::Rule>& rules);
  // Every row as edited; an invalid row's fields hold its last valid parse.
  [[nodiscard]] std::vector<model::Rule> rules() const;
  // Rows that passed validation, in order: what the map is made of.
  [[nodiscard]] std::vector<model::Rule> validRules() const;
  [[nodiscard]] const model::Rule& rule(int row) const;
  [[nodiscard]] bool isValid(int row) const;
  [[nodiscard]] QString rowError(int row) const;
  [[nodiscard]] int invalidCount() const;

  void insertRule(int row, const model::Rule& rule);
  // Moves one row up (-1) or down (+1); false at the ends.
  bool moveRule(int row, int delta);

  // How many names each row matched in the latest preview (-1: not known).
  // Shown in the Matches column; not an edit, so rulesEdited is not emitted.
  void setMatchCounts(std::vector<int> counts);

  [[nodiscard]] int rowCount(const QModelIndex& parent = {}) const override;
  [[nodiscard]] int columnCount(const QModelIndex& parent = {}) const override;
  [[nodiscard]] QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
  [[nodiscard]] Qt::ItemFlags flags(const QModelIndex& index) const override;
  [[nodiscard]] QVariant headerData(int section, Qt::Orientation orientation,
                                    int role = Qt::DisplayRole) const override;
  bool insertRows(int row, int count, const QModelIndex& parent = {}) override;
  bool removeRows(int row, int count, const QModelIndex& parent = {}) override;
  bool moveRows(const QModelIndex& source_parent, int source_row, int count, const QModelIndex& destination_parent,
                int destination_child) override;

 signals:
  // The rules changed (cell edit, insert, remove, move, setRules).
  void rulesEdited();

 private:
  struct Row {
    model::Rule rule;
    QString rank_text;        // as typed; rule.rank holds its parse when valid
    QString transforms_text;  // as typed; rule.transforms holds its parse when valid
    QString error;
    int matches = -1;
  };

  // A cell of this table (invalid indexes are normal queries, not misuse).
  [[nodiscard]] bool isCell(const QModelIndex& index) const;
  [[nodiscard]] static Row makeRow(const model::Rule& rule);
  static void validate(Row& row);
  [[nodiscard]] QVariant displayText(const Row& row, int column) const;
  [[nodiscard]] QVariant background(const Row& row, int column) const;
  [[nodiscard]] QVariant toolTip(const Row& row, int column) const;
  void rowChanged(int row);

  std::vector<Row> rows_;
};

// "exact", "prefix", "regex".
[[nodiscard]] QString matchName(model::Rule::Match match);

}  // namespace ckpt::ui
