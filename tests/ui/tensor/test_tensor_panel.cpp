// TensorPanel end to end on small tensors: the statistics and histogram on
// screen are compute_stats's, the value window follows the axis, index and
// origin controls, GGUF Q8_0 shows dequantized values, and tensors whose
// data cannot be read or fail to decode get inline messages.
#include <QClipboard>
#include <QComboBox>
#include <QGuiApplication>
#include <QImage>
#include <QLabel>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "io/error.h"
#include "io/float_convert.h"
#include "io/formats/ggml_quants.h"
#include "io/open.h"
#include "ui/tensor/colour_scale.h"
#include "ui/tensor/heat_map_widget.h"
#include "ui/tensor/histogram_widget.h"
#include "ui/tensor/stats_pane.h"
#include "ui/tensor/tensor_panel.h"
#include "ui/tensor/value_text.h"
#include "ui/tensor/value_window_model.h"
#include "ui/tensor/window_controls.h"

using ckpt::io::DType;
using ckpt::ui::StatsPane;
using ckpt::ui::TensorPanel;

namespace {

constexpr int kWaitMs = 10000;

ckpt::io::TensorInfo f32Tensor(std::string name, ckpt::io::Shape shape, const std::vector<float>& v) {
  std::vector<std::byte> bytes(v.size() * sizeof(float));
  std::memcpy(bytes.data(), v.data(), bytes.size());
  ckpt::io::TensorInfo t;
  t.name = std::move(name);
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  t.nbytes = bytes.size();
  t.file = "/tmp/memory.safetensors";
  t.offset = 128;
  t.data = ckpt::io::make_memory_data(std::move(bytes));
  return t;
}

std::shared_ptr<const ckpt::io::Checkpoint> checkpointOf(std::vector<ckpt::io::TensorInfo> tensors) {
  auto ck = std::make_shared<ckpt::io::Checkpoint>();
  ck->path = "/tmp/memory.safetensors";
  ck->format = ckpt::io::Format::Safetensors;
  ck->tensors = std::move(tensors);
  return ck;
}

std::vector<float> arange(std::size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}

// Data whose every read fails the way a corrupt file does.
class CorruptData final : public ckpt::io::TensorData {
 public:
  void stream(const ckpt::io::ByteSink&) const override {
    throw ckpt::io::Error("/tmp/broken.npz", 4242, "the deflated data of member 'w.npy' is corrupt");
  }
};


// Set CKPT_TENSOR_SCREENSHOTS to a folder to look at what the tests show.
void saveShot(QWidget& w, const QString& name) {
  const QString out = qEnvironmentVariable("CKPT_TENSOR_SCREENSHOTS");
  if (out.isEmpty()) return;
  w.resize(640, 560);
  w.show();
  QTest::qWait(20);
  QVERIFY(w.grab().save(out + QLatin1Char('/') + name));
}

}  // namespace

// Waits until `spy` has seen `n` signals (QTRY_* return from the test on failure).
#define WAIT_FOR(spy, n) QTRY_VERIFY_WITH_TIMEOUT((spy).count() >= (n), kWaitMs)

class TestTensorPanel : public QObject {
  Q_OBJECT

 private slots:
  void statsEqualComputeStats() {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> v{0, 1, 2, 3, 4, 5, 0, -7.5f, 8, nan, 10, 11};
    const auto ck = checkpointOf({f32Tensor("layers.0.w", {3, 4}, v)});
    ckpt::model::StatsOptions opt;
    opt.bins = TensorPanel::kHistogramBins;
    const auto expected = ckpt::model::compute_stats(ck->tensors[0], opt);

    TensorPanel panel;
    QSignalSpy shown(&panel, &TensorPanel::statsShown);
    panel.setTensor(ck, 0);
    // The description is there before any work has finished.
    QVERIFY(panel.descriptionText().contains(QStringLiteral("layers.0.w")));
    QVERIFY(panel.descriptionText().contains(QStringLiteral("dtype: float32")));
    QVERIFY(panel.descriptionText().contains(QStringLiteral("shape: [3, 4]")));
    QVERIFY(panel.descriptionText().contains(QStringLiteral("bytes: 48")));
    QVERIFY(panel.descriptionText().contains(QStringLiteral("file: memory.safetensors at byte 128")));
    WAIT_FOR(shown, 1);

    QVERIFY(panel.stats().has_value());
    const auto& s = *panel.stats();
    QCOMPARE(s.count, expected.count);
    QCOMPARE(s.nan, std::uint64_t{1});
    QCOMPARE(s.zeros, std::uint64_t{2});
    QCOMPARE(s.min, expected.min);
    QCOMPARE(s.max, expected.max);
    QCOMPARE(s.mean, expected.mean);
    QCOMPARE(s.std, expected.std);
    QCOMPARE(s.histogram, expected.histogram);

    // What a user reads.
    const StatsPane* pane = panel.statsPane();
    QCOMPARE(pane->fieldText(StatsPane::Count), QStringLiteral("12"));
    QCOMPARE(pane->fieldText(StatsPane::Min), QStringLiteral("-7.5"));
    QCOMPARE(pane->fieldText(StatsPane::Max), QStringLiteral("11"));
    QCOMPARE(pane->fieldText(StatsPane::Mean), ckpt::ui::numberText(expected.mean));
    QCOMPARE(pane->fieldText(StatsPane::Std), ckpt::ui::numberText(expected.std));
    QCOMPARE(pane->fieldText(StatsPane::Zeros), QStringLiteral("2 (16.7 %)"));
    QCOMPARE(pane->fieldText(StatsPane::NaN), QStringLiteral("1 (8.33 %)"));
    QCOMPARE(pane->fieldText(StatsPane::Inf), QStringLiteral("0"));
    QCOMPARE(pane->findChild<QLabel*>(QStringLiteral("stat_min"))->text(), QStringLiteral("-7.5"));

    // The histogram holds every finite value, over [min, max].
    QCOMPARE(panel.histogram()->total(), expected.count - expected.nan - expected.inf);
    QCOMPARE(panel.histogram()->counts(), expected.histogram);
    QCOMPARE(panel.histogram()->low(), -7.5);
    QCOMPARE(panel.histogram()->high(), 11.0);
    QCOMPARE(shown.count(), 1);
  }

  void reselectingTheSameTensorKeepsItsWork() {
    const auto ck = checkpointOf({f32Tensor("w", {4}, {1, 2, 3, 4})});
    TensorPanel panel;
    QSignalSpy stats(&panel, &TensorPanel::statsShown);
    QSignalSpy window(&panel, &TensorPanel::windowShown);
    panel.setTensor(ck, 0);
    panel.setTensor(ck, 0);
    WAIT_FOR(stats, 1);
    WAIT_FOR(window, 1);
    panel.setTensor(ck, 0);
    QTest::qWait(50);
    QCOMPARE(stats.count(), 1);
    QCOMPARE(window.count(), 1);
    QVERIFY(panel.stats().has_value());
  }

  void histogramTotalIsCountWithoutNonFinite() {
    const auto ck = checkpointOf({f32Tensor("w", {100}, arange(100))});
    TensorPanel panel;
    QSignalSpy shown(&panel, &TensorPanel::statsShown);
    panel.setTensor(ck, 0);
    WAIT_FOR(shown, 1);
    QCOMPARE(panel.histogram()->total(), std::uint64_t{100});
    QCOMPARE(panel.histogram()->total(), panel.stats()->count);
  }

  void oneDistinctValueSitsInTheMiddle() {
    const auto ck = checkpointOf({f32Tensor("ones", {8}, std::vector<float>(8, 1.0f))});
    TensorPanel panel;
    QSignalSpy shown(&panel, &TensorPanel::statsShown);
    panel.setTensor(ck, 0);
    WAIT_FOR(shown, 1);
    QCOMPARE(panel.histogram()->low(), 0.5);
    QCOMPARE(panel.histogram()->high(), 1.5);
    QCOMPARE(panel.histogram()->total(), std::uint64_t{8});
  }

  void windowFollowsAxesIndexAndOrigin() {
    // [2, 3, 4] = arange(24): element (i, j, k) = 12 i + 4 j + k.
    const auto ck = checkpointOf({f32Tensor("cube", {2, 3, 4}, arange(24))});
    TensorPanel panel;
    QSignalSpy shown(&panel, &TensorPanel::windowShown);
    panel.setTensor(ck, 0);
    WAIT_FOR(shown, 1);
    auto* model = panel.valueModel();
    // Default: the last two axes, axis 0 at index 0.
    QCOMPARE(model->rowCount(), 3);
    QCOMPARE(model->columnCount(), 4);
    QCOMPARE(model->value(2, 3), 11.0);

    // The other-axis spinner moves through axis 0.
    auto* controls = panel.windowControls();
    QSpinBox* axis0 = controls->indexBox(0);
    QVERIFY(axis0 != nullptr);
    QCOMPARE(axis0->maximum(), 1);
    axis0->setValue(1);
    WAIT_FOR(shown, 2);
    QCOMPARE(model->value(0, 0), 12.0);
    QCOMPARE(model->value(2, 3), 23.0);

    // Choosing axis 0 for the rows (from the combo box, by keyboard).
    QComboBox* rows = controls->rowAxisBox();
    rows->setFocus();
    QTest::keyClick(rows, Qt::Key_Up);  // axis 1 → axis 0
    WAIT_FOR(shown, 3);
    QCOMPARE(controls->window().row_axis, 0);
    QCOMPARE(controls->window().col_axis, 2);
    QVERIFY(controls->indexBox(1) != nullptr);
    QVERIFY(controls->indexBox(0) == nullptr);
    QCOMPARE(model->rowCount(), 2);
    QCOMPARE(model->columnCount(), 4);
    QCOMPARE(model->value(1, 3), 15.0);  // (1, 0, 3)

    // Index 2 along the now fixed axis 1, then the window transposed.
    controls->setIndex(1, 2);
    WAIT_FOR(shown, 4);
    QCOMPARE(model->value(1, 3), 23.0);  // (1, 2, 3)
    controls->setAxes(2, 0);  // transposed: rows run along axis 2
    WAIT_FOR(shown, 5);
    QCOMPARE(model->rowCount(), 4);
    QCOMPARE(model->columnCount(), 2);
    QCOMPARE(model->value(3, 1), 23.0);  // (1, 2, 3) again
    QCOMPARE(model->value(0, 1), 20.0);  // (1, 2, 0)

    // Choosing the column axis as the row axis swaps the two.
    const int col_axis_item = controls->rowAxisBox()->findData(0);
    controls->rowAxisBox()->setCurrentIndex(col_axis_item);
    emit controls->rowAxisBox()->activated(col_axis_item);
    WAIT_FOR(shown, 6);
    QCOMPARE(controls->window().row_axis, 0);
    QCOMPARE(controls->window().col_axis, 2);

    // The origin moves the window; headers are absolute indices.
    controls->setOrigin(1, 2);
    WAIT_FOR(shown, 7);
    QCOMPARE(model->rowCount(), 1);
    QCOMPARE(model->columnCount(), 2);
    QCOMPARE(model->value(0, 0), 22.0);  // (1, 2, 2)
    QCOMPARE(model->headerData(0, Qt::Vertical).toString(), QStringLiteral("1"));
    QCOMPARE(model->headerData(1, Qt::Horizontal).toString(), QStringLiteral("3"));
    QCOMPARE(model->index(0, 1).data(Qt::ToolTipRole).toString(), QStringLiteral("[1, 2, 3] = 23"));
  }

  void sameShapeKeepsTheWindow() {
    const auto ck = checkpointOf({f32Tensor("layers.0.w", {50, 60}, arange(3000)),
                                  f32Tensor("layers.1.w", {50, 60}, std::vector<float>(3000, 5.0f)),
                                  f32Tensor("bias", {60}, arange(60))});
    TensorPanel panel;
    QSignalSpy shown(&panel, &TensorPanel::windowShown);
    panel.setTensor(ck, 0);
    WAIT_FOR(shown, 1);
    panel.windowControls()->setOrigin(10, 20);
    WAIT_FOR(shown, 2);
    QCOMPARE(panel.valueModel()->value(0, 0), 620.0);
    panel.setTensor(ck, 1);
    WAIT_FOR(shown, 3);
    QCOMPARE(panel.windowControls()->window().row0, 10);
    QCOMPARE(panel.valueModel()->headerData(0, Qt::Horizontal).toString(), QStringLiteral("20"));
    QCOMPARE(panel.valueModel()->value(0, 0), 5.0);
    // Another shape starts again from the defaults.
    panel.setTensor(ck, 2);
    WAIT_FOR(shown, 4);
    QCOMPARE(panel.windowControls()->window().col0, 0);
    QCOMPARE(panel.valueModel()->value(0, 0), 0.0);
  }

  void copiesSelectedValuesAndFollowsHeatMapClicks() {
    const auto ck = checkpointOf({f32Tensor("w", {3, 3}, {0.1f, 1, 2, 3, 4, 5, 6, 7, 8})});
    TensorPanel panel;
    QSignalSpy shown(&panel, &TensorPanel::windowShown);
    panel.setCurrentPage(TensorPanel::ValuesPage);
    panel.resize(900, 600);
    panel.show();
    panel.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&panel));
    panel.setTensor(ck, 0);
    WAIT_FOR(shown, 1);
    auto* table = panel.valueTable();
    auto* model = panel.valueModel();
    table->selectionModel()->select(QItemSelection(model->index(0, 0), model->index(1, 1)),
                                    QItemSelectionModel::ClearAndSelect);
    QCOMPARE(panel.selectedValuesText(), QStringLiteral("0.1\t1\n3\t4\n"));
    table->setFocus();
    QTRY_VERIFY(table->hasFocus());
    QTest::keySequence(table, QKeySequence::Copy);
    QCOMPARE(QGuiApplication::clipboard()->text(), QStringLiteral("0.1\t1\n3\t4\n"));

    // A click on a heat map cell makes it the table's current cell.
    auto* map = panel.heatMap();
    QTest::mouseClick(map->canvas(), Qt::LeftButton, {}, map->cellRect(2, 1).center());
    QCOMPARE(table->currentIndex(), model->index(2, 1));
  }

  void windowSizeIsBounded() {
    const auto ck = checkpointOf({f32Tensor("big", {100, 100}, arange(10000))});
    TensorPanel panel;
    QSignalSpy shown(&panel, &TensorPanel::windowShown);
    panel.setTensor(ck, 0);
    WAIT_FOR(shown, 1);
    QCOMPARE(panel.valueModel()->rowCount(), ckpt::ui::WindowControls::kDefaultSize);
    QCOMPARE(panel.valueModel()->columnCount(), ckpt::ui::WindowControls::kDefaultSize);
    panel.windowControls()->setOrigin(90, 95);
    WAIT_FOR(shown, 2);
    QCOMPARE(panel.valueModel()->rowCount(), 10);
    QCOMPARE(panel.valueModel()->columnCount(), 5);
    QCOMPARE(panel.valueModel()->value(0, 0), 9095.0);
    QCOMPARE(panel.heatMap()->values().rows, 10);
  }

  void oneDimensionalAndScalar() {
    const auto ck = checkpointOf({f32Tensor("bias", {5}, {1, 2, 3, 4, 5}), f32Tensor("scale", {}, {2.5f})});
    TensorPanel panel;
    QSignalSpy shown(&panel, &TensorPanel::windowShown);
    panel.setTensor(ck, 0);
    WAIT_FOR(shown, 1);
    QCOMPARE(panel.valueModel()->rowCount(), 1);
    QCOMPARE(panel.valueModel()->columnCount(), 5);
    QCOMPARE(panel.valueModel()->value(0, 4), 5.0);
    QVERIFY(!panel.windowControls()->rowAxisBox()->isEnabled());
    QVERIFY(!panel.windowControls()->rowStartBox()->isEnabled());
    panel.windowControls()->setOrigin(0, 3);
    WAIT_FOR(shown, 2);
    QCOMPARE(panel.valueModel()->columnCount(), 2);
    QCOMPARE(panel.valueModel()->headerData(0, Qt::Horizontal).toString(), QStringLiteral("3"));

    panel.setTensor(ck, 1);
    WAIT_FOR(shown, 3);
    QCOMPARE(panel.valueModel()->rowCount(), 1);
    QCOMPARE(panel.valueModel()->columnCount(), 1);
    QCOMPARE(panel.valueModel()->value(0, 0), 2.5);
    QVERIFY(panel.descriptionText().contains(QStringLiteral("shape: []")));
  }

  void ggufQ8_0ShowsDequantizedValues() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    // 4 rows of 64 (two Q8_0 blocks each): scale (row + 1) / 8, codes j − 16.
    std::vector<std::byte> raw;
    for (int r = 0; r < 4; ++r)
      for (int b = 0; b < 2; ++b) {
        const std::uint16_t d = ckpt::io::f32_to_f16(static_cast<float>(r + 1) / 8);
        raw.resize(raw.size() + 2);
        std::memcpy(raw.data() + raw.size() - 2, &d, 2);
        for (int j = 0; j < 32; ++j) raw.push_back(std::byte(static_cast<std::uint8_t>(static_cast<std::int8_t>(j - 16 + b))));
      }
    std::vector<float> dense(256);
    ckpt::io::dequantize(DType::Q8_0, raw.data(), dense.data(), 256);
    ckpt::io::TensorInfo q;
    q.name = "blk.0.attn_q.weight";
    q.dtype = DType::Q8_0;
    q.shape = {4, 64};
    q.nbytes = raw.size();
    q.data = ckpt::io::make_memory_data(raw);
    const std::string path = dir.filePath(QStringLiteral("q8.gguf")).toStdString();
    ckpt::io::WriteOptions wo;
    wo.sync = false;
    ckpt::io::write_checkpoint(path, ckpt::io::Format::Gguf, std::span(&q, 1), {}, wo);
    const auto ck = std::make_shared<const ckpt::io::Checkpoint>(ckpt::io::open_checkpoint(path));
    QCOMPARE(ck->tensors.at(0).dtype, DType::Q8_0);

    ckpt::model::StatsOptions opt;
    opt.bins = TensorPanel::kHistogramBins;
    const auto expected = ckpt::model::compute_stats(ck->tensors[0], opt);

    TensorPanel panel;
    QSignalSpy stats(&panel, &TensorPanel::statsShown);
    QSignalSpy window(&panel, &TensorPanel::windowShown);
    panel.setTensor(ck, 0);
    QVERIFY(panel.descriptionText().contains(QStringLiteral("q8_0 (blocks of 32 values in 34 bytes)")));
    QVERIFY(panel.descriptionText().contains(QStringLiteral("GGUF: type 8 (q8_0), ne [64, 4]")));
    WAIT_FOR(stats, 1);
    WAIT_FOR(window, 1);
    const auto& s = *panel.stats();
    QCOMPARE(s.count, std::uint64_t{256});
    QCOMPARE(s.min, expected.min);
    QCOMPARE(s.max, expected.max);
    QCOMPARE(s.mean, expected.mean);
    QCOMPARE(s.std, expected.std);
    QCOMPARE(s.zeros, expected.zeros);
    QCOMPARE(s.histogram, expected.histogram);
    QCOMPARE(s.min, static_cast<double>(*std::min_element(dense.begin(), dense.end())));
    QCOMPARE(panel.histogram()->total(), std::uint64_t{256});
    auto* model = panel.valueModel();
    QCOMPARE(model->rowCount(), 4);
    QCOMPARE(model->columnCount(), 32);
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 32; ++c) QCOMPARE(model->value(r, c), static_cast<double>(dense[static_cast<std::size_t>(r * 64 + c)]));
    // The second block of each row, past the first window.
    panel.windowControls()->setOrigin(0, 40);
    WAIT_FOR(window, 2);
    QCOMPARE(model->value(3, 0), static_cast<double>(dense[3 * 64 + 40]));
    saveShot(panel, QStringLiteral("gguf_stats.png"));
  }

  void tensorWithoutDataExplainsInline() {
    ckpt::io::TensorInfo t;
    t.name = "blk.0.mystery";
    t.dtype = DType::GgmlUnknown;
    t.shape = {32};
    t.ggml_type = 99;
    t.ggml_ne = {32};
    const auto ck = checkpointOf({t});
    TensorPanel panel;
    QSignalSpy stats(&panel, &TensorPanel::statsShown);
    panel.setTensor(ck, 0);
    QVERIFY(panel.statsMessage().contains(QStringLiteral("ggml type 99")));
    QVERIFY(!panel.windowMessage().isEmpty());
    QVERIFY(panel.descriptionText().contains(QStringLiteral("GGUF: type 99 (unknown)")));
    QVERIFY(!panel.busy());
    QVERIFY(!panel.windowControls()->isEnabled());
    QTest::qWait(50);
    QCOMPARE(stats.count(), 0);
    QVERIFY(!panel.stats().has_value());
    saveShot(panel, QStringLiteral("unreadable.png"));
  }

  void coreErrorsShowInline() {
    ckpt::io::TensorInfo t;
    t.name = "w";
    t.dtype = DType::F32;
    t.shape = {4, 4};
    t.nbytes = 64;
    t.file = "/tmp/broken.npz";
    t.data = std::make_shared<CorruptData>();
    // And a block type this build lists but cannot decode.
    ckpt::io::TensorInfo k;
    k.name = "blk.0.ffn_down.weight";
    k.dtype = DType::IQ1_M;
    k.shape = {256};
    k.nbytes = ckpt::io::info(DType::IQ1_M).block_bytes;
    k.data = ckpt::io::make_memory_data(std::vector<std::byte>(k.nbytes));
    const auto ck = checkpointOf({t, k});
    TensorPanel panel;
    panel.setTensor(ck, 0);
    QTRY_VERIFY_WITH_TIMEOUT(!panel.statsMessage().isEmpty(), kWaitMs);
    QVERIFY2(panel.statsMessage().contains(QStringLiteral("corrupt")), qPrintable(panel.statsMessage()));
    QVERIFY(panel.statsMessage().contains(QStringLiteral("at byte 4242")));
    QTRY_VERIFY_WITH_TIMEOUT(panel.windowMessage().contains(QStringLiteral("corrupt")), kWaitMs);
    QCOMPARE(panel.valueModel()->rowCount(), 0);
    saveShot(panel, QStringLiteral("corrupt.png"));

    if (ckpt::io::can_dequantize(DType::IQ1_M)) QSKIP("this build decodes iq1_m; no undecodable block type to try");
    panel.setTensor(ck, 1);
    QTRY_VERIFY_WITH_TIMEOUT(panel.statsMessage().contains(QStringLiteral("cannot decode")), kWaitMs);
    QTRY_VERIFY_WITH_TIMEOUT(panel.windowMessage().contains(QStringLiteral("cannot decode")), kWaitMs);
  }

  void rendersEachPage() {
    // A 3-D weight with a smooth pattern, negative and positive, and a NaN.
    std::vector<float> v(4 * 48 * 40);
    for (std::size_t i = 0; i < v.size(); ++i) {
      const double r = static_cast<double>(i / 40 % 48), c = static_cast<double>(i % 40);
      v[i] = static_cast<float>(0.05 * std::sin(r * 0.3) * std::cos(c * 0.2) + 0.002 * static_cast<double>(i % 7));
    }
    v[45] = std::numeric_limits<float>::quiet_NaN();
    const auto ck = checkpointOf({f32Tensor("model.layers.3.self_attn.q_proj.weight", {4, 48, 40}, v)});
    TensorPanel panel;
    QSignalSpy stats(&panel, &TensorPanel::statsShown);
    QSignalSpy window(&panel, &TensorPanel::windowShown);
    panel.resize(900, 720);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    panel.setTensor(ck, 0);
    WAIT_FOR(stats, 1);
    WAIT_FOR(window, 1);

    const QString out = qEnvironmentVariable("CKPT_TENSOR_SCREENSHOTS");
    auto shot = [&](const QString& name) {
      const QImage img = panel.grab().toImage();
      QCOMPARE(img.size(), panel.size());
      if (!out.isEmpty()) QVERIFY(img.save(out + QLatin1Char('/') + name));
    };
    shot(QStringLiteral("stats.png"));
    panel.setCurrentPage(TensorPanel::ValuesPage);
    QTest::qWait(20);
    shot(QStringLiteral("values_wide.png"));
    // The heat map really shows the window: the NaN cell in its own colour.
    QCOMPARE(panel.heatMap()->cellColour(1, 5), ckpt::ui::ColourScale::nanColour());
    QVERIFY(panel.heatMap()->scale().diverging());
    panel.resize(520, 820);
    QTest::qWait(20);
    shot(QStringLiteral("values_narrow.png"));
    QPalette dark;
    dark.setColor(QPalette::Window, QColor(45, 45, 48));
    dark.setColor(QPalette::WindowText, QColor(230, 230, 230));
    dark.setColor(QPalette::Base, QColor(30, 30, 30));
    dark.setColor(QPalette::AlternateBase, QColor(40, 40, 44));
    dark.setColor(QPalette::Text, QColor(230, 230, 230));
    dark.setColor(QPalette::Button, QColor(55, 55, 58));
    dark.setColor(QPalette::ButtonText, QColor(230, 230, 230));
    dark.setColor(QPalette::PlaceholderText, QColor(150, 150, 150));
    panel.setPalette(dark);
    panel.resize(900, 720);
    QTest::qWait(20);
    shot(QStringLiteral("values_dark.png"));
    panel.setCurrentPage(TensorPanel::StatsPage);
    shot(QStringLiteral("stats_dark.png"));
  }

  void clearShowsNothing() {
    const auto ck = checkpointOf({f32Tensor("w", {2, 2}, {1, 2, 3, 4})});
    TensorPanel panel;
    QSignalSpy shown(&panel, &TensorPanel::statsShown);
    panel.setTensor(ck, 0);
    WAIT_FOR(shown, 1);
    panel.clear();
    QVERIFY(panel.tensor() == nullptr);
    QVERIFY(!panel.stats().has_value());
    QCOMPARE(panel.valueModel()->rowCount(), 0);
    QCOMPARE(panel.histogram()->total(), std::uint64_t{0});
    // An index past the end is treated as no selection, not a crash.
    panel.setTensor(ck, 7);
    QVERIFY(panel.tensor() == nullptr);
  }
};

QTEST_MAIN(TestTensorPanel)
#include "test_tensor_panel.moc"
