// quant.focused: power-of-two weights for sparse models, pruned zeros kept.
#include "nncompress/core/format.h"
#include "nncompress/passes/node_patterns.h"
#include "nncompress/passes/pass_training.h"
#include "nncompress/passes/quant/focused.h"

namespace nncompress::passes {

namespace {

using K = OptionKind;

PassResult apply(ir::Model& model, const PassContext& c, const OptionValues& v) {
  FocusedOptions o;
  o.bits = static_cast<int>(v.integer("bits"));
  o.keep = resolve_node_patterns(model.graph, v.list("keep"), "keep");
  o.packed_storage = !v.boolean("float-storage");
  o.train = training(v, c);
  const FocusedResult r = quantize_focused(model, c.train, c.val, o);

  PassResult result;
  nlohmann::json layers = nlohmann::json::array();
  int64_t fixed = 0, huffman = 0;
  result.table.header = {"layer", "op", "non-zeros", "bits", "mode", "means", "levels", "encoded", "huffman"};
  for (const FocusedLayer& l : r.layers) {
    layers.push_back({{"name", l.node}, {"op", l.op}, {"weights", l.elements}, {"nonzeros", l.nonzeros}, {"bits", l.bits},
                      {"recentralized", l.recentralized}, {"means", {l.mean_negative, l.mean_positive}}, {"scale", l.scale},
                      {"levels", l.levels}, {"rms_error", l.rms_error}, {"encoded_bytes", l.fixed_bytes},
                      {"huffman_bytes", l.huffman_bytes}, {"stored_bits", l.stored_bits}});
    result.table.rows.push_back({l.node, l.op, with_commas(l.nonzeros), std::to_string(l.bits),
                                 l.recentralized ? "recentralized" : "shift", format("%.3g %.3g", l.mean_negative, l.mean_positive),
                                 std::to_string(l.levels), human_bytes(l.fixed_bytes), human_bytes(l.huffman_bytes)});
    fixed += l.fixed_bytes;
    huffman += l.huffman_bytes;
  }
  // Everything else (biases, BatchNorm) as stored, so the model's encoded size is complete.
  const int64_t other = r.other_parameter_bytes;
  result.details = {{"weights_encoded_bytes", fixed}, {"weights_huffman_bytes", huffman}, {"other_parameter_bytes", other},
                    {"model_encoded_bytes", huffman + other}, {"layers", layers}};
  result.summary = format("%zu layers at %d bits, weights %lld bytes Huffman-coded", r.layers.size(), o.bits,
                          static_cast<long long>(huffman));
  if (o.train.epochs > 0) result.summary += format("; fine-tuned %d epochs per step", o.train.epochs);
  result.notes.push_back(format("weights encoded: %s fixed-width (relative indices + %d-bit codes), %s Huffman-coded; other "
                                "parameters %s (float32); model encoded %s",
                                human_bytes(fixed).c_str(), o.bits, human_bytes(huffman).c_str(), human_bytes(other).c_str(),
                                human_bytes(huffman + other).c_str()));
  return result;
}

}  // namespace

const PassInfo& quant_focused_pass() {
  static const PassInfo info{
      "quant.focused",
      "power-of-two weights for pruned models, pruned zeros kept (docs/quantization.md)",
      "labeled data only when epochs > 0",
      with_training({option("bits", K::Integer, "5", "bits per non-zero weight").range(3, 8),
                     option("float-storage", K::Boolean, "false",
                            "store the quantized weights as float32 (to train them further) instead of packed codebook indices"),
                     option("keep", K::List, "", "nodes left in float: names, globs (conv*) or op:TYPE").also("exclude")},
                    "0", "0.005"),
      training_needs,
      nullptr,
      apply,
      /*must_be_last=*/true,
  };
  return info;
}

}  // namespace nncompress::passes
