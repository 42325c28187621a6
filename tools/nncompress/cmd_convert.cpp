// `nncompress convert MODEL -o OUT`: import into the IR and export again.
#include <spdlog/spdlog.h>

#include "cli_common.h"
#include "nncompress/core/atomic_file.h"
#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/onnx/validate.h"
#include "nncompress/passes/cleanup/opset_upgrade.h"

namespace nncompress::cli {

namespace {
struct ConvertOptions {
  std::string input;
  std::string output;
  bool external_data = false;
  bool skip_check = false;
  ModelOptions model_options;
  int64_t opset = 0;
};
}  // namespace

void register_convert(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand("convert", "Round-trip a model through the nncompress IR and write it out");
  cmd->add_option("model", opts->input, "Input .onnx file")->required();
  cmd->add_option("-o,--output", opts->output, "Output .onnx file (never the input)")->required();
  cmd->add_flag("--external-data", opts->external_data, "Write tensor data to OUTPUT.data beside the model");
  cmd->add_flag("--no-check", opts->skip_check, "Skip ONNX's checker on the input and output");
  add_model_options(cmd, opts->model_options);
  opts->model_options.normalize = false;
  cmd->add_flag("--normalize", opts->model_options.normalize,
                "Constant nodes -> initializers, constant subgraphs folded, Identity/Dropout removed");
  cmd->add_option("--opset", opts->opset, "Convert to this ONNX opset (up or down through ONNX's version converter)")
      ->check(CLI::Range(7, 21));
  cmd->callback([&action, opts] {
    action = [opts] {
      check_output_path(opts->input, opts->output);
      plan_outputs({opts->input}, {opts->output, opts->external_data ? opts->output + ".data" : ""});
      ir::Model model = load_user_model(opts->input, opts->model_options);
      if (opts->opset) {
        const int64_t from = model.opset_version("");
        passes::convert_opset(model, opts->opset);
        spdlog::info("opset {} -> {}", from, opts->opset);
      }
      if (!opts->skip_check) {
        // The export of the IR is what we write, so checking it checks the output before it exists.
        const onnxio::CheckResult check = onnxio::check_model(model);
        for (const auto& w : check.warnings) spdlog::warn("{}", w);
        if (!check.ok()) spdlog::warn("model fails ONNX's checker: {}", check.error);
      }
      onnxio::SaveOptions save;
      save.external_data = opts->external_data;
      const uint64_t bytes = onnxio::save_model(model, opts->output, save);
      spdlog::info("wrote {} ({})", opts->output, human_bytes(bytes));
      return int(kOk);
    };
  });
}

}  // namespace nncompress::cli
