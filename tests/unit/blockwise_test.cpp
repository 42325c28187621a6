// Block-wise weight quantization (passes/quant/blockwise.h) and the executor's blocked
// DequantizeLinear that runs its output.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <limits>

#include "nncompress/core/error.h"
#include "nncompress/passes/quant/blockwise.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using passes::BlockwiseOptions;

namespace {

at::Generator seeded(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

// ||X (W - Q)|| / ||X W||: the layer's output error, what GPTQ minimizes.
double output_error(const at::Tensor& x, const at::Tensor& w, const at::Tensor& q) {
  return (x.mm(w - q).norm() / x.mm(w).norm()).item<double>();
}

// y = DequantizeLinear(codes, scale, zero point; axis 0, block_size) at opset 21.
ir::Model dequantize_net(const passes::BlockwiseWeights& q, int64_t block, bool with_zero_point) {
  ir::Model m;
  m.opset_imports = {{"", 21}};
  ir::Graph& g = m.graph;
  std::vector<ir::Value*> inputs = {g.add_initializer("codes", runtime::from_aten(q.codes, ir::DataType::UInt4)),
                                    g.add_initializer("scale", runtime::from_aten(q.scales, ir::DataType::Float))};
  if (with_zero_point) inputs.push_back(g.add_initializer("zp", runtime::from_aten(q.zero_points, ir::DataType::UInt4)));
  g.mark_output(g.add_node({"DequantizeLinear", "dq", "", inputs, {"y"},
                            {ir::Attribute::make_int("axis", 0), ir::Attribute::make_int("block_size", block)}, {}, ""})
                    ->output(0));
  return m;
}

}  // namespace

TEST(Blockwise, RoundToNearestStaysWithinHalfAStepOfEachBlock) {
  at::Generator gen = seeded(1);
  const at::Tensor w = at::randn({40, 24}, gen, at::kFloat);  // 40 rows: blocks of 16, 16 and 8
  const passes::BlockwiseWeights q = passes::quantize_rtn(w, BlockwiseOptions{4, 16, false});
  ASSERT_EQ(q.scales.sizes(), (std::vector<int64_t>{3, 24}));
  EXPECT_LE(q.codes.max().item<int64_t>(), 15);
  const at::Tensor step = q.scales.repeat_interleave(16, 0).narrow(0, 0, 40);
  EXPECT_LE(((q.dequantized(16) - w).abs() - step / 2).max().item<double>(), 1e-6);
  // Zero stays exact: the grid always holds it.
  const passes::BlockwiseWeights z = passes::quantize_rtn(at::zeros({16, 2}), BlockwiseOptions{4, 16, false});
  EXPECT_EQ(z.dequantized(16).abs().max().item<double>(), 0.0);
}

TEST(Blockwise, SymmetricPutsTheZeroPointAtTheMiddleCode) {
  at::Generator gen = seeded(2);
  const at::Tensor w = at::randn({32, 8}, gen, at::kFloat);
  const passes::BlockwiseWeights q = passes::quantize_rtn(w, BlockwiseOptions{4, 32, true});
  EXPECT_TRUE((q.zero_points == 8).all().item<bool>());
  const passes::BlockwiseWeights q8 = passes::quantize_rtn(w, BlockwiseOptions{8, 32, true});
  EXPECT_TRUE((q8.zero_points == 128).all().item<bool>());
  EXPECT_LT((q8.dequantized(32) - w).abs().max().item<double>(), (q.dequantized(32) - w).abs().max().item<double>() / 8);
}

TEST(Blockwise, GptqLowersTheOutputErrorOnCorrelatedInputs) {
  at::Generator gen = seeded(3);
  const int64_t k = 64, n = 32;
  // Inputs with a decaying spectrum and correlated features, as hidden states have.
  const at::Tensor mix = at::randn({k, k}, gen, at::kFloat) * at::linspace(3, 0.05, k).unsqueeze(1);
  const at::Tensor x = at::randn({2048, k}, gen, at::kFloat).mm(mix);
  const at::Tensor w = at::randn({k, n}, gen, at::kFloat);
  const BlockwiseOptions o{4, 32, false};
  const at::Tensor xtx = x.to(at::kDouble).t().mm(x.to(at::kDouble));
  const double rtn = output_error(x, w, passes::quantize_rtn(w, o).dequantized(32));
  const double gptq = output_error(x, w, passes::quantize_gptq(w, xtx, x.size(0), o, 0.01).dequantized(32));
  EXPECT_LT(gptq, 0.7 * rtn) << "rtn " << rtn << ", gptq " << gptq;
}

TEST(Blockwise, GptqQuantizesWeightsOfDeadInputsToZero) {
  at::Generator gen = seeded(4);
  at::Tensor x = at::randn({256, 16}, gen, at::kFloat);
  x.select(1, 5).zero_();  // an input that is always zero
  const at::Tensor w = at::randn({16, 4}, gen, at::kFloat);
  const at::Tensor xtx = x.to(at::kDouble).t().mm(x.to(at::kDouble));
  const at::Tensor q = passes::quantize_gptq(w, xtx, 256, BlockwiseOptions{4, 16, false}, 0.01).dequantized(16);
  EXPECT_TRUE(at::isfinite(q).all().item<bool>());
  EXPECT_EQ(q[5].abs().max().item<double>(), 0.0);
}

TEST(Blockwise, ExecutorDequantizesBlocksAsTheQuantizerMeantThem) {
  at::Generator gen = seeded(5);
  const at::Tensor w = at::randn({40, 6}, gen, at::kFloat);
  const passes::BlockwiseWeights q = passes::quantize_rtn(w, BlockwiseOptions{4, 16, false});
  const ir::Model m = dequantize_net(q, 16, true);
  const runtime::Executor exec(m);
  const at::Tensor y = exec.run({})[0];
  EXPECT_TRUE(at::allclose(y, q.dequantized(16)));
}

TEST(Blockwise, ExecutorRefusesScalesThatDoNotMatchTheBlocks) {
  const passes::BlockwiseWeights q = passes::quantize_rtn(at::ones({40, 6}), BlockwiseOptions{4, 16, false});
  const ir::Model m = dequantize_net(q, 8, true);  // 40 / 8 = 5 blocks, the scales hold 3
  const runtime::Executor exec(m);
  EXPECT_THROW(exec.run({}), Error);
}

TEST(Blockwise, ABlockLongerThanTheAxisIsOneBlockWithoutOverflow) {
  // A (mutated) block_size near INT64_MAX: one block, no overflow in the block count, no
  // allocation of block_size repeats.
  const passes::BlockwiseWeights q = passes::quantize_rtn(at::randn({40, 6}), BlockwiseOptions{4, 64, false});
  const ir::Model m = dequantize_net(q, std::numeric_limits<int64_t>::max(), true);
  const runtime::Executor exec(m);
  EXPECT_TRUE(at::allclose(exec.run({})[0], q.dequantized(64)));
}
