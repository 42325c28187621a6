// quant.int8: post-training int8 Q/DQ with calibrated activations.
#include "nncompress/core/format.h"
#include "nncompress/passes/node_patterns.h"
#include "nncompress/passes/pass.h"
#include "nncompress/passes/quant/embedding_weights.h"
#include "nncompress/passes/quant/int8.h"

namespace nncompress::passes {

namespace {

using K = OptionKind;

Needs needs(const OptionValues&) {
  Needs n;
  n.calibration_data = true;
  return n;
}

PassResult apply(ir::Model& model, const PassContext& c, const OptionValues& v) {
  Int8Options o;
  o.symmetric = v.boolean("symmetric");
  o.reduce_range = !v.boolean("full-range");
  o.int32_bias = !v.boolean("float-bias");
  o.per_channel = !v.boolean("per-tensor");
  o.keep = resolve_node_patterns(model.graph, v.list("keep"), "keep");
  o.smooth_alpha = v.number("smooth-alpha");
  o.activation_matmuls = v.boolean("activation-matmuls");
  o.pad_channels = v.integer("pad-channels");
  o.calibration.method = v.text("calibration");
  o.calibration.percentile = v.number("percentile");
  o.calibration.preprocess = c.preprocess;
  o.calibration.batch = c.batch;
  if (c.progress_bar) o.calibration.progress = c.progress_bar("calibrate");
  const data::Dataset calib = data::first_samples(*c.calibration, v.integer("calib-limit"));
  const Int8Result r = quantize_int8(model, calib, o);

  const int bits = o.reduce_range ? 7 : 8;
  PassResult result;
  if (r.nothing_to_quantize) {
    result.unchanged = "no Conv, Gemm or MatMul with a constant float weight" + std::string(o.keep.empty() ? "" : " outside keep");
    result.summary = "nothing quantized: " + result.unchanged;
    return result;
  }
  if (r.opset_raised_from)
    result.notes.push_back(format("opset %lld raised to 13 for per-channel weight scales", static_cast<long long>(r.opset_raised_from)));
  if (!r.per_tensor_reason.empty())
    result.notes.push_back("per-tensor weight scales: the opset could not be raised to 13 (" + r.per_tensor_reason + ")");
  nlohmann::json layers = nlohmann::json::array(), activations = nlohmann::json::array();
  result.table.header = {"layer", "op", "weights", "weight scales", "bias"};
  for (const QuantizedLayer& l : r.layers) {
    layers.push_back({{"name", l.node}, {"op", l.op}, {"weights", l.weights}, {"bits", bits}, {"min_scale", l.min_scale},
                      {"max_scale", l.max_scale}, {"int32_bias", l.int32_bias}});
    result.table.rows.push_back({l.node, l.op, with_commas(l.weights), format("%.3g .. %.3g", l.min_scale, l.max_scale),
                                 l.int32_bias ? "int32" : "float"});
  }
  for (const auto& [name, range] : r.activations) activations.push_back({{"name", name}, {"min", range.lo}, {"max", range.hi}});
  result.details = {{"calibration", o.calibration.method}, {"activation_matmuls", o.activation_matmuls}, {"opset_raised_from", r.opset_raised_from}, {"calibration_samples", calib.size()}, {"symmetric", o.symmetric},
                    {"folded_batchnorms", r.folded_batchnorms}, {"smooth_alpha", o.smooth_alpha}, {"smoothed_norms", r.smoothed_norms},
                    {"smoothed_layers", r.smoothed_layers}, {"folded_affines", r.folded_affines}, {"removed_relus", r.removed_relus},
                    {"removed_clips", r.removed_clips}, {"hard_swishes", r.hard_swishes},
                    {"integer_hard_sigmoids", r.integer_hard_sigmoids}, {"folded_gates", r.folded_gates},
                    {"padded_groups", r.padding.groups}, {"padded_channels", r.padding.channels_added},
                    {"padded_inputs", r.padding.inputs}, {"padding_undone", r.padding.restored}, {"integer_sigmoids", r.integer_sigmoids}, {"shared_scale_concats", r.shared_scale_concats}, {"concats_left_apart", r.concats_left_apart}, {"integer_scalar_ops", r.integer_scalar_ops}, {"quantized_activations", activations}, {"layers", layers}};
  result.summary = format("%zu layers int8, %zu activations quantized", r.layers.size(), r.activations.size());
  result.notes.push_back(format("%zu layers int8 (%d-bit weights), %zu activations quantized (%s), %d BatchNorms folded, "
                                "%d Relus and %d Clips absorbed",
                                r.layers.size(), bits, r.activations.size(), o.symmetric ? "int8 symmetric" : "uint8",
                                r.folded_batchnorms, r.removed_relus, r.removed_clips));
  if (r.smoothed_norms > 0)
    result.notes.push_back(format("SmoothQuant (alpha %.2f): %d LayerNorm outputs smoothed into %d MatMul/Gemm weights",
                                  o.smooth_alpha, r.smoothed_norms, r.smoothed_layers));
  else if (o.smooth_alpha > 0)
    result.notes.push_back("SmoothQuant: no LayerNormalization read only by MatMul/Gemm layers, nothing smoothed");
  if (r.folded_affines > 0)
    result.notes.push_back(format("%d Mul/Add by per-channel constants folded into the Conv before them", r.folded_affines));
  if (r.integer_sigmoids > 0) result.notes.push_back(format("%d Sigmoids in integer ops (QLinearSigmoid)", r.integer_sigmoids));
  if (r.shared_scale_concats + r.concats_left_apart > 0)
    result.notes.push_back(format("%d Concats with one scale for their inputs and output (%d left with a scale per input: "
                                  "one would widen a Relu's or Clip's range)",
                                  r.shared_scale_concats, r.concats_left_apart));
  if (r.folded_gates > 0)
    result.notes.push_back(format("%d HardSigmoid gates folded into the Conv before them (its uint8 output is the gate)",
                                  r.folded_gates));
  if (r.padding.groups > 0 || r.padding.inputs > 0)
    result.notes.push_back(format("channels padded for ONNX Runtime's fast int8 convolutions (--pad-channels 0 turns this "
                                  "off): %d channel groups, %lld zero channels; model inputs given a Pad: %d",
                                  r.padding.groups, static_cast<long long>(r.padding.channels_added), r.padding.inputs));
  if (!r.padding.restored.empty())
    result.notes.push_back("channels left unpadded: padding changed the outputs (" + r.padding.restored + ")");
  if (r.integer_hard_sigmoids > 0)
    result.notes.push_back(format("%d HardSigmoid gates as integer Add + Mul (%d hard-swishes among them)", r.integer_hard_sigmoids,
                                  r.hard_swishes));
  if (r.integer_scalar_ops > 0)
    result.notes.push_back(format("%d Add/Mul by a scalar after a quantized op in integer form", r.integer_scalar_ops));
  if (!v.boolean("float-embeddings")) {  // weight-only: token ids are not activations to calibrate
    quantize_embeddings(model.graph, embedding_lookups(model.graph, {o.keep.begin(), o.keep.end()}), result);
    model.graph.sort_topologically();
    model.graph.remove_dangling_values();
  }
  return result;
}

}  // namespace

const PassInfo& quant_int8_pass() {
  static const PassInfo info{
      "quant.int8",
      "post-training int8 Q/DQ that ONNX Runtime and TensorRT read (docs/quantization.md)",
      "calibration data (labels not needed)",
      {option("calibration", K::Text, "minmax", "how activation ranges are chosen").one_of({"minmax", "percentile", "entropy"}),
       option("percentile", K::Number, "99.99", "percentile kept by calibration percentile").at_least(50, false).at_most(100),
       option("calib-limit", K::Integer, "1000", "calibrate on the first N samples").at_least(1),
       option("symmetric", K::Boolean, "false", "activations as symmetric int8 (TensorRT) instead of uint8 with a zero point"),
       option("full-range", K::Boolean, "false",
              "8-bit weights in [-127, 127] (default 7 bits: ONNX Runtime's int8 kernels on CPUs without VNNI saturate on "
              "full-range weights)"),
       option("float-bias", K::Boolean, "false", "keep biases in float instead of int32"),
       option("per-tensor", K::Boolean, "false", "one weight scale per tensor instead of per output channel"),
       option("float-embeddings", K::Boolean, "false", "leave embedding tables (Gather by token ids) in float"),
       option("activation-matmuls", K::Boolean, "false",
              "also quantize MatMuls of two activations (attention's Q x K^T and scores x V)"),
       option("smooth-alpha", K::Number, "0",
              "SmoothQuant: move activation outliers of LayerNorm outputs into the MatMul/Gemm weights after them with "
              "this strength (0: off; the paper uses 0.5)")
           .at_least(0).at_most(1),
       option("pad-channels", K::Integer, "16",
              "pad with zero channels where ONNX Runtime's fast int8 convolutions need it: depthwise channels to a "
              "multiple of N (16 on x86, 8 on ARM), an image input's channels to 4 and its convolution's outputs to "
              "16; 0: off")
           .at_least(0),
       option("keep", K::List, "", "nodes left in float: names, globs (conv*) or op:TYPE").also("exclude")},
      needs,
      nullptr,
      apply,
      /*must_be_last=*/true,
  };
  return info;
}

}  // namespace nncompress::passes
