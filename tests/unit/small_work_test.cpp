#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <string>
#include <vector>

#include "runtime/small_work.h"

using namespace nncompress;

namespace {

const ir::Node& node_of(const std::string& op) {
  static ir::Graph graph;
  const std::string id = std::to_string(graph.nodes().size());
  return *graph.add_node({op, op + id, "", {}, {op + "_out" + id}, {}, {}, ""});
}

}  // namespace

TEST(SmallWork, ProductsAreMeasuredInMultiplyAddsOthersInElements) {
  // vit-fmnist's layers at batch 1 and at batch 32.
  EXPECT_TRUE(runtime::small_work(node_of("MatMul"), {at::empty({1, 17, 128}), at::empty({128, 256})}));
  EXPECT_FALSE(runtime::small_work(node_of("MatMul"), {at::empty({32, 17, 128}), at::empty({128, 256})}));
  EXPECT_TRUE(runtime::small_work(node_of("LayerNormalization"), {at::empty({1, 17, 128}), at::empty({128}), at::empty({128})}));
  EXPECT_FALSE(runtime::small_work(node_of("LayerNormalization"), {at::empty({32, 17, 128}), at::empty({128}), at::empty({128})}));
  // A big weight does not make a product big: its input and multiply-adds do.
  EXPECT_FALSE(runtime::small_work(node_of("Gemm"), {at::empty({1, 1280}), at::empty({1000, 1280})}));
  EXPECT_TRUE(runtime::small_work(node_of("Gemm"), {at::empty({1, 64}), at::empty({1000, 64})}));
  // A depthwise convolution at 7x7 has few multiply-adds but a large input.
  EXPECT_FALSE(runtime::small_work(node_of("Conv"), {at::empty({1, 960, 7, 7}), at::empty({960, 1, 3, 3})}));
}

TEST(SmallWork, OneThreadLimitsParallelRegionsWhileAlive) {
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  {
    runtime::OneThread alone;
    EXPECT_EQ(at::get_num_threads(), 1);  // what LibTorch's parallel_for and oneDNN ask for
  }
  EXPECT_EQ(at::get_num_threads(), 2);
  at::set_num_threads(before);
}
