#include "nncompress/runtime/step_memo.h"

#include <set>
#include <string>

namespace nncompress::runtime {
namespace {

// Larger tensors are activations, not shape values; keeping them would cost memory.
constexpr int64_t kMostElements = 1024;

bool small_plain(const at::Tensor& t) { return !t.defined() || (!t.is_mkldnn() && t.numel() <= kMostElements); }

int64_t version_of(const at::Tensor& t) { return t.defined() ? static_cast<int64_t>(t._version()) : -1; }

}  // namespace

bool StepMemo::applies_to(const ir::Node& n) {
  // Deterministic ops that shape computations use; no Random*, no op with state.
  static const std::set<std::string> pure{
      "Shape",     "Size",  "Gather", "Unsqueeze",       "Squeeze", "Concat",  "Cast",           "Slice",   "Reshape",
      "Flatten",   "Identity", "Mul",  "Add",            "Sub",     "Div",     "Neg",            "Abs",     "Floor",
      "Ceil",      "Sqrt",  "Equal",  "Less",            "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And",
      "Or",        "Where", "Max",    "Min",             "Range",   "ConstantOfShape", "Expand", "ReduceProd",
      "Transpose", "Tile",  "Mod"};
  return n.in_default_domain() && pure.count(n.op_type()) > 0;
}

StepMemo::StepMemo(const ir::Node& n) : by_sizes_(n.op_type() == "Shape" || n.op_type() == "Size") {}

const std::vector<at::Tensor>* StepMemo::find(const std::vector<at::Tensor>& args) const {
  if (!valid_ || args.size() != args_.size()) return nullptr;
  if (by_sizes_) {
    if (args.empty() || !args[0].defined() || args[0].sizes() != at::IntArrayRef(sizes_)) return nullptr;
  } else {
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i].defined() != args_[i].defined()) return nullptr;
      if (args[i].defined() && (!args[i].is_same(args_[i]) || version_of(args[i]) != versions_[i])) return nullptr;
    }
  }
  for (size_t i = 0; i < results_.size(); ++i)
    if (version_of(results_[i]) != result_versions_[i]) return nullptr;  // changed in place since
  return &results_;
}

void StepMemo::keep(const std::vector<at::Tensor>& args, const std::vector<at::Tensor>& results) {
  valid_ = false;
  args_.clear();
  results_.clear();
  for (const at::Tensor& r : results)
    if (!r.defined() || !small_plain(r)) return;
  if (by_sizes_) {
    if (args.empty() || !args[0].defined()) return;
    sizes_ = args[0].sizes().vec();
    args_.resize(args.size());  // only the count is compared: the tensor itself is not held
  } else {
    for (const at::Tensor& a : args)
      if (!small_plain(a)) return;
    args_ = args;
    versions_.clear();
    for (const at::Tensor& a : args) versions_.push_back(version_of(a));
  }
  results_ = results;
  result_versions_.clear();
  for (const at::Tensor& r : results) result_versions_.push_back(version_of(r));
  valid_ = true;
}

}  // namespace nncompress::runtime
