// .npy reading limited to the first rows (what --limit reads from a compressed .npz).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "nncompress/core/error.h"
#include "nncompress/data/array_io.h"

namespace nncompress::data {
namespace {

TEST(ArrayIo, RowLimitReadsTheFirstRowsFromAPrefix) {
  const at::Tensor a = at::arange(5 * 3, at::kFloat).view({5, 3});
  const std::string bytes = to_npy(a);
  const auto prefix = npy_prefix_size(bytes, "a", 2);
  ASSERT_TRUE(prefix.has_value());
  EXPECT_EQ(*prefix, bytes.size() - 3 * 3 * sizeof(float));  // header + 2 of 5 rows
  const at::Tensor first = parse_npy(bytes.substr(0, *prefix), "a", 2);
  EXPECT_TRUE(first.equal(a.narrow(0, 0, 2)));
  EXPECT_TRUE(parse_npy(bytes, "a", 2).equal(a.narrow(0, 0, 2)));
  EXPECT_TRUE(parse_npy(bytes, "a", 0).equal(a));
}

TEST(ArrayIo, RowLimitNeedsEveryByteWhenItCannotCut) {
  const std::string bytes = to_npy(at::ones({3, 2}));
  EXPECT_FALSE(npy_prefix_size(bytes, "a", 3).has_value());  // no more rows than the limit
  EXPECT_FALSE(npy_prefix_size(bytes, "a", 0).has_value());  // no limit
  EXPECT_FALSE(npy_prefix_size(to_npy(at::scalar_tensor(1.0)), "s", 1).has_value());  // no rows
  // A prefix one byte short of the rows asked for is truncated data, not a crash.
  const auto prefix = npy_prefix_size(to_npy(at::ones({4, 2})), "a", 2);
  ASSERT_TRUE(prefix.has_value());
  EXPECT_THROW(parse_npy(to_npy(at::ones({4, 2})).substr(0, *prefix - 1), "a", 2), Error);
}

TEST(ArrayIo, ReadNpyWithARowLimitReadsOnlyThoseRowsFromTheFile) {
  // A file cut after its second row: with --limit 2 nothing past it is read.
  const at::Tensor a = at::arange(5 * 4, at::kFloat).view({5, 4});
  const std::string bytes = to_npy(a);
  const std::string path = ::testing::TempDir() + "/cut.npy";
  std::ofstream(path, std::ios::binary) << bytes.substr(0, *npy_prefix_size(bytes, "a", 2));
  EXPECT_TRUE(read_npy(path, 2).equal(a.narrow(0, 0, 2)));
  EXPECT_THROW(read_npy(path), Error);  // all five rows: truncated
  std::remove(path.c_str());
}

}  // namespace
}  // namespace nncompress::data
