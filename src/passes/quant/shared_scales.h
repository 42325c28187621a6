#pragma once
// Tensors whose int8 quantization must be one: a Split's or Resize's outputs take their input's
// range (ONNX Runtime then runs them on the uint8 data, without Q/DQ), and a Concat's inputs and
// output share the union of their ranges (QLinearConcat then copies bytes instead of requantizing
// every input; TensorRT needs it to concatenate in place).
#include <functional>
#include <map>
#include <set>
#include <string>

#include "nncompress/ir/graph.h"
#include "nncompress/passes/quant/calibration.h"

namespace nncompress::passes {

struct SharedScales {
  int concats = 0;             // Concats whose inputs and output now share one range
  int concats_left_apart = 0;  // left with their own ranges: sharing would widen a clamped one
};

// Rewrites `ranges` (tensor name -> calibrated range) for the Split, Resize and Concat nodes that
// `quantized` selects. `clamped` names tensors whose range must not change (the input of a Relu or
// Clip the uint8 quantization replaces: a wider range would no longer clamp); a Concat that would
// widen one keeps its own ranges.
SharedScales share_ranges(const ir::Graph& graph, const std::function<bool(const ir::Node&)>& quantized,
                          std::map<std::string, Range>& ranges, const std::set<std::string>& clamped);

}  // namespace nncompress::passes
