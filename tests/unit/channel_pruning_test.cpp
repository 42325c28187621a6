#include <gtest/gtest.h>

#include <ATen/ATen.h>

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
