#include "nncompress/ir/value_type.h"

namespace nncompress::ir {

ValueType ValueType::tensor(DataType elem, std::vector<Dim> dims) {
  ValueType t;
  t.defined = true;
  t.elem_type = elem;
  t.shape = std::move(dims);
  return t;
}

Dim Dim::batch_multiple(int64_t k) { return symbol(k == 1 ? "batch" : "batch*" + std::to_string(k)); }

std::optional<int64_t> Dim::batch_multiple_value() const {
  if (param == "batch") return 1;
  if (param.rfind("batch*", 0) != 0 || param.size() == 6 || param.size() > 24) return std::nullopt;
  const std::string digits = param.substr(6);
  if (digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoll(digits);
}

std::optional<std::vector<int64_t>> ValueType::static_shape() const {
  if (!is_tensor() || !shape) return std::nullopt;
  std::vector<int64_t> out;
  out.reserve(shape->size());
  for (const Dim& d : *shape) {
    if (!d.is_known()) return std::nullopt;
    out.push_back(*d.value);
  }
  return out;
}

bool ValueType::operator==(const ValueType& o) const {
  return defined == o.defined && elem_type == o.elem_type && shape == o.shape && denotation == o.denotation &&
         opaque == o.opaque;
}

std::string to_string(const ValueType& type) {
  if (!type.defined) return "?";
  if (!type.opaque.empty()) return "<non-tensor>";
  std::string s = to_string(type.elem_type);
  if (!type.shape) return s + "[?]";
  s += "[";
  for (size_t i = 0; i < type.shape->size(); ++i) {
    const Dim& d = (*type.shape)[i];
    if (i) s += ",";
    s += d.is_known() ? std::to_string(*d.value) : (d.param.empty() ? "?" : d.param);
  }
  return s + "]";
}

}  // namespace nncompress::ir
