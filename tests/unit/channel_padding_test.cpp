// Channels padded for ONNX Runtime's fast int8 convolutions: a depthwise convolution's whole
// channel group widens to a multiple of 16, an image input gets a Pad to 4 channels, the outputs
// stay the same, and a padding that would change them is undone.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "nncompress/passes/quant/channel_padding.h"
#include "nncompress/passes/quant/int8.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"
#include "graph_builders.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

using test::constant;
using test::node;

// x -> expand (1x1, 4 -> C) -> BN -> Relu -> depthwise 3x3 -> / per-channel constant
//   -> squeeze-excitation (GlobalAveragePool -> 1x1 C -> 6 -> Relu -> 1x1 6 -> C -> HardSigmoid -> Mul)
//   -> project (1x1, C -> 8) -> y. With `divide_by_stream` the depthwise output is divided by the
// expand conv's (the same channels): a new channel would compute 0 / 0.
Model block(int64_t c, bool divide_by_stream = false) {
  at::manual_seed(5);
  Model m;
  m.opset_imports = {{"", 13}};
  Graph& g = m.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::known(1), Dim::known(4), Dim::known(8), Dim::known(8)}));
  Value* e = node(g, "Conv", "expand", {x, constant(g, "we", at::randn({c, 4, 1, 1})), constant(g, "be", at::randn({c}))});
  Value* bn = node(g, "BatchNormalization", "bn",
                   {e, constant(g, "bn.g", at::rand({c}) + 0.5), constant(g, "bn.b", at::randn({c})),
                    constant(g, "bn.m", at::randn({c})), constant(g, "bn.v", at::rand({c}) + 0.5)});
  Value* r = node(g, "Relu", "relu", {bn});
  Value* d = node(g, "Conv", "dw", {r, constant(g, "wd", at::randn({c, 1, 3, 3})), constant(g, "bd", at::randn({c}))},
                  {Attribute::make_int("group", c), Attribute::make_ints("pads", {1, 1, 1, 1})});
  Value* divided = node(g, "Div", "div", {d, divide_by_stream ? e : constant(g, "k", at::rand({1, c, 1, 1}) + 1)});
  Value* pooled = node(g, "GlobalAveragePool", "gap", {divided});
  Value* squeezed = node(g, "Relu", "se_relu", {node(g, "Conv", "se1", {pooled, constant(g, "ws1", at::randn({6, c, 1, 1}))})});
  Value* gate = node(g, "HardSigmoid", "gate",
                     {node(g, "Conv", "se2", {squeezed, constant(g, "ws2", at::randn({c, 6, 1, 1})), constant(g, "bs2", at::randn({c}))})},
                     {Attribute::make_float("alpha", 0.2f), Attribute::make_float("beta", 0.5f)});
  Value* excited = node(g, "Mul", "excite", {divided, gate});
  g.mark_output(node(g, "Conv", "project", {excited, constant(g, "wp", at::randn({8, c, 1, 1}))}));
  return m;
}

data::Dataset samples(int64_t n, int64_t channels = 4) {
  data::Dataset d;
  d.x = at::randn({n, channels, 8, 8});
  return d;
}

// x (C channels) -> conv 3x3 (C -> 8) -> Relu -> conv 1x1 (8 -> 5) -> y, at `opset`.
Model image_block(int64_t opset, int64_t c = 3) {
  at::manual_seed(6);
  Model m;
  m.opset_imports = {{"", opset}};
  Graph& g = m.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::known(1), Dim::known(c), Dim::known(8), Dim::known(8)}));
  Value* first = node(g, "Conv", "first", {x, constant(g, "wf", at::randn({8, c, 3, 3})), constant(g, "bf", at::randn({8}))},
                  {Attribute::make_ints("pads", {1, 1, 1, 1})});
  g.mark_output(node(g, "Conv", "next", {node(g, "Relu", "relu", {first}), constant(g, "wn", at::randn({5, 8, 1, 1}))}));
  return m;
}

std::vector<int64_t> dims(const Model& m, const std::string& value) { return m.graph.find_value(value)->initializer()->dims(); }

const Node& node_named(const Model& m, const std::string& name) { return *m.graph.find_value(name)->producer(); }

at::Tensor run(const Model& m, const at::Tensor& x) { return runtime::Executor(m).run({x})[0]; }

}  // namespace

TEST(ChannelPadding, WidensTheWholeGroupAndKeepsTheOutputs) {
  Model m = block(24);
  const data::Dataset data = samples(2);
  const at::Tensor before = run(m, data.x.slice(0, 1, 2));
  const passes::ChannelPadding r = passes::pad_channels_for_int8(m, 16, {}, data, {});
  EXPECT_EQ(r.groups, 1);
  EXPECT_EQ(r.channels_added, 8);
  EXPECT_TRUE(r.restored.empty()) << r.restored;
  EXPECT_EQ(node_named(m, "dw").attr_int("group", 1), 32);
  EXPECT_EQ(dims(m, "we"), (std::vector<int64_t>{32, 4, 1, 1}));  // producers: rows and bias
  EXPECT_EQ(dims(m, "be"), (std::vector<int64_t>{32}));
  EXPECT_EQ(dims(m, "wd"), (std::vector<int64_t>{32, 1, 3, 3}));
  EXPECT_EQ(dims(m, "ws1"), (std::vector<int64_t>{6, 32, 1, 1}));  // readers: input columns
  EXPECT_EQ(dims(m, "ws2"), (std::vector<int64_t>{32, 6, 1, 1}));  // the gate produces the channels too
  EXPECT_EQ(dims(m, "wp"), (std::vector<int64_t>{8, 32, 1, 1}));
  // New channels: zero weights, BatchNorm variance and divisor 1 (no division by zero).
  auto added = [&](const std::string& v, int64_t axis) {
    return runtime::to_aten(*m.graph.find_value(v)->initializer()).narrow(axis, 24, 8);
  };
  EXPECT_TRUE(added("wp", 1).eq(0).all().item<bool>());
  EXPECT_TRUE(added("bn.v", 0).eq(1).all().item<bool>());
  EXPECT_TRUE(added("k", 1).eq(1).all().item<bool>());
  EXPECT_TRUE(added("bn.g", 0).eq(0).all().item<bool>());
  EXPECT_TRUE(at::allclose(run(m, data.x.slice(0, 1, 2)), before, 1e-5, 1e-5));
}

TEST(ChannelPadding, LeavesMultiplesKeptNodesAndAMultipleOfOne) {
  Model aligned = block(32);
  EXPECT_EQ(passes::pad_channels_for_int8(aligned, 16, {}, samples(1), {}).groups, 0);
  Model kept = block(24);
  EXPECT_EQ(passes::pad_channels_for_int8(kept, 16, {"dw"}, samples(1), {}).groups, 0);
  EXPECT_EQ(dims(kept, "wd")[0], 24);
  Model off = block(24);
  EXPECT_EQ(passes::pad_channels_for_int8(off, 0, {}, samples(1), {}).groups, 0);
  EXPECT_EQ(dims(off, "wd")[0], 24);
}

TEST(ChannelPadding, UndoesAPaddingThatChangesTheOutputs) {
  // New channels would hold 0 / 0: NaN, which the project conv's zero weights do not cancel.
  Model m = block(24, /*divide_by_stream=*/true);
  const data::Dataset data = samples(1);
  const at::Tensor before = run(m, data.x);
  const passes::ChannelPadding r = passes::pad_channels_for_int8(m, 16, {}, data, {});
  EXPECT_EQ(r.groups, 0);
  EXPECT_NE(r.restored.find("NaN"), std::string::npos) << r.restored;
  EXPECT_EQ(dims(m, "wd")[0], 24);
  EXPECT_EQ(node_named(m, "dw").attr_int("group", 1), 24);
  EXPECT_TRUE(at::allclose(run(m, data.x), before, 1e-6, 1e-6));
}

TEST(ChannelPadding, Int8PadsAndStaysClose) {
  Model m = block(24);
  const data::Dataset data = samples(16);
  const at::Tensor x = data.x.slice(0, 0, 1);
  const at::Tensor before = run(m, x);
  passes::Int8Options o;
  o.pad_channels = 16;
  o.calibration.batch = 1;
  const passes::Int8Result r = passes::quantize_int8(m, data, o);
  EXPECT_EQ(r.padding.groups, 1);
  EXPECT_EQ(r.folded_gates, 1);  // se2 -> HardSigmoid became se2 -> Clip(0, 1), absorbed
  EXPECT_EQ(node_named(m, "dw").attr_int("group", 1), 32);
  const at::Tensor after = run(m, x);
  EXPECT_GT(((after * before).sum() / (after.norm() * before.norm())).item<double>(), 0.99);
}

TEST(ChannelPadding, ImageInputToFourChannelsAndItsConvolutionToSixteenOutputs) {
  for (int64_t opset : {9, 13}) {
    Model m = image_block(opset);
    const data::Dataset data = samples(1, 3);
    const at::Tensor before = run(m, data.x);
    const passes::ChannelPadding r = passes::pad_channels_for_int8(m, 16, {}, data, {});
    EXPECT_EQ(r.inputs, 1) << "opset " << opset;
    EXPECT_EQ(r.groups, 1);
    EXPECT_EQ(r.channels_added, 8);
    EXPECT_EQ(dims(m, "wf"), (std::vector<int64_t>{16, 4, 3, 3}));
    EXPECT_EQ(dims(m, "wn"), (std::vector<int64_t>{5, 16, 1, 1}));
    const Node& pad = *node_named(m, "first").input(0)->producer();
    EXPECT_EQ(pad.op_type(), "Pad");
    EXPECT_EQ(pad.input(0)->name(), "x");
    EXPECT_EQ(pad.has_attribute("pads"), opset < 11);  // an attribute before opset 11, an input after
    EXPECT_TRUE(at::allclose(run(m, data.x), before, 1e-5, 1e-5)) << "opset " << opset;
  }
}

TEST(ChannelPadding, NoInputPadWhenTheOutputsCannotReachSixteen) {
  // The first convolution's output is the model output: its channels cannot grow, so a Pad of the
  // input would not reach ONNX Runtime's fast kernel either.
  Model m = image_block(13);
  m.graph.mark_output(m.graph.find_value("first"));
  const passes::ChannelPadding r = passes::pad_channels_for_int8(m, 16, {}, samples(1, 3), {});
  EXPECT_EQ(r.inputs, 0);
  EXPECT_EQ(r.groups, 0);
  EXPECT_EQ(dims(m, "wf"), (std::vector<int64_t>{8, 3, 3, 3}));
}

TEST(ChannelPadding, NoPadOfAGrayscaleInput) {
  // 1 -> 4 input channels would quadruple the first layer's work (LeNet-5 ran slower).
  Model m = image_block(13, /*c=*/1);
  const passes::ChannelPadding r = passes::pad_channels_for_int8(m, 16, {}, samples(1, 1), {});
  EXPECT_EQ(r.inputs, 0);
  EXPECT_EQ(r.groups, 0);
  EXPECT_EQ(dims(m, "wf"), (std::vector<int64_t>{8, 1, 3, 3}));
}

TEST(ChannelPadding, TwoPaddedGroupsConcatenatedIntoADepthwiseConvolution) {
  // x (3 channels) -> conv a (3 -> 8), conv b (3 -> 8) -> Concat -> depthwise 3x3 (16) -> conv 1x1
  // (16 -> 4) -> y. Both image convolutions widen to 16 outputs: the Concat's readers gain 8
  // channels after each part, and the depthwise convolution counts 32 groups.
  at::manual_seed(7);
  Model m;
  m.opset_imports = {{"", 13}};
  Graph& g = m.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::known(1), Dim::known(3), Dim::known(8), Dim::known(8)}));
  auto conv = [&](const std::string& name) {
    return node(g, "Conv", name, {x, constant(g, name + ".w", at::randn({8, 3, 3, 3})), constant(g, name + ".b", at::randn({8}))},
                {Attribute::make_ints("pads", {1, 1, 1, 1})});
  };
  Value* joined = node(g, "Concat", "join", {conv("a"), conv("b")}, {Attribute::make_int("axis", 1)});
  Value* d = node(g, "Conv", "dw", {joined, constant(g, "wd", at::randn({16, 1, 3, 3})), constant(g, "bd", at::randn({16}))},
                  {Attribute::make_int("group", 16), Attribute::make_ints("pads", {1, 1, 1, 1})});
  g.mark_output(node(g, "Conv", "out", {node(g, "Relu", "relu", {d}), constant(g, "wo", at::randn({4, 16, 1, 1}))}));
  const data::Dataset data = samples(1, 3);
  const at::Tensor before = run(m, data.x);
  const passes::ChannelPadding r = passes::pad_channels_for_int8(m, 16, {}, data, {});
  EXPECT_TRUE(r.restored.empty()) << r.restored;
  EXPECT_EQ(r.groups, 2);
  EXPECT_EQ(r.inputs, 2);
  EXPECT_EQ(node_named(m, "dw").attr_int("group", 1), 32);
  EXPECT_EQ(dims(m, "wd"), (std::vector<int64_t>{32, 1, 3, 3}));
  EXPECT_EQ(dims(m, "wo"), (std::vector<int64_t>{4, 32, 1, 1}));
  // b's channels moved from 8..15 to 16..23: its filters there, zeros after each part.
  const at::Tensor wo = runtime::to_aten(*m.graph.find_value("wo")->initializer());
  EXPECT_TRUE(wo.narrow(1, 8, 8).eq(0).all().item<bool>());
  EXPECT_TRUE(wo.narrow(1, 24, 8).eq(0).all().item<bool>());
  EXPECT_TRUE(at::allclose(run(m, data.x), before, 1e-5, 1e-5));
}
