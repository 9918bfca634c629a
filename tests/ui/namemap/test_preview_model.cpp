// PreviewModel under QAbstractItemModelTester over a real plan_map report:
// each kind of row (renamed, transformed, dropped, unmapped, conflict,
// error) is flagged, tinted and explained, counted, and filterable.
#include <QAbstractItemModelTester>
#include <QBrush>
#include <QSignalSpy>
#include <QTest>

#include <memory>

#include "model/name_map.h"
#include "ui/namemap/preview_model.h"
#include "ui/namemap/tint.h"

using ckpt::io::DType;
using ckpt::model::Rule;
using ckpt::model::Transform;
using ckpt::ui::PreviewModel;

namespace {

// Descriptions only: planning a map never reads tensor data.
ckpt::io::TensorInfo tensor(std::string name, DType dtype, ckpt::io::Shape shape) {
  ckpt::io::TensorInfo t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.nbytes = static_cast<std::uint64_t>(t.numel()) * ckpt::io::item_size(dtype);
  return t;
}

std::vector<ckpt::io::TensorInfo> tensors() {
  return {
      tensor("model.conv1.weight", DType::F32, {64, 3, 7, 7}),  // 0 renamed (prefix)
      tensor("model.bn1.num_batches_tracked", DType::I64, {}),  // 1 dropped
      tensor("a.weight", DType::F32, {4, 4}),                   // 2 conflict
      tensor("b.weight", DType::F32, {4, 4}),                   // 3 conflict
      tensor("fc.weight", DType::F32, {10, 64}),                // 4 error: permutation of rank 4
      tensor("emb.weight", DType::F32, {8, 4}),                 // 5 cast
      tensor("head.bias", DType::F32, {10}),                    // 6 unmapped, kept
  };
}

Rule rule(Rule::Match match, std::string pattern, std::string replace) {
  Rule r;
  r.match = match;
  r.pattern = std::move(pattern);
  r.replace = std::move(replace);
  return r;
}

ckpt::model::NameMap map() {
  ckpt::model::NameMap m;
  Rule drop = rule(Rule::Match::Regex, "num_batches_tracked$", "$&");
  drop.drop = true;
  m.rules.push_back(drop);                                              // 0
  m.rules.push_back(rule(Rule::Match::Prefix, "model.", ""));           // 1
  m.rules.push_back(rule(Rule::Match::Exact, "a.weight", "c.weight"));  // 2
  m.rules.push_back(rule(Rule::Match::Exact, "b.weight", "c.weight"));  // 3
  Rule perm = rule(Rule::Match::Exact, "fc.weight", "fc.weight");
  perm.transforms.push_back({Transform::Kind::Permute, {0, 2, 3, 1}, DType::F32});
  m.rules.push_back(perm);  // 4
  Rule cast = rule(Rule::Match::Exact, "emb.weight", "embed.weight");
  cast.transforms.push_back({Transform::Kind::Cast, {}, DType::F16});
  m.rules.push_back(cast);                                       // 5
  m.rules.push_back(rule(Rule::Match::Regex, "^never$", "$&"));  // 6 unused
  return m;
}

std::shared_ptr<const ckpt::model::MapReport> plan(const ckpt::model::NameMap& m) {
  const auto ts = tensors();
  return std::make_shared<const ckpt::model::MapReport>(ckpt::model::plan_map(m, ts));
}

QString cell(const PreviewModel& m, int row, int column) { return m.index(row, column).data().toString(); }

}  // namespace

class TestPreviewModel : public QObject {
  Q_OBJECT

 private slots:
  void passesModelTester() {
    PreviewModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(m.rowCount(), 0);
    m.setReport(plan(map()));
    QCOMPARE(m.rowCount(), 7);
    QCOMPARE(m.columnCount(), int{PreviewModel::ColumnCount});
    m.setReport(plan(map()));  // same rows: updated in place
    m.setFilter(PreviewModel::Filter::Problems);
    m.setTextFilter(QStringLiteral("a."));
    m.setFilter(PreviewModel::Filter::All);
    m.setTextFilter(QString());
    m.clear();
    QCOMPARE(m.rowCount(), 0);
  }

  void rowsShowTheReport() {
    PreviewModel m;
    m.setReport(plan(map()));
    QCOMPARE(cell(m, 0, PreviewModel::Source), QStringLiteral("model.conv1.weight"));
    QCOMPARE(cell(m, 0, PreviewModel::SourceShape), QStringLiteral("[64, 3, 7, 7]"));
    QCOMPARE(cell(m, 0, PreviewModel::Target), QStringLiteral("conv1.weight"));
    QCOMPARE(cell(m, 0, PreviewModel::TargetShape), QStringLiteral("[64, 3, 7, 7]"));
    QCOMPARE(cell(m, 0, PreviewModel::Rule), QStringLiteral("1"));
    QCOMPARE(m.entryFlags(m.index(0, 0)), int{PreviewModel::Renamed});
    QVERIFY(!m.index(0, 0).data(Qt::BackgroundRole).isValid());

    QCOMPARE(cell(m, 1, PreviewModel::Target), QStringLiteral("(dropped)"));
    QCOMPARE(m.entryFlags(m.index(1, 0)), int{PreviewModel::Dropped});
    QCOMPARE(m.index(1, 0).data(Qt::BackgroundRole).value<QBrush>().color(), ckpt::ui::tint::removed());

    QCOMPARE(cell(m, 5, PreviewModel::DType), QStringLiteral("float32 → float16"));
    QCOMPARE(m.entryFlags(m.index(5, 0)), PreviewModel::Renamed | PreviewModel::Transformed);
    QVERIFY(m.index(5, 0).data(Qt::ToolTipRole).toString().contains(QLatin1String("cast float16")));

    QCOMPARE(cell(m, 6, PreviewModel::Rule), QStringLiteral("none"));
    QCOMPARE(cell(m, 6, PreviewModel::Target), QStringLiteral("head.bias"));
    QCOMPARE(m.entryFlags(m.index(6, 0)), int{PreviewModel::Unmapped});
    QCOMPARE(m.index(6, PreviewModel::Rule).data(Qt::BackgroundRole).value<QBrush>().color(),
             ckpt::ui::tint::attention());
    QVERIFY(!m.index(6, PreviewModel::Source).data(Qt::BackgroundRole).isValid());
  }

  void conflictsAndErrorsAreHighlighted() {
    PreviewModel m;
    m.setReport(plan(map()));
    for (int row : {2, 3}) {
      QVERIFY(m.entryFlags(m.index(row, 0)) & PreviewModel::Conflict);
      QCOMPARE(m.index(row, PreviewModel::Target).data(Qt::BackgroundRole).value<QBrush>().color(),
               ckpt::ui::tint::problem());
      const QString tip = m.index(row, 0).data(Qt::ToolTipRole).toString();
      QVERIFY2(tip.contains(QLatin1String("'c.weight' would come from 'a.weight' and 'b.weight'")), qPrintable(tip));
    }
    QVERIFY(m.entryFlags(m.index(4, 0)) & PreviewModel::Error);
    const QString tip = m.index(4, 0).data(Qt::ToolTipRole).toString();
    QVERIFY2(tip.contains(QLatin1String("does not fit 'fc.weight'")), qPrintable(tip));
    QCOMPARE(m.index(4, 0).data(Qt::BackgroundRole).value<QBrush>().color(), ckpt::ui::tint::problem());

    const PreviewModel::Counts c = m.counts();
    QCOMPARE(c.names, 7);
    QCOMPARE(c.conflicts, 1);
    QCOMPARE(c.conflictNames, 2);
    QCOMPARE(c.errors, 1);
    QCOMPARE(c.dropped, 1);
    QCOMPARE(c.unmapped, 1);
    QCOMPARE(c.renamed, 4);      // conv1, a, b, emb
    QCOMPARE(c.transformed, 2);  // fc (its permutation fails, but it is the rule's), emb

    // "unmapped": "error" turns an unmapped name into an error row too.
    auto strict = map();
    strict.unmapped = ckpt::model::Unmapped::Error;
    m.setReport(plan(strict));
    QCOMPARE(m.entryFlags(m.index(6, 0)), PreviewModel::Unmapped | PreviewModel::Error);
    QCOMPARE(m.counts().errors, 2);
  }

  void filtersNarrowTheRows() {
    PreviewModel m;
    m.setReport(plan(map()));
    auto sources = [&] {
      QStringList out;
      for (int r = 0; r < m.rowCount(); ++r) out << cell(m, r, PreviewModel::Source);
      return out.join(QLatin1Char(' '));
    };
    m.setFilter(PreviewModel::Filter::Problems);
    QCOMPARE(sources(), QStringLiteral("a.weight b.weight fc.weight"));
    m.setFilter(PreviewModel::Filter::Unmapped);
    QCOMPARE(sources(), QStringLiteral("head.bias"));
    m.setFilter(PreviewModel::Filter::Dropped);
    QCOMPARE(sources(), QStringLiteral("model.bn1.num_batches_tracked"));
    m.setFilter(PreviewModel::Filter::Changed);
    QCOMPARE(m.rowCount(), 6);                  // all but head.bias
    m.setTextFilter(QStringLiteral("WEIGHT"));  // any case, source or target
    QCOMPARE(m.rowCount(), 5);
    m.setTextFilter(QStringLiteral("embed"));  // a target name
    QCOMPARE(sources(), QStringLiteral("emb.weight"));
    QCOMPARE(m.rowOfSource(QStringLiteral("emb.weight")), 0);
    QCOMPARE(m.rowOfSource(QStringLiteral("a.weight")), -1);
    m.setFilter(PreviewModel::Filter::All);
    m.setTextFilter(QString());
    QCOMPARE(m.rowCount(), 7);
  }

  void replanningKeepsRowsInPlace() {
    PreviewModel m;
    m.setReport(plan(map()));
    QSignalSpy reset(&m, &QAbstractItemModel::modelReset);
    QSignalSpy changed(&m, &QAbstractItemModel::dataChanged);
    auto edited = map();
    edited.rules[1].replace = "net.";
    m.setReport(plan(edited));
    QCOMPARE(reset.count(), 0);
    QCOMPARE(changed.count(), 1);
    QCOMPARE(cell(m, 0, PreviewModel::Target), QStringLiteral("net.conv1.weight"));
    // Under a filter the visible rows change with the map: then the model resets.
    m.setFilter(PreviewModel::Filter::Problems);
    reset.clear();
    edited.rules[3].replace = "d.weight";
    m.setReport(plan(edited));
    QCOMPARE(reset.count(), 1);
    QCOMPARE(m.rowCount(), 1);  // fc.weight only
  }
};

QTEST_MAIN(TestPreviewModel)
#include "test_preview_model.moc"
