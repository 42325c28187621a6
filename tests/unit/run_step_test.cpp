// Passes run through pipeline::run_step, the one path `compress`, `prune` and `quantize` share,
// on a small synthetic CNN: what each pass reports matches what it did to the graph.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "nncompress/pipeline/pipeline.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

// x[N,1,8,8] -> conv1 -> relu -> identity -> conv2 -> relu -> GAP -> flatten -> fc -> logits[N,3]
Model small_cnn() {
  at::manual_seed(1);
  Model m;
  m.opset_imports = {{"", 13}};
  Graph& g = m.graph;
  auto weight = [&](const std::string& name, std::vector<int64_t> dims) {
    return g.add_initializer(name, runtime::from_aten(at::randn(dims, at::kFloat) * 0.5, DataType::Float));
  };
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(1), Dim::known(8), Dim::known(8)}));
  auto pads = Attribute::make_ints("pads", {1, 1, 1, 1});
  Node* c1 = g.add_node({"Conv", "conv1", "", {x, weight("w1", {4, 1, 3, 3}), weight("b1", {4})}, {"c1"}, {pads}, {}, ""});
  Node* r1 = g.add_node({"Relu", "relu1", "", {c1->output(0)}, {"r1"}, {}, {}, ""});
  Node* id = g.add_node({"Identity", "identity", "", {r1->output(0)}, {"i1"}, {}, {}, ""});
  Node* c2 = g.add_node({"Conv", "conv2", "", {id->output(0), weight("w2", {6, 4, 3, 3})}, {"c2"}, {pads}, {}, ""});
  Node* r2 = g.add_node({"Relu", "relu2", "", {c2->output(0)}, {"r2"}, {}, {}, ""});
  Node* gap = g.add_node({"GlobalAveragePool", "gap", "", {r2->output(0)}, {"p"}, {}, {}, ""});
  Node* flat = g.add_node({"Flatten", "flat", "", {gap->output(0)}, {"f"}, {}, {}, ""});
  Node* fc = g.add_node({"Gemm", "fc", "", {flat->output(0), weight("wf", {3, 6})}, {"logits"},
                         {Attribute::make_int("transB", 1)}, {}, ""});
  g.mark_output(fc->output(0));
  return m;
}

data::Dataset random_data(int64_t n) {
  data::Dataset d;
  d.x = at::rand({n, 1, 8, 8}, at::kFloat);
  d.y = at::randint(0, 3, {n}, at::kLong);
  d.source = "random";
  return d;
}

at::Tensor logits(const Model& m, const at::Tensor& x) {
  const runtime::Executor exec(m);
  return exec.run({x}).at(0);
}

int count_ops(const Model& m, const std::string& op) {
  int n = 0;
  for (const auto& node : m.graph.nodes()) n += node->op_type() == op;
  return n;
}

struct StepRun {
  Model model = small_cnn();
  data::Dataset data = random_data(48);
  passes::PassContext context;
  pipeline::Measurement before;

  StepRun() {
    context.train = context.calibration = context.val = &data;
    context.batch = 16;
    before = pipeline::measure(model, &data, context);
  }
  pipeline::StepResult step(const std::string& pass, std::map<std::string, std::string> options) {
    return pipeline::run_step(model, pipeline::Step{pass, std::move(options), 0}, context, &data);
  }
};

}  // namespace

TEST(RunStep, MagnitudePruningReportsWhatItZeroed) {
  StepRun run;
  const pipeline::StepResult r = run.step("prune.magnitude", {{"sparsity", "0.5"}, {"per-layer", "true"}});
  EXPECT_EQ(r.result.summary, "50.0% of the prunable weights zeroed");
  ASSERT_EQ(r.result.details["layers"].size(), 3u);
  int64_t zeroed = 0;
  for (const auto& l : r.result.details["layers"]) {
    const int64_t params = l["params_before"], after = l["nonzeros_after"];
    EXPECT_EQ(after, params - params / 2) << l["name"];
    zeroed += params - after;
  }
  EXPECT_EQ(r.after.nonzeros, run.before.nonzeros - zeroed);
  EXPECT_EQ(r.after.params, run.before.params);
  ASSERT_EQ(r.result.table.rows.size(), 3u);
  EXPECT_EQ(r.result.table.rows[0][0], "conv1");
}

TEST(RunStep, FineTuningKeepsPrunedZeros) {
  StepRun run;
  run.step("prune.magnitude", {{"sparsity", "0.6"}});
  const int64_t nonzeros = pipeline::measure(run.model, nullptr, run.context).nonzeros;
  const at::Tensor w_before = runtime::to_aten(*run.model.graph.find_value("w2")->initializer()).clone();
  const pipeline::StepResult r = run.step("finetune", {{"epochs", "1"}, {"lr", "0.05"}});
  EXPECT_EQ(r.result.summary, "fine-tuned 1 epochs (zeros kept)");
  const at::Tensor w_after = runtime::to_aten(*run.model.graph.find_value("w2")->initializer());
  EXPECT_FALSE(at::equal(w_before, w_after)) << "the weights trained";
  EXPECT_TRUE(at::equal(w_before.eq(0), w_after.eq(0) & w_before.eq(0))) << "every pruned weight is still zero";
  EXPECT_LE(r.after.nonzeros, nonzeros);
}

TEST(RunStep, ChannelPruningRemovesChannelsForReal) {
  StepRun run;
  const pipeline::StepResult r = run.step("prune.channels", {{"ratio", "0.5"}, {"prune-first-conv", "true"}});
  EXPECT_EQ(r.result.details["groups_pruned"], 2);
  EXPECT_EQ(runtime::to_aten(*run.model.graph.find_value("w1")->initializer()).size(0), 2);
  EXPECT_EQ(runtime::to_aten(*run.model.graph.find_value("w2")->initializer()).sizes(), (at::IntArrayRef{3, 2, 3, 3}));
  EXPECT_LT(r.after.params, run.before.params);
  EXPECT_LT(r.after.macs, run.before.macs);
  EXPECT_EQ(logits(run.model, run.data.x).sizes(), (at::IntArrayRef{48, 3}));
  // The first convolution stays unless asked.
  StepRun kept;
  kept.step("prune.channels", {{"ratio", "0.5"}});
  EXPECT_EQ(runtime::to_aten(*kept.model.graph.find_value("w1")->initializer()).size(0), 4);
}

TEST(RunStep, Int8QuantizesEveryLayerAndStaysClose) {
  StepRun run;
  const at::Tensor reference = logits(run.model, run.data.x);
  const pipeline::StepResult r = run.step("quant.int8", {{"calib-limit", "32"}});
  EXPECT_EQ(r.result.summary.rfind("3 layers int8", 0), 0u) << r.result.summary;
  EXPECT_EQ(r.result.details["calibration_samples"], 32);
  EXPECT_EQ(r.result.details["removed_relus"], 2);
  EXPECT_GE(count_ops(run.model, "QuantizeLinear"), 3);
  for (const pipeline::LayerStats& l : r.after.layers) EXPECT_EQ(l.bits, 8) << l.node;
  const at::Tensor quantized = logits(run.model, run.data.x);
  const double err = (quantized - reference).abs().max().item<double>() / reference.abs().max().item<double>();
  EXPECT_LT(err, 0.05);
  EXPECT_LT(r.after.initializer_bytes, run.before.initializer_bytes);
}

TEST(RunStep, Int8LeavesKeptLayersInFloat) {
  StepRun run;
  const pipeline::StepResult r = run.step("quant.int8", {{"keep", "fc"}, {"calib-limit", "16"}});
  EXPECT_EQ(r.result.details["layers"].size(), 2u);
  for (const pipeline::LayerStats& l : r.after.layers) EXPECT_EQ(l.bits, l.node == "fc" ? 32 : 8) << l.node;
}

TEST(RunStep, CleanupIdentityRemovesPassThroughNodesOnly) {
  StepRun run;
  const at::Tensor reference = logits(run.model, run.data.x);
  const pipeline::StepResult r = run.step("cleanup.identity", {});
  EXPECT_EQ(r.result.summary, "1 Identity and 0 Dropout nodes removed");
  EXPECT_EQ(count_ops(run.model, "Identity"), 0);
  EXPECT_TRUE(at::equal(logits(run.model, run.data.x), reference));
  EXPECT_EQ(run.model.graph.outputs().at(0)->name(), "logits");
}

TEST(RunStep, CleanupIdentityKeepsGraphOutputNamesAndTrainingDropout) {
  Model m = small_cnn();
  Graph& g = m.graph;
  // logits -> Identity -> "out" (a graph output: its name is the interface, so it stays), and a
  // Dropout whose mask is read (not an identity).
  Value* logits_value = g.outputs().at(0);
  g.clear_outputs();
  Node* out = g.add_node({"Identity", "out_id", "", {logits_value}, {"out"}, {}, {}, ""});
  g.mark_output(out->output(0));
  Node* drop = g.add_node({"Dropout", "drop", "", {logits_value}, {"d", "mask"}, {}, {}, ""});
  g.mark_output(drop->output(1));
  StepRun run;
  run.model = std::move(m);
  const pipeline::StepResult r = run.step("cleanup.identity", {});
  EXPECT_EQ(r.result.summary, "1 Identity and 0 Dropout nodes removed");  // the inner one only
  EXPECT_EQ(count_ops(run.model, "Identity"), 1);
  EXPECT_EQ(count_ops(run.model, "Dropout"), 1);
}
