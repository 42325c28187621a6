#pragma once
// Intake normalization: what every command does to a user's model before analysing it, so that
// models from paddle2onnx, tf2onnx or exporters without constant folding look like the ones
// torch.onnx.export writes. Numerics are unchanged.
//  - Constant nodes become initializers (their weights count as parameters and can be pruned);
//  - nodes computed from constants only are folded (Shape of a statically known shape too, so
//    Shape→Gather→Concat→Reshape chains become one constant once input shapes are fixed);
//    Q/DQ nodes and random generators are never folded, nor results much larger than their inputs;
//  - Identity and inference-form Dropout nodes are removed (graph outputs keep their names);
//  - initializers nothing reads are dropped (ONNX Runtime drops them too, with a warning each).
#include <cstdint>
#include <string>
#include <vector>

#include "nncompress/ir/model.h"
#include "nncompress/ir/value_type.h"

namespace nncompress::passes {

struct NormalizeReport {
  int constants_lifted = 0;  // Constant nodes turned into initializers
  int nodes_folded = 0;      // nodes replaced by the constant they compute
  int identities_removed = 0;
  int dropouts_removed = 0;
  int unused_initializers_dropped = 0;
  bool changed() const {
    return constants_lifted + nodes_folded + identities_removed + dropouts_removed + unused_initializers_dropped > 0;
  }
  std::string summary() const;  // "342 Constant nodes -> initializers, 3 nodes folded"
};

// Constant nodes -> initializers. Returns how many.
int lift_constants(ir::Graph& graph);
// Initializers nothing reads (and that are not graph inputs or outputs). Returns how many.
int drop_unused_initializers(ir::Graph& graph);
// Identity / inference Dropout removal (Dropout kept with keep_dropout); counts into the report.
void remove_pass_through_nodes(ir::Graph& graph, NormalizeReport& report, bool keep_dropout = false);
// Folds nodes whose inputs are all constant (and Shape/Size of static shapes). Returns how many.
int fold_constants(ir::Model& model);
// Lifting, pass-through removal, folding (repeated while shapes become known), then dropping
// initializers nothing reads. keep_dropout leaves Dropout nodes for a trainer to apply.
NormalizeReport normalize_model(ir::Model& model, bool keep_dropout = false);

// One `--input-shape` entry: an input name (empty: the model's only input) and its dims; a dim
// written as a name ("N", "batch") stays symbolic.
struct InputShape {
  std::string input;
  std::vector<ir::Dim> dims;
};
// Parses "NAME=1,3,48,192", "1,3,48,192" or "x=N,3,48,192"; throws bad_input saying what is wrong.
InputShape parse_input_shape(const std::string& text);
// Sets graph input types to these shapes. Throws bad_input for unknown input names (listing the
// model's inputs), a rank that differs from the model's, or a fixed dim the model fixes otherwise.
void apply_input_shapes(ir::Model& model, const std::vector<InputShape>& shapes);

}  // namespace nncompress::passes
