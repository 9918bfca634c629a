// DropBar: simulated drags and drops of local files onto the format targets,
// the `<stem>.<ext>` / `-converted` naming, the queue, clicks converting the
// open checkpoint with the current map, errors and cancel shown inline.
#include <QCoreApplication>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QLabel>
#include <QMimeData>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QToolButton>
#include <QUrl>

#include "io/convert.h"
#include "io/error.h"
#include "test_helpers.h"
#include "ui/export/drop_bar.h"
#include "ui/export/drop_target.h"

using namespace ckpt;
using namespace ckpt::ui;
using namespace ckpt::ui::test;

namespace {

// What a file manager sends: enter (which must be accepted) then drop.
bool dragAndDrop(QWidget* target, const QList<QUrl>& urls) {
  QMimeData mime;
  mime.setUrls(urls);
  const QPoint at = target->rect().center();
  QDragEnterEvent enter(at, Qt::CopyAction | Qt::MoveAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(target, &enter);
  if (!enter.isAccepted()) return false;
  QDropEvent drop(QPointF(at), Qt::CopyAction | Qt::MoveAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(target, &drop);
  return drop.isAccepted();
}

io::WriteOptions scratch() {
  io::WriteOptions o;
  o.sync = false;
  return o;
}

}  // namespace

class DropBarTest : public QObject {
  Q_OBJECT

 private slots:
  void hasFiveLabelledTargets();
  void dropWritesStemThenConverted();
  void dropOnTheSourceFormatNeverOverwrites();
  void hoverHighlightsOnlyForLocalFiles();
  void severalFilesAreQueued();
  void clickConvertsTheOpenCheckpointWithTheMap();
  void clickWithoutCheckpointExplains();
  void errorIsShownInline();
  void cancelLeavesNoFile();
  void openButtonRequestsTheResult();
  void screenshot();
};

void DropBarTest::hasFiveLabelledTargets() {
  DropBar bar;
  const QStringList expected{QStringLiteral("safetensors"), QStringLiteral("GGUF"), QStringLiteral("NPZ"),
                             QStringLiteral("NPY"), QStringLiteral("PyTorch")};
  QStringList labels;
  for (io::Format f : {io::Format::Safetensors, io::Format::Gguf, io::Format::Npz, io::Format::Npy, io::Format::PyTorch}) {
    DropTarget* t = bar.target(f);
    QVERIFY(t != nullptr);
    QVERIFY(t->acceptDrops());
    QVERIFY(t->focusPolicy() & Qt::TabFocus);
    labels << t->text();
  }
  QCOMPARE(labels, expected);
}

void DropBarTest::dropWritesStemThenConverted() {
  QTemporaryDir dir;
  const QString source = dir.filePath(QStringLiteral("model.safetensors"));
  const auto src = writeSample(source, io::Format::Safetensors, threeTensors());
  DropBar bar;
  bar.setWriteOptions(scratch());
  QSignalSpy finished(&bar, &DropBar::conversionFinished);
  QVERIFY(dragAndDrop(bar.target(io::Format::Gguf), {QUrl::fromLocalFile(source)}));
  QVERIFY(finished.wait(10000));
  const QString first = dir.filePath(QStringLiteral("model.gguf"));
  QCOMPARE(finished.at(0).at(0).toString(), first);
  compareTensors(src->tensors, io::open_checkpoint(first.toStdString()));
  QVERIFY2(bar.statusText().contains(QStringLiteral("model.gguf")), qPrintable(bar.statusText()));

  QVERIFY(dragAndDrop(bar.target(io::Format::Gguf), {QUrl::fromLocalFile(source)}));
  QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 10000);
  QCOMPARE(finished.at(1).at(0).toString(), dir.filePath(QStringLiteral("model-converted.gguf")));
  QVERIFY(dragAndDrop(bar.target(io::Format::Gguf), {QUrl::fromLocalFile(source)}));
  QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 3, 10000);
  QCOMPARE(finished.at(2).at(0).toString(), dir.filePath(QStringLiteral("model-converted-2.gguf")));
  compareTensors(src->tensors, io::open_checkpoint(finished.at(2).at(0).toString().toStdString()));
  QVERIFY(!bar.isBusy());
}

void DropBarTest::dropOnTheSourceFormatNeverOverwrites() {
  QTemporaryDir dir;
  const QString source = dir.filePath(QStringLiteral("w.safetensors"));
  const auto src = writeSample(source, io::Format::Safetensors, threeTensors());
  DropBar bar;
  bar.setWriteOptions(scratch());
  QSignalSpy finished(&bar, &DropBar::conversionFinished);
  QVERIFY(dragAndDrop(bar.target(io::Format::Safetensors), {QUrl::fromLocalFile(source)}));
  QVERIFY(finished.wait(10000));
  QCOMPARE(finished.at(0).at(0).toString(), dir.filePath(QStringLiteral("w-converted.safetensors")));
  compareTensors(src->tensors, io::open_checkpoint(source.toStdString()));
}

void DropBarTest::hoverHighlightsOnlyForLocalFiles() {
  QTemporaryDir dir;
  const QString source = dir.filePath(QStringLiteral("m.npz"));
  writeSample(source, io::Format::Npz, threeTensors());
  DropBar bar;
  DropTarget* npy = bar.target(io::Format::Npy);
  const QPoint at = npy->rect().center();

  QMimeData web;
  web.setUrls({QUrl(QStringLiteral("https://example.org/model.safetensors"))});
  QDragEnterEvent refused(at, Qt::CopyAction, &web, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(npy, &refused);
  QVERIFY(!refused.isAccepted());
  QVERIFY(!npy->isHighlighted());

  QMimeData text;
  text.setText(QStringLiteral("model.safetensors"));
  QDragEnterEvent plain(at, Qt::CopyAction, &text, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(npy, &plain);
  QVERIFY(!plain.isAccepted());

  QMimeData file;
  file.setUrls({QUrl::fromLocalFile(source)});
  QDragEnterEvent accepted(at, Qt::CopyAction, &file, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(npy, &accepted);
  QVERIFY(accepted.isAccepted());
  QVERIFY(npy->isHighlighted());
  QDragLeaveEvent leave;
  QCoreApplication::sendEvent(npy, &leave);
  QVERIFY(!npy->isHighlighted());
  QVERIFY(!bar.isBusy());
}

void DropBarTest::severalFilesAreQueued() {
  QTemporaryDir dir;
  const QString a = dir.filePath(QStringLiteral("a.safetensors"));
  const QString b = dir.filePath(QStringLiteral("b.gguf"));
  const auto srcA = writeSample(a, io::Format::Safetensors, threeTensors());
  const auto srcB = writeSample(b, io::Format::Gguf, threeTensors());
  DropBar bar;
  bar.setWriteOptions(scratch());
  QSignalSpy finished(&bar, &DropBar::conversionFinished);
  QVERIFY(dragAndDrop(bar.target(io::Format::Npz), {QUrl::fromLocalFile(a), QUrl::fromLocalFile(b)}));
  QVERIFY(bar.isBusy());
  QCOMPARE(bar.queuedCount(), 1);
  QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 10000);
  QCOMPARE(finished.at(0).at(0).toString(), dir.filePath(QStringLiteral("a.npz")));
  QCOMPARE(finished.at(1).at(0).toString(), dir.filePath(QStringLiteral("b.npz")));
  compareTensors(srcA->tensors, io::open_checkpoint(dir.filePath(QStringLiteral("a.npz")).toStdString()));
  compareTensors(srcB->tensors, io::open_checkpoint(dir.filePath(QStringLiteral("b.npz")).toStdString()));
}

void DropBarTest::clickConvertsTheOpenCheckpointWithTheMap() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("net.safetensors")), io::Format::Safetensors, threeTensors());
  model::NameMap map;
  model::Rule strip;
  strip.match = model::Rule::Match::Prefix;
  strip.pattern = "model.";
  map.rules = {strip};
  DropBar bar;
  bar.setWriteOptions(scratch());
  bar.setMap(map);
  bar.setCheckpoint(src);
  QSignalSpy finished(&bar, &DropBar::conversionFinished);
  QTest::mouseClick(bar.target(io::Format::PyTorch), Qt::LeftButton);
  QVERIFY(finished.wait(10000));
  const QString out = dir.filePath(QStringLiteral("net.pt"));
  QCOMPARE(finished.at(0).at(0).toString(), out);
  compareTensors(model::apply_map(map, src->tensors), io::open_checkpoint(out.toStdString()));

  // Keyboard: focus a target and press Space.
  bar.target(io::Format::Npz)->setFocus();
  QTest::keyClick(bar.target(io::Format::Npz), Qt::Key_Space);
  QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 10000);
  QCOMPARE(finished.at(1).at(0).toString(), dir.filePath(QStringLiteral("net.npz")));
}

void DropBarTest::clickWithoutCheckpointExplains() {
  DropBar bar;
  QTest::mouseClick(bar.target(io::Format::Gguf), Qt::LeftButton);
  QVERIFY(!bar.isBusy());
  QVERIFY2(bar.statusText().contains(QStringLiteral("Open a checkpoint first")), qPrintable(bar.statusText()));
}

void DropBarTest::errorIsShownInline() {
  QTemporaryDir dir;
  const QString source = dir.filePath(QStringLiteral("three.safetensors"));
  const auto src = writeSample(source, io::Format::Safetensors, threeTensors());
  std::string sentence;
  try {
    (void)io::prepare_tensors(*src, io::Format::Npy, std::nullopt);
  } catch (const io::Error& e) {
    sentence = e.sentence();
  }
  QVERIFY(!sentence.empty());
  DropBar bar;
  QSignalSpy failed(&bar, &DropBar::conversionFailed);
  QVERIFY(dragAndDrop(bar.target(io::Format::Npy), {QUrl::fromLocalFile(source)}));
  QVERIFY(failed.wait(10000));
  QVERIFY(failed.at(0).at(0).toString().contains(QString::fromStdString(sentence)));
  QCOMPARE(bar.statusText(), QStringLiteral("three.safetensors → NPY failed: ") + QString::fromStdString(sentence));
  auto* details = bar.findChild<QToolButton*>(QStringLiteral("dropDetails"));
  QVERIFY(!details->isHidden());
  QCOMPARE(filesIn(dir.path()), QStringList{QStringLiteral("three.safetensors")});
}

void DropBarTest::cancelLeavesNoFile() {
  QTemporaryDir dir;
  auto data = std::make_shared<GatedData>(8, std::size_t{1} << 20);
  DropBar bar;
  bar.setCheckpoint(gatedCheckpoint(dir.filePath(QStringLiteral("big.safetensors")), data));
  bar.convertFile(dir.filePath(QStringLiteral("queued-but-cancelled.npz")), io::Format::Gguf);
  QTest::mouseClick(bar.target(io::Format::Gguf), Qt::LeftButton);
  QVERIFY(bar.isBusy());
  QTRY_VERIFY_WITH_TIMEOUT(data->firstChunkSent(), 10000);
  // The file drop started first (and fails: no such file); the click waits in the queue.
  QTRY_VERIFY_WITH_TIMEOUT(bar.statusText().contains(QStringLiteral("big.safetensors")), 10000);
  auto* cancel = bar.findChild<QToolButton*>(QStringLiteral("dropCancel"));
  QVERIFY(cancel != nullptr);
  QVERIFY(!cancel->isHidden());
  QTest::mouseClick(cancel, Qt::LeftButton);
  data->release();
  QTRY_VERIFY_WITH_TIMEOUT(!bar.isBusy(), 10000);
  QVERIFY2(bar.statusText().contains(QStringLiteral("cancelled")), qPrintable(bar.statusText()));
  QCOMPARE(filesIn(dir.path()), QStringList{});
}

void DropBarTest::openButtonRequestsTheResult() {
  QTemporaryDir dir;
  const QString source = dir.filePath(QStringLiteral("m.gguf"));
  writeSample(source, io::Format::Gguf, threeTensors());
  DropBar bar;
  bar.setWriteOptions(scratch());
  QSignalSpy finished(&bar, &DropBar::conversionFinished);
  QSignalSpy open(&bar, &DropBar::openRequested);
  bar.convertFile(source, io::Format::Safetensors);
  QVERIFY(finished.wait(10000));
  auto* button = bar.findChild<QToolButton*>(QStringLiteral("dropOpen"));
  QVERIFY(button != nullptr);
  QVERIFY(!button->isHidden());
  QTest::mouseClick(button, Qt::LeftButton);
  QCOMPARE(open.count(), 1);
  QCOMPARE(open.at(0).at(0).toString(), dir.filePath(QStringLiteral("m.safetensors")));
}

void DropBarTest::screenshot() {
  // Set CKPT_UI_SHOTS to a folder to look at the bar idle, hovered, converting and after an error.
  const QString shots = qEnvironmentVariable("CKPT_UI_SHOTS");
  if (shots.isEmpty()) QSKIP("CKPT_UI_SHOTS is not set; no screenshots written");
  QTemporaryDir dir;
  const QString source = dir.filePath(QStringLiteral("model.safetensors"));
  writeSample(source, io::Format::Safetensors, threeTensors());
  DropBar bar;
  bar.resize(760, bar.sizeHint().height());
  bar.show();
  QVERIFY(QTest::qWaitForWindowExposed(&bar));
  QMimeData mime;
  mime.setUrls({QUrl::fromLocalFile(source)});
  // Layouts settle in posted events; a grab right after a change would show the old geometry.
  auto save = [&bar, &shots](const char* name) {
    QCoreApplication::sendPostedEvents();
    return bar.grab().save(shots + QLatin1Char('/') + QLatin1String(name));
  };
  QDragEnterEvent enter(bar.target(io::Format::Gguf)->rect().center(), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(bar.target(io::Format::Gguf), &enter);
  QVERIFY(save("dropbar_hover.png"));
  QDragLeaveEvent leave;
  QCoreApplication::sendEvent(bar.target(io::Format::Gguf), &leave);

  auto data = std::make_shared<GatedData>(16, std::size_t{1} << 20);
  bar.setCheckpoint(gatedCheckpoint(dir.filePath(QStringLiteral("llama-3-8b.safetensors")), data));
  QTest::mouseClick(bar.target(io::Format::Npz), Qt::LeftButton);
  QTRY_VERIFY_WITH_TIMEOUT(bar.statusText().contains(QStringLiteral("big.weight")), 10000);
  QVERIFY(save("dropbar_running.png"));
  bar.cancel();
  data->release();
  QTRY_VERIFY_WITH_TIMEOUT(!bar.isBusy(), 10000);

  QSignalSpy failed(&bar, &DropBar::conversionFailed);
  bar.convertFile(source, io::Format::Npy);
  QVERIFY(failed.wait(10000));
  QVERIFY(save("dropbar_error.png"));

  QSignalSpy finished(&bar, &DropBar::conversionFinished);
  bar.convertFile(source, io::Format::Gguf);
  QVERIFY(finished.wait(10000));
  QVERIFY(save("dropbar_done.png"));
}

QTEST_MAIN(DropBarTest)
#include "test_drop_bar.moc"
