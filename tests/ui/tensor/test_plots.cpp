// The colour scale, the heat map and the histogram: which scale a window
// gets, what each cell looks like on screen and says in its tooltip, zoom
// by buttons, keys and Ctrl+wheel, and the histogram's bins.
#include <QApplication>
#include <QImage>
#include <QSignalSpy>
#include <QTest>
#include <QWheelEvent>

#include <cmath>
#include <limits>
#include <numeric>

#include "ui/tensor/colour_scale.h"
#include "ui/tensor/heat_map_widget.h"
#include "ui/tensor/histogram_widget.h"

using ckpt::io::DType;
using ckpt::model::Window;
using ckpt::model::WindowValues;
using ckpt::ui::ColourScale;
using ckpt::ui::HeatMapWidget;
using ckpt::ui::HistogramWidget;

namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

WindowValues values(std::int64_t rows, std::int64_t cols, std::vector<double> v) {
  WindowValues w;
  w.rows = rows;
  w.cols = cols;
  w.values = std::move(v);
  return w;
}

// Rec. 709 luminance: how light a colour looks (HSL lightness would call
// pure blue as light as yellow).
double luminance(const QColor& c) { return 0.2126 * c.red() + 0.7152 * c.green() + 0.0722 * c.blue(); }

void wheel(QWidget* w, int delta, Qt::KeyboardModifiers mods) {
  const QPointF at(w->width() / 2.0, w->height() / 2.0);
  QWheelEvent e(at, w->mapToGlobal(at), QPoint(), QPoint(0, delta), Qt::NoButton, mods, Qt::NoScrollPhase, false);
  QApplication::sendEvent(w, &e);
}

}  // namespace

class TestPlots : public QObject {
  Q_OBJECT

 private slots:
  void divergingScaleIsCentredOnZero() {
    const std::vector<double> v{-1, 0, 2, kNan};
    const ColourScale s = ColourScale::fit(v, QApplication::palette());
    QVERIFY(s.hasRange());
    QVERIFY(s.diverging());
    QVERIFY(s.hasNan());
    QCOMPARE(s.low(), -2.0);
    QCOMPARE(s.high(), 2.0);
    QCOMPARE(s.colour(0), s.colourAt(0.5));
    const QColor lo = s.colour(-2), hi = s.colour(2);
    QVERIFY(lo.blue() > lo.red());
    QVERIFY(hi.red() > hi.blue());
    // Infinities take the colour of the end they lie beyond.
    QCOMPARE(s.colour(kInf), hi);
    QCOMPARE(s.colour(-kInf), lo);
  }

  void sequentialScaleRisesInLightness() {
    const std::vector<double> v{1, 2, 3};
    const ColourScale s = ColourScale::fit(v, QApplication::palette());
    QVERIFY(!s.diverging());
    QVERIFY(!s.hasNan());
    QCOMPARE(s.low(), 1.0);
    QCOMPARE(s.high(), 3.0);
    double previous = -1;
    for (int i = 0; i <= 10; ++i) {
      const double lightness = luminance(s.colourAt(i / 10.0));
      QVERIFY2(lightness > previous, qPrintable(QStringLiteral("step %1").arg(i)));
      previous = lightness;
    }
    // A window of one repeated value, or of NaN only, still has colours.
    const std::vector<double> same{4, 4}, nan_only{kNan};
    QVERIFY(ColourScale::fit(same, QApplication::palette()).colour(4).isValid());
    QVERIFY(!ColourScale::fit(nan_only, QApplication::palette()).hasRange());
  }

  void nanColourIsInNeitherScale() {
    const std::vector<double> seq{0, 1}, div{-1, 1};
    for (const auto* v : {&seq, &div}) {
      const ColourScale s = ColourScale::fit(*v, QApplication::palette());
      for (int i = 0; i <= 100; ++i) QVERIFY(s.colourAt(i / 100.0) != ColourScale::nanColour());
      QCOMPARE(s.colour(kNan), ColourScale::nanColour());
    }
  }

  void zeroTakesTheViewBackgroundColour() {
    // Light or dark theme, zero in a diverging scale reads as "nothing".
    const std::vector<double> v{-1, 1};
    QPalette light, dark;
    light.setColor(QPalette::Base, Qt::white);
    dark.setColor(QPalette::Base, QColor(30, 30, 30));
    QVERIFY(ColourScale::fit(v, light).colour(0).lightness() > 200);
    QVERIFY(ColourScale::fit(v, dark).colour(0).lightness() < 70);
    // The map follows a palette change without new data.
    HeatMapWidget map;
    map.setWindow(values(1, 3, {-1, 0, 1}), Window{}, 1, DType::F32);
    map.setPalette(light);
    QVERIFY(map.cellColour(0, 1).lightness() > 200);
    map.setPalette(dark);
    QVERIFY(map.cellColour(0, 1).lightness() < 70);
  }

  void cellsShowTheirColourAndIndex() {
    HeatMapWidget map;
    map.resize(500, 400);
    Window w;
    w.row_axis = 0;
    w.col_axis = 2;
    w.index = {0, 7, 0};
    w.row0 = 4;
    w.col0 = 10;
    map.setWindow(values(2, 3, {-3, -1, 0, 1, kNan, 6.5}), w, 3, DType::F32);
    QVERIFY(map.scale().diverging());
    QCOMPARE(map.cellColour(1, 1), ColourScale::nanColour());
    QCOMPARE(map.cellToolTip(1, 2), QStringLiteral("[5, 7, 12] = 6.5"));
    QCOMPARE(map.cellToolTip(1, 1), QStringLiteral("[5, 7, 11] = nan"));
    QCOMPARE(map.cellAt(map.cellRect(1, 2).center()), QPoint(2, 1));
    QCOMPARE(map.cellAt(QPoint(0, 0)), QPoint(-1, -1));

    // What is painted is what cellColour() says (NaN is hatched, so its
    // centre pixel may be the hatch: check the plain cells).
    map.setCellSize(20);
    const QImage img = map.canvas()->grab().toImage();
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c) {
        if (r == 1 && c == 1) continue;
        const QRect cell = map.cellRect(r, c);
        QCOMPARE(img.pixelColor(cell.left() + 2, cell.top() + 3), map.cellColour(r, c));
      }
  }

  void zoomByButtonsKeysAndWheel() {
    HeatMapWidget map;
    map.resize(400, 300);
    map.setWindow(values(4, 4, std::vector<double>(16, 1.0)), Window{}, 2, DType::F32);
    QSignalSpy changed(&map, &HeatMapWidget::cellSizeChanged);
    map.setCellSize(10);
    QCOMPARE(map.cellSize(), 10);
    QCOMPARE(map.canvas()->width(), map.cellRect(0, 3).right() + 3);
    map.zoomIn();
    QVERIFY(map.cellSize() > 10);
    map.zoomOut();
    map.zoomOut();
    QVERIFY(map.cellSize() < 10);
    map.setCellSize(1000);
    QCOMPARE(map.cellSize(), HeatMapWidget::kMaxCell);
    map.zoomIn();
    QCOMPARE(map.cellSize(), HeatMapWidget::kMaxCell);
    map.setCellSize(0);
    QCOMPARE(map.cellSize(), HeatMapWidget::kMinCell);
    QVERIFY(changed.count() >= 5);

    map.setCellSize(10);
    QTest::keyClick(map.canvas(), Qt::Key_Plus);
    QVERIFY(map.cellSize() > 10);
    QTest::keyClick(map.canvas(), Qt::Key_Minus);
    QCOMPARE(map.cellSize(), 10);

    wheel(map.canvas(), 120, Qt::ControlModifier);
    QVERIFY(map.cellSize() > 10);
    const int zoomed = map.cellSize();
    wheel(map.canvas(), 120, Qt::NoModifier);  // scrolls, does not zoom
    QCOMPARE(map.cellSize(), zoomed);
    wheel(map.canvas(), -240, Qt::ControlModifier);
    QVERIFY(map.cellSize() < zoomed);

    map.show();
    QVERIFY(QTest::qWaitForWindowExposed(&map));
    map.zoomToFit();
    QVERIFY(map.cellSize() > 20);  // 4 × 4 cells in a 400 × 300 widget
    QVERIFY(map.cellRect(3, 3).bottom() < 300);
  }

  void clearedMapHasNoCells() {
    HeatMapWidget map;
    map.setWindow(values(1, 2, {1, 2}), Window{}, 1, DType::F32);
    map.clear();
    QCOMPARE(map.values().rows, 0);
    QCOMPARE(map.cellAt(QPoint(5, 5)), QPoint(-1, -1));
    QVERIFY(!map.scale().hasRange());
  }

  void histogramBinsAndTooltips() {
    HistogramWidget h;
    h.resize(400, 200);
    h.setHistogram({1, 2, 3, 4}, 0.0, 4.0);
    QCOMPARE(h.total(), std::uint64_t{10});
    QCOMPARE(h.binToolTip(0), QStringLiteral("[0, 1): 1 values"));
    QCOMPARE(h.binToolTip(3), QStringLiteral("[3, 4]: 4 values"));  // numpy's last bin is closed
    QCOMPARE(h.binToolTip(4), QString());
    QCOMPARE(h.binAt(0), -1);  // the count labels, not a bar
    QCOMPARE(h.binAt(h.width() - 40), 3);
    h.setLogScale(true);
    QVERIFY(h.logScale());
    // The painted bars: the tallest bin reaches higher than the lowest.
    const QImage img = h.grab().toImage();
    const QColor bar = h.palette().color(QPalette::Highlight);
    auto top_of = [&](int bin) {
      int x = 0;
      while (x < img.width() && h.binAt(x) != bin) ++x;
      x += 2;
      for (int y = 0; y < img.height(); ++y)
        if (img.pixelColor(x, y) == bar) return y;
      return img.height();
    };
    QVERIFY(top_of(3) < top_of(0));
    h.clear();
    QCOMPARE(h.total(), std::uint64_t{0});
  }
};

QTEST_MAIN(TestPlots)
#include "test_plots.moc"
