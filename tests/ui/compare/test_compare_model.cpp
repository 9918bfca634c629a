// CompareModel and CompareFilterProxy under QAbstractItemModelTester, the
// texts a user reads per column, category and name filters, sort keys, and
// row colours that stay readable on light and dark palettes.
#include <QAbstractItemModelTester>
#include <QBrush>
#include <QTest>

#include <cmath>
#include <set>
#include <vector>

#include "io/tensor.h"
#include "model/module_spec.h"
#include "model/name_map.h"
#include "model/spec_diff.h"
#include "ui/compare/category_style.h"
#include "ui/compare/compare_filter_proxy.h"
#include "ui/compare/compare_model.h"

using namespace ckpt;
using ckpt::model::Category;
using ckpt::ui::CompareFilterProxy;
using ckpt::ui::CompareModel;

namespace {

// Descriptions only: the model never reads tensor data.
io::TensorInfo tensor(std::string name, io::Shape shape, io::DType dtype = io::DType::F32) {
  io::TensorInfo t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.nbytes = static_cast<std::uint64_t>(t.numel()) * io::item_size(dtype);
  return t;
}

// One row of every category: spec order, then the unexpected names.
std::vector<io::TensorInfo> haveTensors() {
  return {tensor("fc.weight", {4, 8}), tensor("conv.weight", {8, 3, 5, 5}), tensor("fc.bias", {5}),
          tensor("norm.weight", {4}, io::DType::F16), tensor("classifier.weight", {2, 4}), tensor("extra.scale", {1})};
}

model::ModuleSpec wantSpec() {
  model::ModuleSpec s;
  s.source = "spec.json";
  s.params = {{"fc.weight", {4, 8}, io::DType::F32},
              {"conv.weight", {8, 5, 5, 3}, std::nullopt},
              {"fc.bias", {4}, std::nullopt},
              {"norm.weight", {4}, io::DType::F32},
              {"head.weight", {2, 4}, std::nullopt}};
  return s;
}

int rowNamed(const QAbstractItemModel& m, const QString& wanted_or_left) {
  for (int r = 0; r < m.rowCount(); ++r) {
    if (m.index(r, CompareModel::RightNameColumn).data().toString() == wanted_or_left) return r;
    if (m.index(r, CompareModel::LeftNameColumn).data().toString() == wanted_or_left) return r;
  }
  return -1;
}

QString cell(const QAbstractItemModel& m, int row, int column) { return m.index(row, column).data().toString(); }

double luminance(const QColor& c) {
  auto channel = [](double v) { return v <= 0.03928 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4); };
  const QColor rgb = c.toRgb();
  return 0.2126 * channel(rgb.redF()) + 0.7152 * channel(rgb.greenF()) + 0.0722 * channel(rgb.blueF());
}

// WCAG contrast ratio: 4.5 is the bar for body text.
double contrast(const QColor& a, const QColor& b) {
  const double la = luminance(a), lb = luminance(b);
  return (std::max(la, lb) + 0.05) / (std::min(la, lb) + 0.05);
}

QPalette lightPalette() {
  QPalette p;
  p.setColor(QPalette::Window, QColor(0xef, 0xef, 0xef));
  p.setColor(QPalette::WindowText, Qt::black);
  p.setColor(QPalette::Base, Qt::white);
  p.setColor(QPalette::Text, Qt::black);
  return p;
}

QPalette darkPalette() {
  QPalette p;
  p.setColor(QPalette::Window, QColor(0x2b, 0x2b, 0x2b));
  p.setColor(QPalette::WindowText, QColor(0xe8, 0xe8, 0xe8));
  p.setColor(QPalette::Base, QColor(0x1e, 0x1e, 0x1e));
  p.setColor(QPalette::Text, QColor(0xe8, 0xe8, 0xe8));
  return p;
}

}  // namespace

class TestCompareModel : public QObject {
  Q_OBJECT

 private slots:
  void passesModelTester() {
    CompareModel m;
    CompareFilterProxy proxy;
    proxy.setSourceModel(&m);
    QAbstractItemModelTester source_tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester proxy_tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);

    const auto have = haveTensors();
    const auto d = model::diff(have, wantSpec());
    m.setDiff(&d, nullptr);
    QCOMPARE(m.rowCount(), static_cast<int>(d.rows.size()));
    QCOMPARE(m.columnCount(), static_cast<int>(CompareModel::ColumnCount));
    proxy.sort(CompareModel::CategoryColumn);
    proxy.setCategories({Category::Missing, Category::Unexpected});
    proxy.setPattern(QStringLiteral("*.weight"));
    m.setAgreementState(0, CompareModel::AgreementState::Pending);
    m.setPalette(darkPalette());
    proxy.setCategories({});
    proxy.setPattern({});
    proxy.sort(-1);
    m.clear();
    QCOMPARE(m.rowCount(), 0);
    QCOMPARE(proxy.rowCount(), 0);
  }

  void showsBothSidesAndTheNotes() {
    const auto have = haveTensors();
    const auto d = model::diff(have, wantSpec());
    CompareModel m;
    m.setDiff(&d, nullptr);

    const int layout = rowNamed(m, QStringLiteral("conv.weight"));
    QVERIFY(layout >= 0);
    QCOMPARE(cell(m, layout, CompareModel::CategoryColumn), QStringLiteral("layout"));
    QCOMPARE(cell(m, layout, CompareModel::LeftShapeColumn), QStringLiteral("[8, 3, 5, 5]"));
    QCOMPARE(cell(m, layout, CompareModel::RightShapeColumn), QStringLiteral("[8, 5, 5, 3]"));
    QCOMPARE(cell(m, layout, CompareModel::RightDTypeColumn), QStringLiteral("any"));
    QCOMPARE(cell(m, layout, CompareModel::NoteColumn), QStringLiteral("permute (0, 2, 3, 1)"));
    QCOMPARE(m.index(layout, 0).data(CompareModel::CategoryRole).toInt(), static_cast<int>(Category::LayoutMismatch));

    const int dtype = rowNamed(m, QStringLiteral("norm.weight"));
    QCOMPARE(cell(m, dtype, CompareModel::CategoryColumn), QStringLiteral("dtype"));
    QCOMPARE(cell(m, dtype, CompareModel::LeftDTypeColumn), QStringLiteral("float16"));
    QCOMPARE(cell(m, dtype, CompareModel::NoteColumn), QStringLiteral("load casts float16 → float32"));

    // A missing row has nothing on the left, an unexpected one nothing on the right.
    const int missing = rowNamed(m, QStringLiteral("head.weight"));
    QCOMPARE(cell(m, missing, CompareModel::CategoryColumn), QStringLiteral("missing"));
    QCOMPARE(cell(m, missing, CompareModel::LeftNameColumn), QStringLiteral("—"));
    QCOMPARE(cell(m, missing, CompareModel::LeftShapeColumn), QStringLiteral("—"));
    QCOMPARE(cell(m, missing, CompareModel::RightShapeColumn), QStringLiteral("[2, 4]"));
    const int unexpected = rowNamed(m, QStringLiteral("extra.scale"));
    QCOMPARE(cell(m, unexpected, CompareModel::CategoryColumn), QStringLiteral("unexpected"));
    QCOMPARE(cell(m, unexpected, CompareModel::RightNameColumn), QStringLiteral("—"));
    QCOMPARE(cell(m, unexpected, CompareModel::LeftShapeColumn), QStringLiteral("[1]"));
    // The placeholder dash is drawn in the palette's placeholder colour, real text in Text.
    QCOMPARE(m.index(missing, CompareModel::LeftNameColumn).data(Qt::ForegroundRole).value<QBrush>().color(),
             QGuiApplication::palette().color(QPalette::PlaceholderText));
    QCOMPARE(m.index(missing, CompareModel::RightNameColumn).data(Qt::ForegroundRole).value<QBrush>().color(),
             QGuiApplication::palette().color(QPalette::Text));
  }

  void leftNamesAreTheFilesOwnAfterAMap() {
    const auto have = haveTensors();
    model::NameMap map;
    model::Rule rename;
    rename.match = model::Rule::Match::Exact;
    rename.pattern = "classifier.weight";
    rename.replace = "head.weight";
    map.rules.push_back(rename);
    model::MapReport report;
    const auto mapped = model::apply_map(map, have, &report);
    const auto d = model::diff(mapped, wantSpec());
    CompareModel m;
    m.setDiff(&d, &report);
    const int head = rowNamed(m, QStringLiteral("head.weight"));
    QVERIFY(head >= 0);
    QCOMPARE(cell(m, head, CompareModel::CategoryColumn), QStringLiteral("match"));
    QCOMPARE(cell(m, head, CompareModel::LeftNameColumn), QStringLiteral("classifier.weight"));
    QCOMPARE(m.leftName(head), QStringLiteral("classifier.weight"));
    QVERIFY(m.index(head, CompareModel::LeftNameColumn).data(Qt::ToolTipRole).toString().contains(
        QStringLiteral("classifier.weight → head.weight")));
    // Unrenamed rows keep their name on both sides.
    const int fc = rowNamed(m, QStringLiteral("fc.weight"));
    QCOMPARE(cell(m, fc, CompareModel::LeftNameColumn), QStringLiteral("fc.weight"));
  }

  void filtersByCategoryAndName() {
    const auto have = haveTensors();
    const auto d = model::diff(have, wantSpec());
    CompareModel m;
    m.setDiff(&d, nullptr);
    CompareFilterProxy proxy;
    proxy.setSourceModel(&m);
    QCOMPARE(proxy.rowCount(), m.rowCount());

    for (Category c : ui::kCategories) {
      proxy.setCategories({c});
      QCOMPARE(static_cast<std::size_t>(proxy.rowCount()), d.count(c));
      for (int r = 0; r < proxy.rowCount(); ++r)
        QCOMPARE(proxy.index(r, 0).data(CompareModel::CategoryRole).toInt(), static_cast<int>(c));
    }
    proxy.setCategories({Category::Missing, Category::Unexpected});
    QCOMPARE(static_cast<std::size_t>(proxy.rowCount()), d.count(Category::Missing) + d.count(Category::Unexpected));

    proxy.setCategories({});
    proxy.setPattern(QStringLiteral("FC.*"));  // case-insensitive, over either side's name
    std::set<QString> names;
    for (int r = 0; r < proxy.rowCount(); ++r) names.insert(proxy.index(r, CompareModel::RightNameColumn).data().toString());
    QCOMPARE(names, (std::set<QString>{QStringLiteral("fc.weight"), QStringLiteral("fc.bias")}));
    proxy.setPattern(QStringLiteral("scale"));  // unanchored; matches a left-only name
    QCOMPARE(proxy.rowCount(), 1);
    QCOMPARE(proxy.index(0, CompareModel::LeftNameColumn).data().toString(), QStringLiteral("extra.scale"));
    proxy.setPattern({});
    QCOMPARE(proxy.rowCount(), m.rowCount());
  }

  void sortsProblemsFirstAndByNumbers() {
    const auto have = haveTensors();
    const auto d = model::diff(have, wantSpec());
    CompareModel m;
    m.setDiff(&d, nullptr);
    CompareFilterProxy proxy;
    proxy.setSourceModel(&m);
    proxy.sort(CompareModel::CategoryColumn, Qt::AscendingOrder);
    QCOMPARE(proxy.index(0, CompareModel::CategoryColumn).data().toString(), QStringLiteral("missing"));
    QCOMPARE(proxy.index(proxy.rowCount() - 1, CompareModel::CategoryColumn).data().toString(), QStringLiteral("match"));
    // Shapes sort by element count, not as text ("[1]" < "[5]" < "[2, 4]"…).
    proxy.sort(CompareModel::LeftShapeColumn, Qt::DescendingOrder);
    QCOMPARE(proxy.index(0, CompareModel::LeftShapeColumn).data().toString(), QStringLiteral("[8, 3, 5, 5]"));
  }

  void agreementColumnFollowsItsState() {
    const std::vector<io::TensorInfo> have{tensor("a", {3}), tensor("b", {3}), tensor("c", {3})};
    auto d = model::diff(have, model::spec_from_tensors(have, "other"));
    d.rows[0].agreement = model::Agreement{0, 0, 1, true};
    d.rows[1].agreement = model::Agreement{0.25, 0.5, 0.998, false};
    CompareModel m;
    m.setDiff(&d, nullptr);
    QCOMPARE(cell(m, 0, CompareModel::AgreementColumn), QString());
    m.setAgreementState(0, CompareModel::AgreementState::Pending);
    QCOMPARE(cell(m, 0, CompareModel::AgreementColumn), QStringLiteral("computing…"));
    m.setAgreementState(0, CompareModel::AgreementState::Ready);
    m.setAgreementState(1, CompareModel::AgreementState::Ready);
    m.setAgreementState(2, CompareModel::AgreementState::Failed, QStringLiteral("bad bytes"));
    QCOMPARE(cell(m, 0, CompareModel::AgreementColumn), QStringLiteral("identical"));
    QCOMPARE(cell(m, 1, CompareModel::AgreementColumn), QStringLiteral("max |Δ| 0.25 · cos 0.998000"));
    QCOMPARE(cell(m, 2, CompareModel::AgreementColumn), QStringLiteral("unreadable"));
    QCOMPARE(m.index(2, CompareModel::AgreementColumn).data(Qt::ToolTipRole).toString(), QStringLiteral("bad bytes"));
    QVERIFY(m.index(1, CompareModel::AgreementColumn).data(CompareModel::SortRole).toDouble() >
            m.index(0, CompareModel::AgreementColumn).data(CompareModel::SortRole).toDouble());
  }

  void rowColoursReadableOnLightAndDark() {
    for (const QPalette& palette : {lightPalette(), darkPalette()}) {
      std::vector<QColor> seen;
      for (Category c : ui::kCategories) {
        const QColor bg = ui::categoryBackground(c, palette);
        QVERIFY2(contrast(bg, palette.color(QPalette::Text)) >= 4.5, model::category_name(c));
        // Tinted enough to tell from a plain row, and from every other category.
        QVERIFY2(contrast(bg, palette.color(QPalette::Base)) >= 1.15, model::category_name(c));
        for (const QColor& other : seen) {
          const int distance = std::abs(bg.red() - other.red()) + std::abs(bg.green() - other.green()) + std::abs(bg.blue() - other.blue());
          QVERIFY2(distance >= 24, model::category_name(c));
        }
        seen.push_back(bg);
      }
      QVERIFY(contrast(ui::verdictColor(true, palette), palette.color(QPalette::Window)) >= 4.5);
      QVERIFY(contrast(ui::verdictColor(false, palette), palette.color(QPalette::Window)) >= 4.5);
    }
  }

  void backgroundFollowsThePalette() {
    const std::vector<io::TensorInfo> have{tensor("a", {3})};
    const auto d = model::diff(have, model::spec_from_tensors(have, "other"));
    CompareModel m;
    m.setDiff(&d, nullptr);
    m.setPalette(darkPalette());
    QCOMPARE(m.index(0, 0).data(Qt::BackgroundRole).value<QBrush>().color(), ui::categoryBackground(Category::Match, darkPalette()));
    m.setPalette(lightPalette());
    QCOMPARE(m.index(0, 0).data(Qt::BackgroundRole).value<QBrush>().color(), ui::categoryBackground(Category::Match, lightPalette()));
  }
};

QTEST_MAIN(TestCompareModel)
#include "test_compare_model.moc"
