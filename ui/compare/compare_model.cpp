#include "ui/compare/compare_model.h"

#include <QBrush>
#include <QGuiApplication>

#include <cmath>

#include "model/transforms.h"
#include "ui/compare/category_style.h"
#include "ui/param_tree_model.h"

namespace ckpt::ui {

namespace {

QString fromStd(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size())); }

qlonglong elementCount(const io::Shape& shape) {
  qlonglong n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

QString number(double v) {
  if (std::isinf(v)) return QStringLiteral("∞");
  return QString::number(v, 'g', 3);
}

}  // namespace

CompareModel::CompareModel(QObject* parent)
    : QAbstractTableModel(parent), palette_(QGuiApplication::palette()) {}

void CompareModel::setDiff(const model::SpecDiff* diff, const model::MapReport* map) {
  beginResetModel();
  diff_ = diff;
  map_ = map;
  entry_by_target_.clear();
  if (map_ != nullptr) {
    for (std::size_t k = 0; k < map_->entries.size(); ++k)
      if (!map_->entries[k].dropped) entry_by_target_.emplace(map_->entries[k].target, k);
  }
  const std::size_t n = diff_ != nullptr ? diff_->rows.size() : 0;
  agreement_state_.assign(n, AgreementState::None);
  agreement_message_.assign(n, QString());
  endResetModel();
}

void CompareModel::clear() { setDiff(nullptr, nullptr); }

void CompareModel::setPalette(const QPalette& palette) {
  palette_ = palette;
  if (rowCount() > 0) emit dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1), {Qt::BackgroundRole, Qt::ForegroundRole});
}

void CompareModel::setAgreementState(int row, AgreementState state, const QString& message) {
  if (row < 0 || row >= rowCount()) return;
  agreement_state_[static_cast<std::size_t>(row)] = state;
  agreement_message_[static_cast<std::size_t>(row)] = message;
  const QModelIndex cell = index(row, AgreementColumn);
  emit dataChanged(cell, cell);
}

CompareModel::AgreementState CompareModel::agreementState(int row) const {
  if (row < 0 || row >= rowCount()) return AgreementState::None;
  return agreement_state_[static_cast<std::size_t>(row)];
}

const model::DiffRow* CompareModel::diffRow(const QModelIndex& index) const {
  if (!index.isValid() || diff_ == nullptr || index.row() >= rowCount()) return nullptr;
  return &diff_->rows[static_cast<std::size_t>(index.row())];
}

const model::MapEntry* CompareModel::mapEntry(const model::DiffRow& r) const {
  if (map_ == nullptr || !r.have_shape) return nullptr;
  const auto it = entry_by_target_.find(r.name);
  return it == entry_by_target_.end() ? nullptr : &map_->entries[it->second];
}

QString CompareModel::leftName(int row) const {
  if (diff_ == nullptr || row < 0 || row >= rowCount()) return {};
  const model::DiffRow& r = diff_->rows[static_cast<std::size_t>(row)];
  if (!r.have_shape) return {};
  const model::MapEntry* e = mapEntry(r);
  return fromStd(e != nullptr ? e->source : r.name);
}

int CompareModel::rowCount(const QModelIndex& parent) const {
  if (parent.isValid() || diff_ == nullptr) return 0;
  return static_cast<int>(diff_->rows.size());
}

int CompareModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant CompareModel::data(const QModelIndex& index, int role) const {
  const model::DiffRow* r = diffRow(index);
  if (r == nullptr) return {};
  const int row = index.row(), column = index.column();
  switch (role) {
    case Qt::DisplayRole: return displayText(row, column);
    case Qt::ToolTipRole: return toolTip(row, column);
    case Qt::BackgroundRole: return QBrush(categoryBackground(r->category, palette_));
    case Qt::ForegroundRole:
      if (isPlaceholder(row, column)) return QBrush(palette_.color(QPalette::PlaceholderText));
      return QBrush(palette_.color(QPalette::Text));
    case Qt::DecorationRole:
      if (column == CategoryColumn) return categoryHue(r->category);
      return {};
    case CategoryRole: return static_cast<int>(r->category);
    case SortRole: return sortKey(row, column);
    default: return {};
  }
}

QVariant CompareModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return {};
  if (role == Qt::DisplayRole) {
    switch (section) {
      case CategoryColumn: return tr("Category");
      case LeftNameColumn: return tr("Checkpoint name");
      case LeftShapeColumn: return tr("Shape");
      case LeftDTypeColumn: return tr("Dtype");
      case RightNameColumn: return tr("Wanted name");
      case RightShapeColumn: return tr("Wanted shape");
      case RightDTypeColumn: return tr("Wanted dtype");
      case NoteColumn: return tr("Note");
      case AgreementColumn: return tr("Agreement");
      default: return {};
    }
  }
  if (role == Qt::ToolTipRole) {
    switch (section) {
      case LeftNameColumn: return tr("The tensor's name in the checkpoint file (before the name map).");
      case LeftShapeColumn:
      case LeftDTypeColumn: return tr("After the name map: what a loader would see.");
      case RightNameColumn:
      case RightShapeColumn:
      case RightDTypeColumn: return tr("What the spec or the second checkpoint wants.");
      case AgreementColumn: return tr("Value agreement of two checkpoints: identical, or max |a − b| and cosine similarity.");
      default: return {};
    }
  }
  return {};
}

bool CompareModel::isPlaceholder(int row, int column) const {
  const model::DiffRow& r = diff_->rows[static_cast<std::size_t>(row)];
  switch (column) {
    case LeftNameColumn:
    case LeftShapeColumn: return !r.have_shape;
    case LeftDTypeColumn: return !r.have_dtype;
    case RightNameColumn:
    case RightShapeColumn: return !r.want_shape;
    case RightDTypeColumn: return !r.want_dtype;
    case AgreementColumn: {
      const AgreementState s = agreement_state_[static_cast<std::size_t>(row)];
      return s != AgreementState::Ready;
    }
    default: return false;
  }
}

QString CompareModel::displayText(int row, int column) const {
  const model::DiffRow& r = diff_->rows[static_cast<std::size_t>(row)];
  static const QString none = QStringLiteral("—");
  switch (column) {
    case CategoryColumn: return fromStd(model::category_name(r.category));
    case LeftNameColumn: return r.have_shape ? leftName(row) : none;
    case LeftShapeColumn: return r.have_shape ? shapeText(*r.have_shape) : none;
    case LeftDTypeColumn: return r.have_dtype ? fromStd(io::name(*r.have_dtype)) : none;
    case RightNameColumn: return r.want_shape ? fromStd(r.name) : none;
    case RightShapeColumn: return r.want_shape ? shapeText(*r.want_shape) : none;
    // A spec may leave the dtype open; the dash then means "any".
    case RightDTypeColumn: return r.want_dtype ? fromStd(io::name(*r.want_dtype)) : (r.want_shape ? tr("any") : none);
    case NoteColumn: return noteText(r);
    case AgreementColumn: return agreementText(row);
    default: return {};
  }
}

QString CompareModel::noteText(const model::DiffRow& r) const {
  QStringList parts;
  if (r.category == model::Category::LayoutMismatch) parts << tr("permute %1").arg(fromStd(model::perm_text(r.permutation)));
  if (r.category == model::Category::DtypeDiffers && r.have_dtype && r.want_dtype)
    parts << tr("load casts %1 → %2").arg(fromStd(io::name(*r.have_dtype)), fromStd(io::name(*r.want_dtype)));
  if (const model::MapEntry* e = mapEntry(r); e != nullptr && !e->transforms.empty()) {
    QStringList done;
    for (const auto& t : e->transforms) done << fromStd(model::describe(t));
    parts << tr("map: %1").arg(done.join(QLatin1String(", ")));
  }
  return parts.join(QLatin1String("; "));
}

QString CompareModel::agreementText(int row) const {
  const model::DiffRow& r = diff_->rows[static_cast<std::size_t>(row)];
  switch (agreement_state_[static_cast<std::size_t>(row)]) {
    case AgreementState::None: return {};
    case AgreementState::Pending: return tr("computing…");
    case AgreementState::NotCompared: return tr("not compared");
    case AgreementState::Failed: return tr("unreadable");
    case AgreementState::Ready:
      if (!r.agreement) return tr("not compared");
      if (r.agreement->identical) return tr("identical");
      return tr("max |Δ| %1 · cos %2").arg(number(r.agreement->max_abs_diff), QString::number(r.agreement->cosine, 'f', 6));
  }
  return {};
}

QString CompareModel::toolTip(int row, int column) const {
  const model::DiffRow& r = diff_->rows[static_cast<std::size_t>(row)];
  switch (column) {
    case CategoryColumn: return categoryDescription(r.category);
    case LeftNameColumn: {
      const model::MapEntry* e = mapEntry(r);
      if (e == nullptr || (e->source == e->target && e->transforms.empty())) return r.have_shape ? leftName(row) : QString();
      QString text = QStringLiteral("%1 → %2").arg(fromStd(e->source), fromStd(e->target));
      if (e->rule >= 0) text += QLatin1Char('\n') + tr("name map rule %1").arg(e->rule);
      if (e->source_shape != e->target_shape) text += QLatin1Char('\n') + tr("shape in the file: %1").arg(shapeText(e->source_shape));
      return text;
    }
    case RightNameColumn: return r.want_shape ? fromStd(r.name) : QString();
    case NoteColumn: return noteText(r);
    case AgreementColumn: {
      const AgreementState s = agreement_state_[static_cast<std::size_t>(row)];
      if (s == AgreementState::NotCompared || s == AgreementState::Failed) return agreement_message_[static_cast<std::size_t>(row)];
      if (s != AgreementState::Ready || !r.agreement) return {};
      const model::Agreement& g = *r.agreement;
      return tr("max |a − b|: %1\nmax relative error: %2\ncosine: %3%4")
          .arg(number(g.max_abs_diff), number(g.max_rel_error), QString::number(g.cosine, 'f', 9),
               g.identical ? tr("\nidentical bit for bit (as float64)") : QString());
    }
    default: return {};
  }
}

QVariant CompareModel::sortKey(int row, int column) const {
  const model::DiffRow& r = diff_->rows[static_cast<std::size_t>(row)];
  switch (column) {
    case CategoryColumn: return categoryRank(r.category);
    case LeftShapeColumn: return r.have_shape ? elementCount(*r.have_shape) : qlonglong{-1};
    case RightShapeColumn: return r.want_shape ? elementCount(*r.want_shape) : qlonglong{-1};
    case AgreementColumn: {
      // Rows without a value sort before every compared one; identical ones first among those.
      if (agreement_state_[static_cast<std::size_t>(row)] != AgreementState::Ready || !r.agreement) return -2.0;
      return r.agreement->identical ? -1.0 : r.agreement->max_abs_diff;
    }
    default: return displayText(row, column);
  }
}

}  // namespace ckpt::ui
