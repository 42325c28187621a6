#pragma once
// Steps too small to share between threads.
//
// Every OpenMP parallel region (a LibTorch op's parallel_for, a oneDNN primitive) costs a fork and
// a join. On this project's 2-core VM that was ~6 us per region: with 2 threads, vit-fmnist's
// [17 x 128] x [128 x 128] products took 13 us instead of 7, its LayerNorms 9 instead of 4, and
// batch 1 ran at 0.56x of its 1-thread speed. A step whose work is below about 20 us of one core
// runs on the calling thread alone (ONNX Runtime's thread pool decides by a cost estimate too).
// Decided from shapes only, so a kept oneDNN plan always runs with the thread count it was built for.
#include <ATen/core/Tensor.h>

#include <vector>

#include "nncompress/ir/graph.h"

namespace nncompress::runtime {

// Whether a node's work on these arguments is below what is worth a parallel region: under 2^20
// multiply-adds and 2^14 input elements for a Conv, MatMul or Gemm; under 2^14 elements in its
// largest argument for any other op.
bool small_work(const ir::Node& n, const std::vector<at::Tensor>& args);

// While alive, OpenMP parallel regions this thread opens run on it alone (oneDNN primitives
// created meanwhile are built for one thread). A no-op when LibTorch has no OpenMP.
class OneThread {
 public:
  OneThread();
  ~OneThread();
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace nncompress::runtime
