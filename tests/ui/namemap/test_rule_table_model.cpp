// RuleTableModel under QAbstractItemModelTester, edits reaching the rules,
// rows the core's parser rejects (flagged, kept as typed, left out of the
// map) and the transforms column's text form.
#include <QAbstractItemModelTester>
#include <QBrush>
#include <QSignalSpy>
#include <QTest>

#include "model/name_map.h"
#include "ui/namemap/rule_table_model.h"
#include "ui/namemap/tint.h"
#include "ui/namemap/transform_text.h"

using ckpt::model::Rule;
using ckpt::model::Transform;
using ckpt::ui::RuleTableModel;

namespace {

Rule exactRule(std::string pattern, std::string replace) {
  Rule r;
  r.match = Rule::Match::Exact;
  r.pattern = std::move(pattern);
  r.replace = std::move(replace);
  return r;
}

Transform permute(std::vector<int> perm) { return {Transform::Kind::Permute, std::move(perm), ckpt::io::DType::F32}; }

}  // namespace

class TestRuleTableModel : public QObject {
  Q_OBJECT

 private slots:
  void passesModelTester() {
    RuleTableModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    m.setRules(ckpt::model::load_map("pytorch-to-mlx").rules);
    QCOMPARE(m.rowCount(), 6);
    QCOMPARE(m.columnCount(), int{RuleTableModel::ColumnCount});
    QVERIFY(m.insertRows(0, 2));
    QVERIFY(m.removeRows(1, 1));
    QVERIFY(m.moveRule(0, 1));
    QVERIFY(m.moveRule(6, -1));
    QVERIFY(!m.moveRule(0, -1));
    QVERIFY(m.setData(m.index(0, RuleTableModel::Pattern), QStringLiteral("x")));
    QVERIFY(m.setData(m.index(0, RuleTableModel::Drop), Qt::Checked, Qt::CheckStateRole));
    QVERIFY(m.setData(m.index(1, RuleTableModel::Transforms), QStringLiteral("permute 0,1,1")));  // invalid, kept
    m.setMatchCounts({1, 0, 3});
    m.insertRule(3, exactRule("a", "b"));
    m.setRules({});
    QCOMPARE(m.rowCount(), 0);
  }

  void editsReachTheRule() {
    RuleTableModel m;
    m.setRules({exactRule("a", "a")});
    QSignalSpy edited(&m, &RuleTableModel::rulesEdited);
    QVERIFY(m.setData(m.index(0, RuleTableModel::Match), QStringLiteral("prefix")));
    QVERIFY(m.setData(m.index(0, RuleTableModel::Pattern), QStringLiteral("model.")));
    QVERIFY(m.setData(m.index(0, RuleTableModel::Replacement), QString()));
    QVERIFY(m.setData(m.index(0, RuleTableModel::Rank), QStringLiteral("4")));
    QVERIFY(m.setData(m.index(0, RuleTableModel::Transforms), QStringLiteral("permute 0,2,3,1; cast f16")));
    QVERIFY(m.setData(m.index(0, RuleTableModel::Note), QStringLiteral("why")));
    QCOMPARE(edited.count(), 6);
    const Rule& r = m.rule(0);
    QCOMPARE(r.match, Rule::Match::Prefix);
    QCOMPARE(r.pattern, std::string("model."));
    QCOMPARE(r.replace, std::string());
    QCOMPARE(r.rank, std::optional<int>(4));
    QCOMPARE(r.transforms.size(), std::size_t{2});
    QVERIFY(r.transforms[0] == permute({0, 2, 3, 1}));
    QCOMPARE(r.transforms[1].kind, Transform::Kind::Cast);
    QCOMPARE(r.transforms[1].dtype, ckpt::io::DType::F16);
    QCOMPARE(r.note, std::string("why"));
    QVERIFY(m.isValid(0));
    // The column shows the core's words for what was typed.
    QCOMPARE(m.index(0, RuleTableModel::Transforms).data().toString(),
             QStringLiteral("permute (0, 2, 3, 1); cast float16"));

    // Unknown match kinds are refused; an unchanged value is not an edit.
    QVERIFY(!m.setData(m.index(0, RuleTableModel::Match), QStringLiteral("glob")));
    QVERIFY(m.setData(m.index(0, RuleTableModel::Note), QStringLiteral("why")));
    QVERIFY(!m.setData(m.index(0, RuleTableModel::Matches), QStringLiteral("3")));
    QCOMPARE(edited.count(), 6);

    QVERIFY(m.setData(m.index(0, RuleTableModel::Rank), QString()));
    QVERIFY(!m.rule(0).rank.has_value());
  }

  void invalidRegexIsFlaggedNotApplied() {
    RuleTableModel m;
    m.setRules({exactRule("a", "b"), exactRule("c", "d")});
    QVERIFY(m.setData(m.index(1, RuleTableModel::Match), QStringLiteral("regex")));
    QVERIFY(m.setData(m.index(1, RuleTableModel::Pattern), QStringLiteral("^(layers\\.[0-9]+")));
    QVERIFY(!m.isValid(1));
    QCOMPARE(m.invalidCount(), 1);
    const QString error = m.index(1, RuleTableModel::Pattern).data(RuleTableModel::ErrorRole).toString();
    QVERIFY2(error.contains(QLatin1String("bad regular expression")), qPrintable(error));
    QVERIFY(!error.startsWith(QLatin1String("rule 0")));
    QVERIFY(m.index(1, RuleTableModel::Pattern).data(Qt::ToolTipRole).toString().contains(error));
    QCOMPARE(m.index(1, RuleTableModel::Pattern).data(Qt::BackgroundRole).value<QBrush>().color(),
             ckpt::ui::tint::problem());
    QVERIFY(!m.index(0, RuleTableModel::Pattern).data(Qt::BackgroundRole).isValid());
    QCOMPARE(m.index(1, RuleTableModel::Matches).data().toString(), QStringLiteral("not applied"));
    // What was typed stays, so it can be fixed; the map leaves the row out.
    QCOMPARE(m.index(1, RuleTableModel::Pattern).data(Qt::EditRole).toString(), QStringLiteral("^(layers\\.[0-9]+"));
    QCOMPARE(m.validRules().size(), std::size_t{1});
    QCOMPARE(m.validRules()[0].pattern, std::string("a"));

    QVERIFY(m.setData(m.index(1, RuleTableModel::Pattern), QStringLiteral("^(layers\\.[0-9]+)")));
    QVERIFY(m.isValid(1));
    QCOMPARE(m.validRules().size(), std::size_t{2});
  }

  void rejectedRowsKeepWhatWasTyped() {
    RuleTableModel m;
    m.setRules({exactRule("w", "w")});
    const QModelIndex transforms = m.index(0, RuleTableModel::Transforms);
    struct Case {
      const char* text;
      const char* says;
    };
    for (const Case& c : {Case{"permute 0,2,2", "not a permutation"}, Case{"rotate 90", "unknown transform"},
                          Case{"cast float99", "unknown dtype"}, Case{"cast int8", "float16, bfloat16"},
                          Case{"dequantize bfloat16", "float16 or float32"}, Case{"transpose 1", "no arguments"}}) {
      QVERIFY(m.setData(transforms, QString::fromLatin1(c.text)));
      QVERIFY2(!m.isValid(0), c.text);
      QVERIFY2(m.rowError(0).contains(QLatin1String(c.says)), qPrintable(m.rowError(0)));
      QCOMPARE(transforms.data(Qt::EditRole).toString(), QString::fromLatin1(c.text));
    }
    // Rules the core refuses as a whole: a permutation against the rank, a dropping rule with transforms.
    QVERIFY(m.setData(transforms, QStringLiteral("permute 0,2,3,1")));
    QVERIFY(m.isValid(0));
    QVERIFY(m.setData(m.index(0, RuleTableModel::Rank), QStringLiteral("3")));
    QVERIFY2(m.rowError(0).contains(QLatin1String("does not fit rank 3")), qPrintable(m.rowError(0)));
    QVERIFY(m.setData(m.index(0, RuleTableModel::Rank), QStringLiteral("four")));
    QVERIFY2(m.rowError(0).contains(QLatin1String("not a number")), qPrintable(m.rowError(0)));
    QVERIFY(m.setData(m.index(0, RuleTableModel::Rank), QStringLiteral("4")));
    QVERIFY(m.isValid(0));
    QVERIFY(m.setData(m.index(0, RuleTableModel::Drop), Qt::Checked, Qt::CheckStateRole));
    QVERIFY2(m.rowError(0).contains(QLatin1String("cannot have transforms")), qPrintable(m.rowError(0)));
    QVERIFY(m.setData(transforms, QString()));
    QVERIFY(m.isValid(0));
    QVERIFY(m.rule(0).drop);
    QCOMPARE(m.index(0, RuleTableModel::Drop).data(Qt::CheckStateRole).value<Qt::CheckState>(), Qt::Checked);
  }

  void transformTextRoundTrips() {
    const std::vector<Transform> ts = {permute({0, 2, 3, 1}),
                                       {Transform::Kind::Transpose, {}, ckpt::io::DType::F32},
                                       {Transform::Kind::Cast, {}, ckpt::io::DType::BF16},
                                       {Transform::Kind::Dequantize, {}, ckpt::io::DType::F32}};
    const QString text = ckpt::ui::transformsText(ts);
    QCOMPARE(text, QStringLiteral("permute (0, 2, 3, 1); transpose; cast bfloat16; dequantize float32"));
    const auto back = ckpt::ui::parseTransforms(text);
    QVERIFY(back.error.isEmpty());
    QVERIFY(back.transforms == ts);
    // The short forms people type.
    const auto typed = ckpt::ui::parseTransforms(QStringLiteral(" perm [0 2 3 1] ;T; cast BF16;dequant f32; "));
    QVERIFY2(typed.error.isEmpty(), qPrintable(typed.error));
    QVERIFY(typed.transforms == ts);
    QVERIFY(ckpt::ui::parseTransforms(QString()).transforms.empty());
    QVERIFY(!ckpt::ui::parseTransforms(QStringLiteral("permute")).error.isEmpty());
    QVERIFY(!ckpt::ui::parseTransforms(QStringLiteral("permute 0,x")).error.isEmpty());
  }

  void matchCountsAreShownNotEdits() {
    RuleTableModel m;
    m.setRules({exactRule("a", "b"), exactRule("c", "d")});
    QSignalSpy edited(&m, &RuleTableModel::rulesEdited);
    QSignalSpy changed(&m, &QAbstractItemModel::dataChanged);
    m.setMatchCounts({12, 0});
    QCOMPARE(edited.count(), 0);
    QCOMPARE(changed.count(), 1);
    QCOMPARE(m.index(0, RuleTableModel::Matches).data().toString(), QStringLiteral("12"));
    QCOMPARE(m.index(1, RuleTableModel::Matches).data().toString(), QStringLiteral("0"));
    QCOMPARE(m.index(1, RuleTableModel::Matches).data(Qt::BackgroundRole).value<QBrush>().color(),
             ckpt::ui::tint::attention());
    QVERIFY(m.index(1, RuleTableModel::Matches).data(Qt::ToolTipRole).toString().contains(QLatin1String("nothing")));
    m.setMatchCounts({});
    QCOMPARE(m.index(0, RuleTableModel::Matches).data().toString(), QString());
  }

  void rowsMoveInsertAndRemove() {
    RuleTableModel m;
    m.setRules({exactRule("a", "a"), exactRule("b", "b"), exactRule("c", "c")});
    QSignalSpy edited(&m, &RuleTableModel::rulesEdited);
    QVERIFY(m.moveRule(0, +1));  // b a c
    QVERIFY(m.moveRule(2, -1));  // b c a
    QVERIFY(!m.moveRule(2, +1));
    auto patterns = [&] {
      QStringList out;
      for (const auto& r : m.rules()) out << QString::fromStdString(r.pattern);
      return out.join(QLatin1Char(' '));
    };
    QCOMPARE(patterns(), QStringLiteral("b c a"));
    m.insertRule(1, exactRule("x", "y"));
    QCOMPARE(patterns(), QStringLiteral("b x c a"));
    QVERIFY(m.removeRows(2, 2));
    QCOMPARE(patterns(), QStringLiteral("b x"));
    QVERIFY(!m.removeRows(1, 5));
    QCOMPARE(edited.count(), 4);
    // Rows are numbered as the core's reports number rules: from 0.
    QCOMPARE(m.headerData(1, Qt::Vertical).toString(), QStringLiteral("1"));
  }
};

QTEST_MAIN(TestRuleTableModel)
#include "test_rule_table_model.moc"
