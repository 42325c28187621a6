// Intake normalization keeps what a model computes while making its weights initializers:
// Constant nodes lifted, constant chains and Shape of static shapes folded, Identity removed;
// --input-shape parsing and its errors; keep patterns.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "nncompress/core/error.h"
#include "nncompress/passes/cleanup/normalize.h"
#include "nncompress/passes/node_patterns.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

Attribute tensor_attr(const at::Tensor& t, DataType dtype) { return Attribute::make_tensor("value", runtime::from_aten(t, dtype)); }

// x [N,4] -> Gemm(W from a Constant, transB) -> Identity -> Reshape(to Concat(Shape(y)[0], 2, 2)) -> out
Model paddle_style(Dim batch) {
  Model model;
  model.opset_imports = {{"", 13}};
  Graph& g = model.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {batch, Dim::known(4)}));
  g.add_node({"Constant", "w_const", "", {}, {"w"}, {tensor_attr(at::randn({4, 4}), DataType::Float)}, {}, ""});
  Node* gemm = g.add_node({"Gemm", "fc", "", {x, g.find_value("w")}, {"y"}, {Attribute::make_int("transB", 1)}, {}, ""});
  Node* id = g.add_node({"Identity", "id", "", {gemm->output(0)}, {"y2"}, {}, {}, ""});
  Node* shape = g.add_node({"Shape", "shape", "", {id->output(0)}, {"s"}, {}, {}, ""});
  g.add_node({"Constant", "zero", "", {}, {"i0"}, {tensor_attr(at::tensor({0}, at::kLong), DataType::Int64)}, {}, ""});
  Node* gather = g.add_node({"Gather", "gather", "", {shape->output(0), g.find_value("i0")}, {"n"}, {}, {}, ""});
  g.add_node({"Constant", "rest", "", {}, {"r"}, {tensor_attr(at::tensor({2, 2}, at::kLong), DataType::Int64)}, {}, ""});
  Node* concat = g.add_node({"Concat", "concat", "", {gather->output(0), g.find_value("r")}, {"target"},
                             {Attribute::make_int("axis", 0)}, {}, ""});
  Node* reshape = g.add_node({"Reshape", "reshape", "", {id->output(0), concat->output(0)}, {"out"}, {}, {}, ""});
  g.mark_output(reshape->output(0));
  return model;
}

at::Tensor run(const Model& m, const at::Tensor& x) { return runtime::Executor(m).run({x}).at(0); }

}  // namespace

TEST(Normalize, LiftsConstantsAndKeepsResults) {
  Model model = paddle_style(Dim::symbol("N"));
  const at::Tensor x = at::randn({3, 4});
  const at::Tensor before = run(model, x);
  const passes::NormalizeReport r = passes::normalize_model(model);
  EXPECT_EQ(r.constants_lifted, 3);
  EXPECT_EQ(r.identities_removed, 1);
  const Value* w = model.graph.find_value("w");
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(w->has_initializer());  // the weight keeps its name and is now a parameter
  for (const auto& n : model.graph.nodes()) EXPECT_NE(n->op_type(), "Constant");
  // The batch is dynamic: Shape cannot fold, so the Reshape still computes its target.
  EXPECT_FALSE(model.graph.find_value("target")->has_initializer());
  EXPECT_TRUE(run(model, x).equal(before));
}

TEST(Normalize, FoldsShapeChainsOnceInputShapesAreFixed) {
  Model model = paddle_style(Dim::symbol("N"));
  passes::apply_input_shapes(model, {passes::parse_input_shape("x=3,4")});
  const at::Tensor x = at::randn({3, 4});
  const at::Tensor before = run(model, x);
  const passes::NormalizeReport r = passes::normalize_model(model);
  EXPECT_GE(r.nodes_folded, 3);  // Shape, Gather, Concat
  const Value* target = model.graph.find_value("target");
  ASSERT_TRUE(target->has_initializer());
  EXPECT_TRUE(runtime::to_aten(*target->initializer()).equal(at::tensor({3, 2, 2}, at::kLong)));
  EXPECT_EQ(model.graph.nodes().size(), 2u);  // Gemm and Reshape
  EXPECT_TRUE(run(model, x).equal(before));
}

// finetune keeps inference-form Dropout for its trainer; every other command removes it.
TEST(Normalize, KeepDropoutLeavesDropoutAndStillRemovesIdentity) {
  for (const bool keep : {false, true}) {
    Model model = paddle_style(Dim::symbol("N"));
    Graph& g = model.graph;
    Node* reshape = g.outputs().at(0)->producer();
    Node* drop = g.add_node({"Dropout", "drop", "", {reshape->input(0)}, {"dropped"}, {}, {}, ""});
    g.set_input(reshape, 0, drop->output(0));
    const passes::NormalizeReport r = passes::normalize_model(model, keep);
    EXPECT_EQ(r.identities_removed, 1);
    EXPECT_EQ(r.dropouts_removed, keep ? 0 : 1);
    int dropouts = 0;
    for (const auto& n : g.nodes()) dropouts += n->op_type() == "Dropout";
    EXPECT_EQ(dropouts, keep ? 1 : 0);
  }
}

// torchvision's Swin exports F.dropout(p=0, training=True): identity, removed; p > 0 in training
// mode is not.
TEST(Normalize, DropoutWithRatioZeroIsRemovedEvenInTrainingMode) {
  for (const float ratio : {0.0f, 0.5f}) {
    Model model = paddle_style(Dim::symbol("N"));
    Graph& g = model.graph;
    Node* reshape = g.outputs().at(0)->producer();
    Value* p = g.add_initializer("ratio", runtime::from_aten(at::tensor(ratio), DataType::Float));
    Value* training = g.add_initializer("training", runtime::from_aten(at::ones({}, at::kBool), DataType::Bool));
    Node* drop = g.add_node({"Dropout", "drop", "", {reshape->input(0), p, training}, {"dropped"}, {}, {}, ""});
    g.set_input(reshape, 0, drop->output(0));
    EXPECT_EQ(passes::normalize_model(model).dropouts_removed, ratio == 0.0f ? 1 : 0);
  }
}

TEST(Normalize, InputShapeParsingAndErrors) {
  const passes::InputShape s = passes::parse_input_shape("x=N,3,48,192");
  EXPECT_EQ(s.input, "x");
  ASSERT_EQ(s.dims.size(), 4u);
  EXPECT_FALSE(s.dims[0].is_known());
  EXPECT_EQ(*s.dims[3].value, 192);
  EXPECT_EQ(passes::parse_input_shape("1,2").input, "");
  EXPECT_THROW(passes::parse_input_shape("x=1,-3"), Error);
  EXPECT_THROW(passes::parse_input_shape("x="), Error);
  EXPECT_THROW(passes::parse_input_shape("x=1,,3"), Error);

  Model model = paddle_style(Dim::known(2));
  EXPECT_THROW(passes::apply_input_shapes(model, {passes::parse_input_shape("y=2,4")}), Error);  // no such input
  EXPECT_THROW(passes::apply_input_shapes(model, {passes::parse_input_shape("x=2,4,1")}), Error);  // rank
  EXPECT_THROW(passes::apply_input_shapes(model, {passes::parse_input_shape("x=5,4")}), Error);  // fixed at 2
  passes::apply_input_shapes(model, {passes::parse_input_shape("x=batch,4")});  // a name keeps the model's dim
  EXPECT_EQ(*(*model.graph.inputs()[0]->type.shape)[0].value, 2);
}

TEST(NodePatterns, NamesGlobsOpTypesAndUnmatchedPatterns) {
  const Model model = paddle_style(Dim::known(2));
  EXPECT_EQ(passes::resolve_node_patterns(model.graph, {"fc"}, "keep"), std::vector<std::string>{"fc"});
  EXPECT_EQ(passes::resolve_node_patterns(model.graph, {"sha*", "op:Gemm"}, "keep"), (std::vector<std::string>{"fc", "shape"}));
  EXPECT_THROW(passes::resolve_node_patterns(model.graph, {"NoSuchNode"}, "keep"), Error);
  try {
    passes::resolve_node_patterns(model.graph, {"Gemm"}, "keep");
    FAIL() << "an op type without op: matched a node name";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("op:Gemm"), std::string::npos) << e.what();
  }
}
