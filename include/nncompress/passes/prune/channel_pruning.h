#pragma once
// prune.channels: structured pruning that removes channels for real. Channel groups come from
// analysis::build_channel_graph; each prunable group is scored by a criterion and its weakest
// channels are removed from every tensor of the group, so the result is a smaller dense model.
#include <cstdint>
#include <string>
#include <vector>

#include "nncompress/data/dataset.h"
#include "nncompress/ir/model.h"

namespace nncompress::passes {

struct ChannelPruneOptions {
  double ratio = 0.3;               // fraction of each group's channels to remove
  // Global pruning instead of a uniform ratio: the fraction of MACs (or params) to keep. Channels
  // are ranked across groups by their score relative to their group's mean, and a threshold is
  // found by bisection so the model meets the target.
  double target_macs = 0;
  double target_params = 0;
  std::string criterion = "l1";     // l1, l2, bn-scale, fpgm, taylor (needs labeled data)
  std::vector<std::string> keep;    // node names whose output channels stay
  bool keep_first_conv = true;      // the first convolution's channels stay (the last classifier
                                    // always does: its outputs are the graph's)
  int64_t round_to = 1;             // kept channel counts are multiples of this (when possible)
  // taylor: first-order Taylor importance of each output channel, (sum over its filter of
  // weight x gradient)^2, accumulated over `taylor_batches` batches of labeled data.
  const data::Dataset* data = nullptr;
  data::Preprocess preprocess;
  int64_t batch = 64;
  int64_t taylor_batches = 8;
};

struct LayerChange {
  std::string node, op;
  int64_t channels_before = 0, channels_after = 0;  // output channels / features
  int64_t params_before = 0, params_after = 0;      // weight + bias elements
};

struct ChannelPruneReport {
  std::vector<LayerChange> layers;
  // Producers whose groups were left alone, with the reason.
  std::vector<std::pair<std::string, std::string>> unprunable;
  int groups_pruned = 0;
  // With a target: the fraction of MACs/params predicted to remain (an unreachable target is a
  // bad_input error, before anything changes).
  double predicted_fraction = 1.0;
};

// Prunes `model` in place. `types` holds static shapes (onnxio::infer_shapes) for Flatten/Reshape.
// Intermediate value types are cleared afterwards (their shapes changed); graph inputs and
// outputs keep theirs, since groups reaching outputs are never pruned.
ChannelPruneReport prune_channels(ir::Model& model, const ir::TypeMap& types, const ChannelPruneOptions& options);

}  // namespace nncompress::passes
