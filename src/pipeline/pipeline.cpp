#include "nncompress/pipeline/pipeline.h"

#include <ATen/ATen.h>

#include <chrono>
#include <functional>

#include "nncompress/analysis/cost.h"
#include "nncompress/analysis/storage.h"
#include "nncompress/analysis/weighted_layers.h"
#include "nncompress/core/error.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/onnx/validate.h"
#include "nncompress/passes/quant/packed_weights.h"
#include "nncompress/runtime/constant_value.h"
#include "nncompress/runtime/run_shapes.h"
#include "nncompress/runtime/tensor_convert.h"

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
  const int64_t axis = analysis::output_channel_axis(n, w.dim());
  return w.dim() >= 2 && axis >= 0 ? w.size(axis) : 0;
}

}  // namespace

Measurement measure(const ir::Model& model, const data::Dataset* accuracy_data, const passes::PassContext& c) {
  Measurement m;
  const analysis::ModelCost cost = analysis::compute_cost(model.graph, runtime::known_shapes(model));
  m.params = cost.params;
  m.macs = cost.macs;
  m.initializer_bytes = cost.initializer_bytes;
  for (const ir::Value* v : model.graph.initializers()) {
    const ir::Tensor& t = *v->initializer();
    const bool sparse_candidate = ir::is_floating_point(t.dtype()) && t.dims().size() >= 2;
    m.csr_bytes += sparse_candidate ? analysis::csr_bytes(runtime::to_aten(t), ir::bit_width(t.dtype())) : t.byte_size();
    m.relative_index_bytes +=
        sparse_candidate ? analysis::relative_index_bytes(runtime::to_aten(t), 4, ir::bit_width(t.dtype())) : t.byte_size();
    if (t.numel() > 0 && t.dtype() != ir::DataType::String) m.nonzeros += runtime::to_aten(t).ne(0).sum().item<int64_t>();
  }
  for (const analysis::NodeCost& nc : cost.nodes) {
    const ir::Node& n = *nc.node;
    const bool dynamic_int8 = n.op_type() == "MatMulInteger";  // quant.dynamic's layers: int8 weights as input 1
    if (nc.constant || (!analysis::is_weighted_layer(n) && !dynamic_int8) || n.op_type() == "ConvTranspose") continue;
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
  if (accuracy_data && eval::has_truths(*accuracy_data, c.detection)) {
    const runtime::Executor exec(model);
    eval::EvalOptions o;
    o.batch = c.batch;  // what --batch asked for: larger batches ran 2.3x slower on MobileNetV2 here
    o.preprocess = c.preprocess;
    o.detection = c.detection;
    const eval::EvalResult r = eval::evaluate(exec, *accuracy_data, o);
    m.top1 = r.top1;
    if (r.map) m.map50 = r.map->map50, m.map50_95 = r.map->map50_95;
  }
  return m;
}

StepResult run_step(ir::Model& model, const Step& step, const passes::PassContext& context,
                    const data::Dataset* accuracy_data) {
  const auto t0 = std::chrono::steady_clock::now();
  StepResult r;
  r.step = step;
  const passes::OptionValues values = step.values();
  // A fingerprint, not a copy: the model is never held twice.
  const uint64_t before = onnxio::model_fingerprint(model);
  r.result = values.pass().apply(model, context, values);
  if (r.result.unchanged.empty() && onnxio::model_fingerprint(model) == before)
    r.result.unchanged = "the model is byte for byte what it was";
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.after = measure(model, accuracy_data, context);
  return r;
}

}  // namespace nncompress::pipeline
