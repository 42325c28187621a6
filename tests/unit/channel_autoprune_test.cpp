// Structured AutoPrune: gates close whole channels across their dependency group (residual Add,
// BatchNorm, depthwise), removal afterwards is exact, targets are met, and on a planted problem
// the channels that read the informative inputs are the ones kept.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "nncompress/analysis/cost.h"
#include "nncompress/core/error.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/onnx/validate.h"
#include "nncompress/passes/prune/autoprune.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

Value* constant(Graph& g, const std::string& name, const at::Tensor& t) {
  return g.add_initializer(name, runtime::from_aten(t.contiguous(), DataType::Float));
}

// x[N,1,8,8] -> conv1 -> bn1 -> relu -> conv2 -> bn2 -> add(., relu) -> relu -> depthwise -> bn3
// -> relu -> conv3 (1x1, bias) -> relu -> GAP -> flatten -> fc[4]. conv1, conv2 and the
// depthwise share one channel group (8 channels); conv3 has its own.
Model conv_net() {
  at::Generator gen = at::detail::createCPUGenerator(5);
  Model model;
  model.opset_imports = {{"", 13}};
  Graph& g = model.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(1), Dim::known(8), Dim::known(8)}));
  const auto pads = Attribute::make_ints("pads", {1, 1, 1, 1});
  auto bn = [&](const std::string& name, Value* in) {
    return g.add_node({"BatchNormalization", name, "", {in, constant(g, name + ".s", at::ones({8})), constant(g, name + ".b", at::zeros({8})),
                                                        constant(g, name + ".m", at::zeros({8})), constant(g, name + ".v", at::ones({8}))},
                       {name + ".y"}, {}, {}, ""})->output(0);
  };
  auto relu = [&](const std::string& name, Value* in) { return g.add_node({"Relu", name, "", {in}, {name + ".y"}, {}, {}, ""})->output(0); };
  Value* c1 = g.add_node({"Conv", "conv1", "", {x, constant(g, "w1", 0.5 * at::randn({8, 1, 3, 3}, gen))}, {"c1"}, {pads}, {}, ""})->output(0);
  Value* r1 = relu("relu1", bn("bn1", c1));
  Value* c2 = g.add_node({"Conv", "conv2", "", {r1, constant(g, "w2", 0.2 * at::randn({8, 8, 3, 3}, gen))}, {"c2"}, {pads}, {}, ""})->output(0);
  Value* sum = g.add_node({"Add", "add", "", {bn("bn2", c2), r1}, {"sum"}, {}, {}, ""})->output(0);
  Value* dw = g.add_node({"Conv", "dw", "", {relu("relu2", sum), constant(g, "wd", 0.5 * at::randn({8, 1, 3, 3}, gen))}, {"d"},
                          {pads, Attribute::make_int("group", 8)}, {}, ""})->output(0);
  Value* r3 = relu("relu3", bn("bn3", dw));
  Value* c3 = g.add_node({"Conv", "conv3", "", {r3, constant(g, "w3", 0.3 * at::randn({8, 8, 1, 1}, gen)), constant(g, "b3", at::zeros({8}))},
                          {"c3"}, {}, {}, ""})->output(0);
  Value* pooled = g.add_node({"GlobalAveragePool", "gap", "", {relu("relu4", c3)}, {"p"}, {}, {}, ""})->output(0);
  Value* flat = g.add_node({"Flatten", "flat", "", {pooled}, {"f"}, {}, {}, ""})->output(0);
  Node* fc = g.add_node({"Gemm", "fc", "", {flat, constant(g, "wf", 0.3 * at::randn({4, 8}, gen)), constant(g, "bf", at::zeros({4}))},
                         {"y"}, {Attribute::make_int("transB", 1)}, {}, ""});
  g.mark_output(fc->output(0));
  return model;
}

// Class k is one texture under noise: flat, horizontal stripes, vertical stripes, checkerboard
// (textures, since global average pooling forgets where things are).
data::Dataset textures(int64_t n, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const at::Tensor rows = at::arange(8).remainder(2).mul(2).sub(1).to(at::kFloat).view({8, 1}).expand({8, 8});
  const at::Tensor patterns = at::stack({at::ones({8, 8}), rows, rows.t(), rows * rows.t()});
  data::Dataset d;
  d.y = at::randint(4, {n}, gen, at::kLong);
  d.x = (patterns.index_select(0, d.y) + 0.7 * at::randn({n, 8, 8}, gen, at::kFloat)).unsqueeze(1);
  d.source = "synthetic";
  return d;
}

passes::AutoPruneOptions options() {
  passes::AutoPruneOptions o;
  o.train.epochs = 3;
  o.train.batch = 32;
  o.train.lr = 0.05;
  o.train.weight_decay = 0;
  o.keep_first_conv = false;
  return o;
}

int64_t out_channels(const Model& m, const std::string& weight) { return m.graph.value(weight).initializer()->dims()[0]; }

}  // namespace

TEST(ChannelAutoPrune, MeetsTheMacTargetAndRemovalIsExact) {
  Model model = conv_net();
  const data::Dataset train = textures(1200, 1), val = textures(300, 2);
  const ir::TypeMap types = onnxio::infer_shapes(model);
  const int64_t macs_before = analysis::compute_cost(model.graph, types).macs;
  passes::AutoPruneOptions o = options();
  o.target_macs = 0.5;
  o.search_fraction = 2.0 / 3.0;
  const passes::ChannelAutoPruneResult r = passes::prune_autoprune_channels(model, types, train, &val, o);

  EXPECT_LE(r.report.predicted_fraction, 0.5);
  const int64_t macs_after = analysis::compute_cost(model.graph, onnxio::infer_shapes(model)).macs;
  EXPECT_LE(static_cast<double>(macs_after), 0.5 * static_cast<double>(macs_before));
  EXPECT_GT(static_cast<double>(macs_after), 0.3 * static_cast<double>(macs_before));  // no more than needed
  // The residual group is cut the same way everywhere it appears.
  const int64_t group = out_channels(model, "w1");
  EXPECT_EQ(out_channels(model, "w2"), group);
  EXPECT_EQ(out_channels(model, "wd"), group);
  EXPECT_EQ(model.graph.value("bn3.s").initializer()->numel(), group);
  EXPECT_EQ(model.graph.value("w3").initializer()->dims()[1], group);
  EXPECT_EQ(model.graph.value("wf").initializer()->dims()[1], out_channels(model, "w3"));
  EXPECT_LT(group * out_channels(model, "w3"), 64);

  // The gated model of the last epoch and the smaller model compute the same thing.
  const runtime::Executor exec(model);
  const double top1 = *eval::evaluate(exec, val, {}).top1;
  ASSERT_TRUE(r.training.epochs.back().val_top1);
  EXPECT_DOUBLE_EQ(top1, *r.training.epochs.back().val_top1);
  EXPECT_GT(top1, 0.8) << top1;
}

TEST(ChannelAutoPrune, SameSeedSameModel) {
  const data::Dataset train = textures(300, 1);
  Model a = conv_net(), b = conv_net();
  passes::AutoPruneOptions o = options();
  o.target_params = 0.6;
  passes::prune_autoprune_channels(a, onnxio::infer_shapes(a), train, nullptr, o);
  passes::prune_autoprune_channels(b, onnxio::infer_shapes(b), train, nullptr, o);
  for (const char* w : {"w1", "w2", "wd", "w3", "wf"})
    EXPECT_TRUE(runtime::to_aten(*a.graph.value(w).initializer()).equal(runtime::to_aten(*b.graph.value(w).initializer()))) << w;
}

// x[20] -> hidden[8] -> relu -> fc[2]. Hidden unit i reads only input i, all with the same
// weight, so magnitudes cannot tell them apart (and ties would keep the first units); the labels
// depend on inputs 4-7 only.
TEST(ChannelAutoPrune, KeepsTheUnitsThatReadTheInformativeInputs) {
  Model model;
  model.opset_imports = {{"", 13}};
  Graph& g = model.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(20)}));
  at::Tensor w1 = at::zeros({8, 20});
  for (int i = 0; i < 8; ++i) w1[i][i] = 1.0;
  at::Generator gen = at::detail::createCPUGenerator(7);
  Node* hidden = g.add_node({"Gemm", "hidden", "", {x, constant(g, "w1", w1), constant(g, "b1", at::full({8}, 0.1))}, {"h"},
                             {Attribute::make_int("transB", 1)}, {}, ""});
  Node* relu = g.add_node({"Relu", "relu", "", {hidden->output(0)}, {"r"}, {}, {}, ""});
  Node* fc = g.add_node({"Gemm", "fc", "", {relu->output(0), constant(g, "w2", 0.3 * at::randn({2, 8}, gen)), constant(g, "b2", at::zeros({2}))},
                         {"y"}, {Attribute::make_int("transB", 1)}, {}, ""});
  g.mark_output(fc->output(0));

  data::Dataset train;
  train.x = at::randn({3000, 20}, gen);
  train.y = (train.x.narrow(1, 4, 4).matmul(at::tensor({1.0f, 1.5f, 2.0f, 0.8f})) > 0).to(at::kLong);
  train.source = "synthetic";
  passes::AutoPruneOptions o = options();
  o.train.epochs = 4;
  o.aux_init = "constant";
  o.target_params = 0.52;  // 8 units of 23 params each (plus 2): 4 units must go
  const passes::ChannelAutoPruneResult r = passes::prune_autoprune_channels(model, onnxio::infer_shapes(model), train, nullptr, o);

  const at::Tensor kept = runtime::to_aten(*g.value("w1").initializer());
  ASSERT_EQ(kept.size(0), 4);
  EXPECT_TRUE(kept.narrow(1, 4, 4).ne(0).any(0).all().item<bool>()) << kept;  // each informative input still read
  ASSERT_EQ(r.report.layers.size(), 2u);
  EXPECT_EQ(r.report.layers[0].channels_before, 8);
  EXPECT_EQ(r.report.layers[0].channels_after, 4);
}

TEST(ChannelAutoPrune, RejectsSparsityAndConflictingTargets) {
  Model model = conv_net();
  const data::Dataset train = textures(64, 1);
  passes::AutoPruneOptions o = options();
  o.target_sparsity = 0.5;
  EXPECT_THROW(passes::prune_autoprune_channels(model, onnxio::infer_shapes(model), train, nullptr, o), Error);
  o = options();
  o.target_macs = 0.5;
  o.target_params = 0.5;
  EXPECT_THROW(passes::prune_autoprune_channels(model, onnxio::infer_shapes(model), train, nullptr, o), Error);
}
