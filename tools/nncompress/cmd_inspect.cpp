// `nncompress inspect MODEL [--json]`: per-node shapes, parameters and MACs, and model totals.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli_common.h"
#include "nncompress/analysis/cost.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/onnx/validate.h"
#include "nncompress/runtime/run_shapes.h"

namespace nncompress::cli {

namespace {

struct InspectOptions {
  std::string model;
  bool json = false;
  bool no_check = false;
  ModelOptions model_options;
  bool raw = false;
};

std::string type_of(const ir::Value* v, const ir::TypeMap& types) {
  if (!v) return "-";
  if (const ir::Tensor* t = v->initializer()) {
    std::vector<ir::Dim> dims;
    for (int64_t d : t->dims()) dims.push_back(ir::Dim::known(d));
    return ir::to_string(ir::ValueType::tensor(t->dtype(), dims));
  }
  auto it = types.find(v->name());
  return ir::to_string(it != types.end() ? it->second : v->type);
}

std::vector<std::string> types_of(const std::vector<ir::Value*>& values, const ir::TypeMap& types,
                                  bool skip_initializers) {
  std::vector<std::string> out;
  for (const ir::Value* v : values)
    if (!(skip_initializers && v && v->has_initializer())) out.push_back(type_of(v, types));
  return out;
}

std::string join(const std::vector<std::string>& parts) {
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) s += (i ? " " : "") + parts[i];
  return s;
}

nlohmann::json to_json(const std::string& path, uint64_t file_bytes, const ir::Model& model,
                       const analysis::ModelCost& cost, const ir::TypeMap& types,
                       const onnxio::CheckResult* check, const std::vector<std::string>& warnings) {
  nlohmann::json j;
  j["model"] = path;
  j["file_bytes"] = file_bytes;
  j["ir_version"] = model.ir_version;
  j["opsets"] = nlohmann::json::object();
  for (const auto& o : model.opset_imports) j["opsets"][o.domain.empty() ? "ai.onnx" : o.domain] = o.version;
  j["producer"] = model.producer_name + (model.producer_version.empty() ? "" : " " + model.producer_version);
  auto io = [&](const std::vector<ir::Value*>& values) {
    nlohmann::json arr = nlohmann::json::array();
    for (const ir::Value* v : values)
      if (!v->has_initializer()) arr.push_back({{"name", v->name()}, {"type", type_of(v, types)}});
    return arr;
  };
  j["inputs"] = io(model.graph.inputs());
  j["outputs"] = io(model.graph.outputs());
  j["nodes"] = model.graph.nodes().size();
  j["params"] = cost.params;
  j["macs"] = cost.macs;
  j["nodes_with_unknown_macs"] = cost.nodes_with_unknown_macs;
  j["initializer_bytes"] = cost.initializer_bytes;
  nlohmann::json layers = nlohmann::json::array();
  for (const analysis::NodeCost& nc : cost.nodes) {
    nlohmann::json l;
    l["name"] = nc.node->name;
    l["op"] = nc.node->op_type();
    l["inputs"] = types_of(nc.node->inputs(), types, true);
    l["outputs"] = types_of(nc.node->outputs(), types, false);
    l["params"] = nc.params;
    l["macs"] = nc.macs ? nlohmann::json(*nc.macs) : nlohmann::json(nullptr);
    layers.push_back(l);
  }
  j["layers"] = layers;
  if (check)
    j["onnx_check"] = !check->checked ? "skipped" : check->ok() ? "passed" : "failed: " + check->error;
  j["warnings"] = warnings;
  return j;
}

void print_table(const std::string& path, uint64_t file_bytes, const ir::Model& model,
                 const analysis::ModelCost& cost, const ir::TypeMap& types, const onnxio::CheckResult* check) {
  std::printf("model:   %s (%s), ir_version %lld, opset %lld", path.c_str(), human_bytes(file_bytes).c_str(),
              static_cast<long long>(model.ir_version), static_cast<long long>(model.opset_version()));
  if (!model.producer_name.empty()) std::printf(", producer %s %s", model.producer_name.c_str(), model.producer_version.c_str());
  std::printf("\n");
  for (const ir::Value* v : model.graph.inputs())
    if (!v->has_initializer()) std::printf("input:   %s %s\n", v->name().c_str(), type_of(v, types).c_str());
  for (const ir::Value* v : model.graph.outputs()) std::printf("output:  %s %s\n", v->name().c_str(), type_of(v, types).c_str());
  if (check) std::printf("check:   %s\n", !check->checked ? "skipped (opset newer than libonnx)" : check->ok() ? "ONNX checker passed" : ("ONNX checker failed: " + check->error).c_str());
  std::printf("\n%-4s %-32s %-18s %-28s %-28s %12s %14s\n", "#", "name", "op", "inputs", "outputs", "params", "MACs");
  for (size_t i = 0; i < cost.nodes.size(); ++i) {
    const analysis::NodeCost& nc = cost.nodes[i];
    std::printf("%-4zu %-32s %-18s %-28s %-28s %12s %14s\n", i, nc.node->name.c_str(), nc.node->op_type().c_str(),
                join(types_of(nc.node->inputs(), types, true)).c_str(), join(types_of(nc.node->outputs(), types, false)).c_str(),
                nc.params ? with_commas(nc.params).c_str() : "",
                nc.macs ? (*nc.macs ? with_commas(*nc.macs).c_str() : "") : "?");
  }
  std::printf("\ntotal:   %zu nodes, %s params, %s MACs%s, initializers %s, file %s\n", cost.nodes.size(),
              with_commas(cost.params).c_str(), human_count(static_cast<double>(cost.macs)).c_str(),
              cost.nodes_with_unknown_macs ? (" (" + std::to_string(cost.nodes_with_unknown_macs) + " nodes unknown)").c_str() : "",
              human_bytes(cost.initializer_bytes).c_str(), human_bytes(file_bytes).c_str());
}

}  // namespace

void register_inspect(CLI::App& app, Action& action) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Show a model's layers, shapes, parameters and MACs");
  cmd->add_option("model", opts->model, "Input .onnx file")->required();
  cmd->add_flag("--json", opts->json, "Print one JSON object instead of the table");
  cmd->add_flag("--no-check", opts->no_check, "Skip ONNX's checker");
  add_model_options(cmd, opts->model_options);
  cmd->add_flag("--raw", opts->raw, "Show the graph as stored (Constant nodes, Identity...), without intake normalization");
  cmd->callback([&action, opts] {
    action = [opts] {
      opts->model_options.normalize = !opts->raw;
      const ir::Model model = load_user_model(opts->model, opts->model_options);
      const uint64_t file_bytes = std::filesystem::file_size(opts->model);
      std::vector<std::string> warnings;
      std::optional<onnxio::CheckResult> check;
      if (!opts->no_check) {
        check = onnxio::check_model(model);
        warnings.insert(warnings.end(), check->warnings.begin(), check->warnings.end());
      }
      const ir::TypeMap types = runtime::known_shapes(model, &warnings);
      const analysis::ModelCost cost = analysis::compute_cost(model.graph, types);
      if (opts->json) {
        std::cout << to_json(opts->model, file_bytes, model, cost, types, check ? &*check : nullptr, warnings).dump(2)
                  << std::endl;
      } else {
        for (const auto& w : warnings) spdlog::warn("{}", w);
        print_table(opts->model, file_bytes, model, cost, types, check ? &*check : nullptr);
      }
      return int(kOk);
    };
  });
}

}  // namespace nncompress::cli
