#pragma once
// Channel importance criteria (Torch-Pruning's `Importance` objects): each is a small function
// scoring the channels of one channel group, registered in one list. A new criterion is one
// function and one line in src/passes/prune/importance.cpp; `criterion` options list them.
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "nncompress/analysis/channel_groups.h"

namespace nncompress::passes {

struct ScoringContext {
  const analysis::ChannelGraph& cg;
  // Per producer, per output channel: first-order Taylor terms accumulated over labeled batches
  // (filled only for criteria with needs_gradients).
  std::map<const ir::Node*, at::Tensor> gradient_scores;
};

struct Importance {
  std::string name, help;
  bool needs_gradients = false;  // scored from labeled data (gradient_scores)
  // Scores [channels] (double) of root group `root`; higher = more important.
  at::Tensor (*score)(const ScoringContext& context, int root) = nullptr;
};

const std::vector<Importance>& importance_criteria();
// The criterion named `name`; bad_input listing the names otherwise.
const Importance& find_importance(const std::string& name);
std::vector<std::string> importance_names();

}  // namespace nncompress::passes
