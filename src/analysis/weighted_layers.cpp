#include "nncompress/analysis/weighted_layers.h"

namespace nncompress::analysis {

bool is_weighted_layer(const ir::Node& n) {
  if (!n.domain().empty() && n.domain() != "ai.onnx") return false;
  const std::string& op = n.op_type();
  return op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul";
}

int64_t output_channel_axis(const ir::Node& n, int64_t weight_rank) {
  if (n.op_type() == "Conv") return 0;
  if (n.op_type() == "ConvTranspose") return 1;
  if (n.op_type() == "Gemm") return n.attr_int("transB", 0) ? 0 : 1;
  return weight_rank == 2 ? 1 : -1;  // MatMul
}

int64_t output_channel_axis(const ir::Node& n) {
  const ir::Value* w = n.input(1);
  return output_channel_axis(n, w && w->has_initializer() ? static_cast<int64_t>(w->initializer()->dims().size()) : 0);
}

}  // namespace nncompress::analysis
