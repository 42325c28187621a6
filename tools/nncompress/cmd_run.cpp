// `nncompress run MODEL -i NAME=FILE ... -o DIR`: one forward pass, outputs written as .npy.
#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>

#include "cli_common.h"
#include "nncompress/core/atomic_file.h"
#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/data/array_io.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::cli {

namespace {

struct RunOptions {
  std::string model;
  std::vector<std::string> inputs;
  std::string output_dir;
  ModelOptions model_options;
};

at::Tensor read_input(const std::string& path) {
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".pb") == 0) return runtime::to_aten(onnxio::load_tensor(path));
  return data::read_npy(path);
}

// A file name for an output value: keeps letters, digits, '-', '_' and '.'.
std::string file_name_for(const std::string& value) {
  std::string s;
  for (char ch : value) s += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.') ? ch : '_';
  return s.empty() ? "output" : s;
}

}  // namespace

void register_run(CLI::App& app, Action& action) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Run a model once on given inputs and write its outputs as .npy");
  cmd->add_option("model", opts->model, "Input .onnx file")->required();
  cmd->add_option("-i,--input", opts->inputs, "NAME=FILE (.npy or ONNX .pb); just FILE for a one-input model")->required();
  cmd->add_option("-o,--output-dir", opts->output_dir, "Folder for the outputs (created if missing)")->required();
  add_model_options(cmd, opts->model_options);
  cmd->callback([&action, opts] {
    action = [opts] {
      const ir::Model model = load_user_model(opts->model, opts->model_options);
      runtime::Executor exec(model);
      std::map<std::string, std::string> files;
      for (const std::string& spec : opts->inputs) {
        const auto eq = spec.find('=');
        if (eq == std::string::npos) {
          if (exec.inputs().size() != 1) throw bad_input("-i " + spec + ": name the input (NAME=FILE); the model has several");
          files[exec.inputs()[0]->name()] = spec;
        } else {
          files[spec.substr(0, eq)] = spec.substr(eq + 1);
        }
      }
      std::vector<at::Tensor> inputs;
      for (const ir::Value* v : exec.inputs()) {
        auto it = files.find(v->name());
        if (it == files.end()) throw bad_input("no data for model input '" + v->name() + "' (-i " + v->name() + "=FILE)");
        inputs.push_back(read_input(it->second));
        files.erase(it);
      }
      if (!files.empty()) throw bad_input("the model has no input named '" + files.begin()->first + "'");
      // Every output's file, reserved before the run: two output names that map to one file name
      // ("a/b", "a_b") or an output over an input are refused before anything is written.
      std::vector<std::string> paths;
      for (const ir::Value* v : exec.outputs())
        paths.push_back((std::filesystem::path(opts->output_dir) / (file_name_for(v->name()) + ".npy")).string());
      plan_outputs({}, paths);
      at::NoGradGuard no_grad;  // inference: the executor may use the blocked layout
      const std::vector<at::Tensor> outputs = exec.run(inputs);
      create_output_folder(opts->output_dir);
      for (size_t i = 0; i < outputs.size(); ++i) {
        const std::string& path = paths[i];
        data::write_npy(outputs[i], path);
        spdlog::info("wrote {} {}", path, c10::str(outputs[i].sizes()));
      }
      return int(kOk);
    };
  });
}

}  // namespace nncompress::cli
