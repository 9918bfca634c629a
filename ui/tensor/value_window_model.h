#pragma once
// A table model over one model::WindowValues: cell (r, c) is the window's
// value there, and the header sections are the absolute indices along the
// window's row and column axes, so row 0 of a window starting at row 4096
// reads "4096".
#include <QAbstractTableModel>

#include <cstdint>

#include "io/dtype.h"
#include "model/tensor_stats.h"

namespace ckpt::ui {

class ValueWindowModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Role : int {
    ValueRole = Qt::UserRole + 1,  // the value as a double
    IndexRole,                     // the element's full index, "[2, 0, 17]"
  };

  explicit ValueWindowModel(QObject* parent = nullptr);

  // `window` is the request that produced `values`; `rank` the tensor's rank
  // (for full indices); `dtype` decides how values are written.
  void setWindow(model::WindowValues values, model::Window window, int rank, io::DType dtype);
  void clear();

  [[nodiscard]] const model::WindowValues& values() const { return values_; }
  [[nodiscard]] const model::Window& window() const { return window_; }
  [[nodiscard]] double value(int row, int column) const;

  [[nodiscard]] int rowCount(const QModelIndex& parent = {}) const override;
  [[nodiscard]] int columnCount(const QModelIndex& parent = {}) const override;
  [[nodiscard]] QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  [[nodiscard]] QVariant headerData(int section, Qt::Orientation orientation,
                                    int role = Qt::DisplayRole) const override;

 private:
  model::WindowValues values_;
  model::Window window_;
  int rank_ = 0;
  io::DType dtype_ = io::DType::F32;
};

}  // namespace ckpt::ui
