#pragma once
// quant.int8: post-training int8 quantization in the Q/DQ format ONNX Runtime and TensorRT read.
//  - BatchNormalization is folded into the convolutions first.
//  - Weights of Conv, Gemm and MatMul: int8, symmetric, one scale per output channel (per tensor
//    below opset 13), stored as int8 initializers read through DequantizeLinear.
//  - Activations: every float tensor entering or leaving a quantized op (Conv, Gemm, MatMul, Add,
//    MaxPool, AveragePool, GlobalAveragePool; Relu too in symmetric mode) gets a
//    QuantizeLinear -> DequantizeLinear pair with the calibrated range: uint8 with a zero point
//    (default) or int8 symmetric (`symmetric`, TensorRT's mode). Graph outputs stay float.
//  - In asymmetric mode a Relu right after a quantized op is removed and the op's output is
//    quantized with the Relu's range (its zero point sits at 0, so quantizing clamps exactly as
//    the Relu did), as ONNX Runtime's quantizer does; with symmetric int8 that would be wrong, so
//    the Relu stays.
//  - Bias: int32 with scale input_scale x weight_scale (what ONNX Runtime needs to fuse
//    QLinearConv), or left in float.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nncompress/data/dataset.h"
#include "nncompress/ir/model.h"
#include "nncompress/passes/quant/calibration.h"

namespace nncompress::passes {

struct Int8Options {
  bool symmetric = false;
  bool int32_bias = true;
  bool per_channel = true;
  // Weights in 7 bits ([-63, 63]) so that ONNX Runtime's u8 x s8 kernels on AVX2/AVX-512 CPUs
  // without VNNI, which add pairs of products in int16, cannot saturate (ORT's reduce_range).
  // Measured on this machine's AVX2 CPU with full-range weights: LeNet-5's logits differ from
  // exact int8 arithmetic by up to 6.6, with 7 bits by 0.02 (docs/quantization.md).
  bool reduce_range = true;
  std::vector<std::string> keep;  // node names left in float
  CalibrationOptions calibration;
};

struct QuantizedLayer {
  std::string node, op;
  int64_t weights = 0;
  double min_scale = 0, max_scale = 0;  // weight scales over its channels
  bool int32_bias = false;
};

struct Int8Result {
  std::vector<QuantizedLayer> layers;
  int folded_batchnorms = 0;
  int removed_relus = 0;
  int removed_clips = 0;  // Clip(0, hi), absorbed like Relu
  std::vector<std::pair<std::string, Range>> activations;  // quantized tensors and their calibrated ranges
  // No Conv/Gemm/MatMul with a constant float weight outside `keep`: the model was left untouched.
  bool nothing_to_quantize = false;
  int64_t opset_raised_from = 0;  // the model's opset when it was raised to 13 for per-channel scales
  std::string per_tensor_reason;  // why per-channel was asked but per-tensor scales were used
};

Int8Result quantize_int8(ir::Model& model, const data::Dataset& calibration_data, const Int8Options& options);

}  // namespace nncompress::passes
