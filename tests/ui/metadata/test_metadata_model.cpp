// MetadataModel under QAbstractItemModelTester: a GGUF whose 150,000-token
// vocabulary stays one collapsed row until fetched in chunks, typed edits
// accepted or refused with a reason, keys added, renamed and removed.
#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include "io/metadata_edit.h"
#include "io/open.h"
#include "ui/metadata/metadata_model.h"

using ckpt::io::MetaType;
using ckpt::io::MetaValue;
using ckpt::ui::MetadataModel;

namespace {

constexpr int kTokens = 150'000;

ckpt::io::Metadata vocabularyMetadata() {
  std::vector<MetaValue> tokens;
  tokens.reserve(kTokens);
  tokens.push_back(MetaValue::string("<unk>"));
  tokens.push_back(MetaValue::string("<s>"));
  for (int k = 2; k < kTokens; ++k) tokens.push_back(MetaValue::string("tok" + std::to_string(k)));
  return {
      {"general.architecture", MetaValue::string("llama")},
      {"llama.context_length", MetaValue::unsigned_int(MetaType::U32, 4096)},
      {"tokenizer.ggml.tokens", MetaValue::array(MetaType::String, std::move(tokens))},
      {"tokenizer.ggml.token_type", MetaValue::array(MetaType::I32, {MetaValue::signed_int(MetaType::I32, 1),
                                                                    MetaValue::signed_int(MetaType::I32, 3)})},
      {"tokenizer.ggml.add_bos_token", MetaValue::boolean(true)},
      {"llama.rope.freq_base", MetaValue::floating(MetaType::F32, 10000.0)},
      {"tokenizer.chat_template", MetaValue::string("{% for m in messages %}\n{{ m.content }}\n{% endfor %}")},
  };
}

// A real GGUF on disk, so the model shows what the reader produced.
ckpt::io::Checkpoint writeGguf(const QTemporaryDir& dir) {
  const std::string path = dir.filePath(QStringLiteral("vocab.gguf")).toStdString();
  ckpt::io::TensorInfo t;
  t.name = "w";
  t.dtype = ckpt::io::DType::F32;
  t.shape = {4};
  t.nbytes = 16;
  t.data = ckpt::io::make_memory_data(std::vector<std::byte>(16, std::byte{1}));
  ckpt::io::WriteOptions opt;
  opt.sync = false;
  ckpt::io::write_checkpoint(path, ckpt::io::Format::Gguf, std::span(&t, 1), vocabularyMetadata(), opt);
  return ckpt::io::open_checkpoint(path);
}

QString cell(const MetadataModel& m, const QString& key, int column) {
  return m.indexOfKey(key).siblingAtColumn(column).data().toString();
}

}  // namespace

class TestMetadataModel : public QObject {
  Q_OBJECT

 private slots:
  void init() {
    QVERIFY(dir_.isValid());
    model_ = std::make_unique<MetadataModel>();
    tester_ = std::make_unique<QAbstractItemModelTester>(model_.get(),
                                                         QAbstractItemModelTester::FailureReportingMode::QtTest);
  }
  void cleanup() {
    tester_.reset();
    model_.reset();
  }

  void largeArrayIsOneCollapsedRowFetchedInChunks() {
    const auto ck = writeGguf(dir_);
    model_->setMetadata(ck.metadata, ck.format, true);
    QCOMPARE(model_->rowCount(), 7);
    const QModelIndex tokens = model_->indexOfKey(QStringLiteral("tokenizer.ggml.tokens"));
    QVERIFY(tokens.isValid());
    QVERIFY(model_->hasChildren(tokens));
    QVERIFY(model_->canFetchMore(tokens));
    QCOMPARE(model_->rowCount(tokens), 0);  // nothing built before it is expanded
    QCOMPARE(tokens.siblingAtColumn(MetadataModel::Type).data().toString(), QStringLiteral("array[string]"));
    const QString preview = tokens.siblingAtColumn(MetadataModel::Value).data().toString();
    QVERIFY2(preview.startsWith(QStringLiteral("[150000 × string] \"<unk>\", \"<s>\", \"tok2\"")), qPrintable(preview));
    QVERIFY2(preview.endsWith(QStringLiteral(", …")), qPrintable(preview));
    QVERIFY(preview.size() < 160);
    QCOMPARE(tokens.siblingAtColumn(MetadataModel::Value).data(Qt::ToolTipRole).toString(),
             QStringLiteral("150000 elements of string; expand the row to see them"));

    model_->fetchMore(tokens);
    QCOMPARE(model_->rowCount(tokens), MetadataModel::kFetchChunk);
    const QModelIndex second = model_->index(1, MetadataModel::Value, tokens);
    QCOMPARE(second.data().toString(), QStringLiteral("<s>"));
    QCOMPARE(model_->index(1, MetadataModel::Key, tokens).data().toString(), QStringLiteral("1"));
    QCOMPARE(model_->parent(second), tokens.siblingAtColumn(0));
    QVERIFY(!model_->hasChildren(second.siblingAtColumn(0)));

    model_->fetchMore(tokens);
    QCOMPARE(model_->rowCount(tokens), 2 * MetadataModel::kFetchChunk);

    // The tester re-walks every fetched row after each insertion; walking the
    // remaining 148 chunks under it would test nothing new, only slowly.
    tester_.reset();
    while (model_->canFetchMore(tokens)) model_->fetchMore(tokens);
    QCOMPARE(model_->rowCount(tokens), kTokens);
    QCOMPARE(model_->index(kTokens - 1, MetadataModel::Value, tokens).data().toString(),
             QStringLiteral("tok%1").arg(kTokens - 1));
    QVERIFY(!model_->isDirty());
  }

  void scalarsShowTheirTypesAndText() {
    const auto ck = writeGguf(dir_);
    model_->setMetadata(ck.metadata, ck.format, true);
    QCOMPARE(cell(*model_, QStringLiteral("llama.context_length"), MetadataModel::Type), QStringLiteral("uint32"));
    QCOMPARE(cell(*model_, QStringLiteral("llama.rope.freq_base"), MetadataModel::Value), QStringLiteral("10000"));
    QCOMPARE(cell(*model_, QStringLiteral("tokenizer.ggml.add_bos_token"), MetadataModel::Value), QStringLiteral("true"));
    // One line in the cell, the real text in the editor.
    const QModelIndex tmpl = model_->indexOfKey(QStringLiteral("tokenizer.chat_template")).siblingAtColumn(MetadataModel::Value);
    QVERIFY(!tmpl.data().toString().contains(QLatin1Char('\n')));
    QVERIFY(tmpl.data(Qt::EditRole).toString().contains(QLatin1Char('\n')));
  }

  void typedValueEdits() {
    const auto ck = writeGguf(dir_);
    model_->setMetadata(ck.metadata, ck.format, true);
    QSignalSpy dirty(model_.get(), &MetadataModel::dirtyChanged);
    QSignalSpy rejected(model_.get(), &MetadataModel::editRejected);
    const QModelIndex ctx = model_->indexOfKey(QStringLiteral("llama.context_length")).siblingAtColumn(MetadataModel::Value);

    QVERIFY(ctx.flags() & Qt::ItemIsEditable);
    QVERIFY(model_->setData(ctx, QStringLiteral("8192")));
    QCOMPARE(ctx.data().toString(), QStringLiteral("8192"));
    QCOMPARE(*ckpt::io::find(model_->metadata(), "llama.context_length"), MetaValue::unsigned_int(MetaType::U32, 8192));
    QVERIFY(model_->isDirty());
    QCOMPARE(dirty.count(), 1);
    QVERIFY(ctx.siblingAtColumn(0).data(MetadataModel::EditedRole).toBool());

    QVERIFY(!model_->setData(ctx, QStringLiteral("-1")));
    QCOMPARE(rejected.count(), 1);
    QCOMPARE(rejected.at(0).at(0).toString(),
             QStringLiteral("'-1' is negative; uint32 (0 to 4294967295) holds no negative numbers"));
    QVERIFY(!model_->setData(ctx, QStringLiteral("lots")));
    QCOMPARE(ctx.data().toString(), QStringLiteral("8192"));

    // Back to the file's value: no longer dirty.
    QVERIFY(model_->setData(ctx, QStringLiteral("4096")));
    QVERIFY(!model_->isDirty());
    QCOMPARE(dirty.count(), 2);

    const QModelIndex bos = model_->indexOfKey(QStringLiteral("tokenizer.ggml.add_bos_token")).siblingAtColumn(MetadataModel::Value);
    QVERIFY(model_->setData(bos, QStringLiteral("false")));
    QCOMPARE(bos.data().toString(), QStringLiteral("false"));
    QVERIFY(!model_->setData(bos, QStringLiteral("perhaps")));

    const QModelIndex rope = model_->indexOfKey(QStringLiteral("llama.rope.freq_base")).siblingAtColumn(MetadataModel::Value);
    QVERIFY(model_->setData(rope, QStringLiteral("500000.5")));
    QCOMPARE(rope.data().toString(), QStringLiteral("500000.5"));
    QVERIFY(!model_->setData(rope, QStringLiteral("1e99")));
  }

  void typeChangesConvertTheValue() {
    const auto ck = writeGguf(dir_);
    model_->setMetadata(ck.metadata, ck.format, true);
    QSignalSpy rejected(model_.get(), &MetadataModel::editRejected);
    const QModelIndex ctx = model_->indexOfKey(QStringLiteral("llama.context_length")).siblingAtColumn(MetadataModel::Type);
    QVERIFY(ctx.flags() & Qt::ItemIsEditable);
    QVERIFY(model_->setData(ctx, static_cast<int>(MetaType::U64)));
    QCOMPARE(ctx.data().toString(), QStringLiteral("uint64"));
    QCOMPARE(*ckpt::io::find(model_->metadata(), "llama.context_length"), MetaValue::unsigned_int(MetaType::U64, 4096));
    QVERIFY(!model_->setData(ctx, QStringLiteral("uint8")));  // 4096 does not fit
    QCOMPARE(rejected.count(), 1);
    QVERIFY(rejected.at(0).at(0).toString().contains(QStringLiteral("does not fit uint8")));

    // An array changes its element type on its own row.
    const QModelIndex types = model_->indexOfKey(QStringLiteral("tokenizer.ggml.token_type"));
    QVERIFY(model_->setData(types.siblingAtColumn(MetadataModel::Type), QStringLiteral("uint8")));
    QCOMPARE(types.siblingAtColumn(MetadataModel::Type).data().toString(), QStringLiteral("array[uint8]"));
    QCOMPARE(types.siblingAtColumn(MetadataModel::Value).data().toString(), QStringLiteral("[2 × uint8] 1, 3"));
  }

  void arrayElementsAreEditableNotRemovable() {
    const auto ck = writeGguf(dir_);
    model_->setMetadata(ck.metadata, ck.format, true);
    const QModelIndex tokens = model_->indexOfKey(QStringLiteral("tokenizer.ggml.tokens"));
    model_->fetchMore(tokens);
    const QModelIndex bos = model_->index(1, MetadataModel::Value, tokens);
    QVERIFY(bos.flags() & Qt::ItemIsEditable);
    QVERIFY(!(model_->index(1, MetadataModel::Type, tokens).flags() & Qt::ItemIsEditable));
    QVERIFY(model_->setData(bos, QStringLiteral("<bos>")));
    QCOMPARE(ckpt::io::find(model_->metadata(), "tokenizer.ggml.tokens")->items[1].s, std::string("<bos>"));
    QVERIFY(tokens.siblingAtColumn(MetadataModel::Value).data().toString().contains(QStringLiteral("\"<bos>\"")));
    QVERIFY(tokens.data(MetadataModel::EditedRole).toBool());

    // A token's id is its position: elements are never removed.
    QVERIFY(!model_->removeRows(0, 1, tokens));
    QCOMPARE(ckpt::io::find(model_->metadata(), "tokenizer.ggml.tokens")->items.size(), std::size_t{kTokens});

    const QModelIndex types = model_->indexOfKey(QStringLiteral("tokenizer.ggml.token_type"));
    model_->fetchMore(types);
    QVERIFY(!model_->setData(model_->index(0, MetadataModel::Value, types), QStringLiteral("3000000000")));
  }

  void elementIndexesKeepTheirParentWhenKeysAboveGo() {
    const auto ck = writeGguf(dir_);
    model_->setMetadata(ck.metadata, ck.format, true);
    const QModelIndex tokens = model_->indexOfKey(QStringLiteral("tokenizer.ggml.tokens"));
    model_->fetchMore(tokens);
    const QPersistentModelIndex element(model_->index(5, MetadataModel::Value, tokens));
    QVERIFY(model_->removeRows(0, 2));  // general.architecture, llama.context_length
    QVERIFY(element.isValid());
    QCOMPARE(element.parent().row(), 0);
    QCOMPARE(element.parent().data().toString(), QStringLiteral("tokenizer.ggml.tokens"));
    QCOMPARE(element.data().toString(), QStringLiteral("tok5"));
  }

  void addRenameAndRemoveKeys() {
    const auto ck = writeGguf(dir_);
    model_->setMetadata(ck.metadata, ck.format, true);
    QString why;
    const QModelIndex added = model_->addEntry(QStringLiteral("custom.layers"), MetaType::U16, QStringLiteral("32"),
                                               MetaType::String, &why);
    QVERIFY2(added.isValid(), qPrintable(why));
    QCOMPARE(added.row(), 7);
    QCOMPARE(cell(*model_, QStringLiteral("custom.layers"), MetadataModel::Type), QStringLiteral("uint16"));
    QVERIFY(model_->isDirty());

    QVERIFY(!model_->addEntry(QStringLiteral("custom.layers"), MetaType::String, QStringLiteral("x")).isValid());
    QVERIFY(!model_->addEntry(QStringLiteral("custom.big"), MetaType::U8, QStringLiteral("256"), MetaType::String, &why).isValid());
    QCOMPARE(why, QStringLiteral("'256' does not fit uint8 (0 to 255)"));
    QVERIFY(!model_->addEntry(QString(), MetaType::String, QStringLiteral("x"), MetaType::String, &why).isValid());
    const QModelIndex list = model_->addEntry(QStringLiteral("custom.ids"), MetaType::Array, QStringLiteral("[1, 2, 3]"),
                                              MetaType::I64, &why);
    QVERIFY2(list.isValid(), qPrintable(why));
    QVERIFY(model_->hasChildren(list));

    QSignalSpy rejected(model_.get(), &MetadataModel::editRejected);
    QVERIFY(!model_->setData(added, QStringLiteral("general.architecture")));
    QVERIFY(!model_->setData(added, QString()));
    QCOMPARE(rejected.count(), 2);
    QVERIFY(model_->setData(added, QStringLiteral("custom.block_count")));
    QVERIFY(ckpt::io::find(model_->metadata(), "custom.block_count") != nullptr);

    QVERIFY(model_->removeRows(list.row(), 1));
    QVERIFY(model_->removeRows(model_->indexOfKey(QStringLiteral("custom.block_count")).row(), 1));
    QVERIFY(!model_->isDirty());  // back to what the file holds
    QVERIFY(model_->removeRows(0, 1));
    QVERIFY(model_->isDirty());
    QVERIFY(ckpt::io::find(model_->metadata(), "general.architecture") == nullptr);

    model_->discardEdits();
    QVERIFY(!model_->isDirty());
    QCOMPARE(model_->rowCount(), 7);
    QCOMPARE(model_->metadata(), ck.metadata);
  }

  void markSavedKeepsLaterEditsDirty() {
    const auto ck = writeGguf(dir_);
    model_->setMetadata(ck.metadata, ck.format, true);
    const QModelIndex ctx = model_->indexOfKey(QStringLiteral("llama.context_length")).siblingAtColumn(MetadataModel::Value);
    QVERIFY(model_->setData(ctx, QStringLiteral("1024")));
    const auto snapshot = model_->metadata();
    QVERIFY(model_->setData(ctx, QStringLiteral("2048")));
    model_->markSaved(snapshot);
    QVERIFY(model_->isDirty());
    QVERIFY(model_->setData(ctx, QStringLiteral("1024")));
    QVERIFY(!model_->isDirty());
    QVERIFY(!ctx.siblingAtColumn(0).data(MetadataModel::EditedRole).toBool());
  }

  void safetensorsHoldsStringsOnly() {
    ckpt::io::Metadata meta{{"format", MetaValue::string("pt")}, {"note", MetaValue::string("hi")}};
    model_->setMetadata(meta, ckpt::io::Format::Safetensors, true);
    const QModelIndex note = model_->indexOfKey(QStringLiteral("note"));
    QVERIFY(!(note.siblingAtColumn(MetadataModel::Type).flags() & Qt::ItemIsEditable));
    QVERIFY(model_->setData(note.siblingAtColumn(MetadataModel::Value), QStringLiteral("anything at all")));
    QString why;
    QVERIFY(!model_->addEntry(QStringLiteral("n"), MetaType::U32, QStringLiteral("1"), MetaType::String, &why).isValid());
    QCOMPARE(why, QStringLiteral("safetensors metadata cannot hold uint32 values."));
    QVERIFY(model_->addEntry(QStringLiteral("n"), MetaType::String, QStringLiteral("1")).isValid());
    QCOMPARE(MetadataModel::valueTypes(ckpt::io::Format::Safetensors), std::vector<MetaType>{MetaType::String});
  }

  void readOnlyMetadataRefusesEdits() {
    ckpt::io::Metadata meta{{"epoch", MetaValue::signed_int(MetaType::I64, 3)}, {"opt", MetaValue::null()}};
    model_->setMetadata(meta, ckpt::io::Format::PyTorch, false);
    const QModelIndex epoch = model_->indexOfKey(QStringLiteral("epoch"));
    for (int c = 0; c < MetadataModel::ColumnCount; ++c)
      QVERIFY(!(epoch.siblingAtColumn(c).flags() & Qt::ItemIsEditable));
    QVERIFY(!model_->setData(epoch.siblingAtColumn(MetadataModel::Value), QStringLiteral("4")));
    QVERIFY(!model_->removeRows(0, 1));
    QVERIFY(!model_->addEntry(QStringLiteral("x"), MetaType::String, QStringLiteral("y")).isValid());
    QCOMPARE(cell(*model_, QStringLiteral("opt"), MetadataModel::Value), QStringLiteral("null"));
    QVERIFY(!model_->isDirty());
  }

 private:
  QTemporaryDir dir_;
  std::unique_ptr<MetadataModel> model_;
  std::unique_ptr<QAbstractItemModelTester> tester_;
};

QTEST_MAIN(TestMetadataModel)
#include "test_metadata_model.moc"
