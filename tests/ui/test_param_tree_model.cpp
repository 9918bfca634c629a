// ParamTreeModel and TensorFilterProxy under QAbstractItemModelTester, plus
// the strings a user reads and the filter's promise to keep ancestors.
#include <QAbstractItemModelTester>
#include <QTest>

#include <vector>

#include "io/tensor.h"
#include "model/param_tree.h"
#include "ui/param_tree_model.h"
#include "ui/tensor_filter_proxy.h"

using ckpt::ui::ParamTreeModel;
using ckpt::ui::TensorFilterProxy;

namespace {

// Descriptions only: the model never reads tensor data.
ckpt::io::TensorInfo tensor(std::string name, ckpt::io::DType dtype, ckpt::io::Shape shape, std::uint64_t offset) {
  ckpt::io::TensorInfo t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.nbytes = static_cast<std::uint64_t>(t.numel()) * ckpt::io::item_size(dtype);
  t.file = "memory";
  t.offset = offset;
  return t;
}

std::vector<ckpt::io::TensorInfo> sampleTensors() {
  using ckpt::io::DType;
  return {
      tensor("model.layers.10.attn.q_proj.weight", DType::BF16, {64, 64}, 0),
      tensor("model.layers.2.attn.q_proj.weight", DType::BF16, {64, 64}, 8192),
      tensor("model.layers.2.mlp.up.weight", DType::F32, {256, 64}, 16384),
      tensor("model.embed.weight", DType::F32, {1000, 64}, 81920),
      tensor("lm_head.weight", DType::F16, {1000, 64}, 337920),
  };
}

// The child of `parent` whose Name column reads `name`.
QModelIndex child(const QAbstractItemModel& m, const QModelIndex& parent, const QString& name) {
  for (int r = 0; r < m.rowCount(parent); ++r) {
    const QModelIndex i = m.index(r, 0, parent);
    if (i.data().toString() == name) return i;
  }
  return {};
}

QString cell(const QModelIndex& name_index, int column) {
  return name_index.siblingAtColumn(column).data().toString();
}

}  // namespace

class TestParamTreeModel : public QObject {
  Q_OBJECT

 private slots:
  void passesModelTester() {
    const auto tensors = sampleTensors();
    const auto tree = ckpt::model::ParamTree::build(tensors);
    ParamTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setTree(tree, tensors);
    QCOMPARE(model.rowCount(), 2);  // lm_head, model
    model.clear();
    QCOMPARE(model.rowCount(), 0);
    model.setTree(tree, tensors);
    QCOMPARE(model.columnCount(), int{ParamTreeModel::ColumnCount});
  }

  void rowsFollowTheTree() {
    const auto tensors = sampleTensors();
    const auto tree = ckpt::model::ParamTree::build(tensors);
    ParamTreeModel model;
    model.setTree(tree, tensors);
    const QModelIndex m = child(model, {}, QStringLiteral("model"));
    QVERIFY(m.isValid());
    QCOMPARE(model.rowCount(m), 2);  // embed, layers
    const QModelIndex layers = child(model, m, QStringLiteral("layers"));
    QCOMPARE(model.rowCount(layers), 2);
    QCOMPARE(layers.parent(), m);
    // Numeric segments in numeric order, not string order.
    QCOMPARE(model.index(0, 0, layers).data().toString(), QStringLiteral("2"));
    QCOMPARE(model.index(1, 0, layers).data().toString(), QStringLiteral("10"));
  }

  void displayStrings() {
    const auto tensors = sampleTensors();
    const auto tree = ckpt::model::ParamTree::build(tensors);
    ParamTreeModel model;
    model.setTree(tree, tensors);
    const QModelIndex head = child(model, child(model, {}, QStringLiteral("lm_head")), QStringLiteral("weight"));
    QCOMPARE(cell(head, ParamTreeModel::Shape), QStringLiteral("[1000, 64]"));
    QCOMPARE(cell(head, ParamTreeModel::DType), QStringLiteral("float16"));
    QCOMPARE(cell(head, ParamTreeModel::Parameters), QStringLiteral("64.0 K"));
    QCOMPARE(cell(head, ParamTreeModel::Size), QStringLiteral("125 KiB"));
    QCOMPARE(cell(head, ParamTreeModel::Offset), QStringLiteral("337920"));
    QCOMPARE(head.data(Qt::ToolTipRole).toString(), QStringLiteral("lm_head.weight"));
    QCOMPARE(head.siblingAtColumn(ParamTreeModel::Size).data(Qt::TextAlignmentRole).toInt(),
             int{Qt::AlignRight | Qt::AlignVCenter});
    QCOMPARE(head.siblingAtColumn(ParamTreeModel::Size).data(ParamTreeModel::SortRole).toULongLong(), 128000ULL);

    // A branch shows its subtree's totals and says when its dtypes differ.
    const QModelIndex m = child(model, {}, QStringLiteral("model"));
    QCOMPARE(cell(m, ParamTreeModel::Shape), QStringLiteral("(4 tensors)"));
    QCOMPARE(cell(m, ParamTreeModel::DType), QStringLiteral("mixed"));
    QCOMPARE(cell(m, ParamTreeModel::Parameters), QStringLiteral("88.6 K"));  // 64*64*2 + 256*64 + 1000*64
    QCOMPARE(cell(m, ParamTreeModel::Offset), QString());
    const QModelIndex attn = child(model, child(model, child(model, m, QStringLiteral("layers")), QStringLiteral("2")),
                                   QStringLiteral("attn"));
    QCOMPARE(cell(attn, ParamTreeModel::DType), QStringLiteral("bfloat16"));
  }

  void humanUnits() {
    QCOMPARE(ckpt::ui::humanBytes(0), QStringLiteral("0 B"));
    QCOMPARE(ckpt::ui::humanBytes(1023), QStringLiteral("1023 B"));
    QCOMPARE(ckpt::ui::humanBytes(1536), QStringLiteral("1.50 KiB"));
    QCOMPARE(ckpt::ui::humanBytes(std::uint64_t{3} << 30), QStringLiteral("3.00 GiB"));
    QCOMPARE(ckpt::ui::humanBytes((std::uint64_t{1} << 20) - 1), QStringLiteral("1.00 MiB"));
    QCOMPARE(ckpt::ui::humanCount(999), QStringLiteral("999"));
    QCOMPARE(ckpt::ui::humanCount(1'050'000), QStringLiteral("1.05 M"));
    QCOMPARE(ckpt::ui::humanCount(7'240'000'000), QStringLiteral("7.24 B"));
  }

  void proxyPassesModelTester() {
    const auto tensors = sampleTensors();
    const auto tree = ckpt::model::ParamTree::build(tensors);
    ParamTreeModel model;
    TensorFilterProxy proxy;
    proxy.setSourceModel(&model);
    QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setTree(tree, tensors);
    proxy.sort(ParamTreeModel::Size, Qt::DescendingOrder);
    proxy.setPattern(QStringLiteral("q_proj"));
    proxy.setPattern(QString());
    model.clear();
  }

  void filterKeepsAncestors() {
    const auto tensors = sampleTensors();
    const auto tree = ckpt::model::ParamTree::build(tensors);
    ParamTreeModel model;
    model.setTree(tree, tensors);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&model);

    proxy.setPattern(QStringLiteral("Q_PROJ"));  // case-insensitive
    QCOMPARE(proxy.rowCount(), 1);               // lm_head is gone
    const QModelIndex m = child(proxy, {}, QStringLiteral("model"));
    QVERIFY(m.isValid());
    QCOMPARE(proxy.rowCount(m), 1);  // embed is gone, layers stays
    const QModelIndex layers = child(proxy, m, QStringLiteral("layers"));
    QCOMPARE(proxy.rowCount(layers), 2);
    const QModelIndex two = child(proxy, layers, QStringLiteral("2"));
    QCOMPARE(proxy.rowCount(two), 1);  // attn only, not mlp
    QVERIFY(child(proxy, child(proxy, two, QStringLiteral("attn")), QStringLiteral("q_proj")).isValid());

    // A wildcard spans levels of the path.
    proxy.setPattern(QStringLiteral("layers.*.mlp"));
    QCOMPARE(proxy.rowCount(child(proxy, child(proxy, {}, QStringLiteral("model")), QStringLiteral("layers"))), 1);

    proxy.setPattern(QString());
    QCOMPARE(proxy.rowCount(), 2);
  }

  void proxySortsByRawNumbers() {
    const auto tensors = sampleTensors();
    const auto tree = ckpt::model::ParamTree::build(tensors);
    ParamTreeModel model;
    model.setTree(tree, tensors);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&model);
    const auto layersOf = [&] {
      return child(proxy, child(proxy, {}, QStringLiteral("model")), QStringLiteral("layers"));
    };
    // Name order is the tree's natural order, whatever the strings say.
    proxy.sort(ParamTreeModel::Name, Qt::AscendingOrder);
    QCOMPARE(proxy.index(0, 0, layersOf()).data().toString(), QStringLiteral("2"));
    proxy.sort(ParamTreeModel::Name, Qt::DescendingOrder);
    QCOMPARE(proxy.index(0, 0, layersOf()).data().toString(), QStringLiteral("10"));
    // "62.5 KiB" (model) vs "125 KiB" (lm_head): as strings the order would flip.
    proxy.sort(ParamTreeModel::Size, Qt::AscendingOrder);
    QCOMPARE(proxy.index(0, 0).data().toString(), QStringLiteral("lm_head"));
  }
};

QTEST_GUILESS_MAIN(TestParamTreeModel)
#include "test_param_tree_model.moc"
