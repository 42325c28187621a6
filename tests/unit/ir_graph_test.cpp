#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "nncompress/core/error.h"
#include "nncompress/ir/graph.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

Tensor floats(std::vector<int64_t> dims) {
  return Tensor(DataType::Float, dims, at::zeros({element_count(dims)}, at::kFloat));
}

// x -> Conv(W) -> y -> Relu -> z (graph output)
struct ConvRelu {
  Graph g;
  Value* x;
  Value* w;
  Node* conv;
  Node* relu;
  ConvRelu() {
    x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(3), Dim::known(8), Dim::known(8)}));
    w = g.add_initializer("W", floats({4, 3, 3, 3}));
    conv = g.add_node({"Conv", "conv", "", {x, w}, {"y"}, {Attribute::make_ints("kernel_shape", {3, 3})}, {}, ""});
    relu = g.add_node({"Relu", "relu", "", {conv->output(0)}, {"z"}, {}, {}, ""});
    g.mark_output(relu->output(0));
  }
};

}  // namespace

TEST(Graph, WiresProducersAndUses) {
  ConvRelu m;
  Value* y = m.g.find_value("y");
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(y->producer(), m.conv);
  ASSERT_EQ(y->uses().size(), 1u);
  EXPECT_EQ(y->uses()[0].node, m.relu);
  EXPECT_EQ(m.w->uses()[0].index, 1u);
  EXPECT_TRUE(m.w->has_initializer());
  EXPECT_TRUE(m.g.find_value("z")->is_graph_output());
  EXPECT_EQ(m.conv->attr_ints("kernel_shape", {}), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(m.conv->attr_int("group", 1), 1);
  EXPECT_THROW(m.conv->attr_int("kernel_shape", 0), Error);
}

TEST(Graph, RefusesDuplicateDefinitions) {
  ConvRelu m;
  EXPECT_THROW(m.g.add_node({"Relu", "", "", {m.x}, {"y"}, {}, {}, ""}), Error);
  EXPECT_THROW(m.g.add_initializer("W", floats({1})), Error);
}

TEST(Graph, ReplaceAllUsesMovesReadersAndOutputs) {
  ConvRelu m;
  Value* z = m.g.find_value("z");
  Node* sig = m.g.add_node({"Sigmoid", "sig", "", {m.g.find_value("y")}, {"s"}, {}, {}, ""});
  m.g.replace_all_uses(z, sig->output(0));
  EXPECT_FALSE(z->is_graph_output());
  EXPECT_EQ(m.g.outputs().at(0)->name(), "s");
  m.g.erase_node(m.relu);  // z is unused now
  EXPECT_EQ(m.g.find_value("z"), nullptr);
  ASSERT_EQ(m.g.find_value("y")->uses().size(), 1u);
  EXPECT_EQ(m.g.find_value("y")->uses()[0].node, sig);
}

TEST(Graph, EraseNodeRefusesWhileOutputIsRead) {
  ConvRelu m;
  EXPECT_THROW(m.g.erase_node(m.conv), Error);
  EXPECT_EQ(m.g.nodes().size(), 2u);
}

TEST(Graph, InsertBeforeAndTopologicalOrder) {
  ConvRelu m;
  // Put a Neg between x and Conv, inserted before Conv in the stored order.
  Node* neg = m.g.add_node({"Neg", "neg", "", {m.x}, {"xn"}, {}, {}, ""}, m.conv);
  m.g.set_input(m.conv, 0, neg->output(0));
  EXPECT_EQ(m.g.nodes().front().get(), neg);
  EXPECT_TRUE(m.x->uses().size() == 1 && m.x->uses()[0].node == neg);
  auto order = m.g.topological_order();
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order[0], neg);
  EXPECT_EQ(order[2], m.relu);
}

TEST(Graph, SortTopologicallyFixesAppendedProducer) {
  Graph g;
  Value* a = g.add_input("a");
  Node* second = g.add_node({"Relu", "second", "", {a}, {"b"}, {}, {}, ""});
  // A node appended later whose output the first node then reads.
  Node* first = g.add_node({"Neg", "first", "", {a}, {"c"}, {}, {}, ""});
  g.set_input(second, 0, first->output(0));
  EXPECT_EQ(g.nodes().front().get(), second);
  g.sort_topologically();
  EXPECT_EQ(g.nodes().front().get(), first);
}

TEST(Graph, DetectsCycles) {
  Graph g;
  Value* a = g.add_input("a");
  Node* n1 = g.add_node({"Add", "n1", "", {a, a}, {"b"}, {}, {}, ""});
  Node* n2 = g.add_node({"Relu", "n2", "", {n1->output(0)}, {"c"}, {}, {}, ""});
  g.set_input(n1, 1, n2->output(0));
  EXPECT_THROW(g.topological_order(), Error);
}

TEST(Graph, RemoveInitializerAndUniqueNames) {
  Graph g;
  Value* w = g.add_initializer("w", floats({2}));
  EXPECT_EQ(g.unique_name("w"), "w_1");
  EXPECT_EQ(g.unique_name("fresh"), "fresh");
  g.remove_initializer(w);
  EXPECT_EQ(g.find_value("w"), nullptr);
  EXPECT_TRUE(g.initializers().empty());
}

TEST(Graph, ImplicitInputsAreUses) {
  Graph g;
  Value* cond = g.add_input("cond");
  Value* outer = g.add_input("outer");
  Node* n = g.add_node({"If", "if", "", {cond}, {"r"}, {}, {outer}, ""});
  ASSERT_EQ(outer->uses().size(), 1u);
  EXPECT_TRUE(outer->uses()[0].implicit);
  Value* other = g.add_input("other");
  g.replace_all_uses(outer, other);
  EXPECT_EQ(n->implicit_inputs()[0], other);
  EXPECT_TRUE(outer->uses().empty());
}
