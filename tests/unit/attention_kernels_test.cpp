#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

// Attention's scores and mix: (q [N,H,S,D] x transpose(k) [N,H,D,S]) x v, where the kernel reads
// the transposed view through its strides. `v_heads` 1 broadcasts v over the heads.
Model attention(int64_t v_heads) {
  Model model;
  Graph& g = model.graph;
  model.opset_imports = {{"", 13}};
  auto input = [&](const std::string& name, int64_t heads) {
    return g.add_input(name, ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(heads), Dim::known(5), Dim::known(8)}));
  };
  Value* q = input("q", 3);
  Value* k = input("k", 3);
  Value* v = input("v", v_heads);
  auto op = [&](const std::string& name, const std::string& type, std::vector<Value*> in, std::vector<Attribute> attrs = {}) {
    return g.add_node({type, name, "", std::move(in), {name + "_out"}, std::move(attrs), {}, ""})->output(0);
  };
  Value* kt = op("kt", "Transpose", {k}, {Attribute::make_ints("perm", {0, 1, 3, 2})});
  g.mark_output(op("mix", "MatMul", {op("scores", "MatMul", {q, kt}), v}));
  return model;
}

at::Tensor run(runtime::Executor& exec, const std::vector<at::Tensor>& inputs, bool blocked) {
  at::NoGradGuard no_grad;
  exec.set_blocked_layout(blocked);
  return exec.run(inputs).at(0);
}

}  // namespace

TEST(BatchedMatMul, AttentionProductsMatchLibTorch) {
  for (const int64_t v_heads : {3, 1}) {
    Model model = attention(v_heads);
    runtime::Executor exec(model);
    for (const int64_t batch : {1, 4, 1}) {
      const std::vector<at::Tensor> in{at::randn({batch, 3, 5, 8}), at::randn({batch, 3, 5, 8}), at::randn({batch, v_heads, 5, 8})};
      const at::Tensor reference = at::matmul(at::matmul(in[0], in[1].transpose(2, 3)), in[2]);
      EXPECT_TRUE(at::allclose(run(exec, in, true), reference, 1e-4, 1e-5)) << "v heads " << v_heads << ", batch " << batch;
      EXPECT_TRUE(at::allclose(run(exec, in, false), reference, 1e-4, 1e-5));
    }
  }
}

TEST(BatchedMatMul, ViewsWithUnmergeableBatchAxesAreCopiedFirst) {
  // q the first half of its heads: the batch axes' strides no longer merge into one.
  Model model = attention(3);
  runtime::Executor exec(model);
  const at::Tensor wide = at::randn({2, 6, 5, 8});
  const at::Tensor q = wide.slice(1, 0, 3);  // strides (240, 40, 8, 1): batches 240 apart, heads 40
  const std::vector<at::Tensor> in{q, at::randn({2, 3, 5, 8}), at::randn({2, 3, 5, 8})};
  const at::Tensor reference = at::matmul(at::matmul(q.contiguous(), in[1].transpose(2, 3)), in[2]);
  EXPECT_TRUE(at::allclose(run(exec, in, true), reference, 1e-4, 1e-5));
}

TEST(SoftmaxKernel, MatchesLibTorchOnEveryAxisAndOpset) {
  // Opset 13 normalizes along one axis; before it, over all axes from `axis` on (the input viewed
  // as 2-D). Inference goes through oneDNN's softmax, training through LibTorch's.
  for (const int64_t opset : {11, 13}) {
    for (const int64_t axis : {-1, 1, 2}) {
      Model model;
      model.opset_imports = {{"", opset}};
      Value* x = model.graph.add_input("x", ValueType::tensor(DataType::Float, {Dim::symbol("N"), Dim::known(3), Dim::known(17)}));
      model.graph.mark_output(
          model.graph.add_node({"Softmax", "softmax", "", {x}, {"y"}, {Attribute::make_int("axis", axis)}, {}, ""})->output(0));
      runtime::Executor exec(model);
      const at::Tensor input = at::randn({2, 3, 17}) * 4;
      const int64_t k = axis < 0 ? axis + 3 : axis;
      const at::Tensor reference = opset >= 13 ? at::softmax(input, k) : at::softmax(input.reshape({input.size(0) * (k == 2 ? 3 : 1), -1}), 1).reshape(input.sizes());
      EXPECT_TRUE(at::allclose(run(exec, {input}, true), reference, 1e-5, 1e-6)) << "opset " << opset << ", axis " << axis;
      EXPECT_TRUE(at::allclose(run(exec, {input}, false), reference, 1e-5, 1e-6)) << "opset " << opset << ", axis " << axis;
    }
  }
}

TEST(BatchedMatMul, BroadcastViewsAreCopiedFirst) {
  // v expanded along its rows (stride 0): a value repeated, as Expand or a broadcast writes it.
  Model model = attention(3);
  runtime::Executor exec(model);
  const at::Tensor v = at::randn({2, 3, 1, 8}).expand({2, 3, 5, 8});
  const std::vector<at::Tensor> in{at::randn({2, 3, 5, 8}), at::randn({2, 3, 5, 8}), v};
  const at::Tensor reference = at::matmul(at::matmul(in[0], in[1].transpose(2, 3)), v.contiguous());
  EXPECT_TRUE(at::allclose(run(exec, in, true), reference, 1e-4, 1e-5));
}
