// int8 Concats share one scale among their inputs and output (a detector's C2f blocks and FPN/PAN
// neck: ONNX Runtime's QLinearConcat then copies bytes, TensorRT concatenates in place), Split
// outputs keep their input's, and a Concat that would widen the range of a removed Relu keeps a
// scale per input (the uint8 range there does the Relu's work).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "nncompress/passes/quant/int8.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"
#include "graph_builders.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

using test::constant;
using test::node;

Value* conv(Graph& g, const std::string& name, Value* x, int64_t out, int64_t in, double gain) {
  return node(g, "Conv", name, {x, constant(g, name + "_w", at::randn({out, in, 1, 1}) * gain), constant(g, name + "_b", at::randn({out}))});
}

// x -> conv_a (wide range) and conv_b (narrow; through a Relu when `relu`) -> Concat -> Split ->
// conv_c of the first half + the second half -> Concat -> conv_out -> y
Model net(bool relu) {
  at::manual_seed(5);
  Model m;
  m.opset_imports = {{"", 13}};
  Graph& g = m.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(3), Dim::known(6), Dim::known(6)}));
  Value* a = conv(g, "conv_a", x, 4, 3, 3.0);
  Value* b = conv(g, "conv_b", x, 4, 3, 0.3);
  if (relu) b = node(g, "Relu", "relu_b", {b});
  Value* cat = node(g, "Concat", "cat1", {a, b}, {Attribute::make_int("axis", 1)});
  Node* split = g.add_node({"Split", "split", "", {cat, constant(g, "halves", at::full({2}, 4).to(at::kLong))}, {"s0", "s1"},
                            {Attribute::make_int("axis", 1)}, {}, ""});
  Value* c = conv(g, "conv_c", split->output(0), 4, 4, 1.0);
  Value* cat2 = node(g, "Concat", "cat2", {c, split->output(1)}, {Attribute::make_int("axis", 1)});
  g.mark_output(conv(g, "conv_out", cat2, 2, 8, 1.0));
  return m;
}

// The (scale, zero point) of the DequantizeLinear that produces `v`.
std::pair<float, int64_t> qparams(const Value* v) {
  const Node* dq = v->producer();
  EXPECT_TRUE(dq && dq->op_type() == "DequantizeLinear") << v->name();
  if (!dq || dq->op_type() != "DequantizeLinear") return {0, -1};
  return {runtime::to_aten(*dq->input(1)->initializer()).item<float>(),
          runtime::to_aten(*dq->input(2)->initializer()).to(at::kLong).item<int64_t>()};
}

const Node* find(const Model& m, const std::string& name) {
  for (const auto& n : m.graph.nodes())
    if (n->name == name) return n.get();
  return nullptr;
}

std::pair<Model, passes::Int8Result> quantized(bool relu, at::Tensor* x, at::Tensor* reference) {
  Model m = net(relu);
  *x = at::randn({8, 3, 6, 6});
  *reference = runtime::Executor(m).run({*x})[0];
  data::Dataset calibration;
  calibration.x = *x;
  const passes::Int8Result r = passes::quantize_int8(m, calibration, passes::Int8Options());
  return {std::move(m), r};
}

double cosine(const at::Tensor& a, const at::Tensor& b) { return ((a * b).sum() / (a.norm() * b.norm())).item<double>(); }

}  // namespace

TEST(Int8SharedScales, ConcatInputsAndOutputShareOneScaleAndSplitOutputsTheirInputs) {
  at::Tensor x, reference;
  auto [m, r] = quantized(false, &x, &reference);
  EXPECT_EQ(r.shared_scale_concats, 2);
  EXPECT_EQ(r.concats_left_apart, 0);
  const Node* cat1 = find(m, "cat1");
  const Node* cat2 = find(m, "cat2");
  const Node* split = find(m, "split");
  ASSERT_TRUE(cat1 && cat2 && split);
  // cat1's output feeds the Split: its Q/DQ is the Split's input.
  const auto shared = qparams(split->input(0));
  for (const Value* v : cat1->inputs()) EXPECT_EQ(qparams(v), shared) << v->name();
  for (const Value* v : cat2->inputs()) EXPECT_EQ(qparams(v), shared) << v->name();
  EXPECT_EQ(qparams(find(m, "conv_out")->input(0)), shared);
  // The range is the union: conv_a's wide one, not conv_b's narrow one.
  EXPECT_GT(shared.first, 0.02f);
  EXPECT_GT(cosine(runtime::Executor(m).run({x})[0], reference), 0.99);
}

TEST(Int8SharedScales, AConcatThatWouldWidenARemovedRelusRangeKeepsAScalePerInput) {
  at::Tensor x, reference;
  auto [m, r] = quantized(true, &x, &reference);
  EXPECT_EQ(r.removed_relus, 1);
  EXPECT_EQ(r.concats_left_apart, 1);  // cat1: conv_a's outputs go below 0
  EXPECT_EQ(r.shared_scale_concats, 1);  // cat2
  const Node* cat1 = find(m, "cat1");
  ASSERT_TRUE(cat1);
  const auto a = qparams(cat1->input(0)), b = qparams(cat1->input(1));
  EXPECT_NE(a, b);
  EXPECT_EQ(b.second, 0);  // conv_b's uint8 zero point 0 still clamps like the Relu it replaced
  EXPECT_GT(cosine(runtime::Executor(m).run({x})[0], reference), 0.99);
}
