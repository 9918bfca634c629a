// ExportDialog end to end: a real export read back and compared, the name
// map and dtype applied, cancel leaving no file, the core's sentence on
// failure, and the result buttons.
#include <algorithm>

#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <thread>

#include "io/convert.h"
#include "io/error.h"
#include "test_helpers.h"
#include "ui/export/export_dialog.h"

using namespace ckpt;
using namespace ckpt::ui;
using namespace ckpt::ui::test;

namespace {

io::WriteOptions scratch() {
  io::WriteOptions o;
  o.sync = false;  // test output needs no flush to disk
  return o;
}

model::NameMap stripModelPrefix() {
  model::NameMap map;
  model::Rule drop;
  drop.pattern = "model.step";
  drop.drop = true;
  model::Rule strip;
  strip.match = model::Rule::Match::Prefix;
  strip.pattern = "model.";
  map.rules = {drop, strip};
  return map;
}

std::string coreSentence(const io::Checkpoint& ck, io::Format format) {
  try {
    (void)io::prepare_tensors(ck, format, std::nullopt);
  } catch (const io::Error& e) {
    return e.sentence();
  }
  return {};
}

}  // namespace

class ExportDialogTest : public QObject {
  Q_OBJECT

 private slots:
  void exportsSafetensorsToGguf();
  void appliesMapAndDType();
  void defaultOutputSitsBesideTheSource();
  void offersOnlyCastTargets();
  void mapCheckboxReflectsTheMap();
  void cancelLeavesNoFile();
  void escapeWhileRunningCancelsInsteadOfClosing();
  void npyErrorShowsTheCoreSentence();
  void missingFolderShowsTheCoreSentence();
  void mapThatCannotApplyIsExplainedNotThrown();
  void destroyedWhileRunning();
  void percentInANameIsShownAsIs();
  void optionsReachTheWriter();
  void screenshots();
};

void ExportDialogTest::exportsSafetensorsToGguf() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("model.safetensors")), io::Format::Safetensors, threeTensors());
  ExportDialog dialog(src, {});
  dialog.setWriteOptions(scratch());
  const QString out = dir.filePath(QStringLiteral("exported.gguf"));
  dialog.setTarget(io::Format::Gguf, out);
  QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
  QSignalSpy failed(&dialog, &ExportDialog::exportFailed);
  dialog.start();
  QVERIFY(dialog.isRunning());
  QVERIFY(finished.wait(10000));
  QCOMPARE(failed.count(), 0);
  QCOMPARE(finished.first().at(0).toString(), out);
  QVERIFY(!dialog.isRunning());
  compareTensors(src->tensors, io::open_checkpoint(out.toStdString()));
  QVERIFY2(dialog.message().startsWith(QStringLiteral("Exported to exported.gguf")), qPrintable(dialog.message()));
  QVERIFY(dialog.findChild<QProgressBar*>(QStringLiteral("progressBar"))->isHidden());

  // "Open result" hands the path to the window and closes the dialog.
  auto* open = dialog.findChild<QPushButton*>(QStringLiteral("openResultButton"));
  QVERIFY(open != nullptr);
  QVERIFY(!open->isHidden());
  QSignalSpy opened(&dialog, &ExportDialog::openRequested);
  dialog.show();
  QTest::mouseClick(open, Qt::LeftButton);
  QCOMPARE(opened.count(), 1);
  QCOMPARE(opened.first().at(0).toString(), out);
  QVERIFY(!dialog.isVisible());
}

void ExportDialogTest::appliesMapAndDType() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("model.safetensors")), io::Format::Safetensors, threeTensors());
  const auto map = stripModelPrefix();
  ExportDialog dialog(src, map);
  dialog.setWriteOptions(scratch());
  const QString out = dir.filePath(QStringLiteral("mapped.npz"));
  dialog.setTarget(io::Format::Npz, out);
  dialog.setDType(io::DType::F16);
  QVERIFY(dialog.applyMap());
  QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
  dialog.start();
  QVERIFY(finished.wait(10000));
  // What the CLI does for `convert --map --dtype float16`: map, then cast.
  io::Checkpoint mapped = *src;
  mapped.tensors = model::apply_map(map, src->tensors);
  const auto expected = io::prepare_tensors(mapped, io::Format::Npz, io::DType::F16);
  QCOMPARE(expected[0].name, std::string("embed.weight"));
  QCOMPARE(expected[0].dtype, io::DType::F16);
  compareTensors(expected, io::open_checkpoint(out.toStdString()));
  QVERIFY(dialog.message().contains(QStringLiteral("3 tensors in, 2 out (1 dropped)")));

  // Unticked, the names stay as they are.
  dialog.setApplyMap(false);
  dialog.setDType(std::nullopt);
  const QString plain = dir.filePath(QStringLiteral("plain.npz"));
  dialog.setTarget(io::Format::Npz, plain);
  dialog.start();
  QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 10000);
  compareTensors(src->tensors, io::open_checkpoint(plain.toStdString()));
}

void ExportDialogTest::defaultOutputSitsBesideTheSource() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("model.safetensors")), io::Format::Safetensors, threeTensors());
  ExportDialog dialog(src, {});
  // A safetensors source starts on the next format, GGUF.
  QCOMPARE(dialog.format(), io::Format::Gguf);
  QCOMPARE(dialog.outputPath(), dir.filePath(QStringLiteral("model.gguf")));
  auto* combo = dialog.findChild<QComboBox*>(QStringLiteral("formatCombo"));
  combo->setCurrentIndex(combo->findData(static_cast<int>(io::Format::Npz)));
  QCOMPARE(dialog.outputPath(), dir.filePath(QStringLiteral("model.npz")));
  combo->setCurrentIndex(combo->findData(static_cast<int>(io::Format::Safetensors)));
  QCOMPARE(dialog.outputPath(), dir.filePath(QStringLiteral("model-converted.safetensors")));

  // A path the user typed keeps its folder and name; only the extension follows the format.
  auto* edit = dialog.findChild<QLineEdit*>(QStringLiteral("outputEdit"));
  edit->clear();
  QTest::keyClicks(edit, dir.filePath(QStringLiteral("mine.safetensors")));
  combo->setCurrentIndex(combo->findData(static_cast<int>(io::Format::PyTorch)));
  QCOMPARE(dialog.outputPath(), dir.filePath(QStringLiteral("mine.pt")));

  // The source itself is refused before anything runs.
  auto* exportButton = dialog.findChild<QPushButton*>(QStringLiteral("exportButton"));
  QVERIFY(exportButton->isEnabled());
  dialog.setTarget(io::Format::Safetensors, QString::fromStdString(src->path));
  QVERIFY(!exportButton->isEnabled());
}

void ExportDialogTest::offersOnlyCastTargets() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("m.safetensors")), io::Format::Safetensors, threeTensors());
  ExportDialog dialog(src, {});
  auto* combo = dialog.findChild<QComboBox*>(QStringLiteral("dtypeCombo"));
  QVERIFY(combo != nullptr);
  QCOMPARE(combo->itemData(0).toInt(), -1);
  int targets = 0;
  for (int i = 0; i < io::kDTypeCount; ++i) targets += io::is_cast_target(static_cast<io::DType>(i)) ? 1 : 0;
  QCOMPARE(combo->count(), 1 + targets);
  for (int i = 1; i < combo->count(); ++i) {
    const auto t = static_cast<io::DType>(combo->itemData(i).toInt());
    QVERIFY(io::is_cast_target(t));
    QCOMPARE(combo->itemText(i), QString::fromUtf8(io::name(t).data(), static_cast<qsizetype>(io::name(t).size())));
  }
  dialog.setDType(io::DType::BF16);
  QCOMPARE(dialog.dtype(), std::optional<io::DType>(io::DType::BF16));
  dialog.setDType(std::nullopt);
  QVERIFY(!dialog.dtype().has_value());
}

void ExportDialogTest::mapCheckboxReflectsTheMap() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("m.safetensors")), io::Format::Safetensors, threeTensors());
  ExportDialog without(src, {});
  auto* off = without.findChild<QCheckBox*>(QStringLiteral("applyMapCheck"));
  QVERIFY(!off->isEnabled());
  QVERIFY(!without.applyMap());
  ExportDialog with(src, stripModelPrefix());
  auto* on = with.findChild<QCheckBox*>(QStringLiteral("applyMapCheck"));
  QVERIFY(on->isEnabled());
  QVERIFY(on->isChecked());
  QVERIFY2(on->text().contains(QStringLiteral("2 rules")), qPrintable(on->text()));
}

void ExportDialogTest::cancelLeavesNoFile() {
  QTemporaryDir dir;
  auto data = std::make_shared<GatedData>(16, std::size_t{1} << 20);
  ExportDialog dialog(gatedCheckpoint(dir.filePath(QStringLiteral("big.safetensors")), data), {});
  dialog.setTarget(io::Format::Gguf, dir.filePath(QStringLiteral("big.gguf")));
  QSignalSpy cancelled(&dialog, &ExportDialog::exportCancelled);
  QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
  auto* bar = dialog.findChild<QProgressBar*>(QStringLiteral("progressBar"));
  dialog.show();
  QVERIFY(QTest::qWaitForWindowExposed(&dialog));
  dialog.start();
  // The first chunk is written and reported; the writer waits at the gate.
  QTRY_VERIFY_WITH_TIMEOUT(bar->value() > 0, 10000);
  QCOMPARE(bar->value(), 63);  // 1/16 of the bar, rounded
  QCOMPARE(bar->text(), QStringLiteral("1.00 MiB / 16.0 MiB — big.weight"));
  dialog.cancel();
  data->release();
  QVERIFY(cancelled.wait(10000));
  QCOMPARE(finished.count(), 0);
  QVERIFY(!dialog.isRunning());
  QCOMPARE(filesIn(dir.path()), QStringList{});
  QVERIFY(dialog.message().contains(QStringLiteral("nothing was written")));
}

void ExportDialogTest::escapeWhileRunningCancelsInsteadOfClosing() {
  QTemporaryDir dir;
  auto data = std::make_shared<GatedData>(4, std::size_t{1} << 20);
  ExportDialog dialog(gatedCheckpoint(dir.filePath(QStringLiteral("big.safetensors")), data), {});
  dialog.setTarget(io::Format::Npz, dir.filePath(QStringLiteral("big.npz")));
  QSignalSpy cancelled(&dialog, &ExportDialog::exportCancelled);
  dialog.show();
  QVERIFY(QTest::qWaitForWindowExposed(&dialog));
  dialog.start();
  QTRY_VERIFY_WITH_TIMEOUT(data->firstChunkSent(), 10000);
  auto* close = dialog.findChild<QPushButton*>(QStringLiteral("closeButton"));
  QCOMPARE(close->text(), QStringLiteral("Cancel"));
  QTest::keyClick(&dialog, Qt::Key_Escape);
  data->release();
  QVERIFY(cancelled.wait(10000));
  QVERIFY(dialog.isVisible());
  QCOMPARE(close->text(), QStringLiteral("Close"));
  QCOMPARE(filesIn(dir.path()), QStringList{});
  // Idle, Escape closes.
  QTest::keyClick(&dialog, Qt::Key_Escape);
  QVERIFY(!dialog.isVisible());
}

void ExportDialogTest::npyErrorShowsTheCoreSentence() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("model.safetensors")), io::Format::Safetensors, threeTensors());
  const QString sentence = QString::fromStdString(coreSentence(*src, io::Format::Npy));
  QVERIFY(sentence.contains(QStringLiteral("holds exactly one array")));
  ExportDialog dialog(src, {});
  dialog.setTarget(io::Format::Npy, dir.filePath(QStringLiteral("model.npy")));
  QSignalSpy failed(&dialog, &ExportDialog::exportFailed);
  dialog.start();
  QVERIFY(failed.wait(10000));
  QVERIFY2(failed.first().at(0).toString().contains(sentence), qPrintable(failed.first().at(0).toString()));
  QVERIFY(dialog.message().contains(sentence));
  QVERIFY(dialog.findChild<QPushButton*>(QStringLiteral("openResultButton"))->isHidden());
  QCOMPARE(filesIn(dir.path()), QStringList{QStringLiteral("model.safetensors")});
}

void ExportDialogTest::missingFolderShowsTheCoreSentence() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("model.safetensors")), io::Format::Safetensors, threeTensors());
  ExportDialog dialog(src, {});
  dialog.setTarget(io::Format::Gguf, dir.filePath(QStringLiteral("no/such/folder/model.gguf")));
  QSignalSpy failed(&dialog, &ExportDialog::exportFailed);
  dialog.start();
  QVERIFY(failed.wait(10000));
  QVERIFY2(dialog.message().startsWith(QStringLiteral("cannot create a temporary file beside the destination")),
           qPrintable(dialog.message()));
}

// A map built in code skips the loader's checks; its over-long expression
// makes plan_map throw, which the NPY note (computed in a slot) must catch.
void ExportDialogTest::mapThatCannotApplyIsExplainedNotThrown() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("model.safetensors")), io::Format::Safetensors, threeTensors());
  model::NameMap map;
  model::Rule huge;
  huge.match = model::Rule::Match::Regex;
  huge.pattern = std::string(5000, 'a');
  map.rules = {huge};
  ExportDialog dialog(src, map);
  dialog.setTarget(io::Format::Npy, dir.filePath(QStringLiteral("model.npy")));
  const auto labels = dialog.findChildren<QLabel*>();
  const bool explained = std::any_of(labels.begin(), labels.end(), [](const QLabel* l) {
    return l->text().startsWith(QStringLiteral("The name map cannot be applied: rule 0"));
  });
  QVERIFY(explained);
  QSignalSpy failed(&dialog, &ExportDialog::exportFailed);
  dialog.start();
  QVERIFY(failed.wait(10000));
  QVERIFY2(dialog.message().contains(QStringLiteral("rule 0")), qPrintable(dialog.message()));
  QCOMPARE(filesIn(dir.path()), QStringList{QStringLiteral("model.safetensors")});
}

void ExportDialogTest::destroyedWhileRunning() {
  QTemporaryDir dir;
  auto data = std::make_shared<GatedData>(8, std::size_t{1} << 20);
  auto dialog = std::make_unique<ExportDialog>(gatedCheckpoint(dir.filePath(QStringLiteral("big.safetensors")), data),
                                               model::NameMap{});
  dialog->setTarget(io::Format::Safetensors, dir.filePath(QStringLiteral("out.safetensors")));
  dialog->start();
  QTRY_VERIFY_WITH_TIMEOUT(data->firstChunkSent(), 10000);
  std::thread opener([data] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    data->release();
  });
  dialog.reset();
  opener.join();
  QCoreApplication::processEvents();
  QCOMPARE(filesIn(dir.path()), QStringList{});
}

void ExportDialogTest::percentInANameIsShownAsIs() {
  QTemporaryDir dir;
  auto data = std::make_shared<GatedData>(4, std::size_t{1} << 20);
  ExportDialog dialog(gatedCheckpoint(dir.filePath(QStringLiteral("odd.safetensors")), data, "rate%v.weight"), {});
  dialog.setTarget(io::Format::Npz, dir.filePath(QStringLiteral("odd.npz")));
  dialog.show();
  QVERIFY(QTest::qWaitForWindowExposed(&dialog));
  auto* bar = dialog.findChild<QProgressBar*>(QStringLiteral("progressBar"));
  dialog.start();
  QTRY_VERIFY_WITH_TIMEOUT(bar->value() > 0, 10000);
  // Not "rate250.weight": the bar must not expand %v inside a tensor name.
  QString shown = bar->text();
  shown.remove(QChar(0x200B));
  QVERIFY2(shown.endsWith(QStringLiteral("rate%v.weight")), qPrintable(shown));
  dialog.cancel();
  data->release();
  QTRY_VERIFY_WITH_TIMEOUT(!dialog.isRunning(), 10000);
}

void ExportDialogTest::optionsReachTheWriter() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("model.npz")), io::Format::Npz, threeTensors());
  ExportDialog dialog(src, {});
  io::WriteOptions o = scratch();
  o.safetensors_tag = io::SafetensorsTag::Mlx;
  o.max_shard_bytes = 100'000'000;
  o.compress = true;
  o.compression_level = 9;
  o.gguf_alignment = 64;
  dialog.setWriteOptions(o);
  const auto back = dialog.writeOptions();
  QCOMPARE(back.safetensors_tag, io::SafetensorsTag::Mlx);
  QCOMPARE(back.max_shard_bytes, std::uint64_t{100'000'000});
  QVERIFY(back.compress);
  QCOMPARE(back.compression_level, 9);
  QCOMPARE(back.gguf_alignment, std::uint32_t{64});
  QVERIFY(!back.sync);

  const QString out = dir.filePath(QStringLiteral("tagged.safetensors"));
  dialog.setTarget(io::Format::Safetensors, out);
  QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
  dialog.start();
  QVERIFY(finished.wait(10000));
  const auto written = io::open_checkpoint(out.toStdString());
  const io::MetaValue* tag = io::find(written.metadata, "format");
  QVERIFY(tag != nullptr);
  QCOMPARE(QString::fromStdString(tag->s), QStringLiteral("mlx"));
}

void ExportDialogTest::screenshots() {
  // Set CKPT_UI_SHOTS to a folder to look at the dialog idle, mid-export and after an error.
  const QString shots = qEnvironmentVariable("CKPT_UI_SHOTS");
  if (shots.isEmpty()) QSKIP("CKPT_UI_SHOTS is not set; no screenshots written");
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("model.safetensors")), io::Format::Safetensors, threeTensors());
  ExportDialog idle(src, stripModelPrefix());
  idle.show();
  QVERIFY(QTest::qWaitForWindowExposed(&idle));
  QVERIFY(idle.grab().save(shots + QStringLiteral("/export_idle.png")));
  const auto npz = writeSample(dir.filePath(QStringLiteral("weights.npz")), io::Format::Npz, threeTensors());
  ExportDialog toSafetensors(npz, {});
  toSafetensors.show();
  QVERIFY(QTest::qWaitForWindowExposed(&toSafetensors));
  QVERIFY(toSafetensors.grab().save(shots + QStringLiteral("/export_safetensors.png")));

  auto data = std::make_shared<GatedData>(96, std::size_t{4} << 20);
  ExportDialog running(gatedCheckpoint(dir.filePath(QStringLiteral("llama.safetensors")), data), {});
  running.setTarget(io::Format::Npz, dir.filePath(QStringLiteral("llama.npz")));
  running.show();
  QVERIFY(QTest::qWaitForWindowExposed(&running));
  running.start();
  auto* bar = running.findChild<QProgressBar*>(QStringLiteral("progressBar"));
  QTRY_VERIFY_WITH_TIMEOUT(bar->value() > 0, 10000);
  QVERIFY(running.grab().save(shots + QStringLiteral("/export_running.png")));
  running.cancel();
  data->release();
  QTRY_VERIFY_WITH_TIMEOUT(!running.isRunning(), 10000);

  ExportDialog failed(src, {});
  failed.setTarget(io::Format::Npy, dir.filePath(QStringLiteral("model.npy")));
  failed.show();
  QVERIFY(QTest::qWaitForWindowExposed(&failed));
  QSignalSpy failedSpy(&failed, &ExportDialog::exportFailed);
  failed.start();
  QVERIFY(failedSpy.wait(10000));
  QVERIFY(failed.grab().save(shots + QStringLiteral("/export_error.png")));

  ExportDialog done(src, {});
  done.setWriteOptions(scratch());
  done.setTarget(io::Format::Gguf, dir.filePath(QStringLiteral("model.gguf")));
  done.show();
  QVERIFY(QTest::qWaitForWindowExposed(&done));
  QSignalSpy finished(&done, &ExportDialog::exportFinished);
  done.start();
  QVERIFY(finished.wait(10000));
  QVERIFY(done.grab().save(shots + QStringLiteral("/export_done.png")));
}

QTEST_MAIN(ExportDialogTest)
#include "test_export_dialog.moc"
