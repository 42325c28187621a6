// quant.mixed: per-layer weight widths by measured sensitivity under a budget.
#include <algorithm>

#include "nncompress/core/format.h"
#include "nncompress/passes/node_patterns.h"
#include "nncompress/passes/pass_training.h"
#include "nncompress/passes/quant/mixed.h"

namespace nncompress::passes {

namespace {

using K = OptionKind;

Needs needs(const OptionValues& v) {
  Needs n = training_needs(v);
  n.calibration_data = true;
  return n;
}

std::vector<std::string> check(const OptionValues& v, const OptionNamer& name) {
  const int64_t lo = v.integer("min-bits"), hi = v.integer("max-bits");
  if (lo > hi) return {name("min-bits") + " must not exceed " + name("max-bits")};
  if (v.has("avg-bits") && v.has("max-bytes"))
    return {"give one budget: " + name("avg-bits") + " or " + name("max-bytes") + ", not both"};
  if (lo < hi && !v.has("avg-bits") && !v.has("max-bytes"))
    return {"mixed precision needs a budget: " + name("avg-bits") + " or " + name("max-bytes") + " (or " + name("min-bits") +
            " = " + name("max-bits") + " for uniform)"};
  if (v.has("avg-bits") && (v.number("avg-bits") < lo || v.number("avg-bits") > hi))
    return {name("avg-bits") + " must lie between " + name("min-bits") + " and " + name("max-bits")};
  return {};
}

// "0.0123" for a layer's KL at `bits`, "-" when that width was not measured.
std::string kl_at(const MixedLayer& l, int bits) {
  const auto it = l.kl_by_bits.find(bits);
  return it == l.kl_by_bits.end() ? "-" : format("%.4g", it->second);
}

PassResult apply(ir::Model& model, const PassContext& c, const OptionValues& v) {
  MixedOptions o;
  o.min_bits = static_cast<int>(v.integer("min-bits"));
  o.max_bits = static_cast<int>(v.integer("max-bits"));
  if (v.has("avg-bits")) o.average_bits = v.number("avg-bits");
  if (v.has("max-bytes")) o.max_bytes = v.integer("max-bytes");
  o.keep = resolve_node_patterns(model.graph, v.list("keep"), "keep");
  o.int4_qdq = v.boolean("int4-qdq");
  o.sensitivity.batch = std::max<int64_t>(c.batch, 256);
  o.sensitivity.preprocess = c.preprocess;
  if (c.progress_bar) o.sensitivity.progress = c.progress_bar("sensitivity");
  o.train = training(v, c);
  const data::Dataset calib = data::first_samples(*c.calibration, v.integer("calib-limit"));
  const MixedResult r = quantize_mixed(model, calib, c.train, c.val, o);

  PassResult result;
  nlohmann::json layers = nlohmann::json::array();
  int64_t encoded = 0, huffman = 0, elements = 0;
  // Why each width: the sensitivity it has, and what one bit less would add / one more would save.
  result.table.header = {"layer", "op", "weights", "bits", "KL", "KL if -1 bit", "KL if +1 bit", "encoded"};
  for (const MixedLayer& l : r.layers) {
    nlohmann::json kl = nlohmann::json::object();
    for (const auto& [bits, value] : l.kl_by_bits) kl[std::to_string(bits)] = value;
    layers.push_back({{"name", l.node}, {"op", l.op}, {"weights", l.elements}, {"channels", l.channels}, {"bits", l.bits},
                      {"kl_by_bits", kl}, {"rms_error", l.rms_error}, {"encoded_bytes", l.encoded_bytes},
                      {"huffman_bytes", l.huffman_bytes}});
    result.table.rows.push_back({l.node, l.op, with_commas(l.elements), std::to_string(l.bits), kl_at(l, l.bits),
                                 kl_at(l, l.bits - 1), kl_at(l, l.bits + 1), human_bytes(l.encoded_bytes)});
    encoded += l.encoded_bytes, huffman += l.huffman_bytes, elements += l.elements;
  }
  result.details = {{"sensitivity_samples", r.samples}, {"average_bits", r.average_bits}, {"predicted_kl", r.predicted_kl},
                    {"allocation_frontier_peak", r.frontier_peak}, {"weights_encoded_bytes", encoded},
                    {"weights_huffman_bytes", huffman}, {"weights_float_bytes", 4 * elements}, {"layers", layers}};
  result.summary = format("%zu layers, %.3f bits per weight on average", r.layers.size(), r.average_bits);
  if (o.train.epochs > 0) result.summary += format("; fine-tuned %d epochs", o.train.epochs);
  result.notes.push_back(format("%zu layers, %.3f bits per weight on average (exact allocation, summed KL %.4g on %lld "
                                "samples); weights encoded %s (%s Huffman-coded) vs %s float32",
                                r.layers.size(), r.average_bits, r.predicted_kl, static_cast<long long>(r.samples),
                                human_bytes(encoded).c_str(), human_bytes(huffman).c_str(), human_bytes(4 * elements).c_str()));
  return result;
}

}  // namespace

const PassInfo& quant_mixed_pass() {
  static const PassInfo info{
      "quant.mixed",
      "per-layer weight bits by sensitivity under a budget, exact allocation (docs/quantization.md)",
      "calibration data for the sensitivity (labels not needed); labeled data when epochs > 0",
      with_training({option("avg-bits", K::Number, "", "budget: mean bits per quantized weight").range(2, 8),
                     option("max-bytes", K::Integer, "", "budget: encoded weight bytes (codes and scales)").at_least(1),
                     option("min-bits", K::Integer, "2", "narrowest width a layer may get").range(2, 8),
                     option("max-bits", K::Integer, "8", "widest width a layer may get (= min-bits: uniform)").range(2, 8),
                     option("calib-limit", K::Integer, "1000", "samples the sensitivity is measured on").at_least(1),
                     option("int4-qdq", K::Boolean, "false",
                            "INT4/INT8 DequantizeLinear at opset 21 instead of packed bit planes any runtime folds"),
                     option("keep", K::List, "", "nodes left in float: names, globs (conv*) or op:TYPE").also("exclude")},
                    "0", "0.005"),
      needs,
      check,
      apply,
      /*must_be_last=*/true,
  };
  return info;
}

}  // namespace nncompress::passes
