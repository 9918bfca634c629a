#include <gtest/gtest.h>

#include "model/param_tree.h"
#include "tests/support/support.h"

using namespace ckpt;

TEST(ParamTree, MlxConventionsAndSums) {
  std::vector<io::TensorInfo> t{test::random_tensor("model.layers.10.w", io::DType::F16, {2, 3}, 1),
                                test::random_tensor("model.layers.2.w", io::DType::F32, {4}, 2),
                                test::random_tensor("model.layers.2.b", io::DType::F32, {4}, 3),
                                test::random_tensor("model.norm", io::DType::BF16, {8}, 4),
                                test::random_tensor("head", io::DType::F32, {}, 5)};
  const auto tree = model::ParamTree::build(t);
  const auto& root = tree.root();
  EXPECT_EQ(root.tensor_count, 5u);
  EXPECT_EQ(root.parameters, 6u + 4 + 4 + 8 + 1);
  EXPECT_EQ(root.bytes, 12u + 16 + 16 + 16 + 4);
  ASSERT_EQ(root.children.size(), 2u);
  EXPECT_EQ(tree.node(root.children[0]).segment, "head");
  const auto layers = tree.find("model.layers");
  ASSERT_TRUE(layers);
  const auto& L = tree.node(*layers);
  EXPECT_TRUE(L.is_list);
  ASSERT_EQ(L.children.size(), 2u);
  EXPECT_EQ(tree.node(L.children[0]).segment, "2");  // numeric order: 2 before 10
  EXPECT_EQ(tree.node(L.children[1]).segment, "10");
  EXPECT_EQ(tree.node(L.children[0]).tensor_count, 2u);
  EXPECT_EQ(tree.node(L.children[0]).path, "model.layers.2");
  const auto model = tree.find("model");
  ASSERT_TRUE(model);
  EXPECT_EQ(tree.node(*model).dtypes.size(), 3u);
  EXPECT_FALSE(tree.node(*model).is_list);
  const auto leaf = tree.find("model.layers.2.b");
  ASSERT_TRUE(leaf);
  EXPECT_EQ(tree.node(*leaf).tensor, 2u);
  EXPECT_FALSE(tree.find("model.layers.3"));
}

TEST(ParamTree, HundredThousandNames) {
  std::vector<io::TensorInfo> t;
  t.reserve(100000);
  for (int k = 0; k < 100000; ++k) {
    io::TensorInfo x;
    x.name = "model.layers." + std::to_string(k / 10) + ".mlp.proj" + std::to_string(k % 10) + ".weight";
    x.dtype = io::DType::F16;
    x.shape = {4, 4};
    x.nbytes = 32;
    t.push_back(std::move(x));
  }
  const auto tree = model::ParamTree::build(t);
  EXPECT_EQ(tree.root().tensor_count, 100000u);
  const auto layers = tree.find("model.layers");
  ASSERT_TRUE(layers);
  EXPECT_EQ(tree.node(*layers).children.size(), 10000u);
  EXPECT_EQ(tree.node(tree.node(*layers).children.back()).segment, "9999");
}
