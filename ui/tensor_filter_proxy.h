#pragma once
// Filters a ParamTreeModel by full dotted path and keeps every ancestor of a
// match, so a hit is never shown without the branch that leads to it. Sorts
// by ParamTreeModel::SortRole (raw numbers, natural name order).
//
// The match set is computed once per pattern over the whole tree rather than
// per row on demand: with 100,000 tensors Qt's recursive filtering would run
// the expression several times per node and convert every path each time.
#include <QRegularExpression>
#include <QSortFilterProxyModel>
#include <QString>

#include <vector>

namespace ckpt::ui {

class TensorFilterProxy : public QSortFilterProxyModel {
  Q_OBJECT

 public:
  enum class Syntax { Wildcard, Regex };

  explicit TensorFilterProxy(QObject* parent = nullptr);

  // Case-insensitive and unanchored. Wildcard: plain text is a substring,
  // `*` and `?` are wildcards. Regex: Perl-compatible. Empty shows
  // everything. Returns false (and keeps the previous filter) when the
  // regular expression is invalid; errorString() then says why.
  bool setPattern(const QString& pattern, Syntax syntax = Syntax::Wildcard);
  [[nodiscard]] QString errorString() const { return error_; }
  // Tensors (not groups) that match the current pattern.
  [[nodiscard]] qsizetype matchingTensors() const { return matching_tensors_; }
  [[nodiscard]] bool isFiltering() const { return !keep_.empty(); }

  void setSourceModel(QAbstractItemModel* source) override;

 protected:
  [[nodiscard]] bool filterAcceptsRow(int source_row, const QModelIndex& source_parent) const override;

 private:
  void recompute();

  QRegularExpression expression_;
  QString error_;
  std::vector<char> keep_;  // per tree node; empty when not filtering
  qsizetype matching_tensors_ = 0;
};

}  // namespace ckpt::ui
