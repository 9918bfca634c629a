// The compare view end to end on small checkpoints written to a temporary
// folder: counts, verdict and filters against a spec crafted to hit every
// category, name maps (a rename, the pytorch-to-mlx preset, a broken map),
// value agreement of two checkpoints on the background thread, cancellation
// when inputs change or the view dies, inline errors, and both palettes.
#include <QAbstractButton>
#include <QDir>
#include <QFile>
#include <QHeaderView>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "io/open.h"
#include "model/name_map.h"
#include "ui/compare/category_style.h"
#include "ui/compare/compare_filter_proxy.h"
#include "ui/compare/compare_model.h"
#include "ui/compare/compare_view.h"

using namespace ckpt;
using ckpt::model::Category;
using ckpt::ui::CompareModel;
using ckpt::ui::CompareView;

namespace {

io::TensorInfo f32(std::string name, io::Shape shape, const std::function<float(std::int64_t)>& value) {
  io::TensorInfo t;
  t.name = std::move(name);
  t.dtype = io::DType::F32;
  t.shape = std::move(shape);
  std::vector<float> v(static_cast<std::size_t>(t.numel()));
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = value(static_cast<std::int64_t>(k));
  std::vector<std::byte> bytes(v.size() * sizeof(float));
  std::memcpy(bytes.data(), v.data(), bytes.size());
  t.nbytes = bytes.size();
  t.data = io::make_memory_data(std::move(bytes));
  return t;
}

io::TensorInfo zeros(std::string name, io::Shape shape, io::DType dtype) {
  io::TensorInfo t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.nbytes = static_cast<std::uint64_t>(t.numel()) * io::item_size(dtype);
  t.data = io::make_memory_data(std::vector<std::byte>(t.nbytes));
  return t;
}

float ramp(std::int64_t k) { return static_cast<float>(k) * 0.5f - 3.0f; }

void writeCheckpoint(const QString& path, const std::vector<io::TensorInfo>& tensors) {
  io::WriteOptions options;
  options.sync = false;  // scratch files
  io::write_checkpoint(path.toStdString(), io::Format::Safetensors, tensors, {}, options);
}

std::shared_ptr<const io::Checkpoint> openCheckpoint(const QString& path) {
  return std::make_shared<const io::Checkpoint>(io::open_checkpoint(path.toStdString()));
}

void writeText(const QString& path, const QByteArray& text) {
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write(text);
}

// Against kSpec: one match, one layout (OIHW vs OHWI), one shape, one dtype,
// one missing (head.weight) and two unexpected (classifier.weight, extra.scale).
std::vector<io::TensorInfo> everyCategoryTensors() {
  return {f32("fc.weight", {4, 8}, ramp),       f32("conv.weight", {8, 3, 5, 5}, ramp), f32("fc.bias", {5}, ramp),
          zeros("norm.weight", {4}, io::DType::F16), f32("classifier.weight", {2, 4}, ramp), f32("extra.scale", {1}, ramp)};
}

constexpr const char* kSpec = R"({
  "format": "ckpt-spec", "version": 1,
  "parameters": {
    "fc.weight": {"shape": [4, 8], "dtype": "float32"},
    "conv.weight": [8, 5, 5, 3],
    "fc.bias": [4],
    "norm.weight": {"shape": [4], "dtype": "float32"},
    "head.weight": [2, 4]
  }
})";

model::NameMap renameClassifier() {
  model::NameMap map;
  model::Rule rule;
  rule.match = model::Rule::Match::Exact;
  rule.pattern = "classifier.weight";
  rule.replace = "head.weight";
  map.rules.push_back(rule);
  return map;
}

QString buttonText(const CompareView& view, Category c) { return view.categoryButton(c)->text().remove(QLatin1Char('&')); }

// The visible (filtered, sorted) rows' cell in `column`, keyed by the wanted name or else the left one.
QString shownCell(const CompareView& view, const QString& name, int column) {
  const QAbstractItemModel* m = view.tableView()->model();
  for (int r = 0; r < m->rowCount(); ++r) {
    const QString right = m->index(r, CompareModel::RightNameColumn).data().toString();
    const QString left = m->index(r, CompareModel::LeftNameColumn).data().toString();
    if (right == name || left == name) return m->index(r, column).data().toString();
  }
  return QStringLiteral("<no row %1>").arg(name);
}

QPalette darkPalette() {
  QPalette p(QColor(0x35, 0x35, 0x35), QColor(0x2b, 0x2b, 0x2b));
  p.setColor(QPalette::Base, QColor(0x1e, 0x1e, 0x1e));
  p.setColor(QPalette::AlternateBase, QColor(0x26, 0x26, 0x26));
  p.setColor(QPalette::Text, QColor(0xe8, 0xe8, 0xe8));
  p.setColor(QPalette::WindowText, QColor(0xe8, 0xe8, 0xe8));
  p.setColor(QPalette::ButtonText, QColor(0xe8, 0xe8, 0xe8));
  p.setColor(QPalette::PlaceholderText, QColor(0x90, 0x90, 0x90));
  p.setColor(QPalette::Highlight, QColor(0x3d, 0x6e, 0xb5));
  p.setColor(QPalette::HighlightedText, Qt::white);
  return p;
}

// Saves what the view looks like when CKPT_COMPARE_SCREENSHOTS names a folder (for a person to look at).
void maybeSave(CompareView& view, const QString& name) {
  const QPixmap pixmap = view.grab();
  QVERIFY(!pixmap.isNull());
  QCOMPARE(pixmap.size(), view.size() * pixmap.devicePixelRatio());
  const QString dir = qEnvironmentVariable("CKPT_COMPARE_SCREENSHOTS");
  if (!dir.isEmpty()) QVERIFY(pixmap.save(QDir(dir).filePath(name)));
}

}  // namespace

class TestCompareView : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString have_path_, spec_path_;

  QString path(const QString& name) const { return dir_.filePath(name); }

  // w1 equal in both, w2 off by 0.25 in one element, one name only in each.
  std::pair<QString, QString> valuePair() const {
    const QString a = path(QStringLiteral("a.safetensors")), b = path(QStringLiteral("b.safetensors"));
    if (!QFile::exists(a) || !QFile::exists(b)) {
      writeCheckpoint(a, {f32("w1", {3, 4}, ramp), f32("w2", {5}, ramp), f32("a.only", {2}, ramp)});
      writeCheckpoint(b, {f32("w1", {3, 4}, ramp), f32("w2", {5}, [](std::int64_t k) { return ramp(k) + (k == 2 ? 0.25f : 0.0f); }),
                          f32("b.only", {2}, ramp)});
    }
    return {a, b};
  }

  // Two checkpoints large enough (2 × 16 MiB each) that comparing them is still running when a test acts.
  std::pair<QString, QString> bigPair() const {
    const QString a = path(QStringLiteral("big_a.safetensors")), b = path(QStringLiteral("big_b.safetensors"));
    if (!QFile::exists(a) || !QFile::exists(b)) {
      const std::int64_t n = std::int64_t{1} << 22;
      writeCheckpoint(a, {f32("big", {n}, ramp), f32("big2", {n}, ramp)});
      writeCheckpoint(b, {f32("big", {n}, ramp), f32("big2", {n}, ramp)});
    }
    return {a, b};
  }

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    have_path_ = path(QStringLiteral("have.safetensors"));
    spec_path_ = path(QStringLiteral("spec.json"));
    writeCheckpoint(have_path_, everyCategoryTensors());
    writeText(spec_path_, kSpec);
  }

  void countsVerdictAndSidesAgainstASpec() {
    CompareView view;
    QSignalSpy spec_changed(&view, &CompareView::specChanged);
    QSignalSpy diff_changed(&view, &CompareView::diffChanged);
    QVERIFY(view.diff() == nullptr);
    view.setCheckpoint(openCheckpoint(have_path_));
    QVERIFY(view.diff() == nullptr);  // nothing to compare against yet
    QVERIFY(view.loadSpec(spec_path_));
    QCOMPARE(spec_changed.count(), 1);
    QVERIFY(diff_changed.count() >= 1);
    QVERIFY(view.spec() != nullptr);
    QCOMPARE(view.spec()->params.size(), std::size_t{5});

    const model::SpecDiff* d = view.diff();
    QVERIFY(d != nullptr);
    for (Category c : ui::kCategories) {
      QVERIFY2(d->count(c) >= 1, model::category_name(c));
      QCOMPARE(buttonText(view, c), QStringLiteral("%1 %2").arg(ui::categoryLabel(c)).arg(d->count(c)));
    }
    QCOMPARE(d->count(Category::Unexpected), std::size_t{2});
    QVERIFY(!d->strict_load_ok());
    QVERIFY(view.verdictText().contains(QString::fromStdString(d->verdict())));
    QVERIFY(view.verdictText().contains(QStringLiteral("would fail")));
    QVERIFY(view.againstText().contains(QStringLiteral("spec.json")));
    QVERIFY(view.againstText().contains(QStringLiteral("5 parameters")));
    QCOMPARE(view.errorText(), QString());
    QCOMPARE(view.tableView()->model()->rowCount(), static_cast<int>(d->rows.size()));
    // A spec has no values: no agreement column, no background work.
    QVERIFY(view.tableView()->isColumnHidden(CompareModel::AgreementColumn));
    QVERIFY(!view.agreementRunning());
    QCOMPARE(shownCell(view, QStringLiteral("conv.weight"), CompareModel::NoteColumn), QStringLiteral("permute (0, 2, 3, 1)"));
  }

  void categoryButtonsAndTextFilterPickRows() {
    CompareView view;
    view.setCheckpoint(openCheckpoint(have_path_));
    QVERIFY(view.loadSpec(spec_path_));
    const model::SpecDiff* d = view.diff();
    const QAbstractItemModel* shown = view.tableView()->model();
    const int all = static_cast<int>(d->rows.size());

    for (Category c : ui::kCategories) {
      view.categoryButton(c)->click();
      QCOMPARE(static_cast<std::size_t>(shown->rowCount()), d->count(c));
      for (int r = 0; r < shown->rowCount(); ++r)
        QCOMPARE(shown->index(r, 0).data(CompareModel::CategoryRole).toInt(), static_cast<int>(c));
      view.categoryButton(c)->click();  // unchecked again: every row
      QCOMPARE(shown->rowCount(), all);
    }
    view.categoryButton(Category::Missing)->click();
    view.categoryButton(Category::Unexpected)->click();
    QCOMPARE(static_cast<std::size_t>(shown->rowCount()), d->count(Category::Missing) + d->count(Category::Unexpected));
    view.setCategoryFilter({});
    QVERIFY(!view.categoryButton(Category::Missing)->isChecked());
    QCOMPARE(shown->rowCount(), all);

    view.setTextFilter(QStringLiteral("conv"));
    QCOMPARE(shown->rowCount(), 1);
    QCOMPARE(shown->index(0, CompareModel::CategoryColumn).data().toString(), QStringLiteral("layout"));
    view.setTextFilter(QString());
    QCOMPARE(shown->rowCount(), all);
  }

  void mnemonicTogglesACategory() {
    CompareView view;
    view.setCheckpoint(openCheckpoint(have_path_));
    QVERIFY(view.loadSpec(spec_path_));
    view.show();
    QVERIFY(QTest::qWaitForWindowActive(&view));
    QTest::keyClick(&view, Qt::Key_M, Qt::AltModifier);
    QTRY_VERIFY(view.categoryButton(Category::Missing)->isChecked());
    QCOMPARE(static_cast<std::size_t>(view.tableView()->model()->rowCount()), view.diff()->count(Category::Missing));
  }

  void aRenameInTheMapTurnsMissingAndUnexpectedIntoAMatch() {
    CompareView view;
    view.setCheckpoint(openCheckpoint(have_path_));
    QVERIFY(view.loadSpec(spec_path_));
    const std::size_t match = view.diff()->count(Category::Match);
    const std::size_t unexpected = view.diff()->count(Category::Unexpected);
    QCOMPARE(view.diff()->count(Category::Missing), std::size_t{1});
    // The user's place survives the recompute a map edit causes.
    const QAbstractItemModel* shown = view.tableView()->model();
    for (int r = 0; r < shown->rowCount(); ++r)
      if (shown->index(r, CompareModel::RightNameColumn).data().toString() == QStringLiteral("fc.bias"))
        view.tableView()->setCurrentIndex(shown->index(r, 0));

    QSignalSpy diff_changed(&view, &CompareView::diffChanged);
    view.setMap(renameClassifier());
    QCOMPARE(diff_changed.count(), 1);
    QCOMPARE(view.diff()->count(Category::Match), match + 1);
    QCOMPARE(view.diff()->count(Category::Missing), std::size_t{0});
    QCOMPARE(view.diff()->count(Category::Unexpected), unexpected - 1);
    QCOMPARE(buttonText(view, Category::Missing), QStringLiteral("Missing 0"));
    QCOMPARE(buttonText(view, Category::Match), QStringLiteral("Match %1").arg(match + 1));
    // Left: the file's own name; right: the wanted one.
    QCOMPARE(shownCell(view, QStringLiteral("head.weight"), CompareModel::LeftNameColumn), QStringLiteral("classifier.weight"));
    QCOMPARE(shownCell(view, QStringLiteral("head.weight"), CompareModel::CategoryColumn), QStringLiteral("match"));
    QCOMPARE(view.tableView()->currentIndex().siblingAtColumn(CompareModel::RightNameColumn).data().toString(),
             QStringLiteral("fc.bias"));

    view.setMap(model::NameMap{});
    QCOMPARE(view.diff()->count(Category::Missing), std::size_t{1});
    QCOMPARE(view.diff()->count(Category::Match), match);
  }

  void aBrokenMapIsReportedInlineAndTheDiffStays() {
    CompareView view;
    view.setCheckpoint(openCheckpoint(have_path_));
    QVERIFY(view.loadSpec(spec_path_));
    const std::size_t rows = view.diff()->rows.size();
    model::NameMap broken;
    model::Rule rule;
    rule.match = model::Rule::Match::Exact;
    rule.pattern = "fc.weight";
    rule.replace = "fc.weight";
    rule.transforms.push_back({model::Transform::Kind::Permute, {0, 2, 3, 1}, io::DType::F32});  // rank 4 on a rank-2 tensor
    broken.rules.push_back(rule);
    view.setMap(broken);
    QVERIFY(view.errorText().startsWith(QStringLiteral("The name map cannot be applied")));
    QVERIFY(view.errorText().contains(QStringLiteral("fc.weight")));
    view.resize(1280, 300);
    maybeSave(view, QStringLiteral("compare_map_error.png"));
    QVERIFY(view.diff() != nullptr);
    QCOMPARE(view.diff()->rows.size(), rows);
    view.setMap(renameClassifier());
    QCOMPARE(view.errorText(), QString());
  }

  void loadFailuresAreInlineAndKeepTheRightSide() {
    CompareView view;
    view.setCheckpoint(openCheckpoint(have_path_));
    QVERIFY(view.loadSpec(spec_path_));
    QSignalSpy spec_changed(&view, &CompareView::specChanged);

    QVERIFY(!view.loadSpec(path(QStringLiteral("absent.json"))));
    QVERIFY(view.errorText().contains(QStringLiteral("absent.json")));
    const QString bad_json = path(QStringLiteral("bad.json"));
    writeText(bad_json, R"({"parameters": {"x": [2, -1]}})");
    QVERIFY(!view.loadSpec(bad_json));
    QVERIFY(view.errorText().contains(QStringLiteral("bad.json")));
    const QString garbage = path(QStringLiteral("garbage.safetensors"));
    writeText(garbage, "this is not a checkpoint");
    QVERIFY(!view.loadCheckpoint(garbage));
    QVERIFY(view.errorText().contains(QStringLiteral("garbage.safetensors")));
    QCOMPARE(spec_changed.count(), 0);
    QVERIFY(view.spec() != nullptr);
    QCOMPARE(view.spec()->params.size(), std::size_t{5});
    QVERIFY(view.diff() != nullptr);

    QVERIFY(view.loadSpec(spec_path_));
    QCOMPARE(view.errorText(), QString());
  }

  void pytorchConvAgainstAnMlxSpecIsALayoutUntilThePresetMap() {
    const QString pt = path(QStringLiteral("pytorch.safetensors"));
    writeCheckpoint(pt, {f32("features.conv.weight", {16, 4, 3, 3}, ramp), f32("features.conv.bias", {16}, ramp),
                         zeros("features.bn.num_batches_tracked", {}, io::DType::I64)});
    const QString mlx_spec = path(QStringLiteral("mlx_spec.json"));
    writeText(mlx_spec, R"({"parameters": {"features.conv.weight": [16, 3, 3, 4], "features.conv.bias": [16]}})");
    CompareView view;
    view.setCheckpoint(openCheckpoint(pt));
    QVERIFY(view.loadSpec(mlx_spec));
    QCOMPARE(view.diff()->count(Category::LayoutMismatch), std::size_t{1});
    QCOMPARE(shownCell(view, QStringLiteral("features.conv.weight"), CompareModel::CategoryColumn), QStringLiteral("layout"));
    QCOMPARE(shownCell(view, QStringLiteral("features.conv.weight"), CompareModel::NoteColumn), QStringLiteral("permute (0, 2, 3, 1)"));
    QVERIFY(view.verdictText().contains(QStringLiteral("layout permutation")));

    view.setMap(model::load_map("pytorch-to-mlx"));
    QCOMPARE(view.diff()->count(Category::LayoutMismatch), std::size_t{0});
    QCOMPARE(view.diff()->count(Category::Unexpected), std::size_t{0});  // num_batches_tracked dropped
    QCOMPARE(view.diff()->count(Category::Match), std::size_t{2});
    QVERIFY(view.diff()->strict_load_ok());
    QCOMPARE(view.verdictText(), QStringLiteral("Strict load: would load"));
    QCOMPARE(shownCell(view, QStringLiteral("features.conv.weight"), CompareModel::CategoryColumn), QStringLiteral("match"));
    QCOMPARE(shownCell(view, QStringLiteral("features.conv.weight"), CompareModel::LeftShapeColumn), QStringLiteral("[16, 3, 3, 4]"));
    QCOMPARE(shownCell(view, QStringLiteral("features.conv.weight"), CompareModel::NoteColumn),
             QStringLiteral("map: permute (0, 2, 3, 1)"));
    QVERIFY(view.againstText().contains(QStringLiteral("mlx_spec.json")));
  }

  void twoCheckpointsGetValueAgreementInTheBackground() {
    const auto [a, b] = valuePair();
    CompareView view;
    view.setCheckpoint(openCheckpoint(a));
    QSignalSpy ready(&view, &CompareView::agreementReady);
    QSignalSpy spec_changed(&view, &CompareView::specChanged);
    QVERIFY(view.loadCheckpoint(b));
    QCOMPARE(spec_changed.count(), 1);
    // The right side as a spec: the second checkpoint's names and shapes.
    QCOMPARE(view.spec()->params.size(), std::size_t{3});
    QVERIFY(std::any_of(view.spec()->params.begin(), view.spec()->params.end(),
                        [](const model::SpecParam& p) { return p.name == "b.only"; }));
    QVERIFY(view.againstText().contains(QStringLiteral("b.safetensors")));
    QVERIFY(!view.tableView()->isColumnHidden(CompareModel::AgreementColumn));
    QVERIFY(ready.count() == 1 || ready.wait(10000));
    QCOMPARE(ready.count(), 1);
    QVERIFY(!view.agreementRunning());

    QCOMPARE(shownCell(view, QStringLiteral("w1"), CompareModel::AgreementColumn), QStringLiteral("identical"));
    QVERIFY(shownCell(view, QStringLiteral("w2"), CompareModel::AgreementColumn).contains(QStringLiteral("0.25")));
    QCOMPARE(shownCell(view, QStringLiteral("b.only"), CompareModel::AgreementColumn), QString());
    const model::SpecDiff* d = view.diff();
    QCOMPARE(d->count(Category::Missing), std::size_t{1});
    QCOMPARE(d->count(Category::Unexpected), std::size_t{1});
    for (const auto& r : d->rows) {
      if (r.name == "w1") QVERIFY(r.agreement && r.agreement->identical);
      if (r.name == "w2") QVERIFY(r.agreement && !r.agreement->identical && r.agreement->max_abs_diff == 0.25);
    }
  }

  void permutedConvValuesAgreeBeforeAndAfterThePreset() {
    // B holds A's conv weight in MLX's OHWI order, values moved along.
    const io::Shape oihw{4, 2, 3, 3};
    auto value = [](std::int64_t o, std::int64_t i, std::int64_t h, std::int64_t w) {
      return static_cast<float>(o * 1000 + i * 100 + h * 10 + w);
    };
    const QString a = path(QStringLiteral("conv_pt.safetensors")), b = path(QStringLiteral("conv_mlx.safetensors"));
    writeCheckpoint(a, {f32("conv.weight", oihw, [&](std::int64_t k) {
                          return value(k / 18, (k / 9) % 2, (k / 3) % 3, k % 3);
                        })});
    writeCheckpoint(b, {f32("conv.weight", {4, 3, 3, 2}, [&](std::int64_t k) {
                          return value(k / 18, k % 2, (k / 6) % 3, (k / 2) % 3);
                        })});
    CompareView view;
    view.setCheckpoint(openCheckpoint(a));
    QSignalSpy ready(&view, &CompareView::agreementReady);
    QVERIFY(view.loadCheckpoint(b));
    QVERIFY(ready.count() == 1 || ready.wait(10000));
    QCOMPARE(shownCell(view, QStringLiteral("conv.weight"), CompareModel::CategoryColumn), QStringLiteral("layout"));
    QCOMPARE(shownCell(view, QStringLiteral("conv.weight"), CompareModel::AgreementColumn), QStringLiteral("identical"));

    view.setMap(model::load_map("pytorch-to-mlx"));
    QVERIFY(ready.count() == 2 || ready.wait(10000));
    QCOMPARE(shownCell(view, QStringLiteral("conv.weight"), CompareModel::CategoryColumn), QStringLiteral("match"));
    QCOMPARE(shownCell(view, QStringLiteral("conv.weight"), CompareModel::AgreementColumn), QStringLiteral("identical"));
  }

  void changedInputsDropTheRunningComparison() {
    const auto [a, b] = bigPair();
    CompareView view;
    view.setCheckpoint(openCheckpoint(a));
    QSignalSpy ready(&view, &CompareView::agreementReady);
    QVERIFY(view.loadCheckpoint(b));
    QVERIFY(view.agreementRunning());
    QCOMPARE(shownCell(view, QStringLiteral("big"), CompareModel::AgreementColumn), QStringLiteral("computing…"));
    view.resize(1280, 260);
    maybeSave(view, QStringLiteral("compare_computing.png"));

    view.setMap(renameClassifier());  // a new diff: the old job is cancelled and its results are stale
    QVERIFY(view.agreementRunning());  // a fresh one for the fresh diff
    view.setSpec(*view.spec(), QStringLiteral("the same names as a spec"));  // no values to compare any more
    QVERIFY(!view.agreementRunning());
    QTRY_COMPARE_WITH_TIMEOUT(view.pendingJobs(), std::size_t{0}, 10000);
    QCoreApplication::processEvents();
    QCOMPARE(ready.count(), 0);
    for (const auto& r : view.diff()->rows) QVERIFY(!r.agreement);
    for (int row = 0; row < view.compareModel()->rowCount(); ++row)
      QCOMPARE(view.compareModel()->agreementState(row), CompareModel::AgreementState::None);
    QVERIFY(view.againstText().contains(QStringLiteral("the same names as a spec")));
  }

  void destroyingTheViewMidComparisonJoinsCleanly() {
    const auto [a, b] = bigPair();
    auto view = std::make_unique<CompareView>();
    view->setCheckpoint(openCheckpoint(a));
    QVERIFY(view->loadCheckpoint(b));
    QVERIFY(view->agreementRunning());
    QCoreApplication::processEvents();  // let a result or two be posted to the view
    view.reset();
    QCoreApplication::processEvents();  // nothing left behind is delivered to the dead view
  }

  void noCheckpointShowsAPlaceholder() {
    CompareView view;
    QVERIFY(view.loadSpec(spec_path_));
    QVERIFY(view.spec() != nullptr);
    QVERIFY(view.diff() == nullptr);
    QCOMPARE(view.verdictText(), QStringLiteral("No checkpoint open"));
    view.setCheckpoint(openCheckpoint(have_path_));
    QVERIFY(view.diff() != nullptr);
    view.setCheckpoint(nullptr);
    QVERIFY(view.diff() == nullptr);
    QCOMPARE(view.compareModel()->rowCount(), 0);
    QCOMPARE(buttonText(view, Category::Missing), QStringLiteral("Missing 0"));
  }

  void followsLightAndDarkPalettes() {
    const auto [a, b] = valuePair();
    CompareView view;
    view.resize(1280, 420);
    view.setCheckpoint(openCheckpoint(have_path_));
    QVERIFY(view.loadSpec(spec_path_));
    view.setMap(renameClassifier());
    maybeSave(view, QStringLiteral("compare_light.png"));

    view.setPalette(darkPalette());
    const QModelIndex first = view.compareModel()->index(0, 0);
    QCOMPARE(first.data(Qt::BackgroundRole).value<QBrush>().color(),
             ui::categoryBackground(view.diff()->rows[0].category, darkPalette()));
    maybeSave(view, QStringLiteral("compare_dark.png"));

    view.setCheckpoint(openCheckpoint(a));
    QSignalSpy ready(&view, &CompareView::agreementReady);
    QVERIFY(view.loadCheckpoint(b));
    QVERIFY(ready.count() == 1 || ready.wait(10000));
    maybeSave(view, QStringLiteral("compare_values_dark.png"));
    view.setPalette(QPalette());
    maybeSave(view, QStringLiteral("compare_values_light.png"));
    view.setCheckpoint(nullptr);
    maybeSave(view, QStringLiteral("compare_empty.png"));
  }
};

QTEST_MAIN(TestCompareView)
#include "test_compare_view.moc"
