#pragma once
// What the pruning passes share: how they report (per-layer channels, structured, or non-zero
// weights, unstructured, as a table for people and rows for machines) and the sparse-storage
// option of the unstructured ones.
#include <vector>

#include "nncompress/ir/model.h"
#include "nncompress/passes/pass.h"
#include "nncompress/passes/prune/channel_pruning.h"
#include "nncompress/passes/prune/magnitude_pruning.h"

namespace nncompress::passes {

// Channels before/after per layer, and each group left alone with its reason.
void describe_channels(const ChannelPruneReport& report, PassResult& result);
// Non-zero weights per layer: before as recorded, after as the model holds them now (after any
// fine-tuning).
void describe_sparsity(const std::vector<SparsityRow>& rows, const ir::Model& model, PassResult& result);

// `sparse-format`: dense, or onnx (weights at least half zero stored as ONNX sparse initializers).
OptionSpec sparse_format_option();
// Marks the weights for sparse storage when `sparse-format` asks for it.
void store_as_asked(ir::Model& model, const OptionValues& values);

}  // namespace nncompress::passes
