#include "ui/tensor_filter_proxy.h"

#include <QRegularExpression>

#include "ui/param_tree_model.h"

namespace ckpt::ui {

TensorFilterProxy::TensorFilterProxy(QObject* parent) : QSortFilterProxyModel(parent) {
  setRecursiveFilteringEnabled(true);
  setSortRole(ParamTreeModel::SortRole);
  setDynamicSortFilter(true);
}

void TensorFilterProxy::setPattern(const QString& pattern) {
  const QString trimmed = pattern.trimmed();
  if (trimmed.isEmpty()) {
    setFilterRegularExpression(QRegularExpression());
    return;
  }
  setFilterRegularExpression(QRegularExpression(
      QRegularExpression::wildcardToRegularExpression(trimmed, QRegularExpression::UnanchoredWildcardConversion),
      QRegularExpression::CaseInsensitiveOption));
}

bool TensorFilterProxy::filterAcceptsRow(int source_row, const QModelIndex& source_parent) const {
  const QRegularExpression& re = filterRegularExpression();
  if (re.pattern().isEmpty()) return true;
  // The full path, not the segment: "layers.*.attn" spans levels, and a
  // matching branch's descendants match too, so they stay visible.
  const QModelIndex index = sourceModel()->index(source_row, 0, source_parent);
  return re.match(index.data(ParamTreeModel::PathRole).toString()).hasMatch();
}

}  // namespace ckpt::ui
