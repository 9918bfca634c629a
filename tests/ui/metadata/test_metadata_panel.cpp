// MetadataPanel end to end: edits saved on the worker thread to a new file
// and over the open source, errors shown inline, read-only formats say why,
// the Add dialog and the Delete key, and a panel destroyed mid-save.
#include <QAbstractItemModelTester>
#include <QComboBox>
#include <QDir>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeView>

#include <filesystem>
#include <fstream>
#include <memory>

#include "io/open.h"
#include "ui/metadata/add_entry_dialog.h"
#include "ui/metadata/metadata_model.h"
#include "ui/metadata/metadata_panel.h"

using ckpt::io::MetaType;
using ckpt::io::MetaValue;
using ckpt::ui::AddEntryDialog;
using ckpt::ui::MetadataModel;
using ckpt::ui::MetadataPanel;

namespace {

constexpr int kSaveTimeoutMs = 15000;

ckpt::io::TensorInfo memoryTensor(std::string name, std::size_t n, std::uint8_t fill) {
  ckpt::io::TensorInfo t;
  t.name = std::move(name);
  t.dtype = ckpt::io::DType::F32;
  t.shape = {static_cast<std::int64_t>(n)};
  t.nbytes = n * 4;
  t.data = ckpt::io::make_memory_data(std::vector<std::byte>(t.nbytes, std::byte{fill}));
  return t;
}

ckpt::io::Metadata ggufMetadata() {
  std::vector<MetaValue> tokens;
  for (int k = 0; k < 32000; ++k) tokens.push_back(MetaValue::string(k == 0 ? "<unk>" : "▁tok" + std::to_string(k)));
  std::vector<MetaValue> scores;
  for (int k = 0; k < 32000; ++k) scores.push_back(MetaValue::floating(MetaType::F32, -static_cast<double>(k) / 4));
  return {
      {"general.architecture", MetaValue::string("llama")},
      {"general.name", MetaValue::string("TinyLlama 1.1B Chat")},
      {"general.alignment", MetaValue::unsigned_int(MetaType::U32, 32)},
      {"llama.context_length", MetaValue::unsigned_int(MetaType::U32, 2048)},
      {"llama.embedding_length", MetaValue::unsigned_int(MetaType::U32, 2048)},
      {"llama.rope.freq_base", MetaValue::floating(MetaType::F32, 10000.0)},
      {"llama.attention.layer_norm_rms_epsilon", MetaValue::floating(MetaType::F32, 1e-5)},
      {"tokenizer.ggml.model", MetaValue::string("llama")},
      {"tokenizer.ggml.tokens", MetaValue::array(MetaType::String, std::move(tokens))},
      {"tokenizer.ggml.scores", MetaValue::array(MetaType::F32, std::move(scores))},
      {"tokenizer.ggml.add_bos_token", MetaValue::boolean(true)},
      {"tokenizer.chat_template",
       MetaValue::string("{% for message in messages %}\n<|{{ message.role }}|>\n{{ message.content }}</s>\n{% endfor %}")},
  };
}

std::shared_ptr<const ckpt::io::Checkpoint> open(const QString& path) {
  return std::make_shared<const ckpt::io::Checkpoint>(ckpt::io::open_checkpoint(path.toStdString()));
}

QString write(const QTemporaryDir& dir, const QString& name, ckpt::io::Format format, const ckpt::io::Metadata& meta,
              std::size_t elements = 64) {
  const QString path = dir.filePath(name);
  const std::vector<ckpt::io::TensorInfo> tensors{memoryTensor("a.weight", elements, 1), memoryTensor("b.bias", 8, 2)};
  ckpt::io::WriteOptions opt;
  opt.sync = false;
  ckpt::io::write_checkpoint(path.toStdString(), format, tensors, meta, opt);
  return path;
}

QPushButton* button(const MetadataPanel& panel, const QString& text) {
  for (auto* b : panel.findChildren<QPushButton*>())
    if (b->text().remove(QLatin1Char('&')) == text) return b;
  return nullptr;
}

QStringList leftovers(const QTemporaryDir& dir) {
  // Writers' temporaries are hidden: ".NAME.ckpt-tmp-PID-XXXXXX".
  return QDir(dir.path()).entryList({QStringLiteral(".*.ckpt-tmp-*")}, QDir::Files | QDir::Hidden);
}

}  // namespace

class TestMetadataPanel : public QObject {
  Q_OBJECT

 private slots:
  void init() { QVERIFY(dir_.isValid()); }

  void savesEditToNewPathInBackground() {
    const QString src = write(dir_, QStringLiteral("tiny.gguf"), ckpt::io::Format::Gguf, ggufMetadata());
    const auto original = open(src)->metadata;  // float32 values as the file holds them
    MetadataPanel panel;
    panel.setSyncOnSave(false);
    QAbstractItemModelTester tester(panel.model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    panel.setCheckpoint(open(src));
    QVERIFY(panel.isEditable());
    QVERIFY(!panel.isDirty());
    QVERIFY(!button(panel, QStringLiteral("Save"))->isEnabled());

    QSignalSpy dirty(&panel, &MetadataPanel::dirtyChanged);
    MetadataModel* model = panel.model();
    QVERIFY(model->setData(model->indexOfKey(QStringLiteral("llama.context_length")).siblingAtColumn(MetadataModel::Value),
                           QStringLiteral("4096")));
    QVERIFY(model->setData(model->indexOfKey(QStringLiteral("general.name")).siblingAtColumn(MetadataModel::Value),
                           QStringLiteral("TinyLlama (edited)")));
    QVERIFY(model->addEntry(QStringLiteral("general.license"), MetaType::String, QStringLiteral("apache-2.0")).isValid());
    QVERIFY(panel.isDirty());
    QCOMPARE(dirty.count(), 1);
    QCOMPARE(dirty.at(0).at(0).toBool(), true);
    QVERIFY(button(panel, QStringLiteral("Save"))->isEnabled());

    QSignalSpy saved(&panel, &MetadataPanel::saved);
    const QString out = dir_.filePath(QStringLiteral("tiny-edited.gguf"));
    panel.saveTo(out);
    QVERIFY(panel.isSaving());
    QVERIFY(!button(panel, QStringLiteral("Save"))->isEnabled());
    QVERIFY(saved.wait(kSaveTimeoutMs));
    QCOMPARE(saved.at(0).at(0).toString(), out);
    QVERIFY(!panel.isSaving());
    QVERIFY(!panel.isDirty());
    QCOMPARE(dirty.count(), 2);

    const auto back = ckpt::io::open_checkpoint(out.toStdString());
    QCOMPARE(*ckpt::io::find(back.metadata, "llama.context_length"), MetaValue::unsigned_int(MetaType::U32, 4096));
    QCOMPARE(ckpt::io::find(back.metadata, "general.name")->s, std::string("TinyLlama (edited)"));
    QCOMPARE(ckpt::io::find(back.metadata, "general.license")->s, std::string("apache-2.0"));
    QCOMPARE(back.metadata, model->metadata());
    const auto source = ckpt::io::open_checkpoint(src.toStdString());
    QCOMPARE(source.metadata, original);
    QCOMPARE(ckpt::io::read_all(back.tensors[0]), ckpt::io::read_all(source.tensors[0]));
    QVERIFY(leftovers(dir_).isEmpty());
  }

  void savesOverTheOpenSource() {
    const QString src = write(dir_, QStringLiteral("model.safetensors"), ckpt::io::Format::Safetensors,
                              {{"format", MetaValue::string("pt")}, {"author", MetaValue::string("a")}});
    const auto ck = open(src);
    MetadataPanel panel;
    panel.setSyncOnSave(false);
    panel.setCheckpoint(ck);
    MetadataModel* model = panel.model();
    QVERIFY(model->setData(model->indexOfKey(QStringLiteral("author")).siblingAtColumn(MetadataModel::Value),
                           QStringLiteral("b")));
    QSignalSpy saved(&panel, &MetadataPanel::saved);
    button(panel, QStringLiteral("Save"))->click();
    QVERIFY(saved.wait(kSaveTimeoutMs));
    QCOMPARE(saved.at(0).at(0).toString(), src);
    QCOMPARE(ckpt::io::find(ckpt::io::open_checkpoint(src.toStdString()).metadata, "author")->s, std::string("b"));
    // The checkpoint the panel (and the main window) still holds reads the old bytes.
    QCOMPARE(ckpt::io::read_all(ck->tensors[0]), std::vector<std::byte>(256, std::byte{1}));
    QVERIFY(panel.message().startsWith(QStringLiteral("Saved")));
    QVERIFY(leftovers(dir_).isEmpty());
  }

  void saveErrorsAreShownInline() {
    const QString src = write(dir_, QStringLiteral("m.safetensors"), ckpt::io::Format::Safetensors,
                              {{"format", MetaValue::string("pt")}});
    MetadataPanel panel;
    panel.setSyncOnSave(false);
    panel.setCheckpoint(open(src));
    QVERIFY(panel.model()->addEntry(QStringLiteral("k"), MetaType::String, QStringLiteral("v")).isValid());
    QSignalSpy saved(&panel, &MetadataPanel::saved);

    // Refused by the worker: the folder does not exist.
    panel.saveTo(dir_.filePath(QStringLiteral("missing/out.safetensors")));
    QTRY_VERIFY_WITH_TIMEOUT(!panel.isSaving(), kSaveTimeoutMs);
    QVERIFY2(panel.message().startsWith(QStringLiteral("Could not save: ")), qPrintable(panel.message()));
    QVERIFY(panel.isDirty());

    // Refused before starting: a "format" the writer cannot keep.
    QVERIFY(panel.model()->setData(panel.model()->indexOfKey(QStringLiteral("format")).siblingAtColumn(MetadataModel::Value),
                                   QStringLiteral("tf")));
    panel.saveTo(dir_.filePath(QStringLiteral("out.safetensors")));
    QVERIFY(!panel.isSaving());
    QVERIFY2(panel.message().contains(QStringLiteral("\"pt\" or \"mlx\"")), qPrintable(panel.message()));
    QCOMPARE(saved.count(), 0);

    // A refused edit is reported in the same place.
    QVERIFY(!panel.model()->setData(panel.model()->indexOfKey(QStringLiteral("k")).siblingAtColumn(MetadataModel::Key),
                                    QStringLiteral("format")));
    QCOMPARE(panel.message(), QStringLiteral("The key \"format\" already exists."));
  }

  void readOnlyFormatsSayWhy() {
    const QString npz = write(dir_, QStringLiteral("a.npz"), ckpt::io::Format::Npz, {});
    MetadataPanel panel;
    panel.setCheckpoint(open(npz));
    QVERIFY(!panel.isEditable());
    QCOMPARE(panel.message(), QStringLiteral(".npz archives hold arrays only and no metadata."));
    for (const QString& b : {QStringLiteral("Add…"), QStringLiteral("Save"), QStringLiteral("Save As…")})
      QVERIFY2(!button(panel, b)->isEnabled(), qPrintable(b));
    QCOMPARE(panel.view()->editTriggers(), QAbstractItemView::NoEditTriggers);

    panel.setCheckpoint(nullptr);
    QVERIFY(panel.message().isEmpty());
    QCOMPARE(panel.model()->rowCount(), 0);
  }

  void addDialogAndDeleteKey() {
    const QString src = write(dir_, QStringLiteral("m.gguf"), ckpt::io::Format::Gguf, ggufMetadata());
    MetadataPanel panel;
    panel.setCheckpoint(open(src));
    panel.show();
    panel.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&panel));

    panel.addEntry();
    auto* dialog = panel.findChild<AddEntryDialog*>();
    QVERIFY(dialog != nullptr);
    QTRY_VERIFY(dialog->isVisible());
    dialog->keyEdit()->setText(QStringLiteral("llama.block_count"));
    dialog->typeBox()->setCurrentIndex(dialog->typeBox()->findText(QStringLiteral("uint8")));
    dialog->valueEdit()->setText(QStringLiteral("300"));
    dialog->accept();
    QVERIFY(dialog->isVisible());  // stays open to be fixed
    QCOMPARE(dialog->errorText(), QStringLiteral("'300' does not fit uint8 (0 to 255)"));
    dialog->valueEdit()->setText(QStringLiteral("22"));
    dialog->accept();
    QTRY_VERIFY(panel.findChild<AddEntryDialog*>() == nullptr);  // closed and deleted
    const QModelIndex added = panel.model()->indexOfKey(QStringLiteral("llama.block_count"));
    QVERIFY(added.isValid());
    QCOMPARE(added.siblingAtColumn(MetadataModel::Value).data().toString(), QStringLiteral("22"));
    QCOMPARE(panel.view()->currentIndex().row(), added.row());
    QVERIFY(panel.isDirty());

    // The closed dialog took the activation with it (offscreen nothing hands it back).
    panel.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&panel));
    panel.view()->setFocus();
    QTRY_VERIFY(panel.view()->hasFocus());
    panel.view()->selectionModel()->select(added, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    QTest::keyClick(panel.view(), Qt::Key_Delete);
    QVERIFY(!panel.model()->indexOfKey(QStringLiteral("llama.block_count")).isValid());
    QVERIFY(!panel.isDirty());

    panel.view()->selectionModel()->select(panel.model()->indexOfKey(QStringLiteral("general.name")),
                                           QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    QTest::keyClick(panel.view(), Qt::Key_Delete);
    QVERIFY(panel.isDirty());
    const QModelIndex tokens = panel.model()->indexOfKey(QStringLiteral("tokenizer.ggml.tokens"));
    panel.view()->expand(tokens);
    QTRY_VERIFY(panel.model()->fetchedCount(tokens) > 0);
    panel.view()->selectionModel()->select(panel.model()->index(3, 0, tokens),
                                           QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    QTest::keyClick(panel.view(), Qt::Key_Delete);
    QVERIFY(panel.message().startsWith(QStringLiteral("Array elements cannot be removed")));
    QCOMPARE(ckpt::io::find(panel.model()->metadata(), "tokenizer.ggml.tokens")->items.size(), std::size_t{32000});
    button(panel, QStringLiteral("Revert"))->click();
    QVERIFY(!panel.isDirty());
    QVERIFY(panel.model()->indexOfKey(QStringLiteral("general.name")).isValid());
  }

  void scrollingFetchesElementsOfAnArrayWithKeysBelowIt() {
    const QString src = write(dir_, QStringLiteral("m.gguf"), ckpt::io::Format::Gguf, ggufMetadata());
    MetadataPanel panel;
    panel.resize(900, 500);
    panel.setCheckpoint(open(src));
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    const QModelIndex tokens = panel.model()->indexOfKey(QStringLiteral("tokenizer.ggml.tokens"));
    panel.view()->expand(tokens);
    // The view fetches what it needs to fill itself: a few chunks, not 32,000 rows.
    QTRY_VERIFY(panel.model()->fetchedCount(tokens) > 0);
    const int shown = panel.model()->fetchedCount(tokens);
    QVERIFY(shown % MetadataModel::kFetchChunk == 0);
    QVERIFY(shown < 32000);
    // Scroll to the last fetched element: the next chunk follows, though the
    // array is not the last row of the view (QTreeView alone would stop here).
    panel.view()->scrollTo(panel.model()->index(shown - 1, 0, tokens), QAbstractItemView::PositionAtBottom);
    QTRY_COMPARE(panel.model()->fetchedCount(tokens), shown + MetadataModel::kFetchChunk);

    if (const QByteArray shots = qgetenv("CKPT_SCREENSHOT_DIR"); !shots.isEmpty()) {
      panel.view()->collapse(tokens);
      panel.view()->scrollToTop();
      QVERIFY(panel.model()->setData(panel.model()->indexOfKey(QStringLiteral("general.name")).siblingAtColumn(MetadataModel::Value),
                                     QStringLiteral("TinyLlama (edited)")));
      QVERIFY(!panel.model()->setData(panel.model()->indexOfKey(QStringLiteral("llama.context_length")).siblingAtColumn(MetadataModel::Value),
                                      QStringLiteral("-5")));
      panel.view()->expand(panel.model()->indexOfKey(QStringLiteral("tokenizer.ggml.scores")));
      QVERIFY(panel.grab().save(QString::fromLocal8Bit(shots) + QStringLiteral("/metadata_panel.png")));
    }
  }

  void destroyedMidSaveJoinsAndLeavesNoTemporary() {
    // Large enough that the save is still running when the panel goes.
    const QString src = write(dir_, QStringLiteral("big.safetensors"), ckpt::io::Format::Safetensors,
                              {{"format", MetaValue::string("pt")}}, std::size_t{32} << 20);
    const QString out = dir_.filePath(QStringLiteral("big-edited.safetensors"));
    {
      MetadataPanel panel;
      panel.setSyncOnSave(false);
      panel.setCheckpoint(open(src));
      QVERIFY(panel.model()->addEntry(QStringLiteral("k"), MetaType::String, QStringLiteral("v")).isValid());
      panel.saveTo(out);
      QVERIFY(panel.isSaving());
    }
    QVERIFY(leftovers(dir_).isEmpty());
    if (QFileInfo::exists(out)) QCOMPARE(ckpt::io::find(ckpt::io::open_checkpoint(out.toStdString()).metadata, "k")->s, std::string("v"));
  }

  void cancelStopsTheSave() {
    const QString src = write(dir_, QStringLiteral("big.gguf"), ckpt::io::Format::Gguf, ggufMetadata(), std::size_t{32} << 20);
    MetadataPanel panel;
    panel.setSyncOnSave(false);
    panel.setCheckpoint(open(src));
    QVERIFY(panel.model()->addEntry(QStringLiteral("k"), MetaType::String, QStringLiteral("v")).isValid());
    QSignalSpy saved(&panel, &MetadataPanel::saved);
    const QString out = dir_.filePath(QStringLiteral("big-edited.gguf"));
    panel.saveTo(out);
    panel.cancelSave();
    QVERIFY(!panel.isSaving());
    // Either the cancel came first and nothing was written, or the save had
    // already finished and is reported as saved: never a half state.
    if (saved.isEmpty()) {
      QVERIFY(!QFileInfo::exists(out));
      QVERIFY(panel.isDirty());
      QVERIFY(panel.message().contains(QStringLiteral("cancelled")));
    } else {
      QVERIFY(QFileInfo::exists(out));
      QVERIFY(!panel.isDirty());
    }
    QVERIFY(leftovers(dir_).isEmpty());
    QVERIFY(button(panel, QStringLiteral("Save"))->isEnabled() == panel.isDirty());
  }

 private:
  QTemporaryDir dir_;
};

QTEST_MAIN(TestMetadataPanel)
#include "test_metadata_panel.moc"
