// prune.magnitude: the smallest weights zeroed (global or per-layer threshold), optionally
// reached gradually while fine-tuning (AGP).
#include "nncompress/core/format.h"
#include "nncompress/passes/node_patterns.h"
#include "nncompress/passes/pass_training.h"
#include "nncompress/passes/prune/magnitude_pruning.h"
#include "prune_pass_common.h"

namespace nncompress::passes {

namespace {

using K = OptionKind;

std::vector<std::string> check(const OptionValues& v, const OptionNamer& name) {
  if (v.boolean("gradual") && !trains(v)) return {name("gradual") + " needs " + name("epochs") + " > 0"};
  return {};
}

PassResult apply(ir::Model& model, const PassContext& c, const OptionValues& v) {
  MagnitudePruneOptions o;
  // Gradual: start from the dense weights; the schedule reaches the sparsity while training.
  o.sparsity = v.boolean("gradual") ? 0.0 : v.number("sparsity");
  o.per_layer = v.boolean("per-layer");
  o.keep = resolve_node_patterns(model.graph, v.list("keep"), "keep");
  MagnitudePruneResult r = prune_magnitude(model, o);
  std::string summary = format("%.1f%% of the prunable weights zeroed", 100 * v.number("sparsity"));
  if (trains(v)) {
    train::TrainOptions t = training(v, c);
    t.masks = std::move(r.masks);
    if (v.boolean("gradual")) {
      t.update_masks = gradual_magnitude_schedule(0.0, v.number("sparsity"));
      t.keep_best_epoch = false;  // only the last epoch has the final sparsity
    }
    const train::TrainResult tr = train::fine_tune(model, *c.train, c.val, t);
    summary += format("; fine-tuned %zu epochs", tr.epochs.size());
  }
  store_as_asked(model, v);
  PassResult result;
  describe_sparsity(r.layers, model, result);
  result.summary = summary;
  return result;
}

}  // namespace

const PassInfo& prune_magnitude_pass() {
  static const PassInfo info{
      "prune.magnitude",
      "zero the smallest weights (global or per-layer threshold)",
      "labeled data only when epochs > 0",
      with_training({option("sparsity", K::Number, "0.5", "fraction of weights to zero").range(0, 1, false),
                     option("per-layer", K::Boolean, "false", "one threshold per layer instead of a global one"),
                     option("gradual", K::Boolean, "false", "reach the sparsity gradually while fine-tuning (AGP; needs epochs)"),
                     option("keep", K::List, "", "nodes left dense: names, globs (conv*) or op:TYPE").also("exclude"),
                     sparse_format_option()},
                    "0"),
      training_needs,
      check,
      apply,
  };
  return info;
}

}  // namespace nncompress::passes
