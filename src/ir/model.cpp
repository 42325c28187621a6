#include "nncompress/ir/model.h"

namespace nncompress::ir {

int64_t Model::opset_version(const std::string& domain) const {
  const bool want_default = domain.empty() || domain == "ai.onnx";
  for (const OpsetImport& o : opset_imports) {
    const bool is_default = o.domain.empty() || o.domain == "ai.onnx";
    if (want_default ? is_default : o.domain == domain) return o.version;
  }
  return 0;
}

}  // namespace nncompress::ir
