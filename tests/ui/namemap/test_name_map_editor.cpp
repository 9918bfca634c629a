// NameMapEditor end to end: edits re-plan the preview (off the GUI thread),
// conflicts and invalid rules are shown and counted, presets, save/load,
// suggestions from a spec, inversion, mapChanged, and a widget that dies
// while a plan runs. Set CKPT_NAMEMAP_SCREENSHOT=/path.png to keep the
// rendering of the resnet + pytorch-to-mlx case.
#include <QComboBox>
#include <QElapsedTimer>
#include <QFile>
#include <QFileDialog>
#include <QPointer>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include "io/open.h"
#include "model/name_map.h"
#include "ui/namemap/name_map_editor.h"
#include "ui/namemap/preview_model.h"
#include "ui/namemap/rule_table_model.h"

using ckpt::io::DType;
using ckpt::io::TensorInfo;
using ckpt::model::NameMap;
using ckpt::model::Rule;
using ckpt::ui::NameMapEditor;
using ckpt::ui::PreviewModel;
using ckpt::ui::RuleTableModel;

Q_DECLARE_METATYPE(ckpt::model::NameMap)

namespace {

TensorInfo described(std::string name, DType dtype, ckpt::io::Shape shape) {
  TensorInfo t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.nbytes = static_cast<std::uint64_t>(t.numel()) * ckpt::io::item_size(dtype);
  return t;
}

std::shared_ptr<const ckpt::io::Checkpoint> inMemory(std::vector<TensorInfo> tensors) {
  auto ck = std::make_shared<ckpt::io::Checkpoint>();
  ck->path = "memory";
  ck->tensors = std::move(tensors);
  return ck;
}

// Many names in a torchvision-like layout, descriptions only: enough that a
// plan with the preset's regex rules takes a noticeable while.
std::shared_ptr<const ckpt::io::Checkpoint> manyNames(int blocks) {
  std::vector<TensorInfo> ts;
  for (int b = 0; b < blocks; ++b) {
    const std::string p = "layers." + std::to_string(b) + ".";
    ts.push_back(described(p + "conv.weight", DType::F32, {8, 8, 3, 3}));
    ts.push_back(described(p + "bn.weight", DType::F32, {8}));
    ts.push_back(described(p + "bn.num_batches_tracked", DType::I64, {}));
  }
  return inMemory(std::move(ts));
}

// A torchvision resnet's naming and conv layouts (the first two stages),
// written as a real safetensors file and opened again.
std::shared_ptr<const ckpt::io::Checkpoint> writeResnet(const QString& dir) {
  std::vector<TensorInfo> ts;
  auto add = [&](const std::string& name, DType dtype, ckpt::io::Shape shape) {
    TensorInfo t = described(name, dtype, std::move(shape));
    t.data = ckpt::io::make_memory_data(std::vector<std::byte>(t.nbytes));
    ts.push_back(std::move(t));
  };
  auto bn = [&](const std::string& p, std::int64_t c) {
    for (const char* k : {"weight", "bias", "running_mean", "running_var"}) add(p + "." + k, DType::F32, {c});
    add(p + ".num_batches_tracked", DType::I64, {});
  };
  add("conv1.weight", DType::F32, {64, 3, 7, 7});
  bn("bn1", 64);
  for (int layer = 1; layer <= 2; ++layer) {
    const std::int64_t c = 64 * layer;
    for (int block = 0; block < 2; ++block) {
      const std::int64_t in = (layer == 2 && block == 0) ? 64 : c;
      const std::string p = "layer" + std::to_string(layer) + "." + std::to_string(block);
      add(p + ".conv1.weight", DType::F32, {c, in, 3, 3});
      bn(p + ".bn1", c);
      add(p + ".conv2.weight", DType::F32, {c, c, 3, 3});
      bn(p + ".bn2", c);
      if (layer == 2 && block == 0) {
        add(p + ".downsample.0.weight", DType::F32, {c, in, 1, 1});
        bn(p + ".downsample.1", c);
      }
    }
  }
  add("fc.weight", DType::F32, {1000, 128});
  add("fc.bias", DType::F32, {1000});
  const std::string path = (dir + QStringLiteral("/resnet.safetensors")).toStdString();
  ckpt::io::WriteOptions options;
  options.sync = false;
  ckpt::io::write_checkpoint(path, ckpt::io::Format::Safetensors, ts, {}, options);
  return std::make_shared<const ckpt::io::Checkpoint>(ckpt::io::open_checkpoint(path));
}

Rule rule(Rule::Match match, std::string pattern, std::string replace) {
  Rule r;
  r.match = match;
  r.pattern = std::move(pattern);
  r.replace = std::move(replace);
  return r;
}

[[nodiscard]] bool settled(const NameMapEditor& e) {
  return QTest::qWaitFor([&] { return !e.previewPending(); }, 10000);
}

QString previewCell(const NameMapEditor& e, const QString& source, int column) {
  const int row = e.previewModel()->rowOfSource(source);
  return row < 0 ? QStringLiteral("<no row>") : e.previewModel()->index(row, column).data().toString();
}

}  // namespace

class TestNameMapEditor : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { qRegisterMetaType<NameMap>(); }

  void editingARuleUpdatesThePreview() {
    NameMapEditor e;
    e.setCheckpoint(
        inMemory({described("model.a.weight", DType::F32, {4}), described("model.b.weight", DType::F32, {4})}));
    NameMap m;
    m.rules.push_back(rule(Rule::Match::Prefix, "model.", ""));
    e.setMap(m);
    QVERIFY(settled(e));
    QCOMPARE(previewCell(e, QStringLiteral("model.a.weight"), PreviewModel::Target), QStringLiteral("a.weight"));
    RuleTableModel* rules = e.ruleModel();
    QVERIFY(rules->setData(rules->index(0, RuleTableModel::Replacement), QStringLiteral("net.")));
    QVERIFY(settled(e));
    QCOMPARE(previewCell(e, QStringLiteral("model.a.weight"), PreviewModel::Target), QStringLiteral("net.a.weight"));
    QVERIFY(rules->setData(rules->index(0, RuleTableModel::Pattern), QStringLiteral("model.a.")));
    QVERIFY(settled(e));
    QCOMPARE(previewCell(e, QStringLiteral("model.a.weight"), PreviewModel::Target), QStringLiteral("net.weight"));
    QCOMPARE(previewCell(e, QStringLiteral("model.b.weight"), PreviewModel::Target), QStringLiteral("model.b.weight"));
    QCOMPARE(previewCell(e, QStringLiteral("model.b.weight"), PreviewModel::Rule), QStringLiteral("none"));
    // The rule table counts what each rule decided.
    QCOMPARE(rules->index(0, RuleTableModel::Matches).data().toString(), QStringLiteral("1"));
    QVERIFY2(e.summaryText().startsWith(QLatin1String("2 names: 1 renamed, 1 unmapped")), qPrintable(e.summaryText()));
  }

  void conflictIsHighlightedAndCounted() {
    NameMapEditor e;
    e.setCheckpoint(inMemory({described("a.weight", DType::F32, {4}), described("b.weight", DType::F32, {4}),
                              described("c.bias", DType::F32, {4})}));
    NameMap m;
    m.rules.push_back(rule(Rule::Match::Exact, "a.weight", "w"));
    m.rules.push_back(rule(Rule::Match::Exact, "b.weight", "w"));
    m.rules.push_back(rule(Rule::Match::Exact, "nothing", "x"));
    e.setMap(m);
    QVERIFY(settled(e));
    const QString summary = e.summaryText();
    QVERIFY2(summary.contains(QLatin1String("1 conflict")), qPrintable(summary));
    QVERIFY2(summary.contains(QLatin1String("rule 2 matched nothing")), qPrintable(summary));
    PreviewModel* p = e.previewModel();
    for (const char* name : {"a.weight", "b.weight"}) {
      const int row = p->rowOfSource(QString::fromLatin1(name));
      QVERIFY(p->entryFlags(p->index(row, 0)) & PreviewModel::Conflict);
      QVERIFY(p->index(row, PreviewModel::Target).data(Qt::BackgroundRole).isValid());
    }
    QCOMPARE(p->counts().conflictNames, 2);
    QVERIFY(!p->index(p->rowOfSource(QStringLiteral("c.bias")), 0)
                 .data(Qt::ToolTipRole)
                 .toString()
                 .contains(QLatin1String("Conflict")));
    QCOMPARE(e.ruleModel()->index(2, RuleTableModel::Matches).data().toString(), QStringLiteral("0"));
  }

  void invalidRegexIsFlaggedAndNotApplied() {
    NameMapEditor e;
    e.setCheckpoint(inMemory({described("layers.0.w", DType::F32, {4}), described("layers.1.w", DType::F32, {4})}));
    NameMap m;
    m.rules.push_back(rule(Rule::Match::Exact, "layers.0.w", "first"));
    m.rules.push_back(rule(Rule::Match::Regex, "^layers\\.(\\d+)\\.w$", "l$1"));
    e.setMap(m);
    QVERIFY(settled(e));
    QCOMPARE(previewCell(e, QStringLiteral("layers.1.w"), PreviewModel::Target), QStringLiteral("l1"));
    QSignalSpy changed(&e, &NameMapEditor::mapChanged);
    RuleTableModel* rules = e.ruleModel();
    QVERIFY(rules->setData(rules->index(1, RuleTableModel::Pattern), QStringLiteral("^layers\\.(\\d+\\.w$")));
    QVERIFY(!rules->isValid(1));
    QCOMPARE(changed.count(), 0);  // the compare view keeps the last valid map
    QCOMPARE(e.map().rules.size(), std::size_t{1});
    QVERIFY(settled(e));
    // Left out of the preview, but rule numbers still match the table.
    QCOMPARE(previewCell(e, QStringLiteral("layers.1.w"), PreviewModel::Target), QStringLiteral("layers.1.w"));
    QCOMPARE(previewCell(e, QStringLiteral("layers.0.w"), PreviewModel::Rule), QStringLiteral("0"));
    QVERIFY2(e.summaryText().contains(QLatin1String("rule 1 is invalid and not applied")), qPrintable(e.summaryText()));
    QVERIFY2(!e.summaryText().contains(QLatin1String("matched nothing")), qPrintable(e.summaryText()));
    QTemporaryDir dir;
    QVERIFY(!e.saveMap(dir.filePath(QStringLiteral("m.json"))));
    QVERIFY2(e.messageText().contains(QLatin1String("rule 1")), qPrintable(e.messageText()));
    QVERIFY(!QFile::exists(dir.filePath(QStringLiteral("m.json"))));

    QVERIFY(rules->setData(rules->index(1, RuleTableModel::Pattern), QStringLiteral("^layers\\.(\\d+)\\.x$")));
    QCOMPARE(changed.count(), 1);
    QVERIFY(settled(e));
    QVERIFY2(e.summaryText().contains(QLatin1String("rule 1 matched nothing")), qPrintable(e.summaryText()));
  }

  void presetPermutesConvWeights() {
    QTemporaryDir dir;
    NameMapEditor e;
    e.setCheckpoint(writeResnet(dir.path()));
    QVERIFY(e.loadMap(QStringLiteral("pytorch-to-mlx")));
    QCOMPARE(e.ruleModel()->rowCount(), 6);
    QVERIFY(settled(e));
    QCOMPARE(previewCell(e, QStringLiteral("conv1.weight"), PreviewModel::SourceShape),
             QStringLiteral("[64, 3, 7, 7]"));
    QCOMPARE(previewCell(e, QStringLiteral("conv1.weight"), PreviewModel::TargetShape),
             QStringLiteral("[64, 7, 7, 3]"));
    QCOMPARE(previewCell(e, QStringLiteral("layer2.0.downsample.0.weight"), PreviewModel::TargetShape),
             QStringLiteral("[128, 1, 1, 64]"));
    QCOMPARE(previewCell(e, QStringLiteral("fc.weight"), PreviewModel::TargetShape), QStringLiteral("[1000, 128]"));
    QCOMPARE(previewCell(e, QStringLiteral("bn1.num_batches_tracked"), PreviewModel::Target),
             QStringLiteral("(dropped)"));
    QVERIFY2(e.summaryText().contains(QLatin1String("10 dropped")), qPrintable(e.summaryText()));

    QVERIFY(!e.loadMap(QStringLiteral("no-such-map")));
    QVERIFY2(e.messageText().contains(QLatin1String("no-such-map")), qPrintable(e.messageText()));
    QCOMPARE(e.ruleModel()->rowCount(), 6);  // the failed load changed nothing
  }

  void saveThenLoadRoundTrips() {
    NameMap m;
    m.unmapped = ckpt::model::Unmapped::Drop;
    Rule conv = rule(Rule::Match::Regex, "^(.*)\\.conv(\\d)\\.weight$", "$1.conv$2.w");
    conv.rank = 4;
    conv.transforms.push_back({ckpt::model::Transform::Kind::Permute, {0, 2, 3, 1}, DType::F32});
    conv.transforms.push_back({ckpt::model::Transform::Kind::Cast, {}, DType::BF16});
    conv.note = "Conv2d OIHW → OHWI";
    m.rules.push_back(conv);
    Rule drop = rule(Rule::Match::Exact, "lm_head.weight", "lm_head.weight");
    drop.drop = true;
    m.rules.push_back(drop);
    m.rules.push_back(rule(Rule::Match::Prefix, "model.", ""));
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("map.json"));
    NameMapEditor a;
    a.setMap(m);
    QVERIFY(a.saveMap(path));
    QCOMPARE(ckpt::model::to_json(ckpt::model::load_map(path.toStdString())), ckpt::model::to_json(m));
    NameMapEditor b;
    QSignalSpy changed(&b, &NameMapEditor::mapChanged);
    QVERIFY(b.loadMap(path));
    QCOMPARE(ckpt::model::to_json(b.map()), ckpt::model::to_json(m));
    QCOMPARE(changed.count(), 1);
    QCOMPARE(b.unmapped(), ckpt::model::Unmapped::Drop);

    QFile bad(dir.filePath(QStringLiteral("bad.json")));
    QVERIFY(bad.open(QIODevice::WriteOnly));
    bad.write("{\"rules\": [{\"match\": \"regex\", \"pattern\": \"(\"}]}");
    bad.close();
    QVERIFY(!b.loadMap(bad.fileName()));
    QVERIFY2(b.messageText().contains(QLatin1String("bad regular expression")), qPrintable(b.messageText()));
    QCOMPARE(ckpt::model::to_json(b.map()), ckpt::model::to_json(m));
    QVERIFY(!b.saveMap(dir.filePath(QStringLiteral("no/such/dir/map.json"))));
    QVERIFY(!b.messageText().isEmpty());
  }

  void suggestionsMatchTheSpec() {
    NameMapEditor e;
    QVERIFY(!e.suggestFromSpec());  // no checkpoint yet
    QVERIFY(e.messageText().contains(QLatin1String("checkpoint")));
    e.setCheckpoint(inMemory({described("model.conv.weight", DType::F32, {8, 4, 3, 3}),
                              described("model.fc.weight", DType::F32, {10, 8}),
                              described("model.bn.num_batches_tracked", DType::I64, {})}));
    ckpt::model::ModuleSpec spec;
    spec.source = "mlx_model.json";
    spec.params.push_back({"conv.weight", {8, 3, 3, 4}, std::nullopt});
    spec.params.push_back({"fc.weight", {10, 8}, std::nullopt});
    e.setSpec(spec);
    QVERIFY(e.suggestFromSpec());
    QVERIFY(settled(e));
    const ckpt::model::MapReport* report = e.previewModel()->report();
    QVERIFY(report != nullptr);
    QVERIFY(report->ok());
    std::vector<std::pair<std::string, ckpt::io::Shape>> got, want;
    for (const auto& entry : report->entries)
      if (!entry.dropped) got.emplace_back(entry.target, entry.target_shape);
    for (const auto& p : spec.params) want.emplace_back(p.name, p.shape);
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    QVERIFY(got == want);
    // Asking again adds nothing.
    const int rules = e.ruleModel()->rowCount();
    QVERIFY(!e.suggestFromSpec());
    QCOMPARE(e.ruleModel()->rowCount(), rules);

    // Without a spec the button asks for one, without blocking.
    e.setSpec(std::nullopt);
    QVERIFY(!e.suggestFromSpec());
    auto* dialog = e.findChild<QFileDialog*>();
    QVERIFY(dialog != nullptr);
    QVERIFY(dialog->isVisible());
    dialog->reject();
  }

  void invertsOrSaysWhyNot() {
    NameMapEditor e;
    e.setMap(ckpt::model::load_map("pytorch-to-mlx"));
    QVERIFY(!e.invertMap());
    QVERIFY2(e.messageText().contains(QLatin1String("drops")), qPrintable(e.messageText()));
    e.setMap(ckpt::model::load_map("mlx-to-pytorch"));
    QVERIFY(e.invertMap());
    const NameMap inv = e.map();
    QCOMPARE(inv.rules.size(), std::size_t{3});
    QVERIFY(inv.rules[1].transforms.at(0).perm == (std::vector<int>{0, 2, 3, 1}));
  }

  void mapChangedFollowsEdits() {
    NameMapEditor e;
    QSignalSpy changed(&e, &NameMapEditor::mapChanged);
    NameMap m;
    m.rules.push_back(rule(Rule::Match::Exact, "a", "b"));
    e.setMap(m);
    QCOMPARE(changed.count(), 1);
    RuleTableModel* rules = e.ruleModel();
    QVERIFY(rules->setData(rules->index(0, RuleTableModel::Pattern), QStringLiteral("x")));
    QCOMPARE(changed.count(), 2);
    QCOMPARE(changed.last().at(0).value<NameMap>().rules.at(0).pattern, std::string("x"));
    QVERIFY(rules->setData(rules->index(0, RuleTableModel::Pattern), QStringLiteral("x")));  // no change
    e.setMap(e.map());
    QCOMPARE(changed.count(), 2);
    e.setUnmapped(ckpt::model::Unmapped::Error);
    QCOMPARE(changed.count(), 3);
    QCOMPARE(changed.last().at(0).value<NameMap>().unmapped, ckpt::model::Unmapped::Error);
    e.ruleView()->setCurrentIndex(rules->index(0, 0));
    e.addRule();
    QCOMPARE(rules->rowCount(), 2);
    QCOMPARE(changed.count(), 4);
    e.moveCurrentRule(-1);
    QCOMPARE(rules->rule(1).pattern, std::string("x"));
    QCOMPARE(changed.count(), 5);
    e.ruleView()->selectRow(0);
    e.removeSelectedRules();
    QCOMPARE(rules->rowCount(), 1);
    QCOMPARE(changed.count(), 6);
    e.appendPreset(QStringLiteral("mlx-to-pytorch"));
    QCOMPARE(rules->rowCount(), 4);
    QCOMPARE(rules->rule(0).pattern, std::string("x"));
    QCOMPARE(changed.count(), 7);
  }

  void addRuleTakesTheSelectedName() {
    NameMapEditor e;
    e.setCheckpoint(inMemory({described("encoder.w", DType::F32, {2}), described("decoder.w", DType::F32, {2})}));
    QVERIFY(settled(e));
    e.previewView()->setCurrentIndex(
        e.previewModel()->index(e.previewModel()->rowOfSource(QStringLiteral("decoder.w")), 0));
    e.addRule();
    QCOMPARE(e.ruleModel()->rowCount(), 1);
    QCOMPARE(e.ruleModel()->rule(0).pattern, std::string("decoder.w"));
    QCOMPARE(e.ruleModel()->rule(0).match, Rule::Match::Exact);
  }

  void matchKindIsPickedFromAList() {
    NameMapEditor e;
    NameMap m;
    m.rules.push_back(rule(Rule::Match::Exact, "a", "b"));
    e.setMap(m);
    e.show();
    QVERIFY(QTest::qWaitForWindowExposed(&e));
    const QModelIndex cell = e.ruleModel()->index(0, RuleTableModel::Match);
    e.ruleView()->setCurrentIndex(cell);
    e.ruleView()->edit(cell);
    auto* combo = e.ruleView()->findChild<QComboBox*>();
    QVERIFY(combo != nullptr);
    QCOMPARE(combo->currentText(), QStringLiteral("exact"));
    combo->setCurrentIndex(combo->findText(QStringLiteral("prefix")));
    emit combo->activated(combo->currentIndex());
    QCOMPARE(e.ruleModel()->rule(0).match, Rule::Match::Prefix);
  }

  void staleResultsAreDropped() {
    NameMapEditor e;
    e.setCheckpoint(manyNames(20000));
    QVERIFY(settled(e));
    QSignalSpy updated(&e, &NameMapEditor::previewUpdated);
    NameMap first = ckpt::model::load_map("pytorch-to-mlx");
    e.setMap(first);
    QTest::qWait(40);  // the first plan is running now
    NameMap second;
    second.rules.push_back(rule(Rule::Match::Prefix, "layers.", "blocks."));
    e.setMap(second);
    QVERIFY(settled(e));
    QCOMPARE(updated.count(), 1);
    QCOMPARE(previewCell(e, QStringLiteral("layers.7.conv.weight"), PreviewModel::Target),
             QStringLiteral("blocks.7.conv.weight"));
    QCOMPARE(previewCell(e, QStringLiteral("layers.7.conv.weight"), PreviewModel::TargetShape),
             QStringLiteral("[8, 8, 3, 3]"));
  }

  void destroyedWhilePlanning() {
    auto* e = new NameMapEditor;
    QPointer<NameMapEditor> alive(e);
    e->setCheckpoint(manyNames(20000));
    e->setMap(ckpt::model::load_map("pytorch-to-mlx"));
    QTest::qWait(40);
    QVERIFY(e->previewPending());
    QElapsedTimer clock;
    clock.start();
    delete e;
    QVERIFY(alive.isNull());
    QVERIFY(clock.elapsed() < 5000);
    QTest::qWait(50);  // any result posted by the worker must be gone with the editor
  }

  void rendersResnetWithPreset() {
    QTemporaryDir dir;
    NameMapEditor e;
    e.setCheckpoint(writeResnet(dir.path()));
    e.loadMap(QStringLiteral("pytorch-to-mlx"));
    RuleTableModel* rules = e.ruleModel();
    rules->insertRule(0, rule(Rule::Match::Exact, "fc.bias", "fc.weight"));  // a conflict to look at
    e.resize(1200, 760);
    e.show();
    QVERIFY(QTest::qWaitForWindowExposed(&e));
    QVERIFY(settled(e));
    QCOMPARE(previewCell(e, QStringLiteral("layer1.0.conv1.weight"), PreviewModel::TargetShape),
             QStringLiteral("[64, 3, 3, 64]"));
    QVERIFY(e.summaryText().contains(QLatin1String("1 conflict")));
    const QPixmap shot = e.grab();
    QCOMPARE(shot.size(), e.size());
    const QByteArray out = qgetenv("CKPT_NAMEMAP_SCREENSHOT");
    if (!out.isEmpty()) QVERIFY(shot.save(QString::fromLocal8Bit(out)));
  }
};

QTEST_MAIN(TestNameMapEditor)
#include "test_name_map_editor.moc"
