#include "proto_compare.h"

#include <google/protobuf/util/message_differencer.h>
#include <onnx/defs/tensor_proto_util.h>

#include <cstring>
#include <vector>

namespace nncompress::test_support {

namespace {

template <typename T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

template <typename Narrow, typename Field>
std::string narrowed(const Field& field) {
  std::vector<Narrow> out;
  for (auto x : field) out.push_back(static_cast<Narrow>(x));
  return bytes_of(out);
}

void to_raw(onnx::TensorProto& t) {
  using T = onnx::TensorProto;
  if (t.data_type() == T::STRING || t.has_raw_data() || t.data_location() == T::EXTERNAL) return;
  std::string raw;
  switch (t.data_type()) {
    case T::FLOAT: raw = bytes_of(onnx::ParseData<float>(&t)); break;
    case T::DOUBLE: raw = bytes_of(onnx::ParseData<double>(&t)); break;
    case T::INT32: raw = bytes_of(onnx::ParseData<int32_t>(&t)); break;
    case T::INT64: raw = bytes_of(onnx::ParseData<int64_t>(&t)); break;
    case T::COMPLEX64: raw = bytes_of(std::vector<float>(t.float_data().begin(), t.float_data().end())); break;
    case T::COMPLEX128: raw = bytes_of(std::vector<double>(t.double_data().begin(), t.double_data().end())); break;
    case T::INT8:
    case T::UINT8:
    case T::BOOL: raw = narrowed<uint8_t>(t.int32_data()); break;
    case T::INT16:
    case T::UINT16:
    case T::FLOAT16:
    case T::BFLOAT16: raw = narrowed<uint16_t>(t.int32_data()); break;
    case T::UINT32: raw = narrowed<uint32_t>(t.uint64_data()); break;
    case T::UINT64: raw = narrowed<uint64_t>(t.uint64_data()); break;
    default: return;
  }
  t.clear_float_data();
  t.clear_double_data();
  t.clear_int32_data();
  t.clear_int64_data();
  t.clear_uint64_data();
  t.set_raw_data(raw);
}

}  // namespace

void normalize_tensor_storage(onnx::ModelProto& model) {
  auto* g = model.mutable_graph();
  for (auto& t : *g->mutable_initializer()) to_raw(t);
  for (auto& n : *g->mutable_node()) {
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_t()) to_raw(*a.mutable_t());
      for (auto& t : *a.mutable_tensors()) to_raw(t);
    }
  }
}

std::string semantic_diff(onnx::ModelProto expected, onnx::ModelProto actual) {
  normalize_tensor_storage(expected);
  normalize_tensor_storage(actual);
  using google::protobuf::util::MessageDifferencer;
  MessageDifferencer differ;
  differ.set_message_field_comparison(MessageDifferencer::EQUIVALENT);
  differ.TreatAsSet(onnx::GraphProto::descriptor()->FindFieldByName("value_info"));
  std::string diff;
  differ.ReportDifferencesToString(&diff);
  return differ.Compare(expected, actual) ? std::string() : (diff.empty() ? "differ" : diff);
}

}  // namespace nncompress::test_support
