// prune.autoprune: pruning by trained auxiliary parameters, per weight (unstructured) or per
// channel (structured, channels removed for real).
#include "nncompress/core/format.h"
#include "nncompress/passes/node_patterns.h"
#include "nncompress/passes/pass_training.h"
#include "nncompress/passes/prune/autoprune.h"
#include "nncompress/runtime/run_shapes.h"
#include "prune_pass_common.h"

namespace nncompress::passes {

namespace {

using K = OptionKind;

bool per_channel(const OptionValues& v) { return v.text("granularity") == "channels"; }

std::vector<std::string> check(const OptionValues& v, const OptionNamer& name) {
  std::vector<std::string> problems;
  if (!trains(v)) problems.push_back("AutoPrune trains its auxiliary parameters: " + name("epochs") + " must be at least 1");
  if (per_channel(v) && v.given("sparsity"))
    problems.push_back(name("granularity") + " channels takes " + name("target-macs") + " or " + name("target-params") +
                       ", not " + name("sparsity"));
  if (!per_channel(v) && (v.given("target-macs") || v.given("target-params") || v.given("round-to")))
    problems.push_back(name("target-macs") + ", " + name("target-params") + " and " + name("round-to") + " need " +
                       name("granularity") + " channels");
  if (v.given("target-macs") && v.given("target-params"))
    problems.push_back("give " + name("target-macs") + " or " + name("target-params") + ", not both");
  return problems;
}

AutoPruneOptions options_of(const ir::Model& model, const OptionValues& v, const PassContext& c) {
  AutoPruneOptions o;
  o.target_sparsity = v.number_or("sparsity", 0);
  o.lambda = v.number("lambda");
  o.aux_lr = v.number("aux-lr");
  o.aux_init = v.text("aux-init");
  if (v.has("search-fraction")) o.search_fraction = v.number("search-fraction");
  o.keep = resolve_node_patterns(model.graph, v.list("keep"), "keep");
  o.keep_first_conv = !v.boolean("prune-first-conv");
  o.target_macs = v.number_or("target-macs", 0);
  o.target_params = v.number_or("target-params", 0);
  o.round_to = v.integer("round-to");
  o.train = training(v, c);
  return o;
}

PassResult apply(ir::Model& model, const PassContext& c, const OptionValues& v) {
  const AutoPruneOptions o = options_of(model, v, c);
  PassResult result;
  if (per_channel(v)) {
    const ChannelAutoPruneResult r = prune_autoprune_channels(model, runtime::known_shapes(model), *c.train, c.val, o);
    describe_channels(r.report, result);
    nlohmann::json trace = nlohmann::json::array();
    for (const auto& p : r.trace) trace.push_back({{"step", p.step}, {"kept", p.kept}, {"goal", p.goal}});
    result.details.update({{"recovered", r.recovered}, {"search_trace", trace}});
    // The gated model's last validation: removal is exact when top1_after equals it.
    if (!r.training.epochs.empty() && r.training.epochs.back().val_top1)
      result.details["last_epoch_val_top1"] = *r.training.epochs.back().val_top1;
    result.summary = format("%d channel groups pruned by auxiliary parameters trained %d epochs", r.report.groups_pruned,
                            o.train.epochs);
    result.notes.push_back(format("%lld channels closed during the search came back", static_cast<long long>(r.recovered)));
  } else {
    const AutoPruneResult r = prune_autoprune(model, *c.train, c.val, o);
    describe_sparsity(r.layers, model, result);
    result.details.update({{"final_lambda", r.final_lambda}, {"recovered", r.recovered}});
    result.summary = format("auxiliary parameters trained %d epochs, final lambda %.3g", o.train.epochs, r.final_lambda);
    result.notes.push_back(format("final lambda %.4g; %lld weights pruned during the search came back", r.final_lambda,
                                  static_cast<long long>(r.recovered)));
  }
  store_as_asked(model, v);
  return result;
}

}  // namespace

const PassInfo& prune_autoprune_pass() {
  static const PassInfo info{
      "prune.autoprune",
      "pruning by trained auxiliary parameters, per weight or per channel (docs/autoprune.md)",
      "training data (labels, or distill: true)",
      with_training(
          {option("granularity", K::Text, "weights", "weights: unstructured; channels: channels removed for real")
               .one_of({"weights", "channels"}),
           option("sparsity", K::Number, "", "weights: target sparsity (else lambda decides)").range(0, 1, false),
           option("target-macs", K::Number, "", "channels: keep this fraction of the MACs (else lambda decides)")
               .at_least(0, false)
               .at_most(1),
           option("target-params", K::Number, "", "channels: keep this fraction of the params").at_least(0, false).at_most(1),
           option("round-to", K::Integer, "1", "channels: keep channel counts multiples of this").at_least(1).at_most(4096),
           option("lambda", K::Number, "0.5", "regularization pull on the auxiliary parameters").at_least(0),
           option("aux-lr", K::Number, "0.01", "step size of the auxiliary parameters").at_least(0, false),
           option("aux-init", K::Text, "magnitude", "initial auxiliary parameters").one_of({"magnitude", "constant"}),
           option("search-fraction", K::Number, "",
                  "share of the training steps in which the auxiliaries train (default 2/3 per weight, 1/3 per "
                  "channel); the rest fine-tunes under fixed masks")
               .at_least(0, false)
               .at_most(1),
           option("keep", K::List, "", "nodes left dense: names, globs (conv*) or op:TYPE").also("exclude"),
           option("prune-first-conv", K::Boolean, "false", "channels: allow pruning the first convolution's channels"),
           sparse_format_option()},
          "5"),
      training_needs,
      check,
      apply,
  };
  return info;
}

}  // namespace nncompress::passes
