#pragma once
// Running a kept oneDNN primitive (kernels/*_dnnl.cpp).
#include <oneapi/dnnl/dnnl.hpp>

#include <ideep.hpp>

#include <unordered_map>

#include "plan_cache.h"

namespace nncompress::runtime::kernels {

// A float tensor in LibTorch's strided layout (not an MKL-DNN one): what these kernels take.
inline bool plain_float(const at::Tensor& t) { return !t.is_mkldnn() && t.scalar_type() == at::kFloat; }

// A plain float tensor's buffer as oneDNN memory of `desc`.
inline dnnl::memory dnnl_view(const dnnl::memory::desc& desc, void* data) {
  return dnnl::memory(desc, ideep::engine::cpu_engine(), data);
}

// Runs a primitive built with a user scratchpad (`scratchpad`, its size may be 0) on the default
// stream, with this thread's scratch memory.
inline void run_primitive(const dnnl::primitive& primitive, const dnnl::memory::desc& scratchpad,
                          std::unordered_map<int, dnnl::memory> args) {
  if (scratchpad.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, dnnl_view(scratchpad, scratch_memory(scratchpad.get_size())));
  primitive.execute(ideep::stream::default_stream(), args);
}

}  // namespace nncompress::runtime::kernels
