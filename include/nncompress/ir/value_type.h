#pragma once
// The static type of a value: element type and (possibly symbolic) shape of a tensor.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "nncompress/ir/data_type.h"

namespace nncompress::ir {

// One dimension: a known size, a named symbol ("batch"), or unknown.
struct Dim {
  std::optional<int64_t> value;
  std::string param;
  std::string denotation;

  static Dim known(int64_t v) { return Dim{v, {}, {}}; }
  static Dim symbol(std::string name) { return Dim{std::nullopt, std::move(name), {}}; }
  // A dimension that is k times the batch size (the batch merged with heads or tokens), as found
  // by running the model at two batch sizes: the symbol "batch*k" ("batch" for k = 1).
  static Dim batch_multiple(int64_t k);
  // k for such a dimension: its size at batch 1.
  std::optional<int64_t> batch_multiple_value() const;
  bool is_known() const { return value.has_value(); }
  bool operator==(const Dim& o) const { return value == o.value && param == o.param && denotation == o.denotation; }
};

struct ValueType {
  // False when nothing is known about the value (no value_info): export writes no type.
  bool defined = false;
  DataType elem_type = DataType::Undefined;
  // nullopt: rank unknown. A tensor type with a shape of {} is a scalar.
  std::optional<std::vector<Dim>> shape;
  std::string denotation;
  // Non-tensor types (sequence, map, optional, sparse tensor) as serialized ONNX TypeProto bytes,
  // carried through unchanged. Empty for tensors.
  std::string opaque;

  static ValueType tensor(DataType elem, std::vector<Dim> dims);
  bool is_tensor() const { return defined && opaque.empty(); }
  // The shape with every dimension known, or nullopt.
  std::optional<std::vector<int64_t>> static_shape() const;
  bool operator==(const ValueType& o) const;
};

std::string to_string(const ValueType& type);  // e.g. "FLOAT[batch,3,224,224]"

// Types of values by name, e.g. as shape inference found them.
using TypeMap = std::unordered_map<std::string, ValueType>;

}  // namespace nncompress::ir
