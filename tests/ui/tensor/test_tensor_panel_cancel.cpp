// The panel's background work: a 1 GiB tensor whose data arrive slowly (as
// from a deflated member or a slow disk) is cancelled when another tensor is
// selected, when Stop is pressed, and when the panel is destroyed mid-way;
// its results never appear, and nothing waits for it to finish. Plus the
// runner underneath: the latest task wins, the running one is told to stop.
// A real memory-mapped file takes the random-access path through the same.
#include <QElapsedTimer>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "io/open.h"
#include "ui/tensor/stats_pane.h"
#include "ui/tensor/task_runner.h"
#include "ui/tensor/tensor_job.h"
#include "ui/tensor/tensor_panel.h"
#include "ui/tensor/value_window_model.h"

using ckpt::io::DType;
using ckpt::ui::LatestTaskRunner;
using ckpt::ui::TensorPanel;

namespace {

constexpr int kWaitMs = 10000;
constexpr std::uint64_t kBigElements = std::uint64_t{1} << 28;  // 1 GiB of float32
constexpr std::size_t kPieceBytes = std::size_t{1} << 20;

// A tensor of one repeated value whose bytes come 1 MiB at a time with a
// pause before each piece: about four seconds for the whole gibibyte, and no
// random access, so statistics and windows must stream it.
class SlowData final : public ckpt::io::TensorData {
 public:
  SlowData(std::uint64_t bytes, float fill) : bytes_(bytes), fill_(fill) {}

  void stream(const ckpt::io::ByteSink& sink) const override {
    std::vector<float> piece(kPieceBytes / sizeof(float), fill_);
    for (std::uint64_t done = 0; done < bytes_;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(4));
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kPieceBytes, bytes_ - done));
      pieces_->fetch_add(1);
      sink(std::span(reinterpret_cast<const std::byte*>(piece.data()), n));
      done += n;
    }
  }
  [[nodiscard]] int pieces() const { return pieces_->load(); }

 private:
  std::uint64_t bytes_;
  float fill_;
  std::shared_ptr<std::atomic<int>> pieces_ = std::make_shared<std::atomic<int>>(0);
};

struct Slow {
  std::shared_ptr<const ckpt::io::Checkpoint> checkpoint;
  std::shared_ptr<const SlowData> data;
};

Slow bigSlowTensor() {
  auto data = std::make_shared<const SlowData>(kBigElements * 4, 1.0f);
  ckpt::io::TensorInfo t;
  t.name = "model.embed.weight";
  t.dtype = DType::F32;
  t.shape = {static_cast<std::int64_t>(kBigElements >> 14), 1 << 14};
  t.nbytes = kBigElements * 4;
  t.file = "/tmp/slow.npz";
  t.data = data;
  auto ck = std::make_shared<ckpt::io::Checkpoint>();
  ck->tensors.push_back(std::move(t));
  return {ck, data};
}

std::shared_ptr<const ckpt::io::Checkpoint> smallTensor() {
  const std::vector<float> v{2, 2, 2, 2};
  std::vector<std::byte> bytes(16);
  std::memcpy(bytes.data(), v.data(), 16);
  ckpt::io::TensorInfo t;
  t.name = "small";
  t.dtype = DType::F32;
  t.shape = {2, 2};
  t.nbytes = 16;
  t.data = ckpt::io::make_memory_data(std::move(bytes));
  auto ck = std::make_shared<ckpt::io::Checkpoint>();
  ck->tensors.push_back(std::move(t));
  return ck;
}

// The slow streams have stopped: no piece is produced for a while.
bool streamsStopped(const SlowData& data) {
  const int before = data.pieces();
  QTest::qWait(150);
  return data.pieces() <= before + 2;  // at most the pieces already in flight
}

}  // namespace

class TestTensorPanelCancel : public QObject {
  Q_OBJECT

 private slots:
  void selectingAnotherTensorCancelsRunningWork() {
    const Slow big = bigSlowTensor();
    TensorPanel panel;
    QSignalSpy stats(&panel, &TensorPanel::statsShown);
    QSignalSpy window(&panel, &TensorPanel::windowShown);
    panel.setTensor(big.checkpoint, 0);
    QTRY_VERIFY_WITH_TIMEOUT(big.data->pieces() >= 6, kWaitMs);  // both streams are under way
    QVERIFY(panel.busy());
    QCOMPARE(stats.count(), 0);

    QElapsedTimer clock;
    clock.start();
    panel.setTensor(smallTensor(), 0);
    QTRY_VERIFY_WITH_TIMEOUT(stats.count() >= 1 && window.count() >= 1, kWaitMs);
    // Far less than the ~4 s the big tensor's statistics would have taken.
    QVERIFY2(clock.elapsed() < 2000, qPrintable(QStringLiteral("%1 ms").arg(clock.elapsed())));
    QCOMPARE(panel.stats()->count, std::uint64_t{4});
    QCOMPARE(panel.stats()->max, 2.0);
    QCOMPARE(panel.valueModel()->value(1, 1), 2.0);
    QVERIFY(streamsStopped(*big.data));
    QTest::qWait(100);
    QCOMPARE(stats.count(), 1);  // the big tensor's never arrived
    QCOMPARE(window.count(), 1);
    QCOMPARE(panel.stats()->count, std::uint64_t{4});
  }

  void selectingAnotherTensorAtOnceDropsTheFirst() {
    const Slow big = bigSlowTensor();
    TensorPanel panel;
    QSignalSpy stats(&panel, &TensorPanel::statsShown);
    panel.setTensor(big.checkpoint, 0);
    panel.setTensor(smallTensor(), 0);
    QTRY_VERIFY_WITH_TIMEOUT(stats.count() >= 1, 3000);
    QCOMPARE(panel.stats()->count, std::uint64_t{4});
    QVERIFY(streamsStopped(*big.data));
    QCOMPARE(stats.count(), 1);
    QTRY_VERIFY_WITH_TIMEOUT(!panel.busy(), kWaitMs);
  }

  void destroyingThePanelMidwayIsQuickAndSafe() {
    const Slow big = bigSlowTensor();
    auto* panel = new TensorPanel;
    panel->setTensor(big.checkpoint, 0);
    QTRY_VERIFY_WITH_TIMEOUT(big.data->pieces() >= 6, kWaitMs);
    QElapsedTimer clock;
    clock.start();
    delete panel;
    QVERIFY2(clock.elapsed() < 1000, qPrintable(QStringLiteral("%1 ms").arg(clock.elapsed())));
    const int after = big.data->pieces();
    QTest::qWait(100);  // queued deliveries for the dead panel are dropped
    QCOMPARE(big.data->pieces(), after);

    // And before the work has even started.
    auto* other = new TensorPanel;
    other->setTensor(bigSlowTensor().checkpoint, 0);
    clock.restart();
    delete other;
    QVERIFY(clock.elapsed() < 1000);
  }

  void progressShowsAndStopCancels() {
    const Slow big = bigSlowTensor();
    TensorPanel panel;
    panel.resize(700, 600);
    panel.show();
    QSignalSpy stats(&panel, &TensorPanel::statsShown);
    panel.setTensor(big.checkpoint, 0);
    auto* pane = panel.statsPane();
    QVERIFY(pane->computing());
    QCOMPARE(pane->fieldText(ckpt::ui::StatsPane::Min), QStringLiteral("…"));
    QTRY_VERIFY_WITH_TIMEOUT(pane->progressBar()->isVisible() && pane->progressBar()->value() > 0, kWaitMs);
    // The window has to stream up to its place, and says so meanwhile.
    QTRY_COMPARE_WITH_TIMEOUT(panel.windowMessage(), QStringLiteral("Reading values…"), kWaitMs);
    // Set CKPT_TENSOR_SCREENSHOTS to a folder to look at the computing state.
    if (const QString out = qEnvironmentVariable("CKPT_TENSOR_SCREENSHOTS"); !out.isEmpty())
      QVERIFY(panel.grab().save(out + QStringLiteral("/computing.png")));

    QPushButton* stop = nullptr;
    for (auto* b : pane->findChildren<QPushButton*>())
      if (b->text() == QStringLiteral("S&top")) stop = b;
    QVERIFY(stop != nullptr);
    QTest::mouseClick(stop, Qt::LeftButton);
    QVERIFY(panel.statsMessage().contains(QStringLiteral("stopped")));
    QVERIFY(!pane->progressBar()->isVisible());
    QVERIFY(!pane->computing());

    // "Compute again" restarts; selecting nothing cancels everything.
    QPushButton* again = nullptr;
    for (auto* b : pane->findChildren<QPushButton*>())
      if (b->text() == QStringLiteral("Compute a&gain")) again = b;
    QVERIFY(again != nullptr && again->isVisible());
    QTest::mouseClick(again, Qt::LeftButton);
    QVERIFY(pane->computing());
    QVERIFY(panel.statsMessage().isEmpty());
    panel.clear();
    QTRY_VERIFY_WITH_TIMEOUT(!panel.busy(), 1000);
    QVERIFY(streamsStopped(*big.data));
    QCOMPARE(stats.count(), 0);
  }

  void mappedFileCancelsAndCompletes() {
    // A real 128 MiB .npy, read through its memory map (random access, the
    // path compute_stats splits over threads), values i mod 1000.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    constexpr std::size_t n = std::size_t{32} << 20;
    {
      std::vector<std::byte> bytes(n * sizeof(float));
      auto* f = reinterpret_cast<float*>(bytes.data());
      for (std::size_t i = 0; i < n; ++i) f[i] = static_cast<float>(i % 1000);
      ckpt::io::TensorInfo t;
      t.name = "big";
      t.dtype = DType::F32;
      t.shape = {static_cast<std::int64_t>(n / 4096), 4096};
      t.nbytes = bytes.size();
      t.data = ckpt::io::make_memory_data(std::move(bytes));
      ckpt::io::WriteOptions wo;
      wo.sync = false;
      ckpt::io::write_checkpoint(dir.filePath(QStringLiteral("big.npy")).toStdString(), ckpt::io::Format::Npy,
                                 std::span(&t, 1), {}, wo);
    }
    const auto big = std::make_shared<const ckpt::io::Checkpoint>(
        ckpt::io::open_checkpoint(dir.filePath(QStringLiteral("big.npy")).toStdString()));

    {
      TensorPanel panel;
      QSignalSpy stats(&panel, &TensorPanel::statsShown);
      panel.setTensor(big, 0);
      panel.setTensor(smallTensor(), 0);
      QTRY_VERIFY_WITH_TIMEOUT(stats.count() >= 1, kWaitMs);
      QTRY_VERIFY_WITH_TIMEOUT(!panel.busy(), kWaitMs);
      QCOMPARE(stats.count(), 1);
      QCOMPARE(panel.stats()->count, std::uint64_t{4});
    }
    {
      auto* panel = new TensorPanel;
      panel->setTensor(big, 0);
      QTest::qWait(20);
      QElapsedTimer clock;
      clock.start();
      delete panel;
      QVERIFY2(clock.elapsed() < 1000, qPrintable(QStringLiteral("%1 ms").arg(clock.elapsed())));
    }
    TensorPanel panel;
    QSignalSpy stats(&panel, &TensorPanel::statsShown);
    QSignalSpy window(&panel, &TensorPanel::windowShown);
    panel.setTensor(big, 0);
    QTRY_VERIFY_WITH_TIMEOUT(stats.count() == 1 && window.count() == 1, kWaitMs);
    QCOMPARE(panel.stats()->count, std::uint64_t{n});
    QCOMPARE(panel.stats()->min, 0.0);
    QCOMPARE(panel.stats()->max, 999.0);
    QCOMPARE(panel.valueModel()->value(1, 5), static_cast<double>((4096 + 5) % 1000));
  }

  void jobDeliversOnlyTheLatestRequest() {
    const Slow big = bigSlowTensor();
    ckpt::ui::TensorJob job;
    QSignalSpy ready(&job, &ckpt::ui::TensorJob::statsReady);
    QSignalSpy failed(&job, &ckpt::ui::TensorJob::statsFailed);
    job.requestStats(big.checkpoint, 0, 8);
    QTRY_VERIFY_WITH_TIMEOUT(big.data->pieces() >= 3, kWaitMs);
    job.cancelStats();
    QTRY_VERIFY_WITH_TIMEOUT(!job.statsBusy(), 1000);
    QTest::qWait(50);
    QCOMPARE(ready.count() + failed.count(), 0);  // a cancelled request reports nothing
    job.requestStats(smallTensor(), 0, 8);
    QTRY_COMPARE_WITH_TIMEOUT(ready.count(), 1, kWaitMs);
    QCOMPARE(failed.count(), 0);
  }

  void runnerCancelsTheRunningTaskAndDropsThePending() {
    std::atomic<int> first_state{0};  // 1 running, 2 saw the cancel
    std::atomic<bool> release{false}, second_ran{false}, third_ran{false};
    LatestTaskRunner runner;
    runner.post([&](const std::atomic<bool>& cancelled) {
      first_state = 1;
      while (!cancelled) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      first_state = 2;
      // Held here so the next two posts both arrive while this one runs.
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    QTRY_COMPARE_WITH_TIMEOUT(first_state.load(), 1, kWaitMs);
    QVERIFY(runner.busy());
    runner.post([&](const std::atomic<bool>&) { second_ran = true; });
    QTRY_COMPARE_WITH_TIMEOUT(first_state.load(), 2, kWaitMs);  // posting cancelled the running task
    runner.post([&](const std::atomic<bool>&) { third_ran = true; });
    release = true;
    QTRY_VERIFY_WITH_TIMEOUT(third_ran.load(), kWaitMs);
    QTRY_VERIFY_WITH_TIMEOUT(!runner.busy(), kWaitMs);
    QVERIFY(!second_ran.load());  // replaced before it could start
  }

  void runnerSurvivesAThrowingTaskAndJoinsOnDestruction() {
    std::atomic<bool> finished{false};
    std::atomic<bool> started{false};
    {
      LatestTaskRunner runner;
      runner.post([](const std::atomic<bool>&) { throw std::runtime_error("escaped"); });
      QTRY_VERIFY_WITH_TIMEOUT(!runner.busy(), kWaitMs);
      runner.post([&](const std::atomic<bool>& cancelled) {
        started = true;
        while (!cancelled) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        finished = true;
      });
      QTRY_VERIFY_WITH_TIMEOUT(started.load(), kWaitMs);
    }  // the destructor cancels and waits
    QVERIFY(finished.load());
  }
};

QTEST_MAIN(TestTensorPanelCancel)
#include "test_tensor_panel_cancel.moc"
