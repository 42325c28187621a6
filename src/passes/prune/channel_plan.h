#pragma once
// What prune.channels and structured AutoPrune share: which channel groups may be pruned, what
// fraction of the MACs or params a choice of channels leaves, choosing channels by score (a
// uniform ratio, a threshold, or a global target), and removing the unchosen ones for real.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nncompress/analysis/channel_groups.h"
#include "nncompress/analysis/cost.h"
#include "nncompress/passes/prune/channel_pruning.h"

namespace nncompress::passes {

// Channels kept per pruned root group, ascending indices. Groups absent keep every channel.
using KeptChannels = std::map<int, at::Tensor>;

struct ChannelPlan {
  analysis::ChannelGraph cg;
  std::map<int, int64_t> sizes;  // root groups that may be pruned -> their channel count
  std::vector<std::pair<std::string, std::string>> unprunable;  // producer -> why left alone
  // Parameter count before constants were made private (copies of shared tensors must not count
  // as parameters the user had).
  double params_baseline = 0;
  std::map<const ir::Node*, std::pair<int64_t, int64_t>> before;  // weighted layers -> channels, params
  int64_t opset = 0;  // of the default domain: where a Split's sizes are written
};

// A producer's weight as rows per output channel: [channels, rest], float.
at::Tensor output_rows(const ir::Node& producer);
// Per-output values of g.producers[producer] ([outputs, ...]: rows, scores), those of group g's
// channels (from its offset) regrouped per channel: [g.size, -1] (a head's features, and its rows
// in every third of a fused QKV).
at::Tensor per_channel(const analysis::ChannelGroup& g, size_t producer, const at::Tensor& outputs);
// True when the producer has a constant bias with one value per output channel (pruned with it).
bool has_vector_bias(const ir::Node& producer);

// Makes shared constants private, builds the channel groups and picks the prunable ones: not
// blocked by the analysis, not producing the first convolution's channels (when asked), and no
// producer named in `keep`.
ChannelPlan plan_channels(ir::Model& model, const ir::TypeMap& types, const std::vector<std::string>& keep,
                          bool keep_first_conv);

// Channels to keep per group from per-channel scores: the best (1 - ratio) of each group, or,
// with a threshold, those scoring at least it (scores divided by their group's mean first when
// `normalize`). Counts are rounded up to multiples of `round_to`; at least one channel stays.
KeptChannels decide(const ChannelPlan& plan, const std::map<int, at::Tensor>& scores, std::optional<double> threshold,
                    double ratio, int64_t round_to, bool normalize);

// The fraction of MACs (or params) left after keeping `kept`.
double fraction_left(const ir::Graph& graph, const analysis::ModelCost& cost, const ChannelPlan& plan,
                     const KeptChannels& kept, bool macs);

// A MAC target needs every weighted layer's MACs: bad_input naming the first layer whose shapes
// are unknown (fix the input shapes with --input-shape), instead of aiming at part of the model.
void require_known_macs(const analysis::ModelCost& cost);

// The kept channels of the lowest global threshold whose model meets `target` (a fraction of the
// MACs, or of the params), found by bisection; bad_input when even the highest cannot.
// `predicted` receives the fraction that remains.
KeptChannels meet_target(const ir::Graph& graph, const analysis::ModelCost& cost, const ChannelPlan& plan,
                         const std::map<int, at::Tensor>& scores, double target, bool macs, int64_t round_to,
                         bool normalize, double& predicted);

// Removes every channel not in `kept` from every tensor of its group, sets depthwise group
// counts, forgets intermediate shapes, and returns the per-layer changes.
std::vector<LayerChange> remove_channels(ir::Graph& graph, const ChannelPlan& plan, const KeptChannels& kept);

}  // namespace nncompress::passes
