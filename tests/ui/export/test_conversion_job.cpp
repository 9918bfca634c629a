// ConversionJob: a conversion on its worker thread with ordered, monotonic
// progress; the core's sentence on failure; nothing on disk after a cancel,
// a failure or the job's destruction mid-write. Also the output naming rule
// and the progress-bar position.
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <thread>

#include "io/convert.h"
#include "io/error.h"
#include "test_helpers.h"
#include "ui/export/conversion_job.h"
#include "ui/export/feedback.h"
#include "ui/export/output_naming.h"

using namespace ckpt;
using namespace ckpt::ui;
using namespace ckpt::ui::test;

class ConversionJobTest : public QObject {
  Q_OBJECT

 private slots:
  void namesFollowTheStemRule();
  void progressPositions();
  void convertsWithMonotonicProgress();
  void opensSourcePathInTheWorker();
  void appliesTheMapFirst();
  void failureCarriesTheCoreSentence();
  void unreadableSourceNamesTheFile();
  void cancelLeavesNoFile();
  void destructionMidWriteLeavesNoFile();
  void refusesToStartTwiceAndRunsAgainAfterwards();
  void shardedResultIsTheIndex();
};

void ConversionJobTest::namesFollowTheStemRule() {
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const QString source = dir.filePath(QStringLiteral("model.safetensors"));
  QCOMPARE(convertedPath(source, io::Format::Gguf), dir.filePath(QStringLiteral("model.gguf")));
  // The plain name would be the source itself.
  QCOMPARE(convertedPath(source, io::Format::Safetensors), dir.filePath(QStringLiteral("model-converted.safetensors")));
  for (const char* taken : {"model.gguf", "model-converted.gguf", "model-converted-2.gguf"}) {
    QFile f(dir.filePath(QLatin1String(taken)));
    QVERIFY(f.open(QIODevice::WriteOnly));
  }
  QCOMPARE(convertedPath(source, io::Format::Gguf), dir.filePath(QStringLiteral("model-converted-3.gguf")));
  QCOMPARE(convertedPath(dir.filePath(QStringLiteral("llama.safetensors.index.json")), io::Format::Npz),
           dir.filePath(QStringLiteral("llama.npz")));
  QCOMPARE(convertedPath(dir.filePath(QStringLiteral("weights.pth")), io::Format::PyTorch),
           dir.filePath(QStringLiteral("weights.pt")));
  QCOMPARE(checkpointStem(QStringLiteral("/x/model.safetensors.index.json")), QStringLiteral("model"));
  QCOMPARE(checkpointStem(QStringLiteral("/x/archive.v2.data")), QStringLiteral("archive.v2"));
  QCOMPARE(withExtension(QStringLiteral("/out/model.safetensors"), io::Format::Gguf), QStringLiteral("/out/model.gguf"));
  QCOMPARE(withExtension(QStringLiteral("model.npz"), io::Format::Npy), QStringLiteral("model.npy"));
}

void ConversionJobTest::progressPositions() {
  QCOMPARE(progressValue(0, 0), 0);  // an empty checkpoint has nothing to measure
  QCOMPARE(progressValue(1, 16), 63);
  QCOMPARE(progressValue(std::uint64_t{3} << 40, std::uint64_t{4} << 40), 750);  // beyond int range
  QCOMPARE(progressValue(5, 4), kProgressSteps);
}

void ConversionJobTest::convertsWithMonotonicProgress() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("m.safetensors")), io::Format::Safetensors, threeTensors());
  ConversionJob job;
  QSignalSpy progress(&job, &ConversionJob::progress);
  QSignalSpy finished(&job, &ConversionJob::finished);
  QSignalSpy failed(&job, &ConversionJob::failed);
  ConversionRequest r;
  r.checkpoint = src;
  r.format = io::Format::Gguf;
  r.options.sync = false;
  r.outputPath = dir.filePath(QStringLiteral("m.gguf"));
  QVERIFY(job.start(r));
  QVERIFY(job.isRunning());
  QVERIFY(finished.wait(10000));
  QVERIFY(!job.isRunning());
  QCOMPARE(failed.count(), 0);
  QCOMPARE(finished.first().at(0).toString(), r.outputPath);
  QVERIFY(finished.first().at(1).toString().startsWith(QStringLiteral("3 tensors")));

  QVERIFY(!progress.isEmpty());
  quint64 last = 0;
  for (const auto& args : progress) {
    const quint64 done = args.at(0).toULongLong();
    QVERIFY2(done >= last, "progress went backwards");
    QCOMPARE(args.at(1).toULongLong(), src->total_bytes());
    last = done;
  }
  QCOMPARE(last, src->total_bytes());
  compareTensors(src->tensors, io::open_checkpoint(r.outputPath.toStdString()));
}

void ConversionJobTest::opensSourcePathInTheWorker() {
  QTemporaryDir dir;
  const QString source = dir.filePath(QStringLiteral("m.npz"));
  const auto src = writeSample(source, io::Format::Npz, threeTensors());
  ConversionJob job;
  QSignalSpy finished(&job, &ConversionJob::finished);
  ConversionRequest r;
  r.sourcePath = source;
  r.format = io::Format::Safetensors;
  r.options.sync = false;
  r.outputPath = dir.filePath(QStringLiteral("m.safetensors"));
  QVERIFY(job.start(r));
  QVERIFY(finished.wait(10000));
  compareTensors(src->tensors, io::open_checkpoint(r.outputPath.toStdString()));
}

void ConversionJobTest::appliesTheMapFirst() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("m.safetensors")), io::Format::Safetensors, threeTensors());
  model::NameMap map;
  model::Rule drop;
  drop.pattern = "model.step";
  drop.drop = true;
  model::Rule strip;
  strip.match = model::Rule::Match::Prefix;
  strip.pattern = "model.";
  map.rules = {drop, strip};
  ConversionJob job;
  QSignalSpy finished(&job, &ConversionJob::finished);
  ConversionRequest r;
  r.checkpoint = src;
  r.map = map;
  r.format = io::Format::Gguf;
  r.options.sync = false;
  r.outputPath = dir.filePath(QStringLiteral("mapped.gguf"));
  QVERIFY(job.start(r));
  QVERIFY(finished.wait(10000));
  QVERIFY(finished.first().at(1).toString().contains(QStringLiteral("3 tensors in, 2 out (1 dropped)")));
  const auto expected = model::apply_map(map, src->tensors);
  QCOMPARE(expected.size(), std::size_t{2});
  QCOMPARE(expected[0].name, std::string("embed.weight"));
  compareTensors(expected, io::open_checkpoint(r.outputPath.toStdString()));
}

void ConversionJobTest::failureCarriesTheCoreSentence() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("m.safetensors")), io::Format::Safetensors, threeTensors());
  std::string expected;
  try {
    (void)io::prepare_tensors(*src, io::Format::Npy, std::nullopt);
  } catch (const io::Error& e) {
    expected = e.sentence();
  }
  QVERIFY(!expected.empty());
  ConversionJob job;
  QSignalSpy failed(&job, &ConversionJob::failed);
  ConversionRequest r;
  r.checkpoint = src;
  r.format = io::Format::Npy;
  r.outputPath = dir.filePath(QStringLiteral("m.npy"));
  QVERIFY(job.start(r));
  QVERIFY(failed.wait(10000));
  const QString message = failed.first().at(0).toString();
  QVERIFY2(message.endsWith(QString::fromStdString(expected)), qPrintable(message));
  QCOMPARE(filesIn(dir.path()), QStringList{QStringLiteral("m.safetensors")});
}

void ConversionJobTest::unreadableSourceNamesTheFile() {
  QTemporaryDir dir;
  const QString source = dir.filePath(QStringLiteral("notes.txt"));
  QFile f(source);
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write("not a checkpoint\n");
  f.close();
  ConversionJob job;
  QSignalSpy failed(&job, &ConversionJob::failed);
  ConversionRequest r;
  r.sourcePath = source;
  r.format = io::Format::Npz;
  r.outputPath = dir.filePath(QStringLiteral("notes.npz"));
  QVERIFY(job.start(r));
  QVERIFY(failed.wait(10000));
  const QString message = failed.first().at(0).toString();
  QVERIFY2(message.startsWith(QStringLiteral("notes.txt: ")), qPrintable(message));
  QVERIFY2(message.contains(QStringLiteral("not a checkpoint this program can read")), qPrintable(message));
}

void ConversionJobTest::cancelLeavesNoFile() {
  QTemporaryDir dir;
  auto data = std::make_shared<GatedData>(8, std::size_t{1} << 20);
  ConversionJob job;
  QSignalSpy cancelled(&job, &ConversionJob::cancelled);
  QSignalSpy finished(&job, &ConversionJob::finished);
  int reports = 0;
  connect(&job, &ConversionJob::progress, &job, [&] {
    // Cancel from the first report, then let the writer reach its next check.
    if (reports++ == 0) {
      job.cancel();
      data->release();
    }
  });
  ConversionRequest r;
  r.checkpoint = gatedCheckpoint(dir.filePath(QStringLiteral("src.safetensors")), data);
  r.format = io::Format::Npz;
  r.outputPath = dir.filePath(QStringLiteral("out.npz"));
  QVERIFY(job.start(r));
  QVERIFY(cancelled.wait(10000));
  QCOMPARE(finished.count(), 0);
  QVERIFY(!job.isRunning());
  QCOMPARE(filesIn(dir.path()), QStringList{});
}

void ConversionJobTest::destructionMidWriteLeavesNoFile() {
  QTemporaryDir dir;
  auto data = std::make_shared<GatedData>(8, std::size_t{1} << 20);
  auto job = std::make_unique<ConversionJob>();
  ConversionRequest r;
  r.checkpoint = gatedCheckpoint(dir.filePath(QStringLiteral("src.safetensors")), data);
  r.format = io::Format::Safetensors;
  r.outputPath = dir.filePath(QStringLiteral("out.safetensors"));
  QVERIFY(job->start(r));
  QTRY_VERIFY_WITH_TIMEOUT(data->firstChunkSent(), 10000);
  // The writer is parked inside the core; the destructor must cancel it and
  // wait, while the gate opens only once the destructor is already waiting.
  std::thread opener([data] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    data->release();
  });
  job.reset();
  opener.join();
  QCOMPARE(filesIn(dir.path()), QStringList{});
  // Whatever the worker posted died with the job: processing events must not touch it.
  QCoreApplication::processEvents();
}

void ConversionJobTest::refusesToStartTwiceAndRunsAgainAfterwards() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("m.safetensors")), io::Format::Safetensors, threeTensors());
  ConversionJob job;
  QSignalSpy finished(&job, &ConversionJob::finished);
  ConversionRequest r;
  r.checkpoint = src;
  r.format = io::Format::Npz;
  r.options.sync = false;
  r.outputPath = dir.filePath(QStringLiteral("a.npz"));
  QVERIFY(job.start(r));
  QVERIFY(!job.start(r));
  QVERIFY(finished.wait(10000));
  r.outputPath = dir.filePath(QStringLiteral("b.npz"));
  QVERIFY(job.start(r));
  QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 10000);
  QCOMPARE(finished.at(1).at(0).toString(), r.outputPath);
  QVERIFY(QFileInfo::exists(dir.filePath(QStringLiteral("a.npz"))));
  QVERIFY(QFileInfo::exists(dir.filePath(QStringLiteral("b.npz"))));
}

void ConversionJobTest::shardedResultIsTheIndex() {
  QTemporaryDir dir;
  const auto src = writeSample(dir.filePath(QStringLiteral("m.npz")), io::Format::Npz, threeTensors());
  ConversionJob job;
  QSignalSpy finished(&job, &ConversionJob::finished);
  ConversionRequest r;
  r.checkpoint = src;
  r.format = io::Format::Safetensors;
  r.options.sync = false;
  r.options.max_shard_bytes = 100;  // every tensor in a shard of its own
  r.outputPath = dir.filePath(QStringLiteral("sharded.safetensors"));
  QVERIFY(job.start(r));
  QVERIFY(finished.wait(10000));
  const QString index = dir.filePath(QStringLiteral("sharded.safetensors.index.json"));
  QCOMPARE(finished.first().at(0).toString(), index);
  compareTensors(src->tensors, io::open_checkpoint(index.toStdString()));
}

QTEST_MAIN(ConversionJobTest)
#include "test_conversion_job.moc"
