#include "nncompress/passes/quant/packed_weights.h"

#include <ATen/ATen.h>

#include <vector>

#include "nncompress/core/error.h"
#include "nncompress/passes/graph_build.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

// The output of a new single-output node.
ir::Value* node(ir::Graph& g, const std::string& op, const std::string& name, std::vector<ir::Value*> inputs,
                std::vector<ir::Attribute> attributes = {}) {
  return add_op(g, op, name, std::move(inputs), std::move(attributes))->output(0);
}

at::Tensor int64s(std::vector<int64_t> v) { return at::tensor(v, at::kLong); }

// `consumer` reads its weight (input 1) from `decoded`; the float initializer goes when unread.
void replace_weight(ir::Graph& g, ir::Node* consumer, ir::Value* decoded) {
  ir::Value* old = consumer->input(1);
  g.set_input(consumer, 1, decoded);
  if (old->uses().empty() && !old->is_graph_input() && !old->is_graph_output()) g.remove_initializer(old);
}

// [bits, ceil(n/8), 1] uint8: plane j holds bit j of every code, 8 codes per byte, low bit first.
at::Tensor bit_planes(const at::Tensor& codes, int bits) {
  const at::Tensor flat = codes.reshape({-1}).to(at::kLong);
  const int64_t n = flat.numel(), bytes = (n + 7) / 8;
  const at::Tensor padded = at::cat({flat, at::zeros({bytes * 8 - n}, at::kLong)}).reshape({bytes, 8});
  const at::Tensor weights = at::pow(2, at::arange(8, at::kLong));  // bit i of a byte
  std::vector<at::Tensor> planes;
  for (int j = 0; j < bits; ++j) planes.push_back(at::bitwise_and(at::bitwise_right_shift(padded, j), 1).mul(weights).sum(1));
  return at::stack(planes).reshape({bits, bytes, 1}).to(at::kByte);
}

}  // namespace

ir::Value* add_packed_codes(ir::Graph& g, const std::string& base, const at::Tensor& codes, int bits) {
  if (bits < 1 || bits > 8) throw internal_error("packed codes need 1..8 bits");
  const int64_t n = codes.numel(), bytes = (n + 7) / 8;
  ir::Value* planes = add_constant(g, base + "_bitplanes", bit_planes(codes, bits), ir::DataType::UInt8);
  ir::Value* shifts = add_constant(g, base + "_shifts", at::arange(8, at::kLong), ir::DataType::UInt8);
  ir::Value* two = add_constant(g, base + "_two", at::scalar_tensor(2.0, at::kFloat), ir::DataType::Float);
  ir::Value* powers = add_constant(g, base + "_plane_values", at::pow(2.0, at::arange(bits, at::kFloat)).reshape({1, bits}),
                               ir::DataType::Float);
  ir::Value* flat_shape = add_constant(g, base + "_plane_shape", int64s({bits, bytes * 8}), ir::DataType::Int64);
  ir::Value* shifted =
      node(g, "BitShift", base + "_shifted", {planes, shifts}, {ir::Attribute::make_string("direction", "RIGHT")});
  ir::Value* as_float = node(g, "Cast", base + "_shifted_float", {shifted}, {ir::Attribute::make_int("to", 1)});
  ir::Value* bit = node(g, "Mod", base + "_bits", {as_float, two}, {ir::Attribute::make_int("fmod", 1)});
  ir::Value* rows = node(g, "Reshape", base + "_bit_rows", {bit, flat_shape});
  ir::Value* values = node(g, "MatMul", base + "_codes_padded", {powers, rows});  // [1, bytes * 8]
  if (bytes * 8 != n) {
    values = node(g, "Slice", base + "_codes_flat",
                  {values, add_constant(g, base + "_start", int64s({0}), ir::DataType::Int64),
                   add_constant(g, base + "_end", int64s({n}), ir::DataType::Int64),
                   add_constant(g, base + "_axis", int64s({1}), ir::DataType::Int64)});
  }
  ir::Value* shape = add_constant(g, base + "_shape", int64s(codes.sizes().vec()), ir::DataType::Int64);
  return node(g, "Reshape", base + "_codes", {values, shape});
}

int store_codebook_weight(ir::Graph& g, ir::Node* consumer) {
  ir::Value* old = consumer->input(1);
  const at::Tensor w = runtime::to_aten(*old->initializer()).to(at::kFloat);
  const auto [codebook, indices] = at::_unique(w.reshape({-1}), /*sorted=*/true, /*return_inverse=*/true);
  if (codebook.numel() > 256) return 0;
  int bits = 1;
  while ((int64_t(1) << bits) < codebook.numel()) ++bits;
  const std::string base = old->name();
  ir::Value* codes = add_packed_codes(g, base, indices.reshape(w.sizes()), bits);
  ir::Value* as_index = node(g, "Cast", base + "_indices", {codes}, {ir::Attribute::make_int("to", 7)});  // INT64
  ir::Value* table = add_constant(g, base + "_codebook", codebook, ir::DataType::Float);
  replace_weight(g, consumer, node(g, "Gather", base + "_decoded", {table, as_index}));
  return bits;
}

int packed_bits(const ir::Value& value) {
  std::vector<const ir::Value*> stack{&value};
  for (int visited = 0; !stack.empty() && visited < 64; ++visited) {
    const ir::Value* v = stack.back();
    stack.pop_back();
    const ir::Node* n = v->producer();
    if (!n) continue;
    const ir::Value* planes = n->input(0);
    if (n->op_type() == "BitShift" && planes && planes->has_initializer() && planes->initializer()->dims().size() == 3)
      return static_cast<int>(planes->initializer()->dims()[0]);
    for (const ir::Value* in : n->inputs())
      if (in) stack.push_back(in);
  }
  return 0;
}

void store_uniform_weight(ir::Graph& g, ir::Node* consumer, const UniformWeights& q, UniformStorage storage) {
  const std::string base = consumer->input(1)->name();
  ir::Value* weight = nullptr;
  const bool int4 = storage == UniformStorage::Int4DequantizeLinear && q.bits <= 4;
  if (storage == UniformStorage::Int4DequantizeLinear || (storage == UniformStorage::Int8DequantizeLinear && q.bits == 8)) {
    const ir::DataType type = int4 ? ir::DataType::Int4 : ir::DataType::Int8;
    ir::Value* codes = add_constant(g, base + "_quantized", q.codes, type);
    ir::Value* scale = add_constant(g, base + "_scale", q.scales.reshape(q.axis >= 0 ? std::vector<int64_t>{-1} : std::vector<int64_t>{}),
                                ir::DataType::Float);
    ir::Value* zero = add_constant(g, base + "_zero_point", at::zeros(scale->initializer()->dims(), at::kLong), type);
    std::vector<ir::Attribute> attrs;
    if (q.axis >= 0) attrs.push_back(ir::Attribute::make_int("axis", q.axis));
    weight = node(g, "DequantizeLinear", base + "_dequantized", {codes, scale, zero}, attrs);
  } else {
    ir::Value* codes = add_packed_codes(g, base, q.codes + q.max_code(), q.bits);
    ir::Value* offset = add_constant(g, base + "_code_offset", at::scalar_tensor(static_cast<double>(q.max_code()), at::kFloat),
                                 ir::DataType::Float);
    ir::Value* scale = add_constant(g, base + "_scale", q.scales.reshape(q.scale_shape()), ir::DataType::Float);
    weight = node(g, "Mul", base + "_dequantized", {node(g, "Sub", base + "_centered", {codes, offset}), scale});
  }
  replace_weight(g, consumer, weight);
}

}  // namespace nncompress::passes
