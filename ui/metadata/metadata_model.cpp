#include "ui/metadata/metadata_model.h"

#include <QFont>

#include <algorithm>

#include "io/error.h"
#include "io/metadata_edit.h"

namespace ckpt::ui {

namespace {

QString fromStd(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size())); }

constexpr int kDisplayChars = 240;  // a cell shows one line; the tooltip and editor show all
constexpr int kPreviewChars = 100;
constexpr int kTooltipChars = 2000;

// One line: control characters shown as escapes, so a chat template does not
// stretch its row or hide behind a newline.
QString oneLine(const QString& s, int max_chars) {
  QString out;
  out.reserve(std::min<qsizetype>(s.size(), max_chars) + 8);
  for (const QChar c : s) {
    if (out.size() >= max_chars) {
      out += QChar(0x2026);
      break;
    }
    if (c == QLatin1Char('\n')) out += QLatin1String("\\n");
    else if (c == QLatin1Char('\t')) out += QLatin1String("\\t");
    else if (c == QLatin1Char('\r')) out += QLatin1String("\\r");
    else if (c.category() == QChar::Other_Control) out += QStringLiteral("\\x%1").arg(c.unicode(), 2, 16, QLatin1Char('0'));
    else out += c;
  }
  return out;
}

QString typeName(io::MetaType t) { return QString::fromLatin1(io::meta_type_name(t)); }

QString typeText(const io::MetaValue& v) {
  if (v.type == io::MetaType::Array) return QStringLiteral("array[%1]").arg(typeName(v.element_type));
  return typeName(v.type);
}

QString itemPreview(const io::MetaValue& v) {
  switch (v.type) {
    case io::MetaType::String: return QLatin1Char('"') + oneLine(fromStd(v.s), kPreviewChars) + QLatin1Char('"');
    case io::MetaType::Array:
      return QStringLiteral("[%1 × %2]").arg(v.items.size()).arg(typeName(v.element_type));
    default: return fromStd(io::meta_value_text(v));
  }
}

// `[151936 × string] "<unk>", "<s>", …`: the size and type, then as many
// leading elements as fit a glance. Reads at most a handful of elements.
QString arrayPreview(const io::MetaValue& v) {
  QString out = QStringLiteral("[%1 × %2]").arg(v.items.size()).arg(typeName(v.element_type));
  QString items;
  std::size_t k = 0;
  for (; k < v.items.size() && items.size() < kPreviewChars; ++k) {
    if (k) items += QLatin1String(", ");
    items += itemPreview(v.items[k]);
  }
  if (!items.isEmpty()) out += QLatin1Char(' ') + items;
  if (k < v.items.size()) out += QStringLiteral(", …");
  return out;
}

QString valueText(const io::MetaValue& v, int max_chars) {
  if (v.type == io::MetaType::Array) return arrayPreview(v);
  if (v.type == io::MetaType::String) return oneLine(fromStd(v.s), max_chars);
  return fromStd(io::meta_value_text(v));
}

bool isScalar(io::MetaType t) { return t != io::MetaType::Array && t != io::MetaType::Null; }

}  // namespace

class MetadataModel::Changing {
 public:
  explicit Changing(bool& flag) : flag_(flag) { flag_ = true; }
  ~Changing() { flag_ = false; }
  Changing(const Changing&) = delete;
  Changing& operator=(const Changing&) = delete;

 private:
  bool& flag_;
};

MetadataModel::MetadataModel(QObject* parent) : QAbstractItemModel(parent) {}

std::vector<io::MetaType> MetadataModel::valueTypes(io::Format format) {
  using io::MetaType;
  std::vector<MetaType> out;
  for (MetaType t : {MetaType::String, MetaType::Bool, MetaType::U8, MetaType::I8, MetaType::U16, MetaType::I16,
                     MetaType::U32, MetaType::I32, MetaType::U64, MetaType::I64, MetaType::F32, MetaType::F64})
    if (io::format_stores_meta_type(format, t)) out.push_back(t);
  return out;
}

void MetadataModel::setMetadata(io::Metadata meta, io::Format format, bool editable) {
  const Changing changing(changing_);
  beginResetModel();
  original_ = meta;
  meta_ = std::move(meta);
  format_ = format;
  editable_ = editable;
  resetRows();
  endResetModel();
  updateDirty();
}

void MetadataModel::clear() { setMetadata({}, io::Format::Safetensors, false); }

void MetadataModel::discardEdits() {
  const Changing changing(changing_);
  beginResetModel();
  meta_ = original_;
  resetRows();
  endResetModel();
  updateDirty();
}

void MetadataModel::markSaved(const io::Metadata& saved) {
  original_ = saved;
  for (std::size_t r = 0; r < meta_.size(); ++r) valueEdited(static_cast<int>(r));
  if (!meta_.empty()) emit dataChanged(index(0, 0), index(static_cast<int>(meta_.size()) - 1, ColumnCount - 1), {Qt::FontRole, EditedRole});
  updateDirty();
}

void MetadataModel::resetRows() {
  rows_.assign(meta_.size(), Row{});
  for (auto& r : rows_) r.id = next_id_++;
  for (std::size_t r = 0; r < meta_.size(); ++r) valueEdited(static_cast<int>(r));
  reindex();
}

void MetadataModel::reindex() {
  row_of_id_.clear();
  for (std::size_t r = 0; r < rows_.size(); ++r) row_of_id_[rows_[r].id] = static_cast<int>(r);
}

void MetadataModel::valueEdited(int row) {
  const io::MetaEntry& e = meta_[static_cast<std::size_t>(row)];
  const io::MetaValue* was = io::find(original_, e.key);
  rows_[static_cast<std::size_t>(row)].edited = was == nullptr || !(*was == e.value);
}

void MetadataModel::updateDirty() {
  const bool dirty = meta_ != original_;
  if (dirty == dirty_) return;
  dirty_ = dirty;
  emit dirtyChanged(dirty_);
}

bool MetadataModel::reject(const QString& why) {
  emit editRejected(why);
  return false;
}

int MetadataModel::keyRow(const QModelIndex& index) const {
  if (!isElement(index)) return index.row();
  const auto it = row_of_id_.find(index.internalId());
  return it == row_of_id_.end() ? -1 : it->second;
}

const io::MetaValue* MetadataModel::value(const QModelIndex& index) const {
  if (!index.isValid()) return nullptr;
  const int row = keyRow(index);
  if (row < 0 || row >= static_cast<int>(meta_.size())) return nullptr;
  const io::MetaValue& v = meta_[static_cast<std::size_t>(row)].value;
  if (!isElement(index)) return &v;
  if (index.row() >= static_cast<int>(v.items.size())) return nullptr;
  return &v.items[static_cast<std::size_t>(index.row())];
}

QModelIndex MetadataModel::indexOfKey(const QString& key) const {
  const std::string k = key.toStdString();
  for (std::size_t r = 0; r < meta_.size(); ++r)
    if (meta_[r].key == k) return index(static_cast<int>(r), Key);
  return {};
}

int MetadataModel::fetchedCount(const QModelIndex& parent) const {
  if (!parent.isValid() || isElement(parent)) return 0;
  return rows_[static_cast<std::size_t>(parent.row())].fetched;
}

QModelIndex MetadataModel::index(int row, int column, const QModelIndex& parent) const {
  if (!hasIndex(row, column, parent)) return {};
  if (!parent.isValid()) return createIndex(row, column, quintptr{0});
  return createIndex(row, column, rows_[static_cast<std::size_t>(parent.row())].id);
}

QModelIndex MetadataModel::parent(const QModelIndex& child) const {
  if (!isElement(child)) return {};
  const int row = keyRow(child);
  return row < 0 ? QModelIndex() : createIndex(row, 0, quintptr{0});
}

int MetadataModel::rowCount(const QModelIndex& parent) const {
  if (!parent.isValid()) return static_cast<int>(meta_.size());
  if (isElement(parent) || parent.column() != 0) return 0;
  return rows_[static_cast<std::size_t>(parent.row())].fetched;
}

int MetadataModel::columnCount(const QModelIndex& /*parent*/) const { return ColumnCount; }

bool MetadataModel::hasChildren(const QModelIndex& parent) const {
  if (!parent.isValid()) return !meta_.empty();
  if (isElement(parent) || parent.column() != 0) return false;
  const io::MetaValue& v = meta_[static_cast<std::size_t>(parent.row())].value;
  return v.type == io::MetaType::Array && !v.items.empty();
}

bool MetadataModel::canFetchMore(const QModelIndex& parent) const {
  if (changing_ || !parent.isValid() || isElement(parent) || parent.column() != 0) return false;
  const io::MetaValue& v = meta_[static_cast<std::size_t>(parent.row())].value;
  return v.type == io::MetaType::Array &&
         static_cast<std::size_t>(rows_[static_cast<std::size_t>(parent.row())].fetched) < v.items.size();
}

void MetadataModel::fetchMore(const QModelIndex& parent) {
  if (!canFetchMore(parent)) return;
  const Changing changing(changing_);
  Row& r = rows_[static_cast<std::size_t>(parent.row())];
  const auto total = meta_[static_cast<std::size_t>(parent.row())].value.items.size();
  const int n = static_cast<int>(std::min<std::size_t>(kFetchChunk, total - static_cast<std::size_t>(r.fetched)));
  beginInsertRows(parent, r.fetched, r.fetched + n - 1);
  r.fetched += n;
  endInsertRows();
}

QVariant MetadataModel::data(const QModelIndex& index, int role) const {
  const io::MetaValue* v = value(index);
  if (v == nullptr) return {};
  const bool element = isElement(index);
  switch (role) {
    case Qt::DisplayRole: return displayData(index);
    case Qt::EditRole:
      if (index.column() == Key && !element) return fromStd(meta_[static_cast<std::size_t>(index.row())].key);
      if (index.column() == Type)
        return static_cast<int>(v->type == io::MetaType::Array ? v->element_type : v->type);
      if (index.column() == Value && isScalar(v->type)) return fromStd(io::meta_value_text(*v));
      return displayData(index);
    case Qt::ToolTipRole:
      if (index.column() != Value) return {};
      if (v->type == io::MetaType::Array)
        return v->items.size() == 1
                   ? tr("1 element of %1; expand the row to see it").arg(typeName(v->element_type))
                   : tr("%1 elements of %2; expand the row to see them").arg(v->items.size()).arg(typeName(v->element_type));
      if (v->type == io::MetaType::String && v->s.size() > 60) {
        QString s = fromStd(v->s);
        if (s.size() > kTooltipChars) s = s.left(kTooltipChars) + QChar(0x2026);
        return s;
      }
      return {};
    case Qt::FontRole: {
      if (element || !rows_[static_cast<std::size_t>(index.row())].edited) return {};
      QFont f;
      f.setBold(true);
      return f;
    }
    case MetaTypeRole: return static_cast<int>(v->type);
    case ElementTypeRole: return static_cast<int>(v->element_type);
    case EditedRole: return !element && rows_[static_cast<std::size_t>(index.row())].edited;
    default: return {};
  }
}

QVariant MetadataModel::displayData(const QModelIndex& index) const {
  const io::MetaValue* v = value(index);
  switch (static_cast<Column>(index.column())) {
    case Key:
      if (isElement(index)) return QString::number(index.row());
      return fromStd(meta_[static_cast<std::size_t>(index.row())].key);
    case Type: return typeText(*v);
    case Value: return valueText(*v, kDisplayChars);
    case ColumnCount: break;
  }
  return {};
}

QVariant MetadataModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (static_cast<Column>(section)) {
    case Key: return tr("Key");
    case Type: return tr("Type");
    case Value: return tr("Value");
    case ColumnCount: break;
  }
  return {};
}

Qt::ItemFlags MetadataModel::flags(const QModelIndex& index) const {
  const io::MetaValue* v = value(index);
  if (v == nullptr) return Qt::NoItemFlags;
  Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
  const bool element = isElement(index);
  if (element) f |= Qt::ItemNeverHasChildren;
  if (!editable_) return f;
  bool can_edit = false;
  switch (static_cast<Column>(index.column())) {
    case Key: can_edit = !element; break;
    case Type:
      // An array's elements share one type, changed on the array's row.
      can_edit = !element && valueTypes(format_).size() > 1 &&
                 (isScalar(v->type) || (v->type == io::MetaType::Array && isScalar(v->element_type)));
      break;
    case Value: can_edit = isScalar(v->type); break;
    case ColumnCount: break;
  }
  return can_edit ? f | Qt::ItemIsEditable : f;
}

bool MetadataModel::setData(const QModelIndex& index, const QVariant& value, int role) {
  if (role != Qt::EditRole || !(flags(index) & Qt::ItemIsEditable)) return false;
  switch (static_cast<Column>(index.column())) {
    case Key: return setKey(index.row(), value.toString());
    case Type: return setType(index.row(), value);
    case Value: return setValue(index, value.toString());
    case ColumnCount: break;
  }
  return false;
}

bool MetadataModel::setKey(int row, const QString& key) {
  const std::string k = key.toStdString();
  io::MetaEntry& e = meta_[static_cast<std::size_t>(row)];
  if (k == e.key) return true;
  if (k.empty()) return reject(tr("A key cannot be empty."));
  if (io::find(meta_, k) != nullptr) return reject(tr("The key \"%1\" already exists.").arg(key));
  e.key = k;
  valueEdited(row);
  emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
  updateDirty();
  return true;
}

bool MetadataModel::setValue(const QModelIndex& idx, const QString& text) {
  const io::MetaValue* old = value(idx);
  io::MetaValue parsed;
  try {
    parsed = io::meta_value_from_text(old->type, text.toStdString());
  } catch (const io::Error& e) {
    return reject(fromStd(e.sentence()));
  }
  const int row = keyRow(idx);
  io::MetaValue& top = meta_[static_cast<std::size_t>(row)].value;
  if (isElement(idx)) top.items[static_cast<std::size_t>(idx.row())] = std::move(parsed);
  else top = std::move(parsed);
  valueEdited(row);
  emit dataChanged(idx.siblingAtColumn(0), idx.siblingAtColumn(ColumnCount - 1));
  // The array's row previews its first elements and is marked edited.
  if (isElement(idx)) emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
  updateDirty();
  return true;
}

bool MetadataModel::setType(int row, const QVariant& type) {
  io::MetaType to{};
  if (type.typeId() == QMetaType::QString) {
    const auto types = valueTypes(format_);
    const auto it = std::find_if(types.begin(), types.end(),
                                 [&](io::MetaType t) { return typeName(t) == type.toString(); });
    if (it == types.end()) return reject(tr("\"%1\" is not a type this format stores.").arg(type.toString()));
    to = *it;
  } else {
    to = static_cast<io::MetaType>(type.toInt());
  }
  if (!io::format_stores_meta_type(format_, to) || !isScalar(to))
    return reject(tr("%1 metadata cannot hold %2 values.").arg(fromStd(io::format_name(format_)), typeName(to)));
  io::MetaValue& v = meta_[static_cast<std::size_t>(row)].value;
  const bool array = v.type == io::MetaType::Array;
  if ((array ? v.element_type : v.type) == to) return true;
  try {
    v = array ? io::convert_meta_value(v, io::MetaType::Array, to) : io::convert_meta_value(v, to);
  } catch (const io::Error& e) {
    return reject(tr("Cannot change the type to %1: %2").arg(typeName(to), fromStd(e.sentence())));
  }
  valueEdited(row);
  emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
  const int fetched = rows_[static_cast<std::size_t>(row)].fetched;
  if (fetched > 0) emit dataChanged(index(0, 0, index(row, 0)), index(fetched - 1, ColumnCount - 1, index(row, 0)));
  updateDirty();
  return true;
}

QModelIndex MetadataModel::addEntry(const QString& key, io::MetaType type, const QString& value_text,
                                    io::MetaType element_type, QString* error) {
  auto fail = [&](const QString& why) {
    if (error) *error = why;
    return QModelIndex();
  };
  if (!editable_) return fail(tr("This metadata cannot be edited."));
  const std::string k = key.toStdString();
  if (k.empty()) return fail(tr("Enter a key."));
  if (io::find(meta_, k) != nullptr) return fail(tr("The key \"%1\" already exists.").arg(key));
  if (!io::format_stores_meta_type(format_, type) ||
      (type == io::MetaType::Array && !io::format_stores_meta_type(format_, element_type)))
    return fail(tr("%1 metadata cannot hold %2 values.").arg(fromStd(io::format_name(format_)), typeName(type)));
  io::MetaValue v;
  try {
    v = io::meta_value_from_text(type, value_text.toStdString(), element_type);
  } catch (const io::Error& e) {
    return fail(fromStd(e.sentence()));
  }
  const int row = static_cast<int>(meta_.size());
  {
    const Changing changing(changing_);
    beginInsertRows({}, row, row);
    meta_.push_back({k, std::move(v)});
    rows_.push_back(Row{next_id_++, 0, false});
    row_of_id_[rows_.back().id] = row;
    valueEdited(row);
    endInsertRows();
  }
  updateDirty();
  return index(row, 0);
}

bool MetadataModel::removeRows(int row, int count, const QModelIndex& parent) {
  // Elements are positions (a token's id is its index): removing one would
  // renumber every element after it, so array elements are edited, never removed.
  if (!editable_ || parent.isValid() || count <= 0 || row < 0 || row + count > rowCount()) return false;
  {
    const Changing changing(changing_);
    beginRemoveRows({}, row, row + count - 1);
    meta_.erase(meta_.begin() + row, meta_.begin() + row + count);
    rows_.erase(rows_.begin() + row, rows_.begin() + row + count);
    reindex();
    endRemoveRows();
  }
  updateDirty();
  return true;
}

}  // namespace ckpt::ui
