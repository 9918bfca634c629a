#pragma once
// A Qt table model over a model::SpecDiff: one row per diff row, the
// checkpoint's side (after the name map) on the left, the spec's or second
// checkpoint's side on the right. The diff and the map report belong to the
// caller; the model only formats them and remembers, per row, where the
// value-agreement computation stands.
#include <QAbstractTableModel>
#include <QPalette>
#include <QString>

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/name_map.h"
#include "model/spec_diff.h"

namespace ckpt::ui {

class CompareModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column : int {
    CategoryColumn,
    LeftNameColumn,   // the name in the checkpoint file (before the map)
    LeftShapeColumn,  // shape and dtype after the map: what a loader sees
    LeftDTypeColumn,
    RightNameColumn,
    RightShapeColumn,
    RightDTypeColumn,
    NoteColumn,       // the permutation of a layout mismatch, the cast of a dtype row, what the map did
    AgreementColumn,  // value agreement of two checkpoints
    ColumnCount
  };
  enum Role : int {
    CategoryRole = Qt::UserRole + 1,  // int(model::Category), for filtering
    SortRole,                         // raw numbers (element counts, max |a-b|) and problem-first ranks
  };
  enum class AgreementState { None, Pending, Ready, NotCompared, Failed };

  explicit CompareModel(QObject* parent = nullptr);

  // `diff` and `map` (null when no map was applied) must outlive the model or
  // the next setDiff()/clear(). Every row's agreement state starts at None.
  void setDiff(const model::SpecDiff* diff, const model::MapReport* map);
  void clear();
  // Row backgrounds blend category hues into this palette's Base.
  void setPalette(const QPalette& palette);
  // The value itself is read from the diff row; `message` explains NotCompared / Failed.
  void setAgreementState(int row, AgreementState state, const QString& message = {});
  [[nodiscard]] AgreementState agreementState(int row) const;

  [[nodiscard]] const model::DiffRow* diffRow(const QModelIndex& index) const;
  // The checkpoint's own name behind a row (the map's source), empty when the row has no left side.
  [[nodiscard]] QString leftName(int row) const;

  [[nodiscard]] int rowCount(const QModelIndex& parent = {}) const override;
  [[nodiscard]] int columnCount(const QModelIndex& parent = {}) const override;
  [[nodiscard]] QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  [[nodiscard]] QVariant headerData(int section, Qt::Orientation orientation,
                                    int role = Qt::DisplayRole) const override;

 private:
  [[nodiscard]] const model::MapEntry* mapEntry(const model::DiffRow& r) const;
  [[nodiscard]] QString displayText(int row, int column) const;
  [[nodiscard]] QString noteText(const model::DiffRow& r) const;
  [[nodiscard]] QString agreementText(int row) const;
  [[nodiscard]] QString toolTip(int row, int column) const;
  [[nodiscard]] QVariant sortKey(int row, int column) const;
  [[nodiscard]] bool isPlaceholder(int row, int column) const;

  const model::SpecDiff* diff_ = nullptr;
  const model::MapReport* map_ = nullptr;
  // Mapped name -> map entry, so each row finds the tensor's original name in O(1).
  std::unordered_map<std::string, std::size_t> entry_by_target_;
  std::vector<AgreementState> agreement_state_;
  std::vector<QString> agreement_message_;
  QPalette palette_;
};

}  // namespace ckpt::ui
