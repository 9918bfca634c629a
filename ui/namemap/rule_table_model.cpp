#include "ui/namemap/rule_table_model.h"

#include <QBrush>

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>

#include "io/error.h"
#include "ui/namemap/counted.h"
#include "ui/namemap/tint.h"
#include "ui/namemap/transform_text.h"

namespace ckpt::ui {

namespace {

QString fromStd(const std::string& s) { return QString::fromStdString(s); }

// The core's parser is the one authority on what a rule may be, so a row is
// checked by writing it as a one-rule map and parsing that back.
QString coreError(const model::Rule& rule) {
  model::NameMap one;
  one.rules.push_back(rule);
  try {
    (void)model::parse_map(model::to_json(one), std::string());
  } catch (const io::Error& e) {
    // The sentence names "rule 0" (its index in the one-rule map); the row
    // number is already in the table's header.
    std::string s = e.sentence();
    for (const char* lead : {"rule 0: ", "rule 0, "})
      if (s.starts_with(lead)) s.erase(0, std::char_traits<char>::length(lead));
    return fromStd(s);
  } catch (const std::exception& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

std::optional<model::Rule::Match> matchFromText(const QString& text) {
  const QString t = text.trimmed().toLower();
  if (t == QLatin1String("exact")) return model::Rule::Match::Exact;
  if (t == QLatin1String("prefix")) return model::Rule::Match::Prefix;
  if (t == QLatin1String("regex")) return model::Rule::Match::Regex;
  return std::nullopt;
}

bool editable(int column) {
  return column == RuleTableModel::Match || column == RuleTableModel::Pattern ||
         column == RuleTableModel::Replacement || column == RuleTableModel::Rank ||
         column == RuleTableModel::Transforms || column == RuleTableModel::Note;
}

}  // namespace

QString matchName(model::Rule::Match match) {
  switch (match) {
    case model::Rule::Match::Exact: return QStringLiteral("exact");
    case model::Rule::Match::Prefix: return QStringLiteral("prefix");
    case model::Rule::Match::Regex: return QStringLiteral("regex");
  }
  return {};
}

RuleTableModel::RuleTableModel(QObject* parent) : QAbstractTableModel(parent) {}

bool RuleTableModel::isCell(const QModelIndex& index) const {
  return index.isValid() && checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid);
}

RuleTableModel::Row RuleTableModel::makeRow(const model::Rule& rule) {
  Row row;
  row.rule = rule;
  row.rank_text = rule.rank ? QString::number(*rule.rank) : QString();
  row.transforms_text = transformsText(rule.transforms);
  validate(row);
  return row;
}

void RuleTableModel::validate(Row& row) {
  row.error.clear();
  const QString rank = row.rank_text.trimmed();
  if (rank.isEmpty()) {
    row.rule.rank.reset();
  } else {
    bool ok = false;
    const int r = rank.toInt(&ok);
    if (!ok) {
      row.error = QStringLiteral("rank '%1' is not a number; leave it empty to match any rank").arg(rank);
      return;
    }
    row.rule.rank = r;
  }
  ParsedTransforms parsed = parseTransforms(row.transforms_text);
  if (!parsed.error.isEmpty()) {
    row.error = parsed.error;
    return;
  }
  row.rule.transforms = std::move(parsed.transforms);
  row.error = coreError(row.rule);
  // Accepted text is shown in the core's words, so short forms read like the CLI's reports.
  if (row.error.isEmpty()) {
    row.rank_text = row.rule.rank ? QString::number(*row.rule.rank) : QString();
    row.transforms_text = transformsText(row.rule.transforms);
  }
}

void RuleTableModel::setRules(const std::vector<model::Rule>& rules) {
  beginResetModel();
  rows_.clear();
  rows_.reserve(rules.size());
  for (const auto& r : rules) rows_.push_back(makeRow(r));
  endResetModel();
  emit rulesEdited();
}

std::vector<model::Rule> RuleTableModel::rules() const {
  std::vector<model::Rule> out;
  out.reserve(rows_.size());
  for (const auto& r : rows_) out.push_back(r.rule);
  return out;
}

std::vector<model::Rule> RuleTableModel::validRules() const {
  std::vector<model::Rule> out;
  for (const auto& r : rows_)
    if (r.error.isEmpty()) out.push_back(r.rule);
  return out;
}

const model::Rule& RuleTableModel::rule(int row) const { return rows_.at(static_cast<std::size_t>(row)).rule; }

bool RuleTableModel::isValid(int row) const { return rows_.at(static_cast<std::size_t>(row)).error.isEmpty(); }

QString RuleTableModel::rowError(int row) const { return rows_.at(static_cast<std::size_t>(row)).error; }

int RuleTableModel::invalidCount() const {
  int n = 0;
  for (const auto& r : rows_) n += r.error.isEmpty() ? 0 : 1;
  return n;
}

void RuleTableModel::insertRule(int row, const model::Rule& rule) {
  row = std::clamp(row, 0, rowCount());
  beginInsertRows({}, row, row);
  rows_.insert(rows_.begin() + row, makeRow(rule));
  endInsertRows();
  emit rulesEdited();
}

bool RuleTableModel::moveRule(int row, int delta) {
  const int to = row + delta;
  if (row < 0 || row >= rowCount() || to < 0 || to >= rowCount() || delta == 0) return false;
  // moveRows names the row the moved one lands before.
  return moveRows({}, row, 1, {}, delta > 0 ? to + 1 : to);
}

void RuleTableModel::setMatchCounts(std::vector<int> counts) {
  counts.resize(rows_.size(), -1);
  for (std::size_t i = 0; i < rows_.size(); ++i) rows_[i].matches = counts[i];
  if (!rows_.empty()) emit dataChanged(index(0, Matches), index(rowCount() - 1, Matches));
}

int RuleTableModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int RuleTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant RuleTableModel::displayText(const Row& row, int column) const {
  const model::Rule& r = row.rule;
  switch (column) {
    case Match: return matchName(r.match);
    case Pattern: return fromStd(r.pattern);
    case Replacement: return fromStd(r.replace);
    case Rank: return row.rank_text;
    case Transforms: return row.transforms_text;
    case Matches:
      if (!row.error.isEmpty()) return tr("not applied");
      return row.matches < 0 ? QString() : QString::number(row.matches);
    case Note: return fromStd(r.note);
    default: return {};
  }
}

QVariant RuleTableModel::background(const Row& row, int column) const {
  if (!row.error.isEmpty()) return QBrush(tint::problem());
  if (column == Matches && row.matches == 0) return QBrush(tint::attention());
  return {};
}

QVariant RuleTableModel::toolTip(const Row& row, int column) const {
  if (!row.error.isEmpty()) return tr("Not applied: %1").arg(row.error);
  switch (column) {
    case Match:
      return tr(
          "exact: the whole name; prefix: the name starts with the pattern; regex: ECMAScript, searched in the name");
    case Replacement:
      if (row.rule.drop) return tr("Not used: this rule drops what it matches");
      return row.rule.match == model::Rule::Match::Regex
                 ? tr("Replaces the matched part; $1… groups, $& the whole match")
                 : QVariant();
    case Rank: return tr("Only tensors of this rank (e.g. 4 for Conv2d weights); empty: any rank");
    case Transforms: return tr("Steps separated by ';', e.g. permute 0,2,3,1; cast float16");
    case Matches:
      if (row.matches == 0) return tr("Matched nothing: an earlier rule takes these names, or the pattern is wrong");
      return row.matches > 0 ? tr("First match for %1").arg(counted(row.matches, "name", "names")) : QVariant();
    case Note: return row.rule.note.empty() ? tr("Why the rule exists; shown in reports") : fromStd(row.rule.note);
    default: return {};
  }
}

QVariant RuleTableModel::data(const QModelIndex& index, int role) const {
  if (!isCell(index)) return {};
  const Row& row = rows_[static_cast<std::size_t>(index.row())];
  const int column = index.column();
  switch (role) {
    case Qt::DisplayRole:
    case Qt::EditRole: return displayText(row, column);
    case Qt::CheckStateRole:
      if (column == Drop) return row.rule.drop ? Qt::Checked : Qt::Unchecked;
      return {};
    case Qt::BackgroundRole: return background(row, column);
    case Qt::ForegroundRole:
      if (row.rule.drop && (column == Replacement || column == Transforms)) return QBrush(tint::mutedText());
      return {};
    case Qt::ToolTipRole: return toolTip(row, column);
    case Qt::TextAlignmentRole:
      if (column == Rank || column == Matches) return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
      return {};
    case ErrorRole: return row.error;
    default: return {};
  }
}

bool RuleTableModel::setData(const QModelIndex& index, const QVariant& value, int role) {
  if (!isCell(index)) return false;
  Row& row = rows_[static_cast<std::size_t>(index.row())];
  const int column = index.column();
  if (column == Drop) {
    if (role != Qt::CheckStateRole) return false;
    const bool drop = value.value<Qt::CheckState>() == Qt::Checked;
    if (drop == row.rule.drop) return true;
    row.rule.drop = drop;
  } else {
    if (role != Qt::EditRole || !editable(column)) return false;
    const QString text = value.toString();
    if (text == displayText(row, column).toString()) return true;
    switch (column) {
      case Match: {
        const auto m = matchFromText(text);
        if (!m) return false;
        row.rule.match = *m;
        break;
      }
      case Pattern: row.rule.pattern = text.toStdString(); break;
      case Replacement: row.rule.replace = text.toStdString(); break;
      case Rank: row.rank_text = text; break;
      case Transforms: row.transforms_text = text; break;
      case Note: row.rule.note = text.toStdString(); break;
      default: return false;
    }
  }
  validate(row);
  rowChanged(index.row());
  emit rulesEdited();
  return true;
}

void RuleTableModel::rowChanged(int row) {
  emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
  emit headerDataChanged(Qt::Vertical, row, row);
}

Qt::ItemFlags RuleTableModel::flags(const QModelIndex& index) const {
  if (!isCell(index)) return Qt::NoItemFlags;
  Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemNeverHasChildren;
  if (index.column() == Drop)
    f |= Qt::ItemIsUserCheckable;
  else if (editable(index.column()))
    f |= Qt::ItemIsEditable;
  return f;
}

QVariant RuleTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation == Qt::Vertical) {
    if (section < 0 || section >= rowCount()) return {};
    // Numbered from 0, as the core's reports ("rule 3 matched nothing") count.
    if (role == Qt::DisplayRole) return QString::number(section);
    if (role == Qt::ToolTipRole) {
      const QString& err = rows_[static_cast<std::size_t>(section)].error;
      return err.isEmpty() ? tr("Rule %1").arg(section) : tr("Rule %1 is not applied: %2").arg(section).arg(err);
    }
    return {};
  }
  if (section < 0 || section >= ColumnCount) return {};
  if (role == Qt::DisplayRole) {
    switch (section) {
      case Match: return tr("Match");
      case Pattern: return tr("Pattern");
      case Replacement: return tr("Replacement");
      case Drop: return tr("Drop");
      case Rank: return tr("Rank");
      case Transforms: return tr("Transforms");
      case Matches: return tr("Matches");
      case Note: return tr("Note");
      default: return {};
    }
  }
  if (role == Qt::ToolTipRole) {
    switch (section) {
      case Match: return tr("How the pattern is compared with a name");
      case Drop: return tr("Matched tensors are not written");
      case Rank: return tr("Only tensors of this rank; empty for any");
      case Transforms: return tr("Layout and dtype changes, e.g. permute 0,2,3,1; cast float16");
      case Matches: return tr("Names this rule decides in the preview (the first matching rule wins)");
      default: return {};
    }
  }
  return {};
}

bool RuleTableModel::insertRows(int row, int count, const QModelIndex& parent) {
  if (parent.isValid() || row < 0 || row > rowCount() || count <= 0) return false;
  beginInsertRows({}, row, row + count - 1);
  rows_.insert(rows_.begin() + row, static_cast<std::size_t>(count), makeRow(model::Rule{}));
  endInsertRows();
  emit rulesEdited();
  return true;
}

bool RuleTableModel::removeRows(int row, int count, const QModelIndex& parent) {
  if (parent.isValid() || row < 0 || count <= 0 || row + count > rowCount()) return false;
  beginRemoveRows({}, row, row + count - 1);
  rows_.erase(rows_.begin() + row, rows_.begin() + row + count);
  endRemoveRows();
  emit rulesEdited();
  return true;
}

bool RuleTableModel::moveRows(const QModelIndex& source_parent, int source_row, int count,
                              const QModelIndex& destination_parent, int destination_child) {
  if (source_parent.isValid() || destination_parent.isValid() || count <= 0 || source_row < 0 ||
      source_row + count > rowCount() || destination_child < 0 || destination_child > rowCount())
    return false;
  if (!beginMoveRows({}, source_row, source_row + count - 1, {}, destination_child)) return false;
  const auto first = rows_.begin() + source_row;
  const auto last = first + count;
  if (destination_child < source_row)
    std::rotate(rows_.begin() + destination_child, first, last);
  else
    std::rotate(first, last, rows_.begin() + destination_child);
  endMoveRows();
  emit rulesEdited();
  return true;
}

}  // namespace ckpt::ui
