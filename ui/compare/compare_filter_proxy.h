#pragma once
// Filters a CompareModel by category and by a wildcard over either side's
// name ("layers.*.conv"), and sorts by CompareModel::SortRole.
#include <QRegularExpression>
#include <QSortFilterProxyModel>

#include <vector>

#include "model/spec_diff.h"

namespace ckpt::ui {

class CompareFilterProxy : public QSortFilterProxyModel {
  Q_OBJECT

 public:
  explicit CompareFilterProxy(QObject* parent = nullptr);

  // Only rows of these categories; an empty list shows every category.
  void setCategories(std::vector<model::Category> shown);
  [[nodiscard]] const std::vector<model::Category>& categories() const { return categories_; }
  // Case-insensitive, unanchored wildcard (* and ?); empty shows everything.
  void setPattern(const QString& pattern);

 protected:
  [[nodiscard]] bool filterAcceptsRow(int source_row, const QModelIndex& source_parent) const override;

 private:
  std::vector<model::Category> categories_;
  QRegularExpression pattern_;
};

}  // namespace ckpt::ui
