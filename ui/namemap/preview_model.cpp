#include "ui/namemap/preview_model.h"

#include <QBrush>
#include <QFont>

#include <string_view>
#include <unordered_set>
#include <utility>

#include "io/dtype.h"
#include "model/transforms.h"
#include "ui/namemap/tint.h"
#include "ui/param_tree_model.h"

namespace ckpt::ui {

namespace {

QString fromStd(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size())); }

// The report's errors are sentences that quote the tensor they are about
// ("permutation (0, 2, 3, 1) does not fit 'fc.weight' of rank 2 (rule 4)");
// the quoted parts are the only link from an error back to its rows.
std::vector<std::string_view> quoted(std::string_view s) {
  std::vector<std::string_view> out;
  for (std::size_t open = s.find('\''); open != std::string_view::npos;) {
    const std::size_t close = s.find('\'', open + 1);
    if (close == std::string_view::npos) break;
    out.push_back(s.substr(open + 1, close - open - 1));
    open = s.find('\'', close + 1);
  }
  return out;
}

}  // namespace

PreviewModel::PreviewModel(QObject* parent) : QAbstractTableModel(parent) {}

bool PreviewModel::isCell(const QModelIndex& index) const {
  return index.isValid() && checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid);
}

void PreviewModel::setReport(std::shared_ptr<const model::MapReport> report) {
  const bool same_entries = report_ && report && report_->entries.size() == report->entries.size();
  report_ = std::move(report);
  classify();
  refreshRows(same_entries);
}

void PreviewModel::clear() {
  beginResetModel();
  report_.reset();
  flags_.clear();
  problems_.clear();
  rows_.clear();
  counts_ = {};
  endResetModel();
}

void PreviewModel::classify() {
  flags_.clear();
  problems_.clear();
  counts_ = {};
  if (!report_) return;
  const auto& entries = report_->entries;
  flags_.assign(entries.size(), 0);
  // Conflicts and errors are few while entries may be 100 000: index the
  // few and look each entry up, rather than indexing every name.
  std::unordered_map<std::string_view, QString> conflict_of;  // target → sentence
  for (const auto& [target, sources] : report_->conflicts) {
    QStringList names;
    for (const auto& s : sources) names << QStringLiteral("'%1'").arg(fromStd(s));
    conflict_of.emplace(target, tr("Conflict: '%1' would come from %2").arg(fromStd(target), names.join(tr(" and "))));
  }
  std::unordered_map<std::string_view, QStringList> errors_of;  // quoted name → sentences
  for (const auto& err : report_->errors) {
    std::unordered_set<std::string_view> seen;
    for (std::string_view name : quoted(err))
      if (seen.insert(name).second) errors_of[name] << tr("Error: %1").arg(fromStd(err));
  }
  counts_.names = static_cast<int>(entries.size());
  counts_.conflicts = static_cast<int>(report_->conflicts.size());
  counts_.errors = static_cast<int>(report_->errors.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    int& f = flags_[i];
    if (e.dropped) f |= Dropped;
    if (!e.dropped && e.target != e.source) f |= Renamed;
    if (!e.dropped && !e.transforms.empty()) f |= Transformed;
    if (e.rule < 0) f |= Unmapped;
    if (!conflict_of.empty() && !e.dropped)
      if (auto it = conflict_of.find(e.target); it != conflict_of.end()) {
        f |= Conflict;
        problems_[static_cast<int>(i)] << it->second;
      }
    if (!errors_of.empty())
      if (auto it = errors_of.find(e.source); it != errors_of.end()) {
        f |= Error;
        problems_[static_cast<int>(i)] << it->second;
      }
    counts_.renamed += (f & Renamed) ? 1 : 0;
    counts_.transformed += (f & Transformed) ? 1 : 0;
    counts_.dropped += (f & Dropped) ? 1 : 0;
    counts_.unmapped += (f & Unmapped) ? 1 : 0;
    counts_.conflictNames += (f & Conflict) ? 1 : 0;
  }
}

std::vector<int> PreviewModel::visibleEntries() const {
  std::vector<int> out;
  if (!report_) return out;
  const auto& entries = report_->entries;
  out.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const int f = flags_[i];
    bool keep = true;
    switch (filter_) {
      case Filter::All: break;
      case Filter::Changed: keep = (f & (Renamed | Transformed | Dropped)) != 0; break;
      case Filter::Problems: keep = (f & (Conflict | Error)) != 0; break;
      case Filter::Unmapped: keep = (f & Unmapped) != 0; break;
      case Filter::Dropped: keep = (f & Dropped) != 0; break;
    }
    if (keep && !text_filter_.isEmpty())
      keep = fromStd(entries[i].source).contains(text_filter_, Qt::CaseInsensitive) ||
             fromStd(entries[i].target).contains(text_filter_, Qt::CaseInsensitive);
    if (keep) out.push_back(static_cast<int>(i));
  }
  return out;
}

void PreviewModel::refreshRows(bool same_entries) {
  std::vector<int> rows = visibleEntries();
  // Re-planning after an edit usually keeps the same rows; updating them in
  // place keeps the view's scroll position and selection.
  if (same_entries && rows == rows_) {
    if (!rows_.empty()) emit dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
    return;
  }
  beginResetModel();
  rows_ = std::move(rows);
  endResetModel();
}

void PreviewModel::setFilter(Filter filter) {
  if (filter == filter_) return;
  filter_ = filter;
  refreshRows(false);
}

void PreviewModel::setTextFilter(const QString& text) {
  const QString t = text.trimmed();
  if (t == text_filter_) return;
  text_filter_ = t;
  refreshRows(false);
}

const model::MapEntry* PreviewModel::entry(const QModelIndex& index) const {
  if (!isCell(index)) return nullptr;
  return &report_->entries[static_cast<std::size_t>(rows_[static_cast<std::size_t>(index.row())])];
}

int PreviewModel::entryFlags(const QModelIndex& index) const {
  if (!isCell(index)) return 0;
  return flags_[static_cast<std::size_t>(rows_[static_cast<std::size_t>(index.row())])];
}

int PreviewModel::rowOfSource(const QString& name) const {
  const std::string n = name.toStdString();
  for (std::size_t r = 0; r < rows_.size(); ++r)
    if (report_->entries[static_cast<std::size_t>(rows_[r])].source == n) return static_cast<int>(r);
  return -1;
}

int PreviewModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int PreviewModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant PreviewModel::displayText(const model::MapEntry& e, int column) const {
  switch (column) {
    case Source: return fromStd(e.source);
    case SourceShape: return shapeText(e.source_shape);
    case Target: return e.dropped ? tr("(dropped)") : fromStd(e.target);
    case TargetShape: return e.dropped ? QString() : shapeText(e.target_shape);
    case DType:
      if (e.dropped || e.target_dtype == e.source_dtype) return fromStd(io::name(e.source_dtype));
      return QStringLiteral("%1 → %2").arg(fromStd(io::name(e.source_dtype)), fromStd(io::name(e.target_dtype)));
    case Rule: return e.rule < 0 ? tr("none") : QString::number(e.rule);
    default: return {};
  }
}

QString PreviewModel::toolTip(int entry) const {
  const auto& e = report_->entries[static_cast<std::size_t>(entry)];
  const int f = flags_[static_cast<std::size_t>(entry)];
  QStringList lines;
  if (auto it = problems_.find(entry); it != problems_.end()) lines << it->second;
  if (f & Unmapped)
    lines << ((f & Dropped) ? tr("No rule matched; dropped because unmapped names are dropped")
                            : tr("No rule matched; the name is kept"));
  else if (f & Dropped)
    lines << tr("Dropped by rule %1").arg(e.rule);
  for (const auto& t : e.transforms) lines << fromStd(model::describe(t));
  return lines.join(QLatin1Char('\n'));
}

QVariant PreviewModel::data(const QModelIndex& index, int role) const {
  if (!isCell(index)) return {};
  const int entry_index = rows_[static_cast<std::size_t>(index.row())];
  const auto& e = report_->entries[static_cast<std::size_t>(entry_index)];
  const int f = flags_[static_cast<std::size_t>(entry_index)];
  const int column = index.column();
  switch (role) {
    case Qt::DisplayRole: return displayText(e, column);
    case Qt::ToolTipRole: {
      const QString tip = toolTip(entry_index);
      return tip.isEmpty() ? QVariant() : QVariant(tip);
    }
    case Qt::BackgroundRole:
      if (f & (Conflict | Error)) return QBrush(tint::problem());
      if (f & Dropped) return QBrush(tint::removed());
      // Kept unmapped names are often most of a checkpoint (a preset that
      // only touches conv weights); tinting whole rows would drown the rest.
      if ((f & Unmapped) && (column == Target || column == Rule)) return QBrush(tint::attention());
      return {};
    case Qt::ForegroundRole:
      if ((f & Dropped) && column == Target) return QBrush(tint::mutedText());
      return {};
    case Qt::FontRole:
      if ((f & Dropped) && column == Target) {
        QFont font;
        font.setItalic(true);
        return font;
      }
      return {};
    case Qt::TextAlignmentRole:
      if (column == Rule) return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
      return {};
    case FlagsRole: return f;
    case EntryRole: return entry_index;
    default: return {};
  }
}

QVariant PreviewModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount) return {};
  if (role == Qt::DisplayRole) {
    switch (section) {
      case Source: return tr("Source name");
      case SourceShape: return tr("Shape");
      case Target: return tr("→ Target name");
      case TargetShape: return tr("Target shape");
      case DType: return tr("DType");
      case Rule: return tr("Rule");
      default: return {};
    }
  }
  if (role == Qt::ToolTipRole && section == Rule) return tr("The rule that decided the name (first match wins)");
  return {};
}

}  // namespace ckpt::ui
