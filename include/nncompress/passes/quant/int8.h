#pragma once
// quant.int8: post-training int8 quantization in the Q/DQ format ONNX Runtime and TensorRT read.
//  - BatchNormalization, and Mul/Add by per-channel constants, are folded into the convolutions
//    first.
//  - Weights of Conv, Gemm and MatMul: int8, symmetric, one scale per output channel (per tensor
//    below opset 13), stored as int8 initializers read through DequantizeLinear.
//  - Activations: every float tensor entering or leaving a quantized op (Conv, Gemm, MatMul, Add of
//    two activations, MaxPool, AveragePool, GlobalAveragePool; Relu in symmetric mode; the gates
//    below, and Add/Mul by a scalar after a quantized op in uint8 mode) gets a
//    QuantizeLinear -> DequantizeLinear pair with the calibrated range: uint8 with a zero point
//    (default) or int8 symmetric (`symmetric`, TensorRT's mode). Graph outputs stay float.
//  - In asymmetric mode a Relu right after a quantized op is removed and the op's output is
//    quantized with the Relu's range (its zero point sits at 0, so quantizing clamps exactly as
//    the Relu did), as ONNX Runtime's quantizer does; with symmetric int8 that would be wrong, so
//    the Relu stays.
//  - Hard-swish and HardSigmoid gates (MobileNetV3, squeeze-excitation), uint8 only: a
//    HardSigmoid that alone reads a Conv's output is folded into it as Clip(0, 1), absorbed like a
//    Relu; hard-swish becomes Mul(x, HardSigmoid(x)); each other HardSigmoid becomes an integer Add
//    whose Q/DQ pair does the clip and the scaling, and the Mul it gates is quantized, so ONNX
//    Runtime runs them as QLinearAdd and QLinearMul instead of float ops between Q/DQ pairs.
//  - Channels padded for ONNX Runtime's fast int8 convolutions: depthwise ones to a multiple of
//    `pad_channels`, a model input's to 4 (channel_padding.h).
//  - Bias: int32 with scale input_scale x weight_scale (what ONNX Runtime needs to fuse
//    QLinearConv), or left in float.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nncompress/data/dataset.h"
#include "nncompress/ir/model.h"
#include "nncompress/passes/quant/calibration.h"
#include "nncompress/passes/quant/channel_padding.h"

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
  // SmoothQuant's migration strength before calibration (passes/quant/smoothquant.h); 0: off.
  double smooth_alpha = 0;
  // Depthwise convolutions' channels padded to a multiple of this with zero channels, and model
  // inputs of convolutions to 4 (passes/quant/channel_padding.h); 0 or 1: off.
  int64_t pad_channels = 0;
  // MatMuls of two activations (attention's Q x K^T and scores x V) quantized too: both inputs
  // and the output get Q/DQ, which ONNX Runtime runs as QLinearMatMul.
  bool activation_matmuls = false;
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
  int folded_affines = 0;  // Mul/Add by per-channel constants after a Conv, folded into it
  int removed_relus = 0;
  int removed_clips = 0;  // Clip(0, hi), absorbed like Relu
  int hard_swishes = 0;   // hard-swish chains and HardSwish nodes rewritten to Mul(x, HardSigmoid(x))
  int integer_hard_sigmoids = 0;
  int folded_gates = 0;  // HardSigmoids after a Conv folded into it as Clip(0, 1), absorbed like Relu
  ChannelPadding padding;
  int integer_sigmoids = 0;  // Sigmoids between Q/DQ pairs (SiLU's), ONNX Runtime's QLinearSigmoid
  int shared_scale_concats = 0;  // Concats whose inputs and output share one scale
  int concats_left_apart = 0;    // Concats left with a scale per input: sharing would widen a clamped range
  int integer_scalar_ops = 0;  // Add/Mul by a scalar after a quantized op, in integer form
  int smoothed_norms = 0, smoothed_layers = 0;  // SmoothQuant: LayerNorms and the weights after them
  std::vector<std::pair<std::string, Range>> activations;  // quantized tensors and their calibrated ranges
  // No Conv/Gemm/MatMul with a constant float weight outside `keep`: the model was left untouched.
  bool nothing_to_quantize = false;
  int64_t opset_raised_from = 0;  // the model's opset when it was raised to 13 for per-channel scales
  std::string per_tensor_reason;  // why per-channel was asked but per-tensor scales were used
};

Int8Result quantize_int8(ir::Model& model, const data::Dataset& calibration_data, const Int8Options& options);

}  // namespace nncompress::passes
