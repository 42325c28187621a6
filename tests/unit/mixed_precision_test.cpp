// Mixed precision's parts: the exact allocation equals brute force; packed bit planes decode to
// the same codes through the executor; the uniform quantizer keeps zeros and improves with bits;
// quant.mixed meets its budget and puts more bits where the sensitivity is.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <limits>

#include "nncompress/core/error.h"
#include "nncompress/passes/quant/bit_allocation.h"
#include "nncompress/passes/quant/mixed.h"
#include "nncompress/passes/quant/packed_weights.h"
#include "nncompress/passes/quant/uniform_weights.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

// The best allocation by trying every combination.
double brute_force(const std::vector<std::vector<passes::AllocationOption>>& layers, int64_t budget) {
  double best = std::numeric_limits<double>::infinity();
  std::vector<size_t> pick(layers.size(), 0);
  while (true) {
    int64_t cost = 0;
    double error = 0;
    for (size_t i = 0; i < layers.size(); ++i) cost += layers[i][pick[i]].cost, error += layers[i][pick[i]].error;
    if (cost <= budget) best = std::min(best, error);
    size_t i = 0;
    while (i < layers.size() && ++pick[i] == layers[i].size()) pick[i++] = 0;
    if (i == layers.size()) return best;
  }
}

}  // namespace

TEST(BitAllocation, EqualsBruteForceOnRandomProblems) {
  at::Generator gen = at::detail::createCPUGenerator(3);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t n_layers = 1 + trial % 6;
    std::vector<std::vector<passes::AllocationOption>> layers;
    int64_t min_cost = 0, max_cost = 0;
    for (int64_t l = 0; l < n_layers; ++l) {
      const int64_t elements = at::randint(1, 50, {1}, gen).item<int64_t>();
      std::vector<passes::AllocationOption> options;
      for (int bits = 2; bits <= 6; ++bits) {  // error falls with bits, at a random rate
        options.push_back({elements * bits, at::rand({1}, gen).item<double>() * std::pow(0.5, bits)});
      }
      min_cost += options.front().cost, max_cost += options.back().cost;
      layers.push_back(options);
    }
    const int64_t budget = min_cost + at::randint(0, max_cost - min_cost + 1, {1}, gen).item<int64_t>();
    const auto a = passes::allocate_exact(layers, budget);
    ASSERT_TRUE(a);
    EXPECT_LE(a->cost, budget);
    double error = 0;
    int64_t cost = 0;
    for (size_t i = 0; i < layers.size(); ++i) error += layers[i][a->choice[i]].error, cost += layers[i][a->choice[i]].cost;
    EXPECT_DOUBLE_EQ(error, a->error);
    EXPECT_EQ(cost, a->cost);
    EXPECT_NEAR(a->error, brute_force(layers, budget), 1e-12) << "trial " << trial;
  }
  EXPECT_FALSE(passes::allocate_exact({{{10, 1.0}}}, 9));
}

TEST(PackedWeights, BitPlanesDecodeToTheSameCodes) {
  at::Generator gen = at::detail::createCPUGenerator(9);
  for (int bits = 1; bits <= 8; ++bits) {
    for (const std::vector<int64_t>& shape : {std::vector<int64_t>{4, 3, 3, 3}, std::vector<int64_t>{16, 8}}) {
      const at::Tensor codes = at::randint(0, int64_t(1) << bits, shape, gen, at::kLong);
      Model m;
      m.opset_imports = {{"", 13}};
      ir::Value* decoded = passes::add_packed_codes(m.graph, "w", codes, bits);
      m.graph.mark_output(decoded);
      const runtime::Executor exec(m);
      const at::Tensor out = exec.run({}).at(0);
      EXPECT_EQ(out.scalar_type(), at::kFloat);
      EXPECT_TRUE(out.equal(codes.to(at::kFloat))) << bits << " bits";
      const int64_t stored = m.graph.value("w_bitplanes").initializer()->numel();
      EXPECT_EQ(stored, bits * ((codes.numel() + 7) / 8));
    }
  }
}

TEST(UniformWeights, KeepsZerosUsesItsRangeAndImprovesWithBits) {
  at::Generator gen = at::detail::createCPUGenerator(4);
  at::Tensor w = at::randn({8, 4, 3, 3}, gen);
  w = at::where(w.abs() < 0.3, at::zeros_like(w), w);
  double previous = std::numeric_limits<double>::infinity();
  for (int bits = 2; bits <= 8; ++bits) {
    const passes::UniformWeights q = passes::quantize_uniform(w, 0, bits);
    EXPECT_EQ(q.scales.numel(), 8);
    EXPECT_LE(q.codes.abs().max().item<int64_t>(), q.max_code());
    EXPECT_TRUE(q.values().eq(0).logical_or(w.ne(0)).all().item<bool>()) << "a pruned zero moved";
    const double error = (q.values() - w).pow(2).mean().item<double>();
    EXPECT_LT(error, previous) << bits << " bits";
    previous = error;
  }
  EXPECT_THROW(passes::quantize_uniform(w, 0, 1), Error);
}

namespace {

// x[N,16] -> fc1 [16 -> 32] -> Relu -> fc2 [32 -> 4]; fc1's weights are 8x larger than fc2's, so
// the same relative error costs more there.
Model small_mlp() {
  at::Generator gen = at::detail::createCPUGenerator(11);
  Model m;
  m.opset_imports = {{"", 13}};
  Graph& g = m.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(16)}));
  auto t = Attribute::make_int("transB", 1);
  auto w = [&](const char* name, int64_t out, int64_t in, double scale) {
    return g.add_initializer(name, runtime::from_aten(at::randn({out, in}, gen) * scale, DataType::Float));
  };
  Node* fc1 = g.add_node({"Gemm", "fc1", "", {x, w("w1", 32, 16, 0.3)}, {"h"}, {t}, {}, ""});
  Node* relu = g.add_node({"Relu", "relu", "", {fc1->output(0)}, {"r"}, {}, {}, ""});
  Node* fc2 = g.add_node({"Gemm", "fc2", "", {relu->output(0), w("w2", 4, 32, 0.3)}, {"y"}, {t}, {}, ""});
  g.mark_output(fc2->output(0));
  return m;
}

}  // namespace

TEST(MixedPrecision, MeetsTheBudgetAndMatchesTheStoredModel) {
  Model m = small_mlp();
  const at::Tensor w1 = runtime::to_aten(*m.graph.value("w1").initializer()).clone();
  data::Dataset calib;
  calib.x = at::randn({256, 16}, at::detail::createCPUGenerator(2));
  passes::MixedOptions o;
  o.min_bits = 2, o.max_bits = 8;
  o.average_bits = 4.0;
  const passes::MixedResult r = passes::quantize_mixed(m, calib, nullptr, nullptr, o);
  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_LE(r.average_bits, 4.0);
  EXPECT_EQ(r.layers[0].elements * r.layers[0].bits + r.layers[1].elements * r.layers[1].bits,
            static_cast<int64_t>(std::llround(r.average_bits * (512 + 128))));
  for (const auto& l : r.layers) {
    EXPECT_GE(l.bits, 2);
    EXPECT_LE(l.bits, 8);
    EXPECT_EQ(l.encoded_bytes, (l.elements * l.bits + 7) / 8 + 4 * l.channels);
    EXPECT_LE(l.huffman_bytes, l.encoded_bytes + 1 + (int64_t(1) << l.bits));
    // Sensitivity falls with bits.
    EXPECT_GT(l.kl_by_bits.at(2), l.kl_by_bits.at(8));
  }
  // The stored model computes with exactly the quantized weights the pass reports.
  const at::Tensor q1 = passes::quantize_uniform(w1, 0, r.layers[0].bits).values();
  ir::Node* fc1 = nullptr;
  for (const auto& n : m.graph.nodes())
    if (n->name == "fc1") fc1 = n.get();
  ASSERT_NE(fc1, nullptr);
  EXPECT_FALSE(fc1->input(1)->has_initializer());  // decoded from packed or int8 codes
  const runtime::Executor exec(m);
  std::unordered_map<std::string, at::Tensor> captured;
  exec.run({calib.x.narrow(0, 0, 4)}, {fc1->input(1)->name()}, &captured);
  EXPECT_TRUE(at::allclose(captured.at(fc1->input(1)->name()), q1, 0, 1e-7));
}

TEST(MixedPrecision, RejectsBadBudgets) {
  data::Dataset calib;
  calib.x = at::randn({8, 16});
  passes::MixedOptions o;
  Model m = small_mlp();
  EXPECT_THROW(passes::quantize_mixed(m, calib, nullptr, nullptr, o), Error);  // no budget
  o.average_bits = 9;
  EXPECT_THROW(passes::quantize_mixed(m, calib, nullptr, nullptr, o), Error);
  o.average_bits.reset();
  o.max_bytes = 10;  // less than the scales alone
  EXPECT_THROW(passes::quantize_mixed(m, calib, nullptr, nullptr, o), Error);
}
