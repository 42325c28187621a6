// finetune: trains the weights, pruned zeros kept at zero.
#include "nncompress/passes/pass_training.h"

namespace nncompress::passes {

namespace {

std::vector<std::string> check(const OptionValues& v, const OptionNamer& name) {
  if (!trains(v)) return {name("epochs") + " must be at least 1"};
  return {};
}

PassResult apply(ir::Model& model, const PassContext& c, const OptionValues& v) {
  PassResult result;
  result.summary = fine_tune_keeping_zeros(model, v, c).substr(2) + " (zeros kept)";
  return result;
}

}  // namespace

const PassInfo& finetune_pass() {
  static const PassInfo info{
      "finetune",
      "train the weights (pruned zeros stay zero)",
      "training data (labels, or distill: true)",
      with_training({}, "1"),
      training_needs,
      check,
      apply,
  };
  return info;
}

}  // namespace nncompress::passes
