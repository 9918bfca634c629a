// ValueWindowModel under QAbstractItemModelTester: values in row-major order,
// header sections that are absolute indices along the window's axes, and
// the cell texts and tooltips a user reads for each kind of dtype.
#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QTest>

#include <cmath>
#include <limits>

#include "ui/tensor/value_text.h"
#include "ui/tensor/value_window_model.h"

using ckpt::io::DType;
using ckpt::model::Window;
using ckpt::model::WindowValues;
using ckpt::ui::ValueWindowModel;

namespace {

WindowValues grid(std::int64_t rows, std::int64_t cols, double first = 0) {
  WindowValues v;
  v.rows = rows;
  v.cols = cols;
  for (std::int64_t i = 0; i < rows * cols; ++i) v.values.push_back(first + static_cast<double>(i) * 0.5);
  return v;
}

}  // namespace

class TestValueWindowModel : public QObject {
  Q_OBJECT

 private slots:
  void passesModelTesterThroughResets() {
    ValueWindowModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(model.columnCount(), 0);
    Window w;
    w.row_axis = 0;
    w.col_axis = 1;
    model.setWindow(grid(3, 4), w, 2, DType::F32);
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(model.columnCount(), 4);
    model.setWindow(grid(1, 7), w, 1, DType::F32);
    model.setWindow(grid(1, 1), w, 0, DType::I32);
    model.clear();
    QCOMPARE(model.rowCount(), 0);
    // Tables have no children below a cell.
    model.setWindow(grid(2, 2), w, 2, DType::F32);
    QCOMPARE(model.rowCount(model.index(0, 0)), 0);
    QCOMPARE(model.columnCount(model.index(0, 0)), 0);
  }

  void valuesAreRowMajorAndHeadersAbsolute() {
    ValueWindowModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    Window w;
    w.row_axis = 2;
    w.col_axis = 0;
    w.index = {0, 5, 0};
    w.row0 = 4096;
    w.col0 = 30;
    model.setWindow(grid(2, 3, 1.0), w, 3, DType::F32);
    QCOMPARE(model.value(1, 2), 1.0 + 5 * 0.5);
    QCOMPARE(model.index(1, 2).data(ValueWindowModel::ValueRole).toDouble(), 3.5);
    QCOMPARE(model.index(1, 2).data().toString(), QStringLiteral("3.5"));
    QCOMPARE(model.headerData(0, Qt::Vertical).toString(), QStringLiteral("4096"));
    QCOMPARE(model.headerData(1, Qt::Vertical).toString(), QStringLiteral("4097"));
    QCOMPARE(model.headerData(2, Qt::Horizontal).toString(), QStringLiteral("32"));
    QVERIFY(model.headerData(0, Qt::Vertical, Qt::ToolTipRole).toString().contains(QStringLiteral("axis 2")));
    QVERIFY(model.headerData(0, Qt::Horizontal, Qt::ToolTipRole).toString().contains(QStringLiteral("axis 0")));
    QVERIFY(!model.headerData(3, Qt::Horizontal).isValid());
    // Full index: axis 0 is the column axis, axis 1 fixed at 5, axis 2 the row axis.
    QCOMPARE(model.index(1, 2).data(ValueWindowModel::IndexRole).toString(), QStringLiteral("[32, 5, 4097]"));
    QCOMPARE(model.index(1, 2).data(Qt::ToolTipRole).toString(), QStringLiteral("[32, 5, 4097] = 3.5"));
    QVERIFY(model.index(0, 0).data(Qt::TextAlignmentRole).isValid());
  }

  void oneDimensionalAndScalarHeaders() {
    ValueWindowModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    Window w;
    w.col0 = 8;
    model.setWindow(grid(1, 4), w, 1, DType::F32);
    QCOMPARE(model.headerData(0, Qt::Vertical).toString(), QString());
    QCOMPARE(model.headerData(0, Qt::Horizontal).toString(), QStringLiteral("8"));
    QCOMPARE(model.index(0, 3).data(ValueWindowModel::IndexRole).toString(), QStringLiteral("[11]"));
    model.setWindow(grid(1, 1, 7), Window{}, 0, DType::F32);
    QCOMPARE(model.headerData(0, Qt::Horizontal).toString(), QString());
    QCOMPARE(model.index(0, 0).data(Qt::ToolTipRole).toString(), QStringLiteral("[] = 7"));
  }

  void textsFollowTheDtype() {
    ValueWindowModel model;
    WindowValues v;
    v.rows = 1;
    v.cols = 5;
    const double big = 123456789.0, third = static_cast<double>(1.0f / 3.0f);
    v.values = {big, third, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(), -0.1};
    model.setWindow(v, Window{}, 1, DType::I64);
    QCOMPARE(model.index(0, 0).data().toString(), QStringLiteral("123456789"));
    model.setWindow(v, Window{}, 1, DType::F32);
    QCOMPARE(model.index(0, 0).data().toString(), QStringLiteral("1.23457e+08"));
    QCOMPARE(model.index(0, 1).data().toString(), QStringLiteral("0.333333"));
    // The tooltip has the float32 in full, without double noise.
    QCOMPARE(model.index(0, 1).data(Qt::ToolTipRole).toString(), QStringLiteral("[1] = 0.33333334"));
    QCOMPARE(model.index(0, 2).data().toString(), QStringLiteral("nan"));
    QCOMPARE(model.index(0, 3).data().toString(), QStringLiteral("inf"));
    model.setWindow(v, Window{}, 1, DType::F64);
    QCOMPARE(model.index(0, 4).data(Qt::ToolTipRole).toString(), QStringLiteral("[4] = -0.1"));
  }

  void resetIsSignalled() {
    ValueWindowModel model;
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
    model.setWindow(grid(2, 2), Window{}, 2, DType::F32);
    model.clear();
    QCOMPARE(reset.count(), 2);
  }
};

QTEST_MAIN(TestValueWindowModel)
#include "test_value_window_model.moc"
