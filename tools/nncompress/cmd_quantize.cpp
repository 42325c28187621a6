// `nncompress quantize MODEL -o OUT --method int8|focused|mixed [...]`: post-training int8 in the
// Q/DQ format, focused quantization of (pruned) weights to signed powers of two, or mixed-precision
// weights chosen by measured sensitivity under a size budget, with a per-layer table, sizes, and
// accuracy before/after when there is labeled data.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "nncompress/core/atomic_file.h"
#include "nncompress/core/error.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/passes/quant/focused.h"
#include "nncompress/passes/quant/int8.h"
#include "nncompress/passes/quant/mixed.h"
#include "nncompress/runtime/executor.h"

namespace nncompress::cli {

namespace {

struct QuantizeCommand {
  std::string model, output, method = "int8", calib, val;
  int64_t calib_limit = 1000;
  bool float_bias = false, per_tensor = false, full_range = false, distill = false, json = false, float_storage = false;
  int epochs = 0;
  double lr = 0.005;
  uint64_t seed = 0;
  passes::Int8Options int8;
  passes::FocusedOptions focused;
  passes::MixedOptions mixed;
  double avg_bits = 0;
  int64_t max_bytes = 0;
  DataOptions data;
};

// Bytes of all initializers as stored (int8 codes count 1 byte each).
uint64_t initializer_bytes(const ir::Model& model) {
  uint64_t bytes = 0;
  for (const ir::Value* v : model.graph.initializers()) bytes += v->initializer()->byte_size();
  return bytes;
}

// Runs int8 quantization; returns the per-layer JSON and prints the table unless json.
nlohmann::json run_int8(ir::Model& model, QuantizeCommand& o, nlohmann::json& summary) {
  if (o.calib.empty()) throw bad_input("--method int8 needs calibration data (--calib)");
  const data::Dataset calib = data::load_dataset(o.calib, o.calib_limit);
  o.int8.int32_bias = !o.float_bias;
  o.int8.per_channel = !o.per_tensor;
  o.int8.reduce_range = !o.full_range;
  o.int8.calibration.preprocess = preprocess_of(o.data);
  o.int8.calibration.batch = o.data.batch;
  o.int8.calibration.progress = progress_bar("calibrate");
  const passes::Int8Result r = passes::quantize_int8(model, calib, o.int8);
  nlohmann::json layers = nlohmann::json::array(), activations = nlohmann::json::array();
  for (const auto& l : r.layers)
    layers.push_back({{"name", l.node}, {"op", l.op}, {"weights", l.weights}, {"bits", o.int8.reduce_range ? 7 : 8},
                      {"min_scale", l.min_scale}, {"max_scale", l.max_scale}, {"int32_bias", l.int32_bias}});
  for (const auto& [name, range] : r.activations) {
    activations.push_back({{"name", name}, {"min", range.lo}, {"max", range.hi}});
    spdlog::debug("activation {}: [{:.4g}, {:.4g}]", name, range.lo, range.hi);
  }
  summary.update({{"calibration", o.int8.calibration.method}, {"calibration_samples", calib.size()},
                  {"symmetric", o.int8.symmetric}, {"folded_batchnorms", r.folded_batchnorms},
                  {"removed_relus", r.removed_relus}, {"removed_clips", r.removed_clips}, {"quantized_activations", activations}});
  if (!o.json) {
    std::printf("%-44s %-7s %12s %24s %6s\n", "layer", "op", "weights", "weight scales", "bias");
    for (const auto& l : r.layers)
      std::printf("%-44s %-7s %12s %11.3g .. %-10.3g %6s\n", l.node.c_str(), l.op.c_str(), with_commas(l.weights).c_str(),
                  l.min_scale, l.max_scale, l.int32_bias ? "int32" : "float");
    std::printf("\n%zu layers int8 (%d-bit weights), %zu activations quantized (%s), %d BatchNorms folded, %d Relus and %d Clips absorbed\n",
                r.layers.size(), o.int8.reduce_range ? 7 : 8, r.activations.size(),
                o.int8.symmetric ? "int8 symmetric" : "uint8", r.folded_batchnorms, r.removed_relus, r.removed_clips);
  }
  return layers;
}

// The fine-tuning options of focused and mixed quantization; `teacher` must outlive them.
void set_training(train::TrainOptions& t, const QuantizeCommand& o, const Teacher& teacher) {
  t.epochs = o.epochs;
  t.lr = o.lr;
  t.seed = o.seed;
  t.batch = o.data.batch;
  t.preprocess = preprocess_of(o.data);
  t.teacher = teacher.get();
  t.progress = training_progress(o.epochs);
  t.epoch_done = epoch_log(o.epochs);
}

nlohmann::json run_focused(ir::Model& model, QuantizeCommand& o, const data::Dataset* train_data,
                           const data::Dataset* val_data, nlohmann::json& summary) {
  const Teacher teacher(o.model, o.distill);
  set_training(o.focused.train, o, teacher);
  o.focused.packed_storage = !o.float_storage;
  const passes::FocusedResult r = passes::quantize_focused(model, train_data, val_data, o.focused);
  nlohmann::json layers = nlohmann::json::array();
  int64_t fixed = 0, huffman = 0;
  for (const auto& l : r.layers) {
    layers.push_back({{"name", l.node}, {"op", l.op}, {"weights", l.elements}, {"nonzeros", l.nonzeros}, {"bits", l.bits},
                      {"recentralized", l.recentralized}, {"means", {l.mean_negative, l.mean_positive}},
                      {"scale", l.scale}, {"levels", l.levels}, {"rms_error", l.rms_error},
                      {"encoded_bytes", l.fixed_bytes}, {"huffman_bytes", l.huffman_bytes}, {"stored_bits", l.stored_bits}});
    fixed += l.fixed_bytes;
    huffman += l.huffman_bytes;
  }
  // Everything else (biases, BatchNorm) as stored, so the model's encoded size is complete.
  const int64_t other = r.other_parameter_bytes;
  summary.update({{"weights_encoded_bytes", fixed}, {"weights_huffman_bytes", huffman}, {"other_parameter_bytes", other},
                  {"model_encoded_bytes", huffman + other}});
  if (!o.json) {
    std::printf("%-40s %-6s %11s %5s %-14s %19s %7s %10s %10s\n", "layer", "op", "non-zeros", "bits", "mode", "means",
                "levels", "encoded", "huffman");
    for (const auto& l : r.layers)
      std::printf("%-40s %-6s %11s %5d %-14s %9.3g %9.3g %7lld %10s %10s\n", l.node.c_str(), l.op.c_str(),
                  with_commas(l.nonzeros).c_str(), l.bits, l.recentralized ? "recentralized" : "shift", l.mean_negative,
                  l.mean_positive, static_cast<long long>(l.levels), human_bytes(l.fixed_bytes).c_str(),
                  human_bytes(l.huffman_bytes).c_str());
    std::printf("\nweights encoded: %s fixed-width (relative indices + %d-bit codes), %s Huffman-coded; other "
                "parameters %s (float32); model encoded %s\n",
                human_bytes(fixed).c_str(), o.focused.bits, human_bytes(huffman).c_str(), human_bytes(other).c_str(),
                human_bytes(huffman + other).c_str());
  }
  return layers;
}

nlohmann::json run_mixed(ir::Model& model, QuantizeCommand& o, const data::Dataset* train_data,
                         const data::Dataset* val_data, nlohmann::json& summary) {
  if (o.calib.empty()) throw bad_input("--method mixed needs data to measure each layer's sensitivity on (--calib)");
  const data::Dataset calib = data::load_dataset(o.calib, o.calib_limit);
  const Teacher teacher(o.model, o.distill);
  passes::MixedOptions& m = o.mixed;
  if (o.avg_bits > 0) m.average_bits = o.avg_bits;
  if (o.max_bytes > 0) m.max_bytes = o.max_bytes;
  m.keep = o.int8.keep;
  m.sensitivity.batch = std::max<int64_t>(o.data.batch, 256);
  m.sensitivity.preprocess = preprocess_of(o.data);
  m.sensitivity.progress = progress_bar("sensitivity");
  set_training(m.train, o, teacher);
  const passes::MixedResult r = passes::quantize_mixed(model, calib, train_data, val_data, m);
  nlohmann::json layers = nlohmann::json::array();
  int64_t encoded = 0, huffman = 0, elements = 0;
  for (const auto& l : r.layers) {
    nlohmann::json kl = nlohmann::json::object();
    for (const auto& [bits, value] : l.kl_by_bits) kl[std::to_string(bits)] = value;
    layers.push_back({{"name", l.node}, {"op", l.op}, {"weights", l.elements}, {"channels", l.channels}, {"bits", l.bits},
                      {"kl_by_bits", kl}, {"rms_error", l.rms_error}, {"encoded_bytes", l.encoded_bytes},
                      {"huffman_bytes", l.huffman_bytes}});
    encoded += l.encoded_bytes, huffman += l.huffman_bytes, elements += l.elements;
  }
  summary.update({{"sensitivity_samples", r.samples}, {"average_bits", r.average_bits}, {"predicted_kl", r.predicted_kl},
                  {"allocation_frontier_peak", r.frontier_peak},
                  {"weights_encoded_bytes", encoded}, {"weights_huffman_bytes", huffman},
                  {"weights_float_bytes", 4 * elements}});
  if (!o.json) {
    // Why each width: the sensitivity it has, and what one bit less would add / one more would save.
    std::printf("%-40s %-6s %11s %5s %11s %12s %12s %10s\n", "layer", "op", "weights", "bits", "KL", "KL if -1 bit",
                "KL if +1 bit", "encoded");
    auto at_bits = [](const passes::MixedLayer& l, int bits) {
      const auto it = l.kl_by_bits.find(bits);
      if (it == l.kl_by_bits.end()) return std::string("-");
      char text[32];
      std::snprintf(text, sizeof text, "%.4g", it->second);
      return std::string(text);
    };
    for (const auto& l : r.layers)
      std::printf("%-40s %-6s %11s %5d %11.4g %12s %12s %10s\n", l.node.c_str(), l.op.c_str(), with_commas(l.elements).c_str(),
                  l.bits, l.kl_by_bits.at(l.bits), at_bits(l, l.bits - 1).c_str(), at_bits(l, l.bits + 1).c_str(),
                  human_bytes(l.encoded_bytes).c_str());
    std::printf("\n%zu layers, %.3f bits per weight on average (exact allocation, summed KL %.4g on %lld samples); weights "
                "encoded %s (%s Huffman-coded) vs %s float32\n",
                r.layers.size(), r.average_bits, r.predicted_kl, static_cast<long long>(r.samples),
                human_bytes(encoded).c_str(), human_bytes(huffman).c_str(), human_bytes(4 * elements).c_str());
  }
  return layers;
}

}  // namespace

void register_quantize(CLI::App& app, Action& action) {
  auto o = std::make_shared<QuantizeCommand>();
  CLI::App* cmd = app.add_subcommand("quantize", "Quantize a model: int8 Q/DQ (post-training), focused power-of-two weights, or mixed-precision weights");
  cmd->add_option("model", o->model, "Input .onnx file")->required();
  cmd->add_option("-o,--output", o->output, "Output .onnx file (never the input)")->required();
  cmd->add_option("--method", o->method,
                  "int8: post-training Q/DQ; focused: power-of-two weights for sparse models; mixed: per-layer weight "
                  "bits under a budget")
      ->check(CLI::IsMember({"int8", "focused", "mixed"}))
      ->capture_default_str();
  cmd->add_option("--calib", o->calib,
                  "Calibration data for int8, sensitivity data for mixed (no labels needed); preprocessing as for --data");
  cmd->add_option("--calib-limit", o->calib_limit, "Calibrate on the first N samples")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--calibration", o->int8.calibration.method, "How activation ranges are chosen (int8)")
      ->check(CLI::IsMember({"minmax", "percentile", "entropy"}))
      ->capture_default_str();
  cmd->add_option("--percentile", o->int8.calibration.percentile, "Percentile kept by --calibration percentile")
      ->check(CLI::Range(50.0, 100.0))
      ->capture_default_str();
  cmd->add_flag("--symmetric", o->int8.symmetric, "Activations as symmetric int8 (TensorRT) instead of uint8 with a zero point");
  cmd->add_flag("--float-bias", o->float_bias, "Keep biases in float instead of int32 (int8)");
  cmd->add_flag("--full-range", o->full_range,
                "8-bit weights in [-127, 127] (default 7 bits: ONNX Runtime's int8 kernels on CPUs without VNNI "
                "saturate on full-range weights; TensorRT, VNNI and ARM CPUs do not)");
  cmd->add_flag("--float-storage", o->float_storage,
                "Focused: store the quantized weights as float32 (to train them further) instead of packed codebook indices");
  cmd->add_flag("--per-tensor", o->per_tensor, "One weight scale per tensor instead of per output channel (int8)");
  cmd->add_option("--bits", o->focused.bits, "Bits per non-zero weight (focused)")->check(CLI::Range(3, 8))->capture_default_str();
  cmd->add_option("--avg-bits", o->avg_bits, "Mixed: budget of mean bits per quantized weight")->check(CLI::Range(2.0, 8.0));
  cmd->add_option("--max-bytes", o->max_bytes, "Mixed: budget of encoded weight bytes (codes and scales)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--min-bits", o->mixed.min_bits, "Mixed: narrowest width a layer may get")->check(CLI::Range(2, 8))->capture_default_str();
  cmd->add_option("--max-bits", o->mixed.max_bits, "Mixed: widest width a layer may get (= --min-bits: uniform)")
      ->check(CLI::Range(2, 8))
      ->capture_default_str();
  cmd->add_flag("--int4-qdq", o->mixed.int4_qdq,
                "Mixed: store weights as INT4 (up to 4 bits) and INT8 DequantizeLinear, raising the model to opset 21, "
                "for runtimes with int4 support (default: packed bit planes any runtime folds)");
  cmd->add_option("--keep", o->int8.keep, "Node names left in float");
  add_data_options(cmd, o->data, false);
  cmd->add_option("--val", o->val, "Data for accuracy before/after (default: --data)");
  cmd->add_option("--epochs", o->epochs,
                  "Fine-tune N epochs on --data (focused: after each incremental step; mixed: with the quantizer "
                  "in the forward pass)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--lr", o->lr, "Fine-tuning learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed for shuffling and augmentation while fine-tuning")->capture_default_str();
  cmd->add_flag("--distill", o->distill, "Fine-tune by distillation from the input model (works without labels)");
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([&action, o] {
    action = [o] {
      check_output_path(o->model, o->output);
      if (o->epochs > 0 && o->data.path.empty()) throw bad_input("--epochs needs --data (training data)");
      if (o->epochs > 0 && o->method == "int8") throw bad_input("--epochs applies to --method focused and mixed");
      ir::Model model = onnxio::load_model(o->model);
      std::optional<data::Dataset> train_data, val_data;
      if (!o->data.path.empty()) train_data = data::load_dataset(o->data.path, o->data.limit);
      if (!o->val.empty()) val_data = data::load_dataset(o->val);
      const data::Dataset* measure = val_data ? &*val_data : train_data ? &*train_data : nullptr;
      const std::optional<double> top1_before = top1_of(model, o->data, measure);
      const uint64_t bytes_before = initializer_bytes(model);

      nlohmann::json summary{{"output", o->output}, {"method", o->method}};
      o->focused.keep = o->int8.keep;
      const data::Dataset* train = train_data ? &*train_data : nullptr;
      const data::Dataset* val = val_data ? &*val_data : nullptr;
      const nlohmann::json layers = o->method == "int8"    ? run_int8(model, *o, summary)
                                    : o->method == "mixed" ? run_mixed(model, *o, train, val, summary)
                                                           : run_focused(model, *o, train, val, summary);
      const uint64_t bytes_after = initializer_bytes(model);
      const std::optional<double> top1_after = top1_of(model, o->data, measure);
      const uint64_t file_bytes = onnxio::save_model(model, o->output);
      if (o->json) {
        auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
        summary.update({{"initializer_bytes_before", bytes_before}, {"initializer_bytes_after", bytes_after},
                        {"file_bytes", file_bytes}, {"top1_before", opt(top1_before)}, {"top1_after", opt(top1_after)},
                        {"layers", layers}});
        std::cout << summary.dump(2) << std::endl;
        return int(kOk);
      }
      std::printf("initializers %s -> %s, file %s\n", human_bytes(bytes_before).c_str(), human_bytes(bytes_after).c_str(),
                  human_bytes(file_bytes).c_str());
      if (top1_before && top1_after) std::printf("top-1 %.2f%% -> %.2f%%\n", 100 * *top1_before, 100 * *top1_after);
      spdlog::info("wrote {} ({})", o->output, human_bytes(file_bytes));
      return int(kOk);
    };
  });
}

}  // namespace nncompress::cli
