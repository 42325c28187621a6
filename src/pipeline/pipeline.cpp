#include "nncompress/pipeline/pipeline.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>

#include "nncompress/analysis/cost.h"
#include "nncompress/analysis/storage.h"
#include "nncompress/core/error.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/onnx/validate.h"
#include "nncompress/passes/prune/autoprune.h"
#include "nncompress/passes/prune/channel_pruning.h"
#include "nncompress/passes/prune/magnitude_pruning.h"
#include "nncompress/passes/quant/focused.h"
#include "nncompress/passes/quant/int8.h"
#include "nncompress/passes/quant/mixed.h"
#include "nncompress/passes/quant/packed_weights.h"
#include "nncompress/runtime/constant_value.h"
#include "nncompress/runtime/tensor_convert.h"
#include "nncompress/train/trainer.h"

namespace nncompress::pipeline {

namespace {

struct StoredWeight {
  at::Tensor values;  // what the layer computes with
  int bits = 32;      // per weight as stored
};

// The weight of a Conv/Gemm/MatMul: a float initializer, int8 codes read through
// DequantizeLinear, or packed low-bit codes (decoded here by running the decoding nodes).
std::optional<StoredWeight> stored_weight(const ir::Model& model, const ir::Node& n) {
  const ir::Value* w = n.input(1);
  if (!w) return std::nullopt;
  if (w->has_initializer()) return StoredWeight{runtime::to_aten(*w->initializer()), ir::bit_width(w->initializer()->dtype())};
  std::optional<at::Tensor> values = runtime::constant_value(model, *w);
  if (!values) return std::nullopt;
  int bits = passes::packed_bits(*w);
  const ir::Node* dq = w->producer();
  if (!bits && dq->op_type() == "DequantizeLinear" && dq->input(0)->has_initializer())
    bits = ir::bit_width(dq->input(0)->initializer()->dtype());
  return StoredWeight{std::move(*values), bits ? bits : 32};
}

int64_t output_channels(const ir::Node& n, const at::Tensor& w) {
  if (w.dim() < 2) return 0;
  if (n.op_type() == "Conv") return w.size(0);
  if (n.op_type() == "Gemm") return n.attr_int("transB", 0) ? w.size(0) : w.size(1);
  return w.size(-1);
}

train::TrainOptions training(const Step& s, const RunContext& c) {
  train::TrainOptions t;
  t.epochs = static_cast<int>(s.integer("epochs"));
  t.epoch_samples = s.integer("epoch-samples");
  t.lr = s.number("lr");
  t.seed = c.seed;
  t.batch = c.batch;
  t.preprocess = c.preprocess;
  t.teacher = s.boolean("distill") ? c.teacher : nullptr;
  t.progress = c.progress;
  t.epoch_done = c.epoch_done;
  return t;
}

// Masks that keep every zero of the prunable weights at zero while fine-tuning.
std::vector<std::pair<std::string, at::Tensor>> zero_masks(ir::Model& model) {
  std::vector<std::pair<std::string, at::Tensor>> masks;
  for (const passes::PrunableWeight& p : passes::prunable_weights(model.graph, {}))
    masks.push_back({p.weight->name(), runtime::to_aten(*p.weight->initializer()).ne(0).to(at::kFloat)});
  return masks;
}

std::string format(const char* fmt, double a, double b = 0) {
  char buf[200];
  std::snprintf(buf, sizeof buf, fmt, a, b);
  return buf;
}

// The first `limit` samples (calibration and sensitivity sets).
data::Dataset first_samples(const data::Dataset& d, int64_t limit) {
  const int64_t n = std::min<int64_t>(limit, d.size());
  data::Dataset out = d;
  out.x = out.x.narrow(0, 0, n);
  if (out.has_labels()) out.y = out.y.narrow(0, 0, n);
  return out;
}

std::string fine_tune_if_asked(ir::Model& model, const Step& s, const RunContext& c) {
  if (s.integer("epochs") <= 0) return "";
  train::TrainOptions t = training(s, c);
  t.masks = zero_masks(model);
  const train::TrainResult r = train::fine_tune(model, *c.train, c.val, t);
  return format("; fine-tuned %.0f epochs", static_cast<double>(r.epochs.size()));
}

std::string apply(ir::Model& model, const Step& s, const RunContext& c) {
  if (s.pass == "prune.channels") {
    passes::ChannelPruneOptions o;
    o.ratio = s.number("ratio");
    if (s.has("target-macs")) o.target_macs = s.number("target-macs");
    if (s.has("target-params")) o.target_params = s.number("target-params");
    o.criterion = s.text("criterion");
    o.round_to = s.integer("round-to");
    o.keep = s.list("keep");
    o.data = c.train;
    o.preprocess = c.preprocess;
    o.batch = c.batch;
    const passes::ChannelPruneReport r = passes::prune_channels(model, onnxio::infer_shapes(model), o);
    return format("%.0f channel groups pruned", r.groups_pruned) + fine_tune_if_asked(model, s, c);
  }
  if (s.pass == "prune.magnitude") {
    passes::MagnitudePruneOptions o;
    o.sparsity = s.boolean("gradual") ? 0.0 : s.number("sparsity");
    o.per_layer = s.boolean("per-layer");
    o.keep = s.list("keep");
    passes::MagnitudePruneResult r = passes::prune_magnitude(model, o);
    if (s.integer("epochs") <= 0) return format("%.1f%% of the prunable weights zeroed", 100 * o.sparsity);
    train::TrainOptions t = training(s, c);
    t.masks = std::move(r.masks);
    if (s.boolean("gradual")) t.gradual_final_sparsity = s.number("sparsity");
    train::fine_tune(model, *c.train, c.val, t);
    return format("%.1f%% of the prunable weights zeroed; fine-tuned %.0f epochs", 100 * s.number("sparsity"),
                  static_cast<double>(t.epochs));
  }
  if (s.pass == "prune.autoprune") {
    passes::AutoPruneOptions o;
    o.target_sparsity = s.has("sparsity") ? s.number("sparsity") : 0.0;
    o.lambda = s.number("lambda");
    o.keep = s.list("keep");
    o.train = training(s, c);
    if (s.text("granularity") == "channels") {
      if (s.has("target-macs")) o.target_macs = s.number("target-macs");
      if (s.has("target-params")) o.target_params = s.number("target-params");
      o.round_to = s.integer("round-to");
      const passes::ChannelAutoPruneResult r =
          passes::prune_autoprune_channels(model, onnxio::infer_shapes(model), *c.train, c.val, o);
      return format("%.0f channel groups pruned by auxiliary parameters trained %.0f epochs", r.report.groups_pruned,
                    static_cast<double>(o.train.epochs));
    }
    const passes::AutoPruneResult r = passes::prune_autoprune(model, *c.train, c.val, o);
    return format("auxiliary parameters trained %.0f epochs, final lambda %.3g", static_cast<double>(o.train.epochs), r.final_lambda);
  }
  if (s.pass == "quant.int8") {
    passes::Int8Options o;
    o.symmetric = s.boolean("symmetric");
    o.reduce_range = !s.boolean("full-range");
    o.keep = s.list("keep");
    o.calibration.method = s.text("calibration");
    o.calibration.preprocess = c.preprocess;
    o.calibration.batch = c.batch;
    const passes::Int8Result r = passes::quantize_int8(model, first_samples(*c.train, s.integer("calib-limit")), o);
    return format("%.0f layers int8, %.0f activations quantized", static_cast<double>(r.layers.size()),
                  static_cast<double>(r.activations.size()));
  }
  if (s.pass == "quant.focused") {
    passes::FocusedOptions o;
    o.bits = static_cast<int>(s.integer("bits"));
    o.keep = s.list("keep");
    o.train = training(s, c);
    const passes::FocusedResult r = passes::quantize_focused(model, c.train, c.val, o);
    int64_t bytes = 0;
    for (const auto& l : r.layers) bytes += l.huffman_bytes;
    return format("%.0f layers at %.0f bits", static_cast<double>(r.layers.size()), o.bits) +
           format(", weights %.0f bytes Huffman-coded", static_cast<double>(bytes));
  }
  if (s.pass == "quant.mixed") {
    passes::MixedOptions o;
    o.min_bits = static_cast<int>(s.integer("min-bits"));
    o.max_bits = static_cast<int>(s.integer("max-bits"));
    if (s.has("avg-bits")) o.average_bits = s.number("avg-bits");
    if (s.has("max-bytes")) o.max_bytes = s.integer("max-bytes");
    o.keep = s.list("keep");
    o.int4_qdq = s.boolean("int4-qdq");
    o.sensitivity.batch = std::max<int64_t>(c.batch, 256);
    o.sensitivity.preprocess = c.preprocess;
    o.train = training(s, c);
    const passes::MixedResult r =
        passes::quantize_mixed(model, first_samples(*c.train, s.integer("calib-limit")), c.train, c.val, o);
    return format("%.0f layers, %.3f bits per weight on average", static_cast<double>(r.layers.size()), r.average_bits) +
           (o.train.epochs > 0 ? format("; fine-tuned %.0f epochs", o.train.epochs) : "");
  }
  if (s.pass == "finetune") {
    train::TrainOptions t = training(s, c);
    t.masks = zero_masks(model);
    train::fine_tune(model, *c.train, c.val, t);
    return format("fine-tuned %.0f epochs (zeros kept)", static_cast<double>(t.epochs));
  }
  throw internal_error("no runner for pass '" + s.pass + "'");
}

}  // namespace

Measurement measure(const ir::Model& model, const RunContext& c) {
  Measurement m;
  const analysis::ModelCost cost = analysis::compute_cost(model.graph, onnxio::infer_shapes(model));
  m.params = cost.params;
  m.macs = cost.macs;
  m.initializer_bytes = cost.initializer_bytes;
  for (const ir::Value* v : model.graph.initializers()) {
    const ir::Tensor& t = *v->initializer();
    if (t.numel() > 0 && t.dtype() != ir::DataType::String) m.nonzeros += runtime::to_aten(t).ne(0).sum().item<int64_t>();
  }
  for (const analysis::NodeCost& nc : cost.nodes) {
    const ir::Node& n = *nc.node;
    if (nc.constant || (n.op_type() != "Conv" && n.op_type() != "Gemm" && n.op_type() != "MatMul")) continue;
    const std::optional<StoredWeight> w = stored_weight(model, n);
    if (!w || w->values.dim() < 2) continue;
    LayerStats l{n.name, n.op_type(), output_channels(n, w->values), w->values.numel(), w->values.ne(0).sum().item<int64_t>(),
                 nc.macs ? *nc.macs : 0, w->bits};
    l.dense_bytes = 4 * l.params;
    l.encoded_bytes = std::min((l.params * l.bits + 7) / 8, analysis::relative_index_bytes(w->values, 4, l.bits));
    m.weights_dense_bytes += l.dense_bytes;
    m.weights_encoded_bytes += l.encoded_bytes;
    m.layers.push_back(l);
  }
  if (c.val && c.val->has_labels()) {
    const runtime::Executor exec(model);
    eval::EvalOptions o;
    o.batch = std::max<int64_t>(c.batch, 256);
    o.preprocess = c.preprocess;
    m.top1 = eval::evaluate(exec, *c.val, o).top1;
  }
  return m;
}

StepResult run_step(ir::Model& model, const Step& step, const RunContext& context) {
  const auto t0 = std::chrono::steady_clock::now();
  StepResult r;
  r.step = step;
  r.summary = apply(model, step, context);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.after = measure(model, context);
  return r;
}

}  // namespace nncompress::pipeline
