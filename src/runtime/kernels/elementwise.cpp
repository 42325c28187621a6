// Element-wise arithmetic, activations, comparisons, logic, Cast, Where, Identity and Dropout.
#include <cmath>
#include <limits>

#include "kernel_util.h"
#include "nncompress/core/error.h"
#include "nncompress/runtime/kernel_registry.h"

namespace nncompress::runtime::kernels {
namespace {

using Ctx = KernelContext;
using Out = std::vector<at::Tensor>;

// --- arithmetic ---------------------------------------------------------------------------------
Out add(const Ctx& c) { return one(at::add(c.input(0), c.input(1))); }
Out sub(const Ctx& c) { return one(at::sub(c.input(0), c.input(1))); }
Out mul(const Ctx& c) { return one(at::mul(c.input(0), c.input(1))); }
Out div(const Ctx& c) {
  const at::Tensor& a = c.input(0);
  if (is_integral(a)) return one(at::div(a, c.input(1), "trunc"));
  return one(at::div(a, c.input(1)));
}
Out pow(const Ctx& c) { return one(at::pow(c.input(0), c.input(1)).to(c.input(0).scalar_type())); }
Out mod(const Ctx& c) {
  // fmod=1: sign of the dividend (C fmod); fmod=0: sign of the divisor (Python %).
  if (c.node.attr_int("fmod", 0)) return one(at::fmod(c.input(0), c.input(1)));
  return one(at::remainder(c.input(0), c.input(1)));
}
Out bit_shift(const Ctx& c) {
  const std::string direction = c.node.attr_string("direction", "");
  if (direction == "RIGHT") return one(at::bitwise_right_shift(c.input(0), c.input(1)));
  if (direction == "LEFT") return one(at::bitwise_left_shift(c.input(0), c.input(1)));
  throw bad_input("BitShift " + c.node.describe() + ": direction must be LEFT or RIGHT, got '" + direction + "'");
}
Out neg(const Ctx& c) { return one(at::neg(c.input(0))); }
Out abs(const Ctx& c) { return one(at::abs(c.input(0))); }
Out reciprocal(const Ctx& c) { return one(at::reciprocal(c.input(0))); }
Out sqrt(const Ctx& c) { return one(at::sqrt(c.input(0))); }
Out exp(const Ctx& c) { return one(at::exp(c.input(0))); }
Out log(const Ctx& c) { return one(at::log(c.input(0))); }
Out erf(const Ctx& c) { return one(at::erf(c.input(0))); }
Out floor(const Ctx& c) { return one(at::floor(c.input(0))); }
Out ceil(const Ctx& c) { return one(at::ceil(c.input(0))); }
Out round(const Ctx& c) { return one(at::round(c.input(0))); }  // half to even, as ONNX
Out sign(const Ctx& c) { return one(at::sign(c.input(0))); }
Out sin(const Ctx& c) { return one(at::sin(c.input(0))); }
Out cos(const Ctx& c) { return one(at::cos(c.input(0))); }

template <at::Tensor (*Fold)(const at::Tensor&, const at::Tensor&)>
Out variadic(const Ctx& c) {
  at::Tensor acc = c.input(0);
  for (size_t i = 1; i < c.num_inputs(); ++i) acc = Fold(acc, c.input(i));
  return one(acc);
}
at::Tensor add2(const at::Tensor& a, const at::Tensor& b) { return at::add(a, b); }
at::Tensor max2(const at::Tensor& a, const at::Tensor& b) { return at::maximum(a, b); }
at::Tensor min2(const at::Tensor& a, const at::Tensor& b) { return at::minimum(a, b); }
Out mean(const Ctx& c) { return one(at::div(variadic<add2>(c)[0], static_cast<double>(c.num_inputs()))); }

// --- activations --------------------------------------------------------------------------------
Out relu(const Ctx& c) { return one(at::relu(c.input(0))); }
Out leaky_relu(const Ctx& c) { return one(at::leaky_relu(c.input(0), c.node.attr_float("alpha", 0.01f))); }
Out prelu(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  return one(at::where(x < 0, x * c.input(1), x));
}
Out sigmoid(const Ctx& c) { return one(at::sigmoid(c.input(0))); }
Out hard_sigmoid(const Ctx& c) {
  const double alpha = c.node.attr_float("alpha", 0.2f), beta = c.node.attr_float("beta", 0.5f);
  return one(at::clamp(c.input(0) * alpha + beta, 0.0, 1.0));
}
Out hard_swish(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  return one(x * at::clamp(x * (1.0 / 6.0) + 0.5, 0.0, 1.0));
}
Out tanh(const Ctx& c) { return one(at::tanh(c.input(0))); }
Out softplus(const Ctx& c) { return one(at::log1p(at::exp(c.input(0)))); }
Out softsign(const Ctx& c) { return one(c.input(0) / (1 + at::abs(c.input(0)))); }
Out elu(const Ctx& c) { return one(at::elu(c.input(0), c.node.attr_float("alpha", 1.0f))); }
Out selu(const Ctx& c) {
  const double alpha = c.node.attr_float("alpha", 1.67326319217681884765625f);
  const double gamma = c.node.attr_float("gamma", 1.05070102214813232421875f);
  const at::Tensor& x = c.input(0);
  return one(gamma * at::where(x > 0, x, alpha * (at::exp(x) - 1)));
}
Out gelu(const Ctx& c) { return one(at::gelu(c.input(0), c.node.attr_string("approximate", "none"))); }
Out clip(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  if (c.opset < 11) {
    const float lo = c.node.attr_float("min", -std::numeric_limits<float>::max());
    const float hi = c.node.attr_float("max", std::numeric_limits<float>::max());
    return one(at::clamp(x, lo, hi));
  }
  c10::optional<at::Tensor> lo, hi;
  if (c.has_input(1)) lo = c.input(1);
  if (c.has_input(2)) hi = c.input(2);
  if (!lo && !hi) return one(x);
  return one(at::clamp(x, lo, hi));
}

// --- comparison and logic -----------------------------------------------------------------------
Out equal(const Ctx& c) { return one(at::eq(c.input(0), c.input(1))); }
Out less(const Ctx& c) { return one(at::lt(c.input(0), c.input(1))); }
Out less_equal(const Ctx& c) { return one(at::le(c.input(0), c.input(1))); }
Out greater(const Ctx& c) { return one(at::gt(c.input(0), c.input(1))); }
Out greater_equal(const Ctx& c) { return one(at::ge(c.input(0), c.input(1))); }
Out logical_not(const Ctx& c) { return one(at::logical_not(c.input(0))); }
Out logical_and(const Ctx& c) { return one(at::logical_and(c.input(0), c.input(1))); }
Out logical_or(const Ctx& c) { return one(at::logical_or(c.input(0), c.input(1))); }
Out logical_xor(const Ctx& c) { return one(at::logical_xor(c.input(0), c.input(1))); }
Out where(const Ctx& c) { return one(at::where(c.input(0).to(at::kBool), c.input(1), c.input(2))); }

// --- types and pass-through ---------------------------------------------------------------------
Out cast(const Ctx& c) {
  const auto* to = c.node.find_attribute("to");
  if (!to) c.fail("Cast needs the 'to' attribute");
  return one(c.input(0).to(scalar_type_for(c, to->i)));
}
Out cast_like(const Ctx& c) { return one(c.input(0).to(c.input(1).scalar_type())); }
Out identity(const Ctx& c) { return one(c.input(0)); }
Out dropout(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  bool train = c.training;
  double ratio = c.node.attr_float("ratio", 0.5f);
  if (c.opset >= 12) {
    if (c.has_input(1)) ratio = c.input(1).item<double>();
    if (c.has_input(2)) train = train || c.input(2).item<bool>();
  }
  if (!train || ratio == 0.0) return {x, at::ones(x.sizes(), x.options().dtype(at::kBool))};
  const at::Tensor keep = at::rand(x.sizes(), x.options()) >= ratio;
  return {x * keep / (1.0 - ratio), keep};
}

// Blocked-layout variants (inference): both inputs already blocked, no broadcasting.
Out add_blocked(const Ctx& c) {
  const at::Tensor &a = c.input(0), &b = c.input(1);
  if (!a.is_mkldnn() || !b.is_mkldnn() || a.sizes() != b.sizes()) return {};
  return one(at::add(a, b));
}
Out relu_blocked(const Ctx& c) {
  if (!c.input(0).is_mkldnn()) return {};
  return one(at::relu(c.input(0)));
}

}  // namespace

void register_elementwise_kernels(KernelRegistry& r) {
  const std::pair<const char*, Kernel> ops[] = {
      {"Add", add}, {"Sub", sub}, {"Mul", mul}, {"Div", div}, {"Pow", pow}, {"Mod", mod}, {"BitShift", bit_shift}, {"Neg", neg},
      {"Abs", abs}, {"Reciprocal", reciprocal}, {"Sqrt", sqrt}, {"Exp", exp}, {"Log", log}, {"Erf", erf},
      {"Floor", floor}, {"Ceil", ceil}, {"Round", round}, {"Sign", sign}, {"Sin", sin}, {"Cos", cos},
      {"Sum", variadic<add2>}, {"Max", variadic<max2>}, {"Min", variadic<min2>}, {"Mean", mean},
      {"Relu", relu}, {"LeakyRelu", leaky_relu}, {"PRelu", prelu}, {"Sigmoid", sigmoid},
      {"HardSigmoid", hard_sigmoid}, {"HardSwish", hard_swish}, {"Tanh", tanh}, {"Softplus", softplus},
      {"Softsign", softsign}, {"Elu", elu}, {"Selu", selu}, {"Gelu", gelu}, {"Clip", clip},
      {"Equal", equal}, {"Less", less}, {"LessOrEqual", less_equal}, {"Greater", greater},
      {"GreaterOrEqual", greater_equal}, {"Not", logical_not}, {"And", logical_and}, {"Or", logical_or},
      {"Xor", logical_xor}, {"Where", where}, {"Cast", cast}, {"CastLike", cast_like}, {"Identity", identity},
      {"Dropout", dropout},
  };
  for (const auto& [name, kernel] : ops) r.add(name, kernel);
  r.add_blocked("Add", add_blocked);
  r.add_blocked("Relu", relu_blocked);
}

}  // namespace nncompress::runtime::kernels
