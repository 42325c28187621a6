#include "small_work.h"

#include <dlfcn.h>

#include <algorithm>

namespace nncompress::runtime {
namespace {

constexpr int64_t kParallelMultiplyAdds = int64_t{1} << 20;
constexpr int64_t kParallelElements = int64_t{1} << 14;

int64_t multiply_adds(const ir::Node& n, const std::vector<at::Tensor>& args) {
  if (args.size() < 2 || !args[0].defined() || !args[1].defined() || args[1].dim() == 0) return -1;
  const at::Tensor& x = args[0];
  const at::Tensor& w = args[1];
  const std::string& op = n.op_type();
  if (op == "MatMul") return x.numel() * (w.dim() >= 2 ? w.size(-1) : 1);
  if (op == "Gemm" && w.dim() == 2) return x.numel() * (n.attr_int("transB", 0) ? w.size(0) : w.size(1));
  // Output positions x weights per position, taken as stride 1: an overestimate, never an under.
  if ((op == "Conv" || op == "ConvTranspose") && x.dim() >= 2 && x.size(1) > 0) return x.numel() / x.size(1) * w.numel();
  return -1;
}

// LibTorch's OpenMP (libgomp, loaded with it), looked up so that a build without it still links.
using GetThreads = int (*)();
using SetThreads = void (*)(int);
GetThreads omp_get_max_threads_fn() {
  static const auto fn = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
  return fn;
}
SetThreads omp_set_num_threads_fn() {
  static const auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  return fn;
}

}  // namespace

bool small_work(const ir::Node& n, const std::vector<at::Tensor>& args) {
  if (!n.in_default_domain()) return false;
  // A product's weights are no measure of its work; its input and multiply-adds are.
  const int64_t macs = multiply_adds(n, args);
  int64_t elements = 0;
  for (size_t i = 0; i < (macs >= 0 ? std::min<size_t>(args.size(), 1) : args.size()); ++i)
    if (args[i].defined()) elements = std::max(elements, args[i].numel());
  return macs < kParallelMultiplyAdds && elements < kParallelElements;
}

OneThread::OneThread() {
  if (!omp_get_max_threads_fn() || !omp_set_num_threads_fn()) return;
  previous_ = omp_get_max_threads_fn()();
  if (previous_ > 1) omp_set_num_threads_fn()(1);
}

OneThread::~OneThread() {
  if (previous_ > 1) omp_set_num_threads_fn()(previous_);
}

}  // namespace nncompress::runtime
