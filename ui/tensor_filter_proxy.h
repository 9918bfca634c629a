#pragma once
// Filters a ParamTreeModel by a wildcard over full paths ("layers.*.attn")
// and keeps every ancestor of a match, so a hit is never shown without the
// branch that leads to it. Sorts by ParamTreeModel::SortRole (raw numbers).
#include <QSortFilterProxyModel>

namespace ckpt::ui {

class TensorFilterProxy : public QSortFilterProxyModel {
  Q_OBJECT

 public:
  explicit TensorFilterProxy(QObject* parent = nullptr);

  // Case-insensitive, unanchored; empty shows everything.
  void setPattern(const QString& pattern);

 protected:
  [[nodiscard]] bool filterAcceptsRow(int source_row, const QModelIndex& source_parent) const override;
};

}  // namespace ckpt::ui
