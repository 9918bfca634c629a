#include "ui/tensor_filter_proxy.h"

#include "model/param_tree.h"
#include "ui/param_tree_model.h"

namespace ckpt::ui {

TensorFilterProxy::TensorFilterProxy(QObject* parent) : QSortFilterProxyModel(parent) {
  setSortRole(ParamTreeModel::SortRole);
  setDynamicSortFilter(true);
}

void TensorFilterProxy::setSourceModel(QAbstractItemModel* source) {
  if (QAbstractItemModel* old = sourceModel()) disconnect(old, nullptr, this, nullptr);
  // A new tree invalidates the per-node match set; rebuild it before the
  // proxy re-reads the rows: connected before the base class connects its
  // own handlers, so it runs first.
  if (source != nullptr) connect(source, &QAbstractItemModel::modelReset, this, [this] { recompute(); });
  QSortFilterProxyModel::setSourceModel(source);
  recompute();
}

bool TensorFilterProxy::setPattern(const QString& pattern, Syntax syntax) {
  const QString trimmed = pattern.trimmed();
  QRegularExpression re;
  if (!trimmed.isEmpty()) {
    const QString source = syntax == Syntax::Regex
                               ? trimmed
                               : QRegularExpression::wildcardToRegularExpression(
                                     trimmed, QRegularExpression::UnanchoredWildcardConversion);
    re = QRegularExpression(source, QRegularExpression::CaseInsensitiveOption);
    if (!re.isValid()) {
      error_ = tr("Invalid regular expression at character %1: %2")
                   .arg(re.patternErrorOffset())
                   .arg(re.errorString());
      return false;
    }
    re.optimize();
  }
  error_.clear();
  if (re.pattern() == expression_.pattern()) return true;
  expression_ = re;
  recompute();
  invalidateRowsFilter();
  return true;
}

void TensorFilterProxy::recompute() {
  keep_.clear();
  matching_tensors_ = 0;
  const auto* model = qobject_cast<const ParamTreeModel*>(sourceModel());
  if (model == nullptr || model->tree() == nullptr || expression_.pattern().isEmpty()) return;
  const model::ParamTree& tree = *model->tree();
  keep_.assign(tree.size(), 0);
  keep_[0] = 1;
  QString path;
  // Children come after their parent in the tree's node order, so a matching
  // node's descendants are marked when reached, and ancestors are walked up
  // only until one is already kept.
  for (std::size_t k = 1; k < tree.size(); ++k) {
    const model::TreeNode& n = tree.node(k);
    const std::size_t parent = *n.parent;
    bool match = keep_[parent] == 2;  // under a matching branch
    if (!match) {
      path = QString::fromStdString(n.path);
      match = expression_.match(path).hasMatch();
    }
    if (!match) continue;
    keep_[k] = 2;
    if (n.tensor) ++matching_tensors_;
    for (std::size_t a = parent; a != 0 && keep_[a] == 0; a = *tree.node(a).parent) keep_[a] = 1;
  }
}

bool TensorFilterProxy::filterAcceptsRow(int source_row, const QModelIndex& source_parent) const {
  if (keep_.empty()) return true;
  const QModelIndex index = sourceModel()->index(source_row, 0, source_parent);
  const auto node = static_cast<std::size_t>(index.internalId());
  return node < keep_.size() && keep_[node] != 0;
}

}  // namespace ckpt::ui
