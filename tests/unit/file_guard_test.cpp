// The file guard: no output over an input (also through links), no file written twice, a planned
// output written once.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"

namespace fs = std::filesystem;
using namespace nncompress;

namespace {

class FileGuard : public ::testing::Test {
 protected:
  void SetUp() override {
    reset_file_guard();
    dir_ = fs::temp_directory_path() / ("file_guard_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(path("in.onnx")) << "model";
  }
  void TearDown() override {
    reset_file_guard();
    fs::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

bool refused(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind() == ErrorKind::BadInput;
  }
  return false;
}

}  // namespace

TEST_F(FileGuard, InputsAreNeverOutputs) {
  note_input(path("in.onnx"));
  EXPECT_TRUE(refused([&] { claim_output(path("in.onnx")); }));
  EXPECT_TRUE(refused([&] { claim_output(path("./sub/../in.onnx")); }));  // the same path spelled otherwise
  fs::create_hard_link(path("in.onnx"), path("hard.onnx"));
  fs::create_symlink(path("in.onnx"), path("soft.onnx"));
  EXPECT_TRUE(refused([&] { claim_output(path("hard.onnx")); }));
  EXPECT_TRUE(refused([&] { claim_output(path("soft.onnx")); }));
  EXPECT_FALSE(refused([&] { claim_output(path("out.onnx")); }));
}

TEST_F(FileGuard, OneWritePerOutput) {
  plan_outputs({path("in.onnx")}, {path("out.onnx"), path("report.json")});
  EXPECT_FALSE(refused([&] { claim_output(path("out.onnx")); }));  // the planned write
  EXPECT_TRUE(refused([&] { claim_output(path("out.onnx")); }));   // a second one
  EXPECT_TRUE(refused([&] { plan_outputs({}, {path("report.json")}); }));
  EXPECT_TRUE(refused([&] { plan_outputs({}, {path("in.onnx")}); }));
}

TEST_F(FileGuard, OnlyRegularFiles) {
  EXPECT_TRUE(refused([&] { claim_output("/dev/null"); }));
}
