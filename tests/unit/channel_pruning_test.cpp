#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <set>

#include "nncompress/analysis/channel_groups.h"
#include "nncompress/passes/prune/channel_pruning.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

// x[N,3,8,8] -> conv1 -> relu -> conv2 -> add(conv2, relu) -+
// x[N,3,8,8] -> conv3 ------------------------------------- concat -> depthwise -> GAP -> flatten -> fc
// The channels each producer should lose (by L1) are all-zero, so pruning must not change outputs.
struct Net {
  Model model;
  Node *conv1, *conv2, *conv3, *dw, *fc;

  Value* weight(const std::string& name, std::vector<int64_t> dims, int64_t zero_from = -1) {
    at::Tensor w = at::randn(dims, at::kFloat) + 0.1;
    if (zero_from >= 0) w.narrow(0, zero_from, dims[0] - zero_from).zero_();
    return model.graph.add_initializer(name, runtime::from_aten(w, DataType::Float));
  }

  Net() {
    at::manual_seed(0);
    Graph& g = model.graph;
    model.opset_imports = {{"", 13}};
    Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(3), Dim::known(8), Dim::known(8)}));
    auto pads = Attribute::make_ints("pads", {1, 1, 1, 1});
    conv1 = g.add_node({"Conv", "conv1", "", {x, weight("w1", {8, 3, 3, 3}, 4)}, {"c1"}, {pads}, {}, ""});
    Node* relu = g.add_node({"Relu", "relu", "", {conv1->output(0)}, {"r1"}, {}, {}, ""});
    conv2 = g.add_node({"Conv", "conv2", "", {relu->output(0), weight("w2", {8, 8, 3, 3}, 4)}, {"c2"}, {pads}, {}, ""});
    Node* add = g.add_node({"Add", "add", "", {conv2->output(0), relu->output(0)}, {"a"}, {}, {}, ""});
    conv3 = g.add_node({"Conv", "conv3", "", {x, weight("w3", {4, 3, 3, 3}, 2)}, {"c3"}, {pads}, {}, ""});
    Node* cat = g.add_node({"Concat", "cat", "", {add->output(0), conv3->output(0)}, {"cat"}, {Attribute::make_int("axis", 1)}, {}, ""});
    // Depthwise weights of the channels that will go are non-zero: they are removed, not relied on.
    dw = g.add_node({"Conv", "dw", "", {cat->output(0), weight("wd", {12, 1, 3, 3})}, {"d"}, {pads, Attribute::make_int("group", 12)}, {}, ""});
    Node* gap = g.add_node({"GlobalAveragePool", "gap", "", {dw->output(0)}, {"p"}, {}, {}, ""});
    Node* flat = g.add_node({"Flatten", "flat", "", {gap->output(0)}, {"f"}, {}, {}, ""});
    fc = g.add_node({"Gemm", "fc", "", {flat->output(0), weight("wf", {10, 12})}, {"y"}, {Attribute::make_int("transB", 1)}, {}, ""});
    g.mark_output(fc->output(0));
  }
};

TypeMap shapes() {
  TypeMap t;
  t["p"] = ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(12), Dim::known(1), Dim::known(1)});
  return t;
}

}  // namespace

TEST(ChannelGroups, ResidualConcatDepthwiseAndFlatten) {
  Net net;
  const analysis::ChannelGraph cg = analysis::build_channel_graph(net.model.graph, shapes());
  const std::vector<int> prunable = cg.prunable_groups();
  ASSERT_EQ(prunable.size(), 2u);  // conv1+conv2 (joined by the residual Add), conv3
  const analysis::ChannelGroup& joined = cg.group(prunable[0]);
  EXPECT_EQ(joined.size, 8);
  EXPECT_EQ(std::set<ir::Node*>(joined.producers.begin(), joined.producers.end()),
            (std::set<ir::Node*>{net.conv1, net.conv2}));
  EXPECT_EQ(cg.group(prunable[1]).producers, (std::vector<ir::Node*>{net.conv3}));
  // The classifier's outputs are the graph's: never pruned.
  bool fc_blocked = false;
  for (const auto& g : cg.groups)
    if (!g.producers.empty() && g.producers[0] == net.fc) fc_blocked = !cg.group(g.id).prunable;
  EXPECT_TRUE(fc_blocked);
  // The depthwise conv and the classifier see the concatenation [joined(8), conv3(4)].
  bool fc_user = false;
  for (const auto& u : cg.users) {
    if (u.tensor->name() != "wf") continue;
    fc_user = true;
    EXPECT_EQ(u.axis, 1);
    ASSERT_EQ(u.source.size(), 2u);
    EXPECT_EQ(u.source[0].count, 8);
    EXPECT_EQ(u.source[1].count, 4);
  }
  EXPECT_TRUE(fc_user);
  ASSERT_EQ(cg.depthwise.size(), 1u);
}

TEST(ChannelPruning, RemovesChannelsEverywhereAndKeepsOutputs) {
  Net net;
  const at::Tensor x = at::randn({2, 3, 8, 8});
  const at::Tensor before = runtime::Executor(net.model).run({x})[0];
  passes::ChannelPruneOptions o;
  o.ratio = 0.5;
  o.keep_first_conv = false;
  const passes::ChannelPruneReport r = passes::prune_channels(net.model, shapes(), o);
  EXPECT_EQ(r.groups_pruned, 2);
  const Graph& g = net.model.graph;
  auto dims = [&](const Node* n) { return n->input(1)->initializer()->dims(); };
  EXPECT_EQ(dims(net.conv1), (std::vector<int64_t>{4, 3, 3, 3}));
  EXPECT_EQ(dims(net.conv2), (std::vector<int64_t>{4, 4, 3, 3}));
  EXPECT_EQ(dims(net.conv3), (std::vector<int64_t>{2, 3, 3, 3}));
  EXPECT_EQ(dims(net.dw), (std::vector<int64_t>{6, 1, 3, 3}));
  EXPECT_EQ(net.dw->attr_int("group", 0), 6);
  EXPECT_EQ(dims(net.fc), (std::vector<int64_t>{10, 6}));
  EXPECT_EQ(g.outputs()[0]->name(), "y");
  // The removed channels were all zero, so the outputs are the same.
  const at::Tensor after = runtime::Executor(net.model).run({x})[0];
  EXPECT_TRUE(at::allclose(before, after, 1e-5, 1e-5));
}

TEST(ChannelPruning, FirstConvKeptByDefaultAndRatioZeroChangesNothing) {
  Net net;
  passes::ChannelPruneOptions o;
  o.ratio = 0.5;
  passes::prune_channels(net.model, shapes(), o);  // conv1 is first: its group (with conv2) stays
  EXPECT_EQ(net.conv1->input(1)->initializer()->dims()[0], 8);
  EXPECT_EQ(net.conv3->input(1)->initializer()->dims()[0], 2);
  Net fresh;
  o.ratio = 0;
  EXPECT_EQ(passes::prune_channels(fresh.model, shapes(), o).groups_pruned, 0);
}

namespace {

// Weights with the given rows (axis 0) or columns (axis 1) zeroed.
at::Tensor zeroed(std::vector<int64_t> dims, int64_t axis, const std::vector<int64_t>& zero) {
  at::Tensor w = at::randn(dims, at::kFloat) + 0.1;
  for (int64_t i : zero) w.select(axis, i).zero_();
  return w;
}

Value* constant(Graph& g, const std::string& name, const at::Tensor& t) {
  return g.add_initializer(name, runtime::from_aten(t, DataType::Float));
}

// Prunes half of every group's channels (the first convolution's too) and checks the outputs for
// `in` stay the same: the tests build the channels that go to do nothing. Returns the groups pruned.
int prune_half_keeping_outputs(Model& model, const at::Tensor& in, const TypeMap& types = {},
                               std::vector<std::string> keep = {}) {
  const at::Tensor before = runtime::Executor(model).run({in})[0];
  passes::ChannelPruneOptions o;
  o.ratio = 0.5;
  o.keep_first_conv = false;
  o.keep = std::move(keep);
  const int groups = passes::prune_channels(model, types, o).groups_pruned;
  EXPECT_TRUE(at::allclose(before, runtime::Executor(model).run({in})[0], 1e-5, 1e-5));
  return groups;
}

}  // namespace

// x -> conv1 -> relu -> grouped conv (2 groups of 4) -> relu -+-> mul -> GAP -> flatten -> fc
//                                        GAP -> reduce -> relu -> expand -> sigmoid -+
// Channels 2 and 3 of each group do nothing (zero rows and columns), so removing them from both
// groups keeps the outputs, and the squeeze-excitation's expand conv is pruned with them.
TEST(ChannelPruning, GroupedConvolutionsLoseTheSameChannelsInEveryGroup) {
  at::manual_seed(0);
  Model model;
  model.opset_imports = {{"", 13}};
  Graph& g = model.graph;
  const std::vector<int64_t> idle = {2, 3, 6, 7};
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(3), Dim::known(8), Dim::known(8)}));
  auto pads = Attribute::make_ints("pads", {1, 1, 1, 1});
  auto node = [&](const std::string& op, const std::string& name, std::vector<Value*> in, std::vector<Attribute> attrs = {}) {
    return g.add_node({op, name, "", std::move(in), {name + "_out"}, std::move(attrs), {}, ""});
  };
  Node* conv1 = node("Conv", "conv1", {x, constant(g, "w1", zeroed({8, 3, 3, 3}, 0, idle))}, {pads});
  Node* r1 = node("Relu", "r1", {conv1->output(0)});
  Node* grouped = node("Conv", "grouped", {r1->output(0), constant(g, "wg", zeroed({8, 4, 3, 3}, 0, {}))},
                       {pads, Attribute::make_int("group", 2)});
  Node* r2 = node("Relu", "r2", {grouped->output(0)});
  Node* squeeze = node("GlobalAveragePool", "squeeze", {r2->output(0)});
  Node* reduce = node("Conv", "reduce", {squeeze->output(0), constant(g, "wr", zeroed({2, 8, 1, 1}, 1, idle))});
  Node* r3 = node("Relu", "r3", {reduce->output(0)});
  Node* expand = node("Conv", "expand", {r3->output(0), constant(g, "we", zeroed({8, 2, 1, 1}, 0, idle))});
  Node* gate = node("Sigmoid", "gate", {expand->output(0)});
  Node* mul = node("Mul", "mul", {r2->output(0), gate->output(0)});
  Node* gap = node("GlobalAveragePool", "gap", {mul->output(0)});
  Node* flat = node("Flatten", "flat", {gap->output(0)});
  Node* fc = node("Gemm", "fc", {flat->output(0), constant(g, "wf", zeroed({10, 8}, 1, idle))}, {Attribute::make_int("transB", 1)});
  g.mark_output(fc->output(0));
  TypeMap types;
  types["gap_out"] = ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(8), Dim::known(1), Dim::known(1)});

  const analysis::ChannelGraph cg = analysis::build_channel_graph(g, types);
  int stream = -1;
  for (int id : cg.prunable_groups())
    if (std::count(cg.groups[id].producers.begin(), cg.groups[id].producers.end(), conv1)) stream = id;
  ASSERT_GE(stream, 0) << "conv1's channels are not prunable";
  EXPECT_EQ(cg.groups[stream].size, 4);
  EXPECT_EQ(cg.groups[stream].replicas, 2);
  EXPECT_EQ(std::set<Node*>(cg.groups[stream].producers.begin(), cg.groups[stream].producers.end()),
            (std::set<Node*>{conv1, expand}));

  prune_half_keeping_outputs(model, at::randn({2, 3, 8, 8}), types, {"reduce"});
  auto dims = [](const Node* n) { return n->input(1)->initializer()->dims(); };
  EXPECT_EQ(dims(conv1), (std::vector<int64_t>{4, 3, 3, 3}));
  EXPECT_EQ(dims(grouped), (std::vector<int64_t>{4, 2, 3, 3}));
  EXPECT_EQ(grouped->attr_int("group", 0), 2);
  EXPECT_EQ(dims(reduce), (std::vector<int64_t>{2, 4, 1, 1}));
  EXPECT_EQ(dims(expand), (std::vector<int64_t>{4, 2, 1, 1}));
  EXPECT_EQ(dims(fc), (std::vector<int64_t>{10, 4}));
}

// ConvTranspose's weight is [in, out / group, ...]: its output channels are axis 1.
TEST(ChannelPruning, ConvTransposeLosesOutputChannelsOnItsSecondAxis) {
  at::manual_seed(0);
  Model model;
  model.opset_imports = {{"", 13}};
  Graph& g = model.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(3), Dim::known(4), Dim::known(4)}));
  Node* up = g.add_node({"ConvTranspose", "up", "", {x, constant(g, "wu", zeroed({3, 8, 2, 2}, 1, {4, 5, 6, 7}))}, {"u"},
                         {Attribute::make_ints("strides", {2, 2})}, {}, ""});
  Node* relu = g.add_node({"Relu", "relu", "", {up->output(0)}, {"r"}, {}, {}, ""});
  Node* out = g.add_node({"ConvTranspose", "out", "", {relu->output(0), constant(g, "wo", zeroed({8, 4, 3, 3}, 0, {}))}, {"y"},
                          {}, {}, ""});
  g.mark_output(out->output(0));
  EXPECT_EQ(prune_half_keeping_outputs(model, at::randn({2, 3, 4, 4})), 1);
  EXPECT_EQ(up->input(1)->initializer()->dims(), (std::vector<int64_t>{3, 4, 2, 2}));
  EXPECT_EQ(out->input(1)->initializer()->dims(), (std::vector<int64_t>{4, 4, 3, 3}));
}

// x -> conv1 -> relu -> Split [4, 4] -> a ------------------------------+-> concat -> conv3 -> ...
//                                     -> b -> conv2 -> relu -> add(b, .) -+
// (YOLOv8's C2f.) Each part is its own group: conv1's rows 2, 3 (part a) and 6, 7 (part b, with
// conv2's rows 2, 3 through the residual Add) do nothing, so both parts lose them and the Split's
// sizes become [2, 2], written where the opset keeps them.
TEST(ChannelPruning, SplitAlongChannelsCutsItsProducerIntoParts) {
  for (const int64_t opset : {11, 13}) {
    at::manual_seed(0);
    Model model;
    model.opset_imports = {{"", opset}};
    Graph& g = model.graph;
    Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(3), Dim::known(6), Dim::known(6)}));
    auto pads = Attribute::make_ints("pads", {1, 1, 1, 1});
    Node* conv1 = g.add_node({"Conv", "conv1", "", {x, constant(g, "w1", zeroed({8, 3, 3, 3}, 0, {2, 3, 6, 7}))}, {"c1"}, {pads}, {}, ""});
    Node* r1 = g.add_node({"Relu", "r1", "", {conv1->output(0)}, {"r1"}, {}, {}, ""});
    std::vector<Value*> split_in = {r1->output(0)};
    std::vector<Attribute> split_attrs = {Attribute::make_int("axis", 1)};
    if (opset >= 13) split_in.push_back(g.add_initializer("sizes", runtime::from_aten(at::tensor(std::vector<int64_t>{4, 4}), DataType::Int64)));
    else split_attrs.push_back(Attribute::make_ints("split", {4, 4}));
    Node* split = g.add_node({"Split", "split", "", split_in, {"a", "b"}, split_attrs, {}, ""});
    Node* conv2 = g.add_node({"Conv", "conv2", "", {split->output(1), constant(g, "w2", zeroed({4, 4, 3, 3}, 0, {2, 3}))}, {"c2"}, {pads}, {}, ""});
    Node* r2 = g.add_node({"Relu", "r2", "", {conv2->output(0)}, {"r2"}, {}, {}, ""});
    Node* add = g.add_node({"Add", "add", "", {split->output(1), r2->output(0)}, {"s"}, {}, {}, ""});
    Node* cat = g.add_node({"Concat", "cat", "", {split->output(0), add->output(0)}, {"cat"}, {Attribute::make_int("axis", 1)}, {}, ""});
    Node* conv3 = g.add_node({"Conv", "conv3", "", {cat->output(0), constant(g, "w3", zeroed({5, 8, 1, 1}, 0, {}))}, {"y"}, {}, {}, ""});
    g.mark_output(conv3->output(0));

    SCOPED_TRACE("opset " + std::to_string(opset));
    EXPECT_EQ(prune_half_keeping_outputs(model, at::randn({2, 3, 6, 6})), 2);
    auto dims = [](const Node* n) { return n->input(1)->initializer()->dims(); };
    EXPECT_EQ(dims(conv1), (std::vector<int64_t>{4, 3, 3, 3}));
    EXPECT_EQ(dims(conv2), (std::vector<int64_t>{2, 2, 3, 3}));
    EXPECT_EQ(dims(conv3), (std::vector<int64_t>{5, 4, 1, 1}));
    if (opset >= 13) {
      const at::Tensor sizes = runtime::to_aten(*split->input(1)->initializer());
      EXPECT_TRUE(at::equal(sizes, at::tensor(std::vector<int64_t>{2, 2}))) << sizes;
    } else {
      EXPECT_EQ(split->attr_ints("split", {}), (std::vector<int64_t>{2, 2}));
    }
  }
}

// A grouped ConvTranspose ([in, out / group, ...]) keeps the layout of a grouped Conv: axis 0
// holds every channel, axis 1 a group's.
TEST(ChannelPruning, GroupedConvTransposeLosesTheSameChannelsInEveryGroup) {
  at::manual_seed(0);
  Model model;
  model.opset_imports = {{"", 13}};
  Graph& g = model.graph;
  const std::vector<int64_t> idle = {2, 3, 6, 7};
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(3), Dim::known(4), Dim::known(4)}));
  Node* conv1 = g.add_node({"Conv", "conv1", "", {x, constant(g, "w1", zeroed({8, 3, 1, 1}, 0, idle))}, {"c1"}, {}, {}, ""});
  Node* relu = g.add_node({"Relu", "relu", "", {conv1->output(0)}, {"r"}, {}, {}, ""});
  Node* up = g.add_node({"ConvTranspose", "up", "", {relu->output(0), constant(g, "wu", zeroed({8, 4, 2, 2}, 0, {}))}, {"u"},
                         {Attribute::make_ints("strides", {2, 2}), Attribute::make_int("group", 2)}, {}, ""});
  Node* out = g.add_node({"Conv", "out", "", {up->output(0), constant(g, "wo", zeroed({5, 8, 1, 1}, 1, idle))}, {"y"}, {}, {}, ""});
  g.mark_output(out->output(0));
  EXPECT_EQ(prune_half_keeping_outputs(model, at::randn({2, 3, 4, 4})), 1);
  EXPECT_EQ(conv1->input(1)->initializer()->dims(), (std::vector<int64_t>{4, 3, 1, 1}));
  EXPECT_EQ(up->input(1)->initializer()->dims(), (std::vector<int64_t>{4, 2, 2, 2}));
  EXPECT_EQ(up->attr_int("group", 0), 2);
  EXPECT_EQ(out->input(1)->initializer()->dims(), (std::vector<int64_t>{5, 4, 1, 1}));
}

// x -> conv1 -> relu -> ReduceMean over [2, 3] (global pooling as torchvision's ShuffleNet writes
// it) -> Gemm: the reduction keeps channels apart, so conv1 loses its idle rows and the Gemm the
// matching columns; with keepdims and the axes as an input (ReduceSum-13) through a Flatten too.
// A reduction along the channels leaves conv1 alone.
TEST(ChannelPruning, SpatialReductionsKeepChannelsApart) {
  for (const std::string form : {"mean", "sum-keepdims", "along-channels"}) {
    SCOPED_TRACE(form);
    at::manual_seed(0);
    Model model;
    model.opset_imports = {{"", 13}};
    Graph& g = model.graph;
    Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(3), Dim::known(4), Dim::known(4)}));
    Node* conv = g.add_node({"Conv", "conv1", "", {x, constant(g, "w1", zeroed({8, 3, 3, 3}, 0, {4, 5, 6, 7}))}, {"c"}, {}, {}, ""});
    Node* relu = g.add_node({"Relu", "relu", "", {conv->output(0)}, {"r"}, {}, {}, ""});
    Value* pooled = nullptr;
    int64_t features = 8;
    if (form == "mean") {
      pooled = g.add_node({"ReduceMean", "pool", "", {relu->output(0)}, {"p"},
                           {Attribute::make_ints("axes", {2, -1}), Attribute::make_int("keepdims", 0)}, {}, ""})->output(0);
    } else if (form == "sum-keepdims") {
      Value* axes = g.add_initializer("axes", runtime::from_aten(at::tensor(std::vector<int64_t>{2, 3}), DataType::Int64));
      Node* sum = g.add_node({"ReduceSum", "pool", "", {relu->output(0), axes}, {"p"}, {}, {}, ""});
      pooled = g.add_node({"Flatten", "flat", "", {sum->output(0)}, {"f"}, {}, {}, ""})->output(0);
    } else {
      pooled = g.add_node({"ReduceMean", "pool", "", {relu->output(0)}, {"p"},
                           {Attribute::make_ints("axes", {1, 3}), Attribute::make_int("keepdims", 0)}, {}, ""})->output(0);
      features = 2;  // [N, H] after reducing channels and width
    }
    Node* fc = g.add_node({"Gemm", "fc", "", {pooled, constant(g, "wf", at::randn({5, features}))}, {"y"},
                           {Attribute::make_int("transB", 1)}, {}, ""});
    g.mark_output(fc->output(0));
    TypeMap types;
    types["c"] = types["r"] = ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(8), Dim::known(2), Dim::known(2)});
    if (form == "sum-keepdims")  // the Flatten's input
      types["p"] = ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(8), Dim::known(1), Dim::known(1)});
    const int pruned = prune_half_keeping_outputs(model, at::randn({2, 3, 4, 4}), types);
    const bool prunable = form != "along-channels";
    EXPECT_EQ(pruned, prunable ? 1 : 0);
    EXPECT_EQ(conv->input(1)->initializer()->dims()[0], prunable ? 4 : 8);
    EXPECT_EQ(fc->input(1)->initializer()->dims()[1], prunable ? 4 : 2);
  }
}
