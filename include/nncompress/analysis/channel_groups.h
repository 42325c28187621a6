#pragma once
// Channel dependency groups for structured pruning (in the spirit of Torch-Pruning's DepGraph).
//
// Every producer of channels (a Conv's output channels, a Gemm's output features) starts a group.
// Channels flow through the graph as a list of segments (group, count): element-wise ops and
// activations pass the list on, BatchNormalization and depthwise convolutions pass it on and own
// per-channel parameters, grouped convolutions with as many outputs as inputs pass it on as one
// run per conv group (every group keeps the same channels), Concat (axis 1) concatenates lists,
// residual Add/Mul/Sub unify the groups on both sides, Flatten turns each channel into a block of
// spatial columns, Split along channels hands each output its part (a group cut by a part
// boundary becomes two groups, made by the same producers at two offsets: YOLOv8's C2f), and a
// Slice along channels is cut the same way into the parts before, inside and after it.
// Grouped convolutions that widen or narrow (outputs per group != inputs per group) read their
// input in the per-group layout and start a group whose channels repeat in every conv group.
// GroupNorm (analysis/group_norm.h) coarsens the group it normalizes: one unit per norm group,
// `stride` C / G channels, so whole norm groups leave.
// ConvTranspose produces channels on its weight's axis 1. Every tensor
// indexed by channels (a consumer Conv's input axis, BN parameters, a Gemm's input columns) is
// recorded as a user of a segment list. Removing channels of a group then rewrites all of them
// consistently, so the result is a smaller dense model.
//
// Attention heads (analysis/attention_heads.h) are groups too: a channel is a head, `stride`
// consecutive output features of the Q, K and V projections (of each third of a fused QKV
// projection: `replicas` 3) and rows of the output projection.
//
// Groups that cannot be handled safely (they reach a graph output, are read by an op that moves
// or mixes channels) are marked unprunable with the reason.
#include <cstdint>
#include <string>
#include <vector>

#include "nncompress/analysis/attention_heads.h"
#include "nncompress/ir/graph.h"

namespace nncompress::analysis {

struct Segment {
  int group = 0;
  int64_t count = 0;
};
using SegmentList = std::vector<Segment>;

// A tensor whose `axis` is indexed by the channels of `source` (concatenated segments); with
// `stride` > 1 each channel covers `stride` consecutive positions (Flatten of C x H x W).
struct ChannelUser {
  ir::Value* tensor = nullptr;  // an initializer
  int64_t axis = 0;
  SegmentList source;
  int64_t stride = 1;
};

struct ChannelGroup {
  int id = 0;
  int64_t size = 0;
  // Producers: nodes whose weight's output axis (and bias) create these channels (Conv, Gemm, ...).
  std::vector<ir::Node*> producers;
  // Per producer: where these channels start on its output axis (0 unless a Split along channels
  // cut the producer's outputs into parts, each part a group of its own).
  std::vector<int64_t> offsets;
  // Output channels of each producer per channel of the group: 1, or a head's features.
  int64_t stride = 1;
  // Copies of the channel axis along each producer's outputs: [replicas, size, stride] (3 for the
  // Q, K and V thirds of a fused projection; the conv groups of a grouped convolution it feeds).
  int64_t replicas = 1;
  bool prunable = true;
  std::string reason;  // why not prunable
};

struct ChannelGraph {
  std::vector<ChannelGroup> groups;
  std::vector<ChannelUser> users;
  // Depthwise convolutions whose `group` attribute equals their (prunable) channel count.
  std::vector<std::pair<ir::Node*, SegmentList>> depthwise;
  // Splits along channels with the channels of each output, and Slices along channels with the
  // channels before, inside and after them: pruning writes the sizes (bounds) kept.
  std::vector<std::pair<ir::Node*, std::vector<SegmentList>>> splits;
  // Reshape targets of flattens written with an explicit count ([N, C*H*W], as folded shapes are):
  // pruning rewrites them to [0, -1] (batch copied, the rest inferred).
  std::vector<ir::Value*> flatten_shapes;
  // Constants naming a head count, with their group: pruning writes the heads kept.
  std::vector<std::pair<HeadCountConstant, int>> head_counts;
  // Merged widths computed from the stream's shape, with their group: pruning writes the kept width.
  std::vector<std::pair<ComputedWidth, int>> computed_widths;
  // Attention's Q K^T and attention x V MatMuls, with their group: their MACs scale with the heads kept.
  std::vector<std::pair<const ir::Node*, int>> head_matmuls;

  // Root group id after unions.
  int find(int group) const;
  const ChannelGroup& group(int id) const { return groups[find(id)]; }
  // Root groups that are prunable.
  std::vector<int> prunable_groups() const;

  std::vector<int> parent;  // union-find forest over group ids
};

// Builds the groups. `shape_of` gives static shapes where Flatten needs them (nullopt if unknown).
ChannelGraph build_channel_graph(ir::Graph& graph, const ir::TypeMap& types);

}  // namespace nncompress::analysis
