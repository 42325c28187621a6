#pragma once
// Int8 within an accuracy budget: when a quant.int8 step loses more than the allowed points of
// top-1 (mAP@0.5 for a detector), the layers that add the most quantization noise are left float,
// as few as the budget allows (NNCF's accuracy-aware quantization and Neural Compressor's op-wise
// fallback do the same; TensorRT users do it by hand).
#include <optional>

#include "nncompress/pipeline/pipeline.h"

namespace nncompress::pipeline {

// Runs `step` like run_step. When `step` is quant.int8, `max_drop_pp` is set, the model fits in one
// protobuf (a copy is kept) and the drop from `base_accuracy` exceeds it, the step runs again from
// the input model with its `keep` list extended by the noisiest layers (ranked on the first batch of
// `accuracy_data`: noise added between a layer's input and its output), searching for the fewest
// that meet the budget (doubling, then bisection). The result's notes and details say which were
// kept; when even all of them do not meet it, the model with the smallest drop is returned.
StepResult run_step_within_drop(ir::Model& model, const Step& step, const passes::PassContext& context,
                                const data::Dataset* accuracy_data, std::optional<double> base_accuracy,
                                std::optional<double> max_drop_pp);

}  // namespace nncompress::pipeline
