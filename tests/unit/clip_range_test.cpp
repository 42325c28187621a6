// A Clip's constant range: attributes before opset 11, optional inputs after, unknown or
// unusable bounds refused.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cfloat>

#include "nncompress/runtime/clip_range.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

namespace {

struct ClipGraph {
  Graph g;
  Node* clip = nullptr;
};

// x -> Clip(x, lo?, hi?) with the bounds as initializers (undefined tensor: input omitted), or
// with `attrs` (opset < 11).
void build(ClipGraph& c, const at::Tensor& lo, const at::Tensor& hi, std::vector<Attribute> attrs = {}) {
  Value* x = c.g.add_input("x", ValueType::tensor(DataType::Float, {Dim::known(4)}));
  std::vector<Value*> inputs{x};
  inputs.push_back(lo.defined() ? c.g.add_initializer("lo", runtime::from_aten(lo, DataType::Float)) : nullptr);
  if (hi.defined()) inputs.push_back(c.g.add_initializer("hi", runtime::from_aten(hi, DataType::Float)));
  c.clip = c.g.add_node({"Clip", "clip", "", inputs, {"y"}, std::move(attrs), {}, ""});
}

std::optional<at::Tensor> initializer_of(const Node& n, size_t i) {
  if (!n.input(i)->has_initializer()) return std::nullopt;
  return runtime::to_aten(*n.input(i)->initializer());
}

std::optional<runtime::ClipRange> range(const ClipGraph& c, int64_t opset) {
  return runtime::clip_range(*c.clip, opset, [&](size_t i) { return initializer_of(*c.clip, i); });
}

}  // namespace

TEST(ClipRange, InputsFromOpset11) {
  ClipGraph c;
  build(c, at::scalar_tensor(0.0), at::scalar_tensor(6.0));
  const auto r = range(c, 13);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lo, 0.0);
  EXPECT_EQ(r->hi, 6.0);
}

TEST(ClipRange, AnOmittedBoundIsTheFloatLimit) {
  ClipGraph c;
  build(c, at::Tensor(), at::scalar_tensor(6.0));
  const auto r = range(c, 13);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lo, -FLT_MAX);
  EXPECT_EQ(r->hi, 6.0);
}

TEST(ClipRange, AttributesBeforeOpset11) {
  ClipGraph c;
  build(c, at::Tensor(), at::Tensor(), {Attribute::make_float("min", -1.0f)});
  const auto r = range(c, 6);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lo, -1.0);
  EXPECT_EQ(r->hi, FLT_MAX);
}

TEST(ClipRange, UnknownNonScalarOrEmptyRangesAreRefused) {
  ClipGraph unknown;
  build(unknown, at::scalar_tensor(0.0), at::Tensor());
  EXPECT_FALSE(runtime::clip_range(*unknown.clip, 13, [](size_t) { return std::optional<at::Tensor>(); }));
  ClipGraph vector;
  build(vector, at::zeros({2}), at::Tensor());
  EXPECT_FALSE(range(vector, 13));
  ClipGraph empty;
  build(empty, at::scalar_tensor(2.0), at::scalar_tensor(1.0));
  EXPECT_FALSE(range(empty, 13));
}
