// Round trip of every model in Debian's libonnx-testdata: import -> IR -> export must give a
// semantically identical ModelProto, and a model that passes ONNX's full check before passes after.
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nncompress/onnx/model_file.h"
#include "onnx/proto_convert.h"
#include "support/proto_compare.h"

namespace fs = std::filesystem;
using namespace nncompress;

namespace {

const char* kTestdata = "/usr/share/libonnx-testdata/data";

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ONNX's full check, as onnx.checker.check_model(model, full_check=True) does it.
std::string full_check_error(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
    onnx::ModelProto copy = model;
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(), onnx::ShapeInferenceOptions(true, 1, false));
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::vector<fs::path> models_under(const std::string& group) {
  std::vector<fs::path> out;
  const fs::path root = fs::path(kTestdata) / group;
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.path().filename() == "model.onnx") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

void round_trip_group(const std::string& group) {
  const auto models = models_under(group);
  ASSERT_FALSE(models.empty()) << "no models under " << kTestdata << "/" << group
                               << ": install libonnx-testdata (tools/setup.sh)";
  int checked_before = 0;
  for (const fs::path& path : models) {
    SCOPED_TRACE(path.string());
    const std::string bytes = read_bytes(path);
    onnx::ModelProto original;
    ASSERT_TRUE(original.ParseFromString(bytes));
    const bool passes_before = full_check_error(original).empty();
    checked_before += passes_before;

    ir::Model model;
    try {
      model = onnxio::parse_model(bytes, path.string(), path.parent_path().string());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "import failed: " << e.what();
      continue;
    }
    const onnx::ModelProto exported = onnxio::export_model(model);
    EXPECT_EQ(test_support::semantic_diff(original, exported), "");
    if (passes_before) {
      EXPECT_EQ(full_check_error(exported), "") << "passed the checker before the round trip";
    }
  }
  std::printf("[ %s ] %zu models round-tripped, %d of them pass ONNX's full check\n", group.c_str(), models.size(),
              checked_before);
}

}  // namespace

TEST(RoundTripTestdata, NodeTests) { round_trip_group("node"); }
TEST(RoundTripTestdata, PytorchConverted) { round_trip_group("pytorch-converted"); }
TEST(RoundTripTestdata, PytorchOperator) { round_trip_group("pytorch-operator"); }
TEST(RoundTripTestdata, Simple) { round_trip_group("simple"); }
