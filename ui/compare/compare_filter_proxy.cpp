#include "ui/compare/compare_filter_proxy.h"

#include <algorithm>

#include "ui/compare/compare_model.h"

namespace ckpt::ui {

CompareFilterProxy::CompareFilterProxy(QObject* parent) : QSortFilterProxyModel(parent) {
  setSortRole(CompareModel::SortRole);
}

void CompareFilterProxy::setCategories(std::vector<model::Category> shown) {
  std::sort(shown.begin(), shown.end());
  shown.erase(std::unique(shown.begin(), shown.end()), shown.end());
  if (shown == categories_) return;
  categories_ = std::move(shown);
  invalidateRowsFilter();
}

void CompareFilterProxy::setPattern(const QString& pattern) {
  const QString trimmed = pattern.trimmed();
  QRegularExpression re;
  if (!trimmed.isEmpty()) {
    re = QRegularExpression(QRegularExpression::wildcardToRegularExpression(trimmed, QRegularExpression::UnanchoredWildcardConversion),
                            QRegularExpression::CaseInsensitiveOption);
  }
  if (re == pattern_) return;
  pattern_ = re;
  invalidateRowsFilter();
}

bool CompareFilterProxy::filterAcceptsRow(int source_row, const QModelIndex& source_parent) const {
  const QAbstractItemModel* source = sourceModel();
  if (!categories_.empty()) {
    const auto c = static_cast<model::Category>(source->index(source_row, 0, source_parent).data(CompareModel::CategoryRole).toInt());
    if (!std::binary_search(categories_.begin(), categories_.end(), c)) return false;
  }
  if (pattern_.pattern().isEmpty()) return true;
  // The left name is the file's own, the right one the wanted (mapped) name:
  // a user may type either.
  for (int column : {CompareModel::LeftNameColumn, CompareModel::RightNameColumn}) {
    const QModelIndex cell = source->index(source_row, column, source_parent);
    if (source->data(cell, CompareModel::SortRole).toString().contains(pattern_)) return true;
  }
  return false;
}

}  // namespace ckpt::ui
