#pragma once
// A Qt item model over a checkpoint's metadata being edited: one row per key
// (columns key / type / value) and, under an array, one row per element.
// Element rows are created lazily, kFetchChunk at a time through
// canFetchMore/fetchMore, so a 150,000-token vocabulary costs one row until
// it is expanded and then only what is scrolled into view.
//
// Edits go through the core's typed parsing (io/metadata_edit.h): a value that
// does not fit its type, a key that is empty or taken, a type the format
// cannot store are refused with editRejected(sentence) and change nothing.
#include <QAbstractItemModel>
#include <QString>

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "io/checkpoint.h"
#include "io/metadata.h"

namespace ckpt::ui {

class MetadataModel : public QAbstractItemModel {
  Q_OBJECT

 public:
  enum Column : int { Key, Type, Value, ColumnCount };
  enum Role : int {
    MetaTypeRole = Qt::UserRole + 1,  // int(io::MetaType) of the row's value (Array for arrays)
    ElementTypeRole,                  // int(io::MetaType) of an array's elements
    EditedRole,                       // bool: differs from what the file holds
  };
  static constexpr int kFetchChunk = 1000;

  explicit MetadataModel(QObject* parent = nullptr);

  // Shows `meta` as the file's metadata. Edits are checked against what
  // `format` stores; with `editable` false nothing can be changed.
  void setMetadata(io::Metadata meta, io::Format format, bool editable);
  void clear();

  [[nodiscard]] const io::Metadata& metadata() const { return meta_; }
  [[nodiscard]] io::Format format() const { return format_; }
  [[nodiscard]] bool isEditable() const { return editable_; }
  [[nodiscard]] bool isDirty() const { return dirty_; }
  // The types a value may take in this format, in the order an editor lists them.
  [[nodiscard]] static std::vector<io::MetaType> valueTypes(io::Format format);

  // Back to the metadata last set or saved.
  void discardEdits();
  // `saved` is what the file now holds; edits made after it was taken stay marked.
  void markSaved(const io::Metadata& saved);
  // Appends a key. Returns its index, or an invalid index with `error` set.
  QModelIndex addEntry(const QString& key, io::MetaType type, const QString& value_text,
                       io::MetaType element_type = io::MetaType::String, QString* error = nullptr);
  [[nodiscard]] QModelIndex indexOfKey(const QString& key) const;
  // Element rows of the array at `parent` created so far.
  [[nodiscard]] int fetchedCount(const QModelIndex& parent) const;

  [[nodiscard]] QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  [[nodiscard]] QModelIndex parent(const QModelIndex& child) const override;
  [[nodiscard]] int rowCount(const QModelIndex& parent = {}) const override;
  [[nodiscard]] int columnCount(const QModelIndex& parent = {}) const override;
  [[nodiscard]] bool hasChildren(const QModelIndex& parent = {}) const override;
  [[nodiscard]] bool canFetchMore(const QModelIndex& parent) const override;
  void fetchMore(const QModelIndex& parent) override;
  [[nodiscard]] QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  [[nodiscard]] QVariant headerData(int section, Qt::Orientation orientation,
                                    int role = Qt::DisplayRole) const override;
  [[nodiscard]] Qt::ItemFlags flags(const QModelIndex& index) const override;
  bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
  // Removes keys (top level only; array elements are edited, not removed).
  bool removeRows(int row, int count, const QModelIndex& parent = {}) override;

 signals:
  void dirtyChanged(bool dirty);
  void editRejected(const QString& why);

 private:
  // Per top-level row: a stable id (element indexes carry it, so they keep
  // their parent when keys above are removed) and how many elements exist as rows.
  struct Row {
    quintptr id = 0;
    int fetched = 0;
    bool edited = false;
  };

  [[nodiscard]] bool isElement(const QModelIndex& index) const { return index.isValid() && index.internalId() != 0; }
  [[nodiscard]] int keyRow(const QModelIndex& index) const;  // the top-level row an index belongs to
  [[nodiscard]] const io::MetaValue* value(const QModelIndex& index) const;
  [[nodiscard]] QVariant displayData(const QModelIndex& index) const;
  bool setKey(int row, const QString& key);
  bool setValue(const QModelIndex& index, const QString& text);
  bool setType(int row, const QVariant& type);
  bool reject(const QString& why);
  void resetRows();
  void reindex();
  void valueEdited(int row);
  void updateDirty();

  // Set while a structural change is being announced (reset, insert,
  // remove): slots connected to those signals must not start fetching rows
  // in the middle of it, so canFetchMore says no until it is over.
  class Changing;
  bool changing_ = false;

  io::Metadata meta_;
  io::Metadata original_;
  io::Format format_ = io::Format::Safetensors;
  bool editable_ = false;
  bool dirty_ = false;
  std::vector<Row> rows_;
  std::unordered_map<quintptr, int> row_of_id_;
  quintptr next_id_ = 1;
};

}  // namespace ckpt::ui
