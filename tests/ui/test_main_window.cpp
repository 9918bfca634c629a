// The assembled window: tabs opened in the background, a corrupt file that
// leaves the other tabs alone, filtering, copying, expanding, dropping files
// on the window, recent files and dragging a tensor out as .npy.
#include <QApplication>
#include <QClipboard>
#include <QDropEvent>
#include <QLineEdit>
#include <QMimeData>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <vector>

#include "io/open.h"
#include "model/spec_diff.h"
#include "ui/checkpoint_tab.h"
#include "ui/compare/compare_view.h"
#include "ui/export/drop_bar.h"
#include "ui/export/export_dialog.h"
#include "ui/namemap/name_map_editor.h"
#include "ui/tensor/tensor_panel.h"
#include "ui/main_window.h"
#include "ui/param_tree_view.h"
#include "ui/recent_files.h"
#include "ui/tensor_filter_proxy.h"

using ckpt::ui::CheckpointTab;
using ckpt::ui::MainWindow;

namespace {

ckpt::io::TensorInfo f32Tensor(std::string name, ckpt::io::Shape shape, float first) {
  ckpt::io::TensorInfo t;
  t.name = std::move(name);
  t.dtype = ckpt::io::DType::F32;
  t.shape = std::move(shape);
  const auto n = static_cast<std::size_t>(t.numel());
  std::vector<float> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = first + static_cast<float>(i);
  std::vector<std::byte> bytes(n * sizeof(float));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  t.nbytes = bytes.size();
  t.data = ckpt::io::make_memory_data(std::move(bytes));
  return t;
}

QString writeModel(const QTemporaryDir& dir, const QString& name) {
  const std::vector<ckpt::io::TensorInfo> tensors{
      f32Tensor("encoder.layers.0.attn.q_proj.weight", {4, 4}, 0),
      f32Tensor("encoder.layers.0.attn.k_proj.weight", {4, 4}, 100),
      f32Tensor("encoder.layers.1.attn.q_proj.weight", {4, 4}, 200),
      f32Tensor("encoder.layers.1.mlp.fc1.weight", {8, 4}, 300),
      f32Tensor("head.bias", {3}, 400),
  };
  const QString path = dir.filePath(name);
  ckpt::io::WriteOptions opt;
  opt.sync = false;
  ckpt::io::write_checkpoint(path.toStdString(), ckpt::io::Format::Safetensors, tensors, {}, opt);
  return path;
}

bool waitLoaded(CheckpointTab* tab) {
  if (tab->isLoaded()) return true;
  QSignalSpy spy(tab, &CheckpointTab::loaded);
  return spy.wait(10000);
}

}  // namespace

class TestMainWindow : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);  // QSettings go to a test location
    QCoreApplication::setOrganizationName(QStringLiteral("ckpt-tests"));
    QCoreApplication::setApplicationName(QStringLiteral("test_main_window"));
    ckpt::ui::RecentFiles::clear();
    QVERIFY(dir_.isValid());
    a_ = writeModel(dir_, QStringLiteral("a.safetensors"));
    b_ = writeModel(dir_, QStringLiteral("b.safetensors"));
    corrupt_ = dir_.filePath(QStringLiteral("broken.safetensors"));
    std::ofstream(corrupt_.toStdString(), std::ios::binary) << "\xff\xff\xff\xff\xff\xff\xff\x7f{not json";
  }

  void opensTabsAndSwitchesToAnOpenFile() {
    MainWindow w;
    CheckpointTab* a = w.openFile(a_);
    CheckpointTab* b = w.openFile(b_);
    QVERIFY(waitLoaded(a));
    QVERIFY(waitLoaded(b));
    QCOMPARE(w.tabCount(), 2);
    QCOMPARE(w.openFile(a_), a);  // already open: the same tab comes forward
    QCOMPARE(w.tabCount(), 2);
    QCOMPARE(w.currentTab(), a);
    QVERIFY(a->statusText().contains(QStringLiteral("5 tensors")));
    QVERIFY(ckpt::ui::RecentFiles::list().contains(QFileInfo(a_).absoluteFilePath()));
  }

  void corruptFileLeavesOtherTabsAlone() {
    MainWindow w;
    CheckpointTab* a = w.openFile(a_);
    QVERIFY(waitLoaded(a));
    QSignalSpy failed(&w, &MainWindow::openFailed);
    w.openFile(corrupt_);
    QVERIFY(failed.wait(10000));
    QCOMPARE(failed.front().at(0).toString(), QFileInfo(corrupt_).absoluteFilePath());
    // The core's sentence names the file; the dialog shows it.
    QVERIFY(failed.front().at(1).toString().contains(QStringLiteral("broken.safetensors")));
    QTRY_COMPARE(w.tabCount(), 1);
    QCOMPARE(w.tabAt(0), a);
    QVERIFY(a->isLoaded());
    QCOMPARE(a->checkpoint()->tensors.size(), std::size_t{5});
  }

  void filterKeepsMatchesAndRejectsBadRegex() {
    MainWindow w;
    CheckpointTab* tab = w.openFile(a_);
    QVERIFY(waitLoaded(tab));
    QVERIFY(tab->setFilter(QStringLiteral("q_proj")));
    QCOMPARE(tab->proxy()->matchingTensors(), 2);
    QVERIFY(tab->setFilter(QStringLiteral("layers.*.attn")));
    QCOMPARE(tab->proxy()->matchingTensors(), 3);
    QVERIFY(tab->setFilter(QStringLiteral("layers\\.1\\..*weight$"), true));
    QCOMPARE(tab->proxy()->matchingTensors(), 2);
    QVERIFY(tab->statusText().contains(QStringLiteral("filter: 2 matching")));
    // An invalid regex keeps the last good filter instead of showing nothing.
    QVERIFY(!tab->setFilter(QStringLiteral("layers.(1"), true));
    QVERIFY(!tab->proxy()->errorString().isEmpty());
    QCOMPARE(tab->proxy()->matchingTensors(), 2);
    QVERIFY(tab->setFilter(QString()));
    QVERIFY(!tab->proxy()->isFiltering());
  }

  void copiesPathNameAndShape() {
    MainWindow w;
    CheckpointTab* tab = w.openFile(a_);
    QVERIFY(waitLoaded(tab));
    QVERIFY(tab->selectTensor(QStringLiteral("encoder.layers.1.mlp.fc1.weight")));
    using What = ckpt::ui::ParamTreeView::CopyWhat;
    QCOMPARE(tab->treeView()->copyText(What::Path), QStringLiteral("encoder.layers.1.mlp.fc1.weight"));
    QCOMPARE(tab->treeView()->copyText(What::Name), QStringLiteral("weight"));
    QCOMPARE(tab->treeView()->copyText(What::Shape), QStringLiteral("[8, 4]"));
    tab->treeView()->copyToClipboard(What::Shape);
    QCOMPARE(QGuiApplication::clipboard()->text(), QStringLiteral("[8, 4]"));
  }

  void expandsAndCollapsesAll() {
    MainWindow w;
    CheckpointTab* tab = w.openFile(a_);
    QVERIFY(waitLoaded(tab));
    tab->collapseAll();
    const QModelIndex encoder = tab->proxy()->index(0, 0);
    QVERIFY(!tab->treeView()->isExpanded(encoder));
    tab->expandAll();
    QVERIFY(tab->treeView()->isExpanded(encoder));
    const QModelIndex layers = tab->proxy()->index(0, 0, encoder);
    QVERIFY(tab->treeView()->isExpanded(tab->proxy()->index(0, 0, layers)));
    tab->collapseAll();
    QVERIFY(!tab->treeView()->isExpanded(encoder));
  }

  void droppingFilesOnTheWindowOpensThem() {
    MainWindow w;
    auto* mime = new QMimeData;
    mime->setUrls({QUrl::fromLocalFile(a_), QUrl::fromLocalFile(b_)});
    QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&w, &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent drop(QPointF(10, 10), Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&w, &drop);
    QCOMPARE(w.tabCount(), 2);
    QVERIFY(waitLoaded(w.tabAt(0)));
    QVERIFY(waitLoaded(w.tabAt(1)));
    delete mime;
  }

  void dragsATensorOutAsNpy() {
    MainWindow w;
    CheckpointTab* tab = w.openFile(a_);
    QVERIFY(waitLoaded(tab));
    QVERIFY(tab->selectTensor(QStringLiteral("head.bias")));
    QString error;
    const QStringList files = tab->treeView()->exportSelectionAsNpy(&error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(files.size(), 1);
    QVERIFY(files.front().endsWith(QStringLiteral("head.bias.npy")));
    const ckpt::io::Checkpoint npy = ckpt::io::open_checkpoint(files.front().toStdString());
    QCOMPARE(npy.tensors.size(), std::size_t{1});
    const auto source = ckpt::io::read_all(tab->checkpoint()->tensors.back());
    QVERIFY(ckpt::io::read_all(npy.tensors.front()) == source);
  }

  // The panels inside a tab, wired together as a user meets them.
  void selectingATensorShowsItsStatistics() {
    MainWindow w;
    CheckpointTab* tab = w.openFile(a_);
    QVERIFY(waitLoaded(tab));
    QSignalSpy shown(tab->tensorPanel(), &ckpt::ui::TensorPanel::statsShown);
    QVERIFY(tab->selectTensor(QStringLiteral("encoder.layers.1.mlp.fc1.weight")));
    QVERIFY(shown.count() > 0 || shown.wait(10000));
    const auto& stats = tab->tensorPanel()->stats();
    QVERIFY(stats.has_value());
    QCOMPARE(stats->count, std::uint64_t{32});
    QCOMPARE(stats->min, 300.0);  // written as 300, 301, …
    QCOMPARE(stats->max, 331.0);
  }

  void compareAgainstASpecFollowsTheNameMap() {
    MainWindow w;
    CheckpointTab* tab = w.openFile(a_);
    QVERIFY(waitLoaded(tab));
    // Wants the checkpoint's names under "model." except one with another
    // shape, and one name the checkpoint lacks.
    const QString spec = dir_.filePath(QStringLiteral("spec.json"));
    std::ofstream(spec.toStdString()) << R"({"parameters": {
      "model.encoder.layers.0.attn.q_proj.weight": [4, 4],
      "model.encoder.layers.0.attn.k_proj.weight": [4, 4],
      "model.encoder.layers.1.attn.q_proj.weight": [4, 4],
      "model.encoder.layers.1.mlp.fc1.weight": [4, 8],
      "model.head.bias": [3],
      "model.head.weight": [3, 4]}})";
    tab->showPage(CheckpointTab::Page::Compare);
    QVERIFY(tab->compareView()->loadSpec(spec));
    const ckpt::model::SpecDiff* diff = tab->compareView()->diff();
    QVERIFY(diff != nullptr);
    QCOMPARE(diff->count(ckpt::model::Category::Missing), std::size_t{6});
    QCOMPARE(diff->count(ckpt::model::Category::Unexpected), std::size_t{5});
    QVERIFY(!diff->strict_load_ok());

    // One prefix rule in the editor: the compare view recomputes at once.
    ckpt::model::NameMap map;
    ckpt::model::Rule rule;
    rule.match = ckpt::model::Rule::Match::Prefix;
    rule.pattern = "";
    rule.replace = "model.";
    map.rules.push_back(rule);
    QSignalSpy changed(tab->compareView(), &ckpt::ui::CompareView::diffChanged);
    tab->nameMapEditor()->setMap(map);
    QVERIFY(changed.count() > 0 || changed.wait(5000));
    diff = tab->compareView()->diff();
    QCOMPARE(diff->count(ckpt::model::Category::Match), std::size_t{4});
    QCOMPARE(diff->count(ckpt::model::Category::LayoutMismatch), std::size_t{1});  // [8, 4] vs [4, 8]
    QCOMPARE(diff->count(ckpt::model::Category::Missing), std::size_t{1});
    QCOMPARE(diff->count(ckpt::model::Category::Unexpected), std::size_t{0});
    QCOMPARE(tab->nameMap().rules.size(), std::size_t{1});
  }

  void exportDialogWritesTheMappedCheckpoint() {
    MainWindow w;
    CheckpointTab* tab = w.openFile(a_);
    QVERIFY(waitLoaded(tab));
    ckpt::model::NameMap map;
    ckpt::model::Rule rule;
    rule.match = ckpt::model::Rule::Match::Prefix;
    rule.pattern = "encoder.";
    rule.replace = "enc.";
    map.rules.push_back(rule);
    tab->setNameMap(map);
    ckpt::ui::ExportDialog* dialog = w.showExportDialog();
    QVERIFY(dialog != nullptr);
    const QString out = dir_.filePath(QStringLiteral("exported.gguf"));
    dialog->setTarget(ckpt::io::Format::Gguf, out);
    QSignalSpy done(dialog, &ckpt::ui::ExportDialog::exportFinished);
    dialog->start();
    QVERIFY(done.wait(20000));
    const ckpt::io::Checkpoint written = ckpt::io::open_checkpoint(out.toStdString());
    QCOMPARE(written.tensors.size(), std::size_t{5});
    for (const ckpt::io::TensorInfo& source : tab->checkpoint()->tensors) {
      const std::string mapped = source.name.rfind("encoder.", 0) == 0 ? "enc." + source.name.substr(8) : source.name;
      const auto it = std::find_if(written.tensors.begin(), written.tensors.end(),
                                   [&](const ckpt::io::TensorInfo& t) { return t.name == mapped; });
      QVERIFY2(it != written.tensors.end(), mapped.c_str());
      QVERIFY(ckpt::io::read_all(*it) == ckpt::io::read_all(source));
    }
    dialog->close();
  }

  void dropBarConvertsBesideTheSource() {
    QTemporaryDir dir;
    const QString source = writeModel(dir, QStringLiteral("m.safetensors"));
    MainWindow w;
    QSignalSpy done(w.dropBar(), &ckpt::ui::DropBar::conversionFinished);
    w.dropBar()->convertFile(source, ckpt::io::Format::Npz);
    QVERIFY(done.wait(20000));
    const QString out = dir.filePath(QStringLiteral("m.npz"));
    QCOMPARE(done.front().at(0).toString(), out);
    QCOMPARE(ckpt::io::open_checkpoint(out.toStdString()).tensors.size(), std::size_t{5});
  }

 private:
  QTemporaryDir dir_;
  QString a_, b_, corrupt_;
};

QTEST_MAIN(TestMainWindow)
#include "test_main_window.moc"
