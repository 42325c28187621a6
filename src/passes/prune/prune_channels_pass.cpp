// prune.channels: channels removed for real, scored by an importance criterion.
#include "nncompress/core/format.h"
#include "nncompress/passes/node_patterns.h"
#include "nncompress/passes/pass_training.h"
#include "nncompress/passes/prune/channel_pruning.h"
#include "nncompress/passes/prune/importance.h"
#include "nncompress/runtime/run_shapes.h"
#include "prune_pass_common.h"

namespace nncompress::passes {

namespace {

using K = OptionKind;

Needs needs(const OptionValues& v) {
  Needs n = training_needs(v);
  if (find_importance(v.text("criterion")).needs_gradients) n.training_data = n.labels = true;
  return n;
}

std::vector<std::string> check(const OptionValues& v, const OptionNamer& name) {
  if (v.given("target-macs") && v.given("target-params"))
    return {"give " + name("target-macs") + " or " + name("target-params") + ", not both"};
  return {};
}

PassResult apply(ir::Model& model, const PassContext& c, const OptionValues& v) {
  ChannelPruneOptions o;
  o.ratio = v.number("ratio");
  o.target_macs = v.number_or("target-macs", 0);
  o.target_params = v.number_or("target-params", 0);
  o.criterion = v.text("criterion");
  o.round_to = v.integer("round-to");
  o.keep = resolve_node_patterns(model.graph, v.list("keep"), "keep");
  o.keep_first_conv = !v.boolean("prune-first-conv");
  o.data = c.train;
  o.preprocess = c.preprocess;
  o.batch = c.batch;
  const ChannelPruneReport r = prune_channels(model, runtime::known_shapes(model), o);
  PassResult result;
  describe_channels(r, result);
  result.summary = format("%d channel groups pruned", r.groups_pruned) + fine_tune_keeping_zeros(model, v, c);
  return result;
}

}  // namespace

const PassInfo& prune_channels_pass() {
  static const PassInfo info{
      "prune.channels",
      "remove output channels for real (dependency groups; residuals, concat, depthwise)",
      "labeled data for criterion taylor or epochs > 0",
      with_training({option("ratio", K::Number, "0.3", "fraction of each group's channels to remove").range(0, 1, false),
                     option("target-macs", K::Number, "", "keep this fraction of the MACs (global)").at_least(0, false).at_most(1),
                     option("target-params", K::Number, "", "keep this fraction of the params (global)").at_least(0, false).at_most(1),
                     option("criterion", K::Text, "l1", "channel importance").one_of(importance_names()),
                     option("round-to", K::Integer, "1", "keep channel counts multiples of this").at_least(1).at_most(4096),
                     option("keep", K::List, "", "nodes left alone: names, globs (conv*) or op:TYPE").also("exclude"),
                     option("prune-first-conv", K::Boolean, "false", "allow pruning the first convolution's channels")},
                    "0"),
      needs,
      check,
      apply,
  };
  return info;
}

}  // namespace nncompress::passes
