#pragma once
// A Qt item model over a model::ParamTree: one row per tree node, the columns
// a user scans to find a tensor. The tree and the tensor list belong to the
// caller; the model only maps QModelIndex <-> node index.
#include <QAbstractItemModel>
#include <QString>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "io/tensor.h"
#include "model/param_tree.h"

namespace ckpt::ui {

class ParamTreeModel : public QAbstractItemModel {
  Q_OBJECT

 public:
  enum Column : int { Name, Shape, DType, Parameters, Size, Storage, Offset, ColumnCount };
  enum Role : int {
    SortRole = Qt::UserRole + 1,  // raw numbers (or natural order for names), for the proxy
    PathRole,                     // the node's full dotted path, for filtering
    IsTensorRole,                 // true on rows that are a tensor (leaves and tensors with children)
  };

  explicit ParamTreeModel(QObject* parent = nullptr);

  // `tree` and `tensors` must outlive the model or the next setTree()/clear().
  void setTree(const model::ParamTree& tree, std::span<const io::TensorInfo> tensors);
  void clear();
  [[nodiscard]] const model::ParamTree* tree() const { return tree_; }
  // The index of tree node `node` (column 0); invalid for the root.
  [[nodiscard]] QModelIndex indexOfNode(std::size_t node) const;

  // The tree node behind `index` (nullopt for an invalid index).
  [[nodiscard]] std::optional<std::size_t> nodeIndex(const QModelIndex& index) const;
  [[nodiscard]] const model::TreeNode* node(const QModelIndex& index) const;
  [[nodiscard]] const io::TensorInfo* tensor(const QModelIndex& index) const;

  [[nodiscard]] QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  [[nodiscard]] QModelIndex parent(const QModelIndex& child) const override;
  [[nodiscard]] int rowCount(const QModelIndex& parent = {}) const override;
  [[nodiscard]] int columnCount(const QModelIndex& parent = {}) const override;
  [[nodiscard]] QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  [[nodiscard]] QVariant headerData(int section, Qt::Orientation orientation,
                                    int role = Qt::DisplayRole) const override;

 private:
  [[nodiscard]] QString displayText(const model::TreeNode& n, int column) const;
  [[nodiscard]] QVariant sortKey(std::size_t node, int column) const;

  const model::ParamTree* tree_ = nullptr;
  std::span<const io::TensorInfo> tensors_;
  // Each node's row under its parent; parent() needs it and a linear search
  // over a 10 000-element list per call would make scrolling crawl.
  std::vector<int> row_in_parent_;
};

// "512 B", "1.50 KiB", "14.5 GiB": three significant digits, binary units.
[[nodiscard]] QString humanBytes(std::uint64_t bytes);
// "768", "1.05 M", "7.24 B": three significant digits, decimal units.
[[nodiscard]] QString humanCount(std::uint64_t count);
// "[4096, 4096]"; "[]" for a scalar.
[[nodiscard]] QString shapeText(const io::Shape& shape);
// How the bytes sit in the file: the GGUF type and ggml dims, or the
// reader's layout note (fortran order, deflated, big-endian, …).
[[nodiscard]] QString storageText(const io::TensorInfo& tensor);
// The single dtype's name, "mixed", or empty when the subtree holds none.
[[nodiscard]] QString dtypeText(const model::TreeNode& node);

}  // namespace ckpt::ui
