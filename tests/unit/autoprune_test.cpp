// AutoPrune finds the weights that matter: a linear classifier whose labels depend on 4 of 20
// input features, started from dense random weights, keeps exactly those features' weights when
// asked for 80% sparsity, and still classifies well. Magnitude alone cannot know: the initial
// weights are random, so their magnitudes say nothing about the support.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "nncompress/core/error.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/passes/prune/autoprune.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

constexpr int64_t kFeatures = 20, kUseful = 4;

Model linear_model() {
  Model model;
  model.opset_imports = {{"", 13}};
  Graph& g = model.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(kFeatures)}));
  at::Generator gen = at::detail::createCPUGenerator(3);
  Value* w = g.add_initializer("w", runtime::from_aten(at::randn({2, kFeatures}, gen, at::kFloat), DataType::Float));
  Value* b = g.add_initializer("b", runtime::from_aten(at::zeros({2}, at::kFloat), DataType::Float));
  Node* fc = g.add_node({"Gemm", "fc", "", {x, w, b}, {"y"}, {Attribute::make_int("transB", 1)}, {}, ""});
  g.mark_output(fc->output(0));
  return model;
}

// Labels: the sign of a fixed combination of the first kUseful features.
data::Dataset synthetic(int64_t n, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  data::Dataset d;
  d.x = at::randn({n, kFeatures}, gen, at::kFloat);
  const at::Tensor v = at::tensor({1.0f, -1.5f, 2.0f, 0.8f});
  d.y = (d.x.narrow(1, 0, kUseful).matmul(v) > 0).to(at::kLong);
  d.source = "synthetic";
  return d;
}

passes::AutoPruneOptions options(double sparsity) {
  passes::AutoPruneOptions o;
  o.target_sparsity = sparsity;
  o.train.epochs = 6;
  o.train.batch = 64;
  o.train.lr = 0.05;
  o.train.weight_decay = 0;
  return o;
}

}  // namespace

TEST(AutoPrune, KeepsTheWeightsOfTheUsefulFeatures) {
  Model model = linear_model();
  const data::Dataset train = synthetic(4000, 1), test = synthetic(1000, 2);
  const passes::AutoPruneResult r = passes::prune_autoprune(model, train, nullptr, options(0.8));

  const at::Tensor w = runtime::to_aten(*model.graph.value("w").initializer());
  EXPECT_EQ(w.ne(0).sum().item<int64_t>(), 2 * kUseful) << w;
  EXPECT_TRUE(w.narrow(1, 0, kUseful).ne(0).all().item<bool>()) << w;
  ASSERT_EQ(r.layers.size(), 1u);
  EXPECT_EQ(r.layers[0].nonzeros_after, 2 * kUseful);
  ASSERT_EQ(r.masks.size(), 1u);
  EXPECT_TRUE(r.masks[0].second.eq(w.ne(0).to(at::kFloat)).all().item<bool>());

  const runtime::Executor exec(model);
  EXPECT_GT(*eval::evaluate(exec, test, {}).top1, 0.95);
}

TEST(AutoPrune, SameSeedSameResult) {
  const data::Dataset train = synthetic(1000, 1);
  Model a = linear_model(), b = linear_model();
  passes::prune_autoprune(a, train, nullptr, options(0.5));
  passes::prune_autoprune(b, train, nullptr, options(0.5));
  EXPECT_TRUE(runtime::to_aten(*a.graph.value("w").initializer()).equal(runtime::to_aten(*b.graph.value("w").initializer())));
}

TEST(AutoPrune, RejectsBadOptions) {
  Model model = linear_model();
  const data::Dataset train = synthetic(100, 1);
  passes::AutoPruneOptions o = options(1.0);
  EXPECT_THROW(passes::prune_autoprune(model, train, nullptr, o), Error);
  o = options(0.5);
  o.aux_init = "random";
  EXPECT_THROW(passes::prune_autoprune(model, train, nullptr, o), Error);
  o = options(0.5);
  o.keep = {"fc"};
  EXPECT_THROW(passes::prune_autoprune(model, train, nullptr, o), Error);  // nothing left to prune
}
