#include "ui/param_tree_model.h"

#include <array>

#include "io/dtype.h"
#include "ui/icons.h"

namespace ckpt::ui {

namespace {

// Three significant digits: enough to compare sizes at a glance without
// the column jittering as values change by a few bytes.
QString scaled(double value, const char* unit) {
  const int decimals = value < 10 ? 2 : value < 100 ? 1 : 0;
  return QStringLiteral("%1 %2").arg(value, 0, 'f', decimals).arg(QLatin1String(unit));
}

template <std::size_t N>
QString withUnits(std::uint64_t value, double base, const std::array<const char*, N>& units) {
  double v = static_cast<double>(value);
  std::size_t u = 0;
  // Round first so 1023.9 KiB shows as "1.00 MiB" rather than "1024 KiB".
  while (u + 1 < N && v >= base - 0.5) {
    v /= base;
    ++u;
  }
  return scaled(v, units[u]);
}

}  // namespace

QString humanBytes(std::uint64_t bytes) {
  if (bytes < 1024) return QStringLiteral("%1 B").arg(bytes);
  static constexpr std::array<const char*, 6> kUnits{"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  return withUnits(bytes, 1024.0, kUnits);
}

QString humanCount(std::uint64_t count) {
  if (count < 1000) return QString::number(count);
  static constexpr std::array<const char*, 5> kUnits{"", "K", "M", "B", "T"};
  return withUnits(count, 1000.0, kUnits);
}

QString shapeText(const io::Shape& shape) {
  QStringList dims;
  dims.reserve(static_cast<qsizetype>(shape.size()));
  for (std::int64_t d : shape) dims << QString::number(d);
  return QLatin1Char('[') + dims.join(QLatin1String(", ")) + QLatin1Char(']');
}

QString storageText(const io::TensorInfo& t) {
  QStringList parts;
  if (t.ggml_type) {
    QStringList ne;
    for (std::uint64_t d : t.ggml_ne) ne << QString::number(d);
    parts << QStringLiteral("ggml type %1, ne [%2]").arg(*t.ggml_type).arg(ne.join(QLatin1String(", ")));
  }
  if (!t.layout_note.empty()) parts << QString::fromStdString(t.layout_note);
  if (!t.data) parts << QStringLiteral("data not readable");
  return parts.join(QLatin1String("; "));
}

QString dtypeText(const model::TreeNode& node) {
  if (node.dtypes.empty()) return {};
  if (node.dtypes.size() > 1) return QStringLiteral("mixed");
  const std::string_view n = io::name(node.dtypes.front());
  return QString::fromUtf8(n.data(), static_cast<qsizetype>(n.size()));
}

ParamTreeModel::ParamTreeModel(QObject* parent) : QAbstractItemModel(parent) {}

void ParamTreeModel::setTree(const model::ParamTree& tree, std::span<const io::TensorInfo> tensors) {
  beginResetModel();
  tree_ = &tree;
  tensors_ = tensors;
  row_in_parent_.assign(tree.size(), 0);
  for (std::size_t k = 0; k < tree.size(); ++k) {
    const auto& children = tree.node(k).children;
    for (std::size_t r = 0; r < children.size(); ++r) row_in_parent_[children[r]] = static_cast<int>(r);
  }
  endResetModel();
}

void ParamTreeModel::clear() {
  beginResetModel();
  tree_ = nullptr;
  tensors_ = {};
  row_in_parent_.clear();
  endResetModel();
}

QModelIndex ParamTreeModel::indexOfNode(std::size_t node) const {
  if (tree_ == nullptr || node == 0 || node >= tree_->size()) return {};
  return createIndex(row_in_parent_[node], 0, static_cast<quintptr>(node));
}

std::optional<std::size_t> ParamTreeModel::nodeIndex(const QModelIndex& index) const {
  if (!index.isValid() || tree_ == nullptr) return std::nullopt;
  return static_cast<std::size_t>(index.internalId());
}

const model::TreeNode* ParamTreeModel::node(const QModelIndex& index) const {
  const auto k = nodeIndex(index);
  return k ? &tree_->node(*k) : nullptr;
}

const io::TensorInfo* ParamTreeModel::tensor(const QModelIndex& index) const {
  const model::TreeNode* n = node(index);
  return n != nullptr && n->tensor ? &tensors_[*n->tensor] : nullptr;
}

QModelIndex ParamTreeModel::index(int row, int column, const QModelIndex& parent) const {
  if (!hasIndex(row, column, parent)) return {};
  // The root node (0) has no index of its own; an invalid parent stands for it.
  const std::size_t p = parent.isValid() ? static_cast<std::size_t>(parent.internalId()) : 0;
  return createIndex(row, column, static_cast<quintptr>(tree_->node(p).children[static_cast<std::size_t>(row)]));
}

QModelIndex ParamTreeModel::parent(const QModelIndex& child) const {
  const auto k = nodeIndex(child);
  if (!k) return {};
  const std::size_t p = *tree_->node(*k).parent;
  if (p == 0) return {};
  return createIndex(row_in_parent_[p], 0, static_cast<quintptr>(p));
}

int ParamTreeModel::rowCount(const QModelIndex& parent) const {
  if (tree_ == nullptr || parent.column() > 0) return 0;
  const std::size_t p = parent.isValid() ? static_cast<std::size_t>(parent.internalId()) : 0;
  return static_cast<int>(tree_->node(p).children.size());
}

int ParamTreeModel::columnCount(const QModelIndex& /*parent*/) const { return ColumnCount; }

QString ParamTreeModel::displayText(const model::TreeNode& n, int column) const {
  const io::TensorInfo* t = n.tensor && n.children.empty() ? &tensors_[*n.tensor] : nullptr;
  switch (column) {
    case Name: return QString::fromStdString(n.segment);
    case Shape:
      if (t != nullptr) return shapeText(t->shape);
      return n.tensor_count == 1 ? QStringLiteral("(1 tensor)") : QStringLiteral("(%1 tensors)").arg(n.tensor_count);
    case DType: return dtypeText(n);
    case Parameters: return humanCount(n.parameters);
    case Size: return humanBytes(n.bytes);
    case Storage: return t != nullptr ? storageText(*t) : QString();
    case Offset: return t != nullptr ? QString::number(t->offset) : QString();
    default: return {};
  }
}

QVariant ParamTreeModel::sortKey(std::size_t k, int column) const {
  const model::TreeNode& n = tree_->node(k);
  switch (column) {
    // The tree already orders names naturally (layers.2 before layers.10);
    // sorting by name reuses that order instead of comparing strings.
    case Name: return row_in_parent_[k];
    case Shape:
    case Parameters: return QVariant::fromValue<qulonglong>(n.parameters);
    case DType: return dtypeText(n);
    case Size: return QVariant::fromValue<qulonglong>(n.bytes);
    case Storage: return n.tensor ? storageText(tensors_[*n.tensor]) : QString();
    case Offset: return QVariant::fromValue<qulonglong>(n.tensor ? tensors_[*n.tensor].offset : 0);
    default: return {};
  }
}

QVariant ParamTreeModel::data(const QModelIndex& index, int role) const {
  const auto k = nodeIndex(index);
  if (!k) return {};
  const model::TreeNode& n = tree_->node(*k);
  switch (role) {
    case Qt::DisplayRole: return displayText(n, index.column());
    case Qt::ToolTipRole:
    case PathRole: return QString::fromStdString(n.path);
    case Qt::TextAlignmentRole:
      if (index.column() == Parameters || index.column() == Size || index.column() == Offset)
        return static_cast<int>(Qt::AlignRight | Qt::AlignVCenter);
      return {};
    case Qt::DecorationRole:
      if (index.column() != Name) return {};
      return n.children.empty() ? tensorIcon() : groupIcon();
    case SortRole: return sortKey(*k, index.column());
    case IsTensorRole: return n.tensor.has_value();
    default: return {};
  }
}

QVariant ParamTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return {};
  switch (role) {
    case Qt::DisplayRole:
      switch (section) {
        case Name: return tr("Name");
        case Shape: return tr("Shape");
        case DType: return tr("DType");
        case Parameters: return tr("Parameters");
        case Size: return tr("Size");
        case Storage: return tr("Storage");
        case Offset: return tr("Offset");
        default: return {};
      }
    case Qt::TextAlignmentRole:
      if (section == Parameters || section == Size || section == Offset)
        return static_cast<int>(Qt::AlignRight | Qt::AlignVCenter);
      return {};
    default: return {};
  }
}

}  // namespace ckpt::ui
