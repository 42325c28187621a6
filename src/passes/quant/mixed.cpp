#include "nncompress/passes/quant/mixed.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>

#include "nncompress/analysis/storage.h"
#include "nncompress/analysis/weighted_layers.h"
#include "nncompress/core/error.h"
#include "nncompress/passes/cleanup/opset_upgrade.h"
#include "nncompress/passes/cleanup/private_constants.h"
#include "nncompress/passes/quant/bit_allocation.h"
#include "nncompress/passes/quant/packed_weights.h"
#include "nncompress/passes/quant/uniform_weights.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

void check(const MixedOptions& o, int64_t opset) {
  if (o.min_bits < 2 || o.max_bits > 8 || o.min_bits > o.max_bits)
    throw bad_input("candidate bit widths must satisfy 2 <= min-bits <= max-bits <= 8");
  if (o.average_bits && o.max_bytes) throw bad_input("give one budget: avg-bits or max-bytes, not both");
  if (o.min_bits < o.max_bits && !o.average_bits && !o.max_bytes)
    throw bad_input("mixed precision needs a budget: avg-bits or max-bytes (or min-bits = max-bits for uniform)");
  if (o.average_bits && (*o.average_bits < o.min_bits || *o.average_bits > o.max_bits))
    throw bad_input("avg-bits must lie between min-bits and max-bits");
  if (opset < 11) throw bad_input("packed low-bit weights need ONNX opset 11 or newer (the model has " + std::to_string(opset) + ")");
}

int64_t channels_of(const PrunableWeight& p) {
  const int64_t axis = analysis::output_channel_axis(*p.node);
  return axis >= 0 ? p.weight->initializer()->dims()[axis] : 1;
}

int64_t code_bytes(int64_t elements, int bits) { return (elements * bits + 7) / 8; }

// Fixed-width and Huffman-coded sizes of a layer's codes, each with its float32 scales.
void encoded_sizes(MixedLayer& row, const UniformWeights& q) {
  const int64_t scales = 4 * q.scales.numel();
  row.encoded_bytes = code_bytes(row.elements, q.bits) + scales;
  const at::Tensor counts = at::bincount(q.codes.reshape({-1}) + q.max_code(), {}, 2 * q.max_code() + 1).contiguous();
  std::vector<int64_t> histogram(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel());
  int64_t table = 0;
  for (int64_t n : histogram) table += n > 0;
  row.huffman_bytes = (analysis::huffman_bits(histogram) + 7) / 8 + table + scales;
}

}  // namespace

MixedResult quantize_mixed(ir::Model& model, const data::Dataset& calibration, const data::Dataset* train_data,
                           const data::Dataset* val_data, const MixedOptions& o) {
  check(o, model.opset_version(""));
  if (o.int4_qdq) upgrade_opset(model, 21);  // first: a model that cannot be raised fails before any work
  if (o.train.epochs > 0 && !train_data) throw bad_input("fine-tuning during mixed-precision quantization needs training data");
  make_constants_private(model.graph);
  const std::vector<PrunableWeight> layers = prunable_weights(model.graph, o.keep);
  if (layers.empty()) throw bad_input("the model has no Conv/Gemm/MatMul weights to quantize");

  std::vector<double> widths;
  for (int b = o.min_bits; b <= o.max_bits; ++b) widths.push_back(b);
  const SensitivityResult sensitivity =
      measure_sensitivity(model, layers, widths, quantize_weights_transform(), calibration, o.sensitivity);

  // Costs in bits (average-bits budget) or in encoded bytes (byte budget).
  MixedResult result;
  result.samples = sensitivity.samples;
  int64_t total_elements = 0, fixed_bytes = 0;
  std::vector<std::vector<AllocationOption>> options;
  for (size_t i = 0; i < layers.size(); ++i) {
    const int64_t n = sensitivity.layers[i].elements;
    total_elements += n;
    fixed_bytes += 4 * channels_of(layers[i]);
    std::vector<AllocationOption> row;
    for (size_t k = 0; k < widths.size(); ++k) {
      const int bits = static_cast<int>(widths[k]);
      row.push_back({o.max_bytes ? code_bytes(n, bits) : n * bits, sensitivity.layers[i].points[k].kl});
    }
    options.push_back(std::move(row));
  }
  if (o.max_bytes) {
    result.budget = *o.max_bytes - fixed_bytes;
  } else {
    const double average = o.average_bits.value_or(o.max_bits);
    result.budget = static_cast<int64_t>(std::floor(average * static_cast<double>(total_elements) + 1e-9));
  }
  const std::optional<Allocation> allocation = allocate_exact(options, result.budget);
  if (!allocation)
    throw bad_input("the budget is too small: even " + std::to_string(o.min_bits) + "-bit weights everywhere exceed it");
  result.predicted_kl = allocation->error;
  result.frontier_peak = allocation->frontier_peak;

  // Quantizers fitted on the float weights; their scales stay fixed while fine-tuning.
  std::vector<UniformWeights> quantizers;
  int64_t total_bits = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const int bits = static_cast<int>(widths[allocation->choice[i]]);
    const at::Tensor w = runtime::to_aten(*layers[i].weight->initializer());
    quantizers.push_back(quantize_uniform(w, analysis::output_channel_axis(*layers[i].node), bits));
    total_bits += bits * sensitivity.layers[i].elements;
  }
  result.average_bits = static_cast<double>(total_bits) / static_cast<double>(total_elements);

  if (o.train.epochs > 0) {
    train::TrainOptions t = o.train;
    for (size_t i = 0; i < layers.size(); ++i) {
      const UniformWeights& q = quantizers[i];
      const at::Tensor scales = q.scales;
      t.views.push_back({layers[i].weight->name(), [scales, axis = q.axis, bits = q.bits](const at::Tensor& w) {
                           return fake_quantize_uniform(w, scales, axis, bits);
                         }});
    }
    result.training.push_back(train::fine_tune(model, *train_data, val_data, t));
  }

  const UniformStorage storage = o.int4_qdq                         ? UniformStorage::Int4DequantizeLinear
                                 : model.opset_version("") >= 13 ? UniformStorage::Int8DequantizeLinear
                                                                 : UniformStorage::BitPlanes;
  for (size_t i = 0; i < layers.size(); ++i) {
    const PrunableWeight& p = layers[i];
    UniformWeights& q = quantizers[i];
    const at::Tensor w = runtime::to_aten(*p.weight->initializer()).to(at::kFloat);
    if (o.train.epochs > 0) q = round_to_scales(w, q.scales, q.axis, q.bits);  // the fine-tuned weights, same grid
    MixedLayer row;
    row.node = p.node->name, row.op = p.node->op_type(), row.weight = p.weight->name();
    row.elements = w.numel(), row.channels = channels_of(p), row.bits = q.bits;
    for (size_t k = 0; k < widths.size(); ++k)
      row.kl_by_bits[static_cast<int>(widths[k])] = sensitivity.layers[i].points[k].kl;
    row.rms_error = std::sqrt((q.values() - w).pow(2).mean().item<double>());
    encoded_sizes(row, q);
    result.layers.push_back(std::move(row));
    store_uniform_weight(model.graph, p.node, q, storage);
  }
  model.graph.sort_topologically();
  model.graph.remove_dangling_values();
  return result;
}

}  // namespace nncompress::passes
