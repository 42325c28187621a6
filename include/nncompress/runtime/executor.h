#pragma once
// Runs an IR graph with LibTorch. The same code path serves evaluation, calibration and
// fine-tuning: parameters are plain at::Tensors that may require gradients.
#include <ATen/core/Tensor.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "nncompress/ir/model.h"
#include "nncompress/runtime/kernel.h"
#include "nncompress/runtime/step_memo.h"

namespace nncompress::runtime {

// Throws bad_input naming every op the executor has no kernel for, with its nodes.
void check_supported(const ir::Model& model);
// Sets LibTorch's intra-op threads and OpenBLAS's; 0 means one per core.
void set_threads(int threads);

class Executor {
 public:
  // Keeps a reference to `model`, which must outlive the executor.
  explicit Executor(const ir::Model& model);

  // Graph inputs fed at run time (inputs that are also initializers are parameters).
  const std::vector<const ir::Value*>& inputs() const { return inputs_; }
  const std::vector<const ir::Value*>& outputs() const { return outputs_; }

  // Feeds `inputs` in the order of inputs() and returns the graph outputs in order. Inputs are
  // checked against the declared element type and static dimensions (bad_input on mismatch).
  // Not for two threads at once: inference keeps folded weights between runs.
  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs) const;
  // Like run(), also returning the intermediate values named in `capture`.
  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs, const std::vector<std::string>& capture,
                              std::unordered_map<std::string, at::Tensor>* captured) const;

  // Initializer tensors by name. Kernels read these; replace one, or make it require grad, to
  // try or train weights.
  at::Tensor& parameter(const std::string& name);
  std::vector<std::string> parameter_names() const;

  void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }
  // Inference (not training, gradients off) folds each BatchNormalization that alone reads a
  // Conv's output into that convolution, and keeps convolution chains in MKL-DNN's blocked layout
  // (Conv, BatchNorm, Relu, Add, MaxPool, GlobalAveragePool), where a blocked Conv also computes
  // the residual Add and the Relu or Clip that alone read its result. The layout is on by
  // default; off runs every op on plain tensors. Results agree to float rounding.
  void set_blocked_layout(bool on) { blocked_layout_ = on; }
  // The blocked convolutions that compute ops after them in inference, one line each, e.g.
  // "conv1 + bn1 + add1 + relu1" (node names, or descriptions when unnamed).
  std::vector<std::string> inference_fusions() const;

 private:
  struct Step {
    const ir::Node* node = nullptr;
    Kernel kernel;
    Kernel blocked;            // the blocked-layout variant used in inference, or nullptr
    std::vector<int> inputs;   // slot per input, -1 for omitted
    std::vector<int> outputs;  // slot per output, -1 for omitted
    std::vector<int> release;  // slots read for the last time here
    int folded_batchnorm = -1;  // Conv: the BatchNormalization step it computes in inference
    // MatMul by a weight: the Add step of a bias vector (its input `bias_operand`), then the
    // steps of a GELU (the result's step last), in inference (see Epilogue).
    int fused_bias = -1, bias_operand = -1;
    std::vector<int> fused_gelu;
    // Blocked Conv or MatMul by a weight: the Add step whose other operand (input `add_operand`)
    // it adds, and the Relu or Clip step it applies after that, in inference (see Epilogue).
    int fused_add = -1, add_operand = -1, fused_activation = -1;
    int memo = -1;  // index in memos_ of a step whose results inference keeps (StepMemo), or -1

    // The steps a convolution or matrix product may compute with its own, in order.
    std::vector<int> fused_chain() const {
      std::vector<int> chain;
      for (int k : {folded_batchnorm, fused_bias})
        if (k >= 0) chain.push_back(k);
      chain.insert(chain.end(), fused_gelu.begin(), fused_gelu.end());
      for (int k : {fused_add, fused_activation})
        if (k >= 0) chain.push_back(k);
      return chain;
    }
  };
  // A BatchNormalization folded into its convolution, kept while the tensors it came from are
  // the same and unchanged (same versions): the folded weight is then the same tensor every
  // batch, and the blocked convolution keeps its reordered copy of it.
  struct FoldedConvolution {
    std::vector<at::Tensor> sources;  // the convolution's and the BatchNormalization's arguments
    std::vector<uint32_t> versions;
    std::vector<at::Tensor> folded;   // x is left out: the arguments to use from index 1 on
  };
  // The convolution's arguments with the BatchNormalization folded in (cached), or false.
  bool fold_batchnorm_cached(size_t conv_step, std::vector<at::Tensor>& conv, const std::vector<at::Tensor>& bn,
                             double eps) const;
  int slot_of(const ir::Value* v) const;
  // Plans the bias and GELU a MatMul by a weight computes (fills fused_bias, fused_gelu), then
  // what plan_epilogue plans; nothing for a product of two activations.
  void plan_linear_epilogue(size_t matmul_step, const std::unordered_map<const ir::Node*, int>& step_of);
  // Plans the residual Add and activation a blocked convolution or matrix product computes after
  // its chain so far (fills fused_add, add_operand, fused_activation).
  void plan_epilogue(size_t step, const std::unordered_map<const ir::Node*, int>& step_of);
  // The epilogue of a convolution or matrix product step for this run, or false when a value it
  // would skip is captured or an operand does not suit.
  bool epilogue_for(const Step& step, const std::vector<at::Tensor>& slots, const std::unordered_map<int, std::string>& wanted,
                    Epilogue* e) const;

  const ir::Model& model_;
  int64_t opset_ = 0;
  bool training_ = false;
  bool blocked_layout_ = true;
  std::unordered_map<const ir::Value*, int> slots_;
  std::vector<Step> steps_;
  std::vector<const ir::Value*> inputs_;
  std::vector<const ir::Value*> outputs_;
  std::unordered_map<std::string, int> parameter_slots_;
  std::vector<at::Tensor> parameters_;  // indexed by slot; undefined for non-parameters
  mutable std::vector<FoldedConvolution> folded_;  // indexed by step
  mutable std::vector<StepMemo> memos_;
};

}  // namespace nncompress::runtime
