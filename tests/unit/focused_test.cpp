// Focused quantization: a pruned (bimodal) layer is recentralized, a dense Gaussian one gets shift
// quantization; zeros stay zero; every layer uses at most 2^bits values; Huffman sizes are optimal.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <set>

#include "nncompress/analysis/storage.h"
#include "nncompress/core/error.h"
#include "nncompress/passes/quant/focused.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

// x[N,64] -> fc1 (pruned: |w| < 0.8 zeroed, so two modes around +-1) -> fc2 (dense Gaussian).
Model two_layers() {
  at::Generator gen = at::detail::createCPUGenerator(5);
  at::Tensor w1 = at::randn({32, 64}, gen, at::kFloat);
  w1 = at::where(w1.abs() < 0.8, at::zeros_like(w1), w1);
  const at::Tensor w2 = at::randn({10, 32}, gen, at::kFloat) * 0.1;
  Model m;
  m.opset_imports = {{"", 13}};
  Graph& g = m.graph;
  Value* x = g.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(64)}));
  auto t = Attribute::make_int("transB", 1);
  Node* fc1 = g.add_node({"Gemm", "fc1", "", {x, g.add_initializer("w1", runtime::from_aten(w1, DataType::Float))}, {"h"}, {t}, {}, ""});
  Node* fc2 = g.add_node({"Gemm", "fc2", "", {fc1->output(0), g.add_initializer("w2", runtime::from_aten(w2, DataType::Float))},
                          {"y"}, {t}, {}, ""});
  g.mark_output(fc2->output(0));
  return m;
}

at::Tensor weight(const Model& m, const std::string& name) { return runtime::to_aten(*m.graph.value(name).initializer()); }

}  // namespace

TEST(Focused, RecentralizesBimodalLayersAndShiftsTheOthers) {
  Model m = two_layers();
  const at::Tensor w1 = weight(m, "w1"), w2 = weight(m, "w2");
  passes::FocusedOptions o;
  o.bits = 5;
  o.packed_storage = false;  // float32 values, to read them back here
  const passes::FocusedResult r = passes::quantize_focused(m, nullptr, nullptr, o);
  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_TRUE(r.layers[0].recentralized);
  EXPECT_LT(r.layers[0].mean_negative, -0.8);
  EXPECT_GT(r.layers[0].mean_positive, 0.8);
  EXPECT_FALSE(r.layers[1].recentralized);

  const at::Tensor q1 = weight(m, "w1"), q2 = weight(m, "w2");
  EXPECT_TRUE(q1.eq(0).equal(w1.eq(0)));  // pruned zeros stay, nothing else becomes zero
  for (const at::Tensor& q : {q1, q2}) {
    const at::Tensor values = std::get<0>(at::_unique(q.masked_select(q.ne(0))));
    EXPECT_LE(values.numel(), 32);
  }
  // Shift quantization: every value is a signed power of two times the layer's scale.
  const at::Tensor ratio = q2.abs() / r.layers[1].scale;
  const at::Tensor exponent = at::log2(ratio);
  EXPECT_TRUE(at::allclose(exponent, at::round(exponent), 1e-4, 1e-4));
  // 5 bits keep the error small against the weights' spread.
  EXPECT_LT(r.layers[0].rms_error, 0.1 * w1.masked_select(w1.ne(0)).abs().mean().item<double>());
  // Powers of two are coarse for large values (s/2 to s): about a quarter of the mean magnitude.
  EXPECT_LT(r.layers[1].rms_error, 0.3 * w2.abs().mean().item<double>());
  EXPECT_GT(r.layers[0].fixed_bytes, 0);
  EXPECT_LE(r.layers[0].huffman_bytes, r.layers[0].fixed_bytes + 64);
}

TEST(Focused, PackedStorageComputesTheSameAsFloatStorage) {
  Model packed = two_layers(), plain = two_layers();
  passes::FocusedOptions o;
  o.bits = 4;
  const passes::FocusedResult r = passes::quantize_focused(packed, nullptr, nullptr, o);
  o.packed_storage = false;
  passes::quantize_focused(plain, nullptr, nullptr, o);
  for (const auto& l : r.layers) EXPECT_LE(l.stored_bits, 5);  // up to 2^4 + 1 values with zero
  EXPECT_EQ(packed.graph.find_value("w1"), nullptr);           // the float initializer is gone
  const at::Tensor x = at::randn({8, 64}, at::detail::createCPUGenerator(1));
  const at::Tensor a = runtime::Executor(packed).run({x}).at(0), b = runtime::Executor(plain).run({x}).at(0);
  EXPECT_TRUE(at::allclose(a, b, 1e-6, 1e-6));
}

TEST(Focused, RejectsBitsOutsideThreeToEight) {
  Model m = two_layers();
  passes::FocusedOptions o;
  o.bits = 2;
  EXPECT_THROW(passes::quantize_focused(m, nullptr, nullptr, o), Error);
}

TEST(Storage, HuffmanBitsAreOptimal) {
  EXPECT_EQ(analysis::huffman_bits({1, 1, 2}), 6);    // codes 2, 2, 1 bits
  EXPECT_EQ(analysis::huffman_bits({5, 0, 0}), 5);    // one symbol: a bit each
  EXPECT_EQ(analysis::huffman_bits({1, 1, 1, 1}), 8);  // uniform: 2 bits each
}

TEST(Storage, RelativeIndexSymbolsCountFillers) {
  at::Tensor w = at::zeros({40});
  w[0] = 1, w[3] = 1, w[39] = 1;  // gaps 1, 3, 36
  const std::vector<int64_t> s = analysis::relative_index_symbols(w, 4);  // span 16
  // gap 1 -> symbol 0; gap 3 -> symbol 2; gap 36 -> two fillers (symbol 15) then symbol 3
  EXPECT_EQ(s[0], 1);
  EXPECT_EQ(s[2], 1);
  EXPECT_EQ(s[3], 1);
  EXPECT_EQ(s[15], 2);
}
