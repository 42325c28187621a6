#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "nncompress/core/error.h"
#include "nncompress/ir/tensor.h"
#include "nncompress/runtime/tensor_convert.h"

using namespace nncompress;
using namespace nncompress::ir;

TEST(Tensor, HoldsDataOfItsStorageType) {
  Tensor t(DataType::UInt32, {2, 2}, at::arange(4, at::kInt));
  EXPECT_EQ(t.numel(), 4);
  EXPECT_EQ(t.byte_size(), 16u);
  EXPECT_EQ(storage_scalar_type(DataType::UInt64), at::kLong);
  EXPECT_EQ(storage_scalar_type(DataType::String), at::ScalarType::Undefined);
  EXPECT_THROW(Tensor(DataType::Float, {3}, at::zeros({3}, at::kDouble)), Error);
  EXPECT_THROW(Tensor(DataType::Float, {3}, at::zeros({4}, at::kFloat)), Error);
}

TEST(Tensor, PacksFourBitTypesTwoPerByte) {
  Tensor t(DataType::Int4, {5}, at::zeros({3}, at::kByte));
  EXPECT_EQ(t.byte_size(), 3u);
  EXPECT_THROW(Tensor(DataType::Int4, {5}, at::zeros({5}, at::kByte)), Error);
}

TEST(Tensor, SameContentsComparesBits) {
  Tensor a(DataType::Float, {2}, at::tensor({1.0f, -0.0f}));
  Tensor b(DataType::Float, {2}, at::tensor({1.0f, 0.0f}));
  Tensor c(DataType::Float, {2}, at::tensor({1.0f, -0.0f}));
  EXPECT_FALSE(a.same_contents(b));  // -0 and +0 differ in bits
  EXPECT_TRUE(a.same_contents(c));
  Tensor s1({2}, {"a", "b"});
  Tensor s2({2}, {"a", "c"});
  EXPECT_FALSE(s1.same_contents(s2));
  EXPECT_THROW(Tensor({3}, {"a"}), Error);
}

// The executor computes with 4-bit tensors unpacked, one value per byte; ONNX stores them two
// to a byte, the first element in the low nibble.
TEST(Tensor, FourBitValuesConvertBothWays) {
  const at::Tensor v = at::tensor({-8, 7, -1, 0, 3}, at::kLong);
  const Tensor t = runtime::from_aten(v, DataType::Int4);
  ASSERT_EQ(t.data().numel(), 3);
  EXPECT_TRUE(t.data().equal(at::tensor({0x78, 0x0F, 0x03}, at::kByte))) << t.data();
  const at::Tensor back = runtime::to_aten(t);
  EXPECT_EQ(back.scalar_type(), at::kChar);
  EXPECT_TRUE(back.to(at::kLong).equal(v));

  const Tensor u = runtime::from_aten(at::tensor({0, 15, 9}, at::kLong), DataType::UInt4);
  EXPECT_TRUE(u.data().equal(at::tensor({0xF0, 0x09}, at::kByte))) << u.data();
  EXPECT_TRUE(runtime::to_aten(u).to(at::kLong).equal(at::tensor({0, 15, 9}, at::kLong)));
  EXPECT_THROW(runtime::from_aten(at::tensor({8}, at::kLong), DataType::Int4), Error);
  EXPECT_THROW(runtime::from_aten(at::tensor({-1}, at::kLong), DataType::UInt4), Error);
}
