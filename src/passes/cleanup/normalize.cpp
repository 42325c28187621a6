#include "nncompress/passes/cleanup/normalize.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <set>

#include "nncompress/core/error.h"
#include "nncompress/core/format.h"
#include "nncompress/onnx/validate.h"
#include "nncompress/runtime/constant_value.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

// The tensor a Constant node holds, or nullopt for forms we leave alone (sparse, strings).
std::optional<ir::Tensor> constant_attribute(const ir::Node& n) {
  if (n.attributes().size() != 1) return std::nullopt;
  const ir::Attribute& a = n.attributes()[0];
  if (a.name == "value" && a.kind == ir::AttributeKind::Tensor) return a.t;
  if (a.name == "value_float" && a.kind == ir::AttributeKind::Float)
    return runtime::from_aten(at::scalar_tensor(a.f, at::kFloat), ir::DataType::Float);
  if (a.name == "value_int" && a.kind == ir::AttributeKind::Int)
    return runtime::from_aten(at::scalar_tensor(a.i, at::kLong), ir::DataType::Int64);
  if (a.name == "value_floats" && a.kind == ir::AttributeKind::Floats)
    return runtime::from_aten(at::tensor(a.floats, at::kFloat), ir::DataType::Float);
  if (a.name == "value_ints" && a.kind == ir::AttributeKind::Ints)
    return runtime::from_aten(at::tensor(a.ints, at::kLong), ir::DataType::Int64);
  return std::nullopt;
}

// Ops whose result must stay computed: quantization structure is the model's meaning, random
// generators differ per run.
bool never_folded(const std::string& op) {
  static const std::set<std::string> ops = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
                                            "RandomNormal",   "RandomUniform",    "RandomNormalLike",
                                            "RandomUniformLike", "Bernoulli",     "Multinomial"};
  return ops.count(op) > 0;
}

bool is_constant(const ir::Value* v) { return v && v->has_initializer() && !v->is_graph_input(); }

// Shape/Size of an input whose shape is fully known.
std::optional<at::Tensor> shape_value(const ir::Node& n, const ir::TypeMap& types) {
  const ir::Value* in = n.input(0);
  if (!in) return std::nullopt;
  auto it = types.find(in->name());
  if (it == types.end()) return std::nullopt;
  const std::optional<std::vector<int64_t>> dims = it->second.static_shape();
  if (!dims) return std::nullopt;
  if (n.op_type() == "Size") return at::scalar_tensor(ir::element_count(*dims), at::kLong);
  const int64_t rank = static_cast<int64_t>(dims->size());
  auto clamp = [rank](int64_t i) { return std::min(std::max(i < 0 ? i + rank : i, int64_t{0}), rank); };
  const int64_t start = clamp(n.attr_int("start", 0)), end = clamp(n.attr_int("end", rank));
  std::vector<int64_t> part(dims->begin() + start, dims->begin() + std::max(start, end));
  return at::tensor(part, at::kLong);
}

bool foldable(const ir::Node& n) {
  if (!n.in_default_domain() || never_folded(n.op_type()) || n.outputs().size() != 1 || !n.output(0)) return false;
  if (n.output(0)->is_graph_output() || !n.implicit_inputs().empty()) return false;
  for (const ir::Attribute& a : n.attributes())
    if (a.kind == ir::AttributeKind::Graph || a.kind == ir::AttributeKind::Graphs) return false;
  return true;
}

bool is_shape_query(const ir::Node& n) { return n.op_type() == "Shape" || n.op_type() == "Size"; }

// A node folding may replace: Shape/Size (when the shape turns out static), or any node whose
// inputs are all constants.
bool fold_candidate(const ir::Node& n) {
  if (!foldable(n)) return false;
  if (is_shape_query(n)) return true;
  return !n.inputs().empty() &&
         std::all_of(n.inputs().begin(), n.inputs().end(), [](const ir::Value* in) { return !in || is_constant(in); });
}

int64_t input_bytes(const ir::Node& n) {
  int64_t bytes = 0;
  for (const ir::Value* in : n.inputs())
    if (in) bytes += static_cast<int64_t>(in->initializer()->byte_size());
  return bytes;
}

// One sweep in topological order; returns the number of nodes folded.
int fold_sweep(ir::Model& model, const ir::TypeMap& types) {
  int folded = 0;
  for (ir::Node* n : model.graph.topological_order()) {
    if (!fold_candidate(*n)) continue;
    std::optional<at::Tensor> value;
    if (is_shape_query(*n)) {
      value = shape_value(*n, types);
    } else {
      try {
        value = runtime::constant_value(model, *n->output(0));
      } catch (const std::exception&) {
        continue;  // an op the executor cannot run stays a node; the model is still valid
      }
      // Folding must not grow the file (ConstantOfShape, Expand, Tile, casts to wider types).
      if (value && static_cast<int64_t>(value->numel() * value->element_size()) > input_bytes(*n) + 4096) continue;
    }
    if (!value) continue;
    ir::DataType dtype = runtime::data_type_of(value->scalar_type());
    auto it = types.find(n->output(0)->name());
    if (it != types.end() && it->second.is_tensor() && it->second.elem_type != ir::DataType::Undefined)
      dtype = it->second.elem_type;
    model.graph.replace_by_initializer(n, runtime::from_aten(value->contiguous(), dtype));
    ++folded;
  }
  return folded;
}

bool passes_input_through(const ir::Node& n) {
  if (!n.in_default_domain() || !n.input(0) || n.outputs().empty() || !n.output(0) || n.output(0)->is_graph_output())
    return false;
  if (n.op_type() == "Identity") return true;
  if (n.op_type() != "Dropout") return false;
  const ir::Value* mask = n.output(1);
  if (mask && (!mask->uses().empty() || mask->is_graph_output())) return false;
  // A constant ratio of 0 drops nothing even in training mode (torchvision's Swin exports
  // F.dropout(p=0, training=True)).
  const ir::Value* ratio = n.input(1);
  if (ratio && is_constant(ratio) && ratio->initializer()->numel() == 1 &&
      runtime::to_aten(*ratio->initializer()).item<double>() == 0.0)
    return true;
  const ir::Value* training_mode = n.input(2);
  if (!training_mode) return true;
  return is_constant(training_mode) && training_mode->initializer()->numel() == 1 &&
         !runtime::to_aten(*training_mode->initializer()).item<bool>();
}

bool is_integer(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos && s.size() < 18;
}

}  // namespace

std::string NormalizeReport::summary() const {
  std::vector<std::string> parts;
  if (constants_lifted) parts.push_back(format("%d Constant nodes -> initializers", constants_lifted));
  if (nodes_folded) parts.push_back(format("%d constant nodes folded", nodes_folded));
  if (identities_removed) parts.push_back(format("%d Identity removed", identities_removed));
  if (dropouts_removed) parts.push_back(format("%d Dropout removed", dropouts_removed));
  if (unused_initializers_dropped) parts.push_back(format("%d unused initializers dropped", unused_initializers_dropped));
  std::string s;
  for (const std::string& p : parts) s += (s.empty() ? "" : ", ") + p;
  return s.empty() ? "nothing to normalize" : s;
}

int lift_constants(ir::Graph& graph) {
  std::vector<std::pair<ir::Node*, ir::Tensor>> lifted;
  for (const auto& n : graph.nodes()) {
    if (n->op_type() != "Constant" || !n->in_default_domain() || n->outputs().size() != 1 || !n->output(0)) continue;
    if (n->output(0)->is_graph_output()) continue;  // an output that is an initializer confuses runtimes
    if (std::optional<ir::Tensor> t = constant_attribute(*n)) lifted.emplace_back(n.get(), std::move(*t));
  }
  for (auto& [node, tensor] : lifted) graph.replace_by_initializer(node, std::move(tensor));
  return static_cast<int>(lifted.size());
}

int drop_unused_initializers(ir::Graph& graph) {
  int dropped = 0;
  for (ir::Value* v : std::vector<ir::Value*>(graph.initializers()))
    if (v->uses().empty() && !v->is_graph_output() && !v->is_graph_input()) {
      graph.remove_initializer(v);
      ++dropped;
    }
  return dropped;
}

void remove_pass_through_nodes(ir::Graph& graph, NormalizeReport& report, bool keep_dropout) {
  std::vector<ir::Node*> doomed;
  for (const auto& n : graph.nodes())
    if (passes_input_through(*n) && !(keep_dropout && n->op_type() == "Dropout")) doomed.push_back(n.get());
  for (ir::Node* n : doomed) {
    (n->op_type() == "Identity" ? report.identities_removed : report.dropouts_removed)++;
    graph.replace_all_uses(n->output(0), n->input(0));
    graph.erase_node(n);
  }
  graph.remove_dangling_values();
}

int fold_constants(ir::Model& model) {
  // Shape inference exports the whole model: skip it when nothing could fold.
  if (std::none_of(model.graph.nodes().begin(), model.graph.nodes().end(), [](const auto& n) { return fold_candidate(*n); }))
    return 0;
  int total = 0;
  // Folding can make more shapes static (a Reshape whose shape became constant), which lets a
  // later Shape fold: repeat a few times.
  for (int round = 0; round < 8; ++round) {
    const int folded = fold_sweep(model, onnxio::infer_shapes(model));
    total += folded;
    if (!folded) break;
  }
  return total;
}

NormalizeReport normalize_model(ir::Model& model, bool keep_dropout) {
  NormalizeReport report;
  report.constants_lifted = lift_constants(model.graph);
  remove_pass_through_nodes(model.graph, report, keep_dropout);
  report.nodes_folded = fold_constants(model);
  report.unused_initializers_dropped = drop_unused_initializers(model.graph);
  return report;
}

InputShape parse_input_shape(const std::string& text) {
  InputShape shape;
  std::string dims = text;
  const size_t eq = text.rfind('=');
  if (eq != std::string::npos) {
    shape.input = text.substr(0, eq);
    dims = text.substr(eq + 1);
    if (shape.input.empty()) throw bad_input("input shape '" + text + "': the input name before '=' is empty");
  }
  if (dims.empty()) throw bad_input("input shape '" + text + "' has no dimensions (expected e.g. x=1,3,224,224)");
  size_t start = 0;
  while (start <= dims.size()) {
    const size_t comma = std::min(dims.find(',', start), dims.size());
    const std::string d = dims.substr(start, comma - start);
    if (is_integer(d) && std::stoll(d) > 0) shape.dims.push_back(ir::Dim::known(std::stoll(d)));
    else if (!d.empty() && !is_integer(d) && d.find_first_of("-+.") == std::string::npos) shape.dims.push_back(ir::Dim::symbol(d));
    else throw bad_input("input shape '" + text + "': dimension '" + d + "' is not a positive integer or a name like N");
    start = comma + 1;
  }
  return shape;
}

void apply_input_shapes(ir::Model& model, const std::vector<InputShape>& shapes) {
  std::vector<ir::Value*> inputs;
  for (ir::Value* v : model.graph.inputs())
    if (!v->has_initializer()) inputs.push_back(v);
  std::string names;
  for (const ir::Value* v : inputs) names += (names.empty() ? "'" : ", '") + v->name() + "'";
  std::set<std::string> seen;
  for (const InputShape& s : shapes) {
    ir::Value* v = nullptr;
    if (s.input.empty()) {
      if (inputs.size() != 1)
        throw bad_input("the model has " + std::to_string(inputs.size()) + " inputs (" + names +
                        "): name the one each input shape is for, as NAME=dims");
      v = inputs[0];
    } else {
      for (ir::Value* in : inputs)
        if (in->name() == s.input) v = in;
      if (!v) throw bad_input("input shape for '" + s.input + "': the model has no such input (its inputs: " + names + ")");
    }
    if (!seen.insert(v->name()).second) throw bad_input("input '" + v->name() + "' is given two shapes");
    if (!v->type.is_tensor()) throw bad_input("input '" + v->name() + "' is not a tensor; it cannot take a shape");
    std::vector<ir::Dim> dims = s.dims;
    if (v->type.shape) {
      const std::vector<ir::Dim>& old = *v->type.shape;
      if (old.size() != dims.size())
        throw bad_input("input '" + v->name() + "' has rank " + std::to_string(old.size()) + " (" +
                        ir::to_string(v->type) + "); the shape given has " + std::to_string(dims.size()) + " dims");
      for (size_t i = 0; i < dims.size(); ++i) {
        if (old[i].is_known() && dims[i].is_known() && *old[i].value != *dims[i].value)
          throw bad_input("input '" + v->name() + "' fixes dim " + std::to_string(i) + " at " +
                          std::to_string(*old[i].value) + " (" + ir::to_string(v->type) + "); the shape given has " +
                          std::to_string(*dims[i].value));
        if (!dims[i].is_known()) dims[i] = old[i];  // a name keeps what the model says there
      }
    }
    v->type = ir::ValueType::tensor(v->type.elem_type, dims);
  }
}

}  // namespace nncompress::passes
