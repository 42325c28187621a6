// `nncompress quantize MODEL -o OUT --method int8 --calib D [...]`: post-training int8 in the Q/DQ
// format, with a per-layer table, sizes, and accuracy before/after when --data has labels.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "nncompress/core/atomic_file.h"
#include "nncompress/core/error.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/passes/quant/int8.h"

namespace nncompress::cli {

namespace {

struct QuantizeCommand {
  std::string model, output, method = "int8", calib;
  int64_t calib_limit = 1000;
  bool float_bias = false, per_tensor = false, full_range = false, json = false;
  passes::Int8Options int8;
  DataOptions data;
};

// Bytes of all initializers as stored (int8 codes count 1 byte each).
uint64_t initializer_bytes(const ir::Model& model) {
  uint64_t bytes = 0;
  for (const ir::Value* v : model.graph.initializers()) bytes += v->initializer()->byte_size();
  return bytes;
}

}  // namespace

void register_quantize(CLI::App& app, Action& action) {
  auto o = std::make_shared<QuantizeCommand>();
  CLI::App* cmd = app.add_subcommand("quantize", "Quantize a model's weights and activations (int8 Q/DQ, post-training)");
  cmd->add_option("model", o->model, "Input .onnx file")->required();
  cmd->add_option("-o,--output", o->output, "Output .onnx file (never the input)")->required();
  cmd->add_option("--method", o->method, "int8: post-training Q/DQ (focused and mixed precision are planned)")
      ->check(CLI::IsMember({"int8"}))
      ->capture_default_str();
  cmd->add_option("--calib", o->calib, "Calibration data (no labels needed); preprocessing options as for --data")->required();
  cmd->add_option("--calib-limit", o->calib_limit, "Calibrate on the first N samples")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--calibration", o->int8.calibration.method, "How activation ranges are chosen")
      ->check(CLI::IsMember({"minmax", "percentile", "entropy"}))
      ->capture_default_str();
  cmd->add_option("--percentile", o->int8.calibration.percentile, "Percentile kept by --calibration percentile")
      ->check(CLI::Range(50.0, 100.0))
      ->capture_default_str();
  cmd->add_flag("--symmetric", o->int8.symmetric, "Activations as symmetric int8 (TensorRT) instead of uint8 with a zero point");
  cmd->add_flag("--float-bias", o->float_bias, "Keep biases in float instead of int32");
  cmd->add_flag("--full-range", o->full_range,
                "8-bit weights in [-127, 127] (default 7 bits: ONNX Runtime's int8 kernels on CPUs without VNNI "
                "saturate on full-range weights; TensorRT, VNNI and ARM CPUs do not)");
  cmd->add_flag("--per-tensor", o->per_tensor, "One weight scale per tensor instead of per output channel");
  cmd->add_option("--keep", o->int8.keep, "Node names left in float");
  add_data_options(cmd, o->data, false);
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([&action, o] {
    action = [o] {
      ensure_distinct_output(o->model, o->output);
      ir::Model model = onnxio::load_model(o->model);
      std::optional<data::Dataset> val;
      if (!o->data.path.empty()) val = data::load_dataset(o->data.path, o->data.limit);
      const data::Dataset calib = data::load_dataset(o->calib, o->calib_limit);
      const std::optional<double> top1_before = top1_of(model, o->data, val ? &*val : nullptr);
      const uint64_t bytes_before = initializer_bytes(model);

      o->int8.int32_bias = !o->float_bias;
      o->int8.per_channel = !o->per_tensor;
      o->int8.reduce_range = !o->full_range;
      o->int8.calibration.preprocess = preprocess_of(o->data);
      o->int8.calibration.batch = o->data.batch;
      o->int8.calibration.progress = progress_bar("calibrate");
      const passes::Int8Result r = passes::quantize_int8(model, calib, o->int8);
      const uint64_t bytes_after = initializer_bytes(model);
      const std::optional<double> top1_after = top1_of(model, o->data, val ? &*val : nullptr);
      const uint64_t file_bytes = onnxio::save_model(model, o->output);

      if (o->json) {
        nlohmann::json layers = nlohmann::json::array();
        for (const auto& l : r.layers)
          layers.push_back({{"name", l.node}, {"op", l.op}, {"weights", l.weights}, {"bits", 8}, {"min_scale", l.min_scale},
                            {"max_scale", l.max_scale}, {"int32_bias", l.int32_bias}});
        nlohmann::json activations = nlohmann::json::array();
        for (const auto& [name, range] : r.activations) activations.push_back({{"name", name}, {"min", range.lo}, {"max", range.hi}});
        auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
        std::cout << nlohmann::json{{"output", o->output}, {"method", o->method},
                                    {"calibration", o->int8.calibration.method}, {"calibration_samples", calib.size()},
                                    {"symmetric", o->int8.symmetric}, {"folded_batchnorms", r.folded_batchnorms},
                                    {"removed_relus", r.removed_relus}, {"quantized_activations", activations},
                                    {"initializer_bytes_before", bytes_before}, {"initializer_bytes_after", bytes_after},
                                    {"file_bytes", file_bytes}, {"top1_before", opt(top1_before)},
                                    {"top1_after", opt(top1_after)}, {"layers", layers}}
                         .dump(2)
                  << std::endl;
        return int(kOk);
      }
      for (const auto& [name, range] : r.activations) spdlog::debug("activation {}: [{:.4g}, {:.4g}]", name, range.lo, range.hi);
      std::printf("%-44s %-7s %12s %24s %6s\n", "layer", "op", "weights", "weight scales", "bias");
      for (const auto& l : r.layers)
        std::printf("%-44s %-7s %12s %11.3g .. %-10.3g %6s\n", l.node.c_str(), l.op.c_str(), with_commas(l.weights).c_str(),
                    l.min_scale, l.max_scale, l.int32_bias ? "int32" : "float");
      std::printf("\n%zu layers int8, %d activations quantized (%s), %d BatchNorms folded, %d Relus absorbed\n",
                  r.layers.size(), static_cast<int>(r.activations.size()), o->int8.symmetric ? "int8 symmetric" : "uint8",
                  r.folded_batchnorms, r.removed_relus);
      std::printf("initializers %s -> %s, file %s\n", human_bytes(bytes_before).c_str(), human_bytes(bytes_after).c_str(),
                  human_bytes(file_bytes).c_str());
      if (top1_before && top1_after) std::printf("top-1 %.2f%% -> %.2f%%\n", 100 * *top1_before, 100 * *top1_after);
      spdlog::info("wrote {} ({})", o->output, human_bytes(file_bytes));
      return int(kOk);
    };
  });
}

}  // namespace nncompress::cli
