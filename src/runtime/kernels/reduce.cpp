// Reductions (ReduceMean, ReduceSum, ...), Softmax, LogSoftmax.
#include <cmath>

#include "kernel_util.h"
#include "nncompress/runtime/kernel_registry.h"

namespace nncompress::runtime::kernels {
namespace {

using Ctx = KernelContext;
using Out = std::vector<at::Tensor>;

enum class Reduce { Mean, Sum, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

// Axes moved from an attribute to an input: ReduceSum at opset 13, the others at 18.
std::vector<int64_t> reduce_axes(const Ctx& c, bool axes_as_input, bool* noop) {
  const at::Tensor& x = c.input(0);
  std::vector<int64_t> axes;
  if (axes_as_input) {
    if (c.has_input(1)) axes = int_values(c.input(1));
  } else {
    axes = c.node.attr_ints("axes", {});
  }
  *noop = axes.empty() && c.node.attr_int("noop_with_empty_axes", 0) != 0;
  if (axes.empty())
    for (int64_t i = 0; i < x.dim(); ++i) axes.push_back(i);
  for (int64_t& a : axes) a = normalize_axis(c, a, x.dim());
  return axes;
}

template <Reduce R>
Out reduce(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const bool as_input = c.opset >= 18 || (R == Reduce::Sum && c.opset >= 13);
  bool noop = false;
  const std::vector<int64_t> axes = reduce_axes(c, as_input, &noop);
  if (noop) return one(x);
  const bool keep = c.node.attr_int("keepdims", 1) != 0;
  const bool integral = is_integral(x);
  const at::Tensor xf = integral && R != Reduce::Max && R != Reduce::Min ? x.to(at::kDouble) : x;
  at::Tensor y;
  switch (R) {
    case Reduce::Mean: y = at::mean(xf, axes, keep); break;
    case Reduce::Sum: y = at::sum(xf, axes, keep); break;
    case Reduce::Max: y = at::amax(xf, axes, keep); break;
    case Reduce::Min: y = at::amin(xf, axes, keep); break;
    case Reduce::L1: y = at::sum(at::abs(xf), axes, keep); break;
    case Reduce::L2: y = at::sqrt(at::sum(xf * xf, axes, keep)); break;
    case Reduce::LogSum: y = at::log(at::sum(xf, axes, keep)); break;
    case Reduce::LogSumExp: y = at::logsumexp(xf, axes, keep); break;
    case Reduce::SumSquare: y = at::sum(xf * xf, axes, keep); break;
    case Reduce::Prod: {
      std::vector<int64_t> sorted = axes;
      std::sort(sorted.rbegin(), sorted.rend());
      y = xf;
      for (int64_t a : sorted) y = at::prod(y, a, true);
      if (!keep)
        for (int64_t a : sorted) y = y.squeeze(a);
      break;
    }
  }
  return one(integral ? y.to(x.scalar_type()) : y);
}

template <bool Log>
Out softmax(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  if (c.opset >= 13) {
    const int64_t axis = normalize_axis(c, c.node.attr_int("axis", -1), x.dim());
    return one(Log ? at::log_softmax(x, axis) : at::softmax(x, axis));
  }
  // Before opset 13 the input is viewed as 2-D [prod(dims < axis), prod(dims >= axis)].
  const int64_t axis = normalize_axis(c, c.node.attr_int("axis", 1), x.dim());
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.size(i);
  const at::Tensor flat = x.reshape({outer, -1});
  return one((Log ? at::log_softmax(flat, 1) : at::softmax(flat, 1)).reshape(x.sizes()));
}

}  // namespace

void register_reduce_kernels(KernelRegistry& r) {
  r.add("ReduceMean", reduce<Reduce::Mean>);
  r.add("ReduceSum", reduce<Reduce::Sum>);
  r.add("ReduceMax", reduce<Reduce::Max>);
  r.add("ReduceMin", reduce<Reduce::Min>);
  r.add("ReduceProd", reduce<Reduce::Prod>);
  r.add("ReduceL1", reduce<Reduce::L1>);
  r.add("ReduceL2", reduce<Reduce::L2>);
  r.add("ReduceLogSum", reduce<Reduce::LogSum>);
  r.add("ReduceLogSumExp", reduce<Reduce::LogSumExp>);
  r.add("ReduceSumSquare", reduce<Reduce::SumSquare>);
  r.add("Softmax", softmax<false>);
  r.add_blocked("Softmax", softmax_dnnl);
  r.add("LogSoftmax", softmax<true>);
}

}  // namespace nncompress::runtime::kernels
