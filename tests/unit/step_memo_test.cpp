#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/step_memo.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

// A node of a graph kept for the test's whole run.
const Node& node_of(const std::string& op, const std::string& domain = "") {
  static Graph graph;
  return *graph.add_node({op, op + std::to_string(graph.nodes().size()), domain, {}, {op + "_out" + std::to_string(graph.nodes().size())}, {}, {}, ""});
}

}  // namespace

TEST(StepMemo, AppliesToPureOpsOnly) {
  EXPECT_TRUE(runtime::StepMemo::applies_to(node_of("Shape")));
  EXPECT_TRUE(runtime::StepMemo::applies_to(node_of("Concat")));
  EXPECT_FALSE(runtime::StepMemo::applies_to(node_of("RandomNormalLike")));
  EXPECT_FALSE(runtime::StepMemo::applies_to(node_of("Dropout")));
  EXPECT_FALSE(runtime::StepMemo::applies_to(node_of("Concat", "com.example")));
}

TEST(StepMemo, KeepsResultsForTheSameTensorsAtTheSameVersions) {
  runtime::StepMemo memo(node_of("Add"));
  const at::Tensor a = at::tensor({1, 2}, at::kLong), b = at::tensor({3, 4}, at::kLong);
  const std::vector<at::Tensor> args{a, b}, result{a + b};
  EXPECT_EQ(memo.find(args), nullptr);
  memo.keep(args, result);
  ASSERT_NE(memo.find(args), nullptr);
  EXPECT_TRUE(memo.find(args)->at(0).is_same(result[0]));
  EXPECT_EQ(memo.find({a.clone(), b}), nullptr) << "equal values in another tensor are not looked at";
  b.add_(1);
  EXPECT_EQ(memo.find(args), nullptr) << "an argument changed in place";
  memo.keep(args, {a + b});
  ASSERT_NE(memo.find(args), nullptr);
  memo.find(args)->at(0).mul_(2);
  EXPECT_EQ(memo.find(args), nullptr) << "a kept result changed in place";
}

TEST(StepMemo, ShapeIsKeptBySizesAndLargeTensorsAreNot) {
  runtime::StepMemo shape(node_of("Shape"));
  const at::Tensor x = at::zeros({2, 3});
  shape.keep({x}, {at::tensor({2, 3}, at::kLong)});
  EXPECT_NE(shape.find({at::ones({2, 3})}), nullptr) << "another tensor of the same sizes";
  EXPECT_EQ(shape.find({at::ones({3, 2})}), nullptr);

  runtime::StepMemo add(node_of("Add"));
  const at::Tensor big = at::ones({4096});
  add.keep({big, big}, {big + big});
  EXPECT_EQ(add.find({big, big}), nullptr) << "activations are not kept";
}

TEST(StepMemo, ReshapeTargetsFollowTheBatchSize) {
  // x [N, 6] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [2, 3])): the target is computed
  // from x's shape each batch, and kept only while that shape stays the same.
  Model model;
  Graph& g = model.graph;
  model.opset_imports = {{"", 13}};
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(6)}));
  auto constant = [&](const std::string& name, at::Tensor t) { return g.add_initializer(name, runtime::from_aten(t, DataType::Int64)); };
  auto op = [&](const std::string& name, const std::string& type, std::vector<Value*> in, std::vector<Attribute> attrs = {}) {
    return g.add_node({type, name, "", std::move(in), {name + "_out"}, std::move(attrs), {}, ""})->output(0);
  };
  Value* n = op("gather", "Gather", {op("shape", "Shape", {x}), constant("zero", at::zeros({}, at::kLong))});
  Value* target = op("concat", "Concat", {op("unsqueeze", "Unsqueeze", {n, constant("axes", at::zeros({1}, at::kLong))}),
                                          constant("rest", at::tensor({2, 3}, at::kLong))},
                     {Attribute::make_int("axis", 0)});
  g.mark_output(op("reshape", "Reshape", {x, target}));
  runtime::Executor exec(model);
  at::NoGradGuard no_grad;
  for (const int64_t batch : {2, 2, 5, 1, 5}) {
    const at::Tensor input = at::randn({batch, 6});
    const at::Tensor y = exec.run({input}).at(0);
    EXPECT_EQ(y.sizes(), at::IntArrayRef({batch, 2, 3})) << "batch " << batch;
    EXPECT_TRUE(at::equal(y, input.reshape({batch, 2, 3})));
  }
  exec.parameter("rest").copy_(at::tensor({3, 2}, at::kLong));  // a parameter changed in place
  EXPECT_EQ(exec.run({at::randn({5, 6})}).at(0).sizes(), at::IntArrayRef({5, 3, 2}));
}
