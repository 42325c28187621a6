// Hardening (issue 21): the sanity checks run on every loaded model, libonnx isolated in a child
// process, graphs that stay whole when moved, outputs that never exist half-written, names
// escaped before they reach a terminal.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "nncompress/core/atomic_file.h"
#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/core/format.h"
#include "nncompress/ir/model.h"
#include "nncompress/onnx/model_sanity.h"
#include "onnx/isolated.h"

namespace fs = std::filesystem;
using namespace nncompress;
using namespace nncompress::ir;

namespace {

// x -> Conv(W, attributes) -> y, at opset 13.
Model conv_model(std::vector<Attribute> attributes, std::vector<int64_t> weight_dims = {4, 3, 3, 3}) {
  Model m;
  m.opset_imports = {{"", 13}};
  Value* x = m.graph.add_input("x", ValueType::tensor(DataType::Float, {Dim::known(1), Dim::known(3), Dim::known(8), Dim::known(8)}));
  Value* w = m.graph.add_initializer(
      "W", Tensor(DataType::Float, weight_dims, at::zeros({element_count(weight_dims)}, at::kFloat)));
  Node* conv = m.graph.add_node({"Conv", "conv", "", {x, w}, {"y"}, std::move(attributes), {}, ""});
  m.graph.mark_output(conv->output(0));
  return m;
}

std::string refusal(const Model& m) {
  try {
    onnxio::check_model_sanity(m);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ModelSanity, AcceptsAPlainConvolution) {
  EXPECT_EQ(refusal(conv_model({Attribute::make_ints("strides", {2, 2}), Attribute::make_ints("pads", {1, 1, 1, 1})})), "");
}

TEST(ModelSanity, RefusesWindowsThatCrashLibrariesNamingTheNode) {
  EXPECT_NE(refusal(conv_model({Attribute::make_ints("strides", {0, 1})})).find("node 'conv' (Conv): attribute 'strides' holds 0"),
            std::string::npos);
  EXPECT_NE(refusal(conv_model({Attribute::make_ints("dilations", {1, 1 << 20})})).find("65536"), std::string::npos);
  EXPECT_NE(refusal(conv_model({Attribute::make_ints("pads", {-1, 0, 0, 0})})).find("'pads'"), std::string::npos);
  EXPECT_NE(refusal(conv_model({Attribute::make_ints("pads", {1, 1})})).find("has 2 values for 4"), std::string::npos);
  EXPECT_NE(refusal(conv_model({Attribute::make_int("group", 0)})).find("group 0"), std::string::npos);
  EXPECT_NE(refusal(conv_model({Attribute::make_int("group", 3)})).find("does not divide"), std::string::npos);
  EXPECT_NE(refusal(conv_model({}, {4, 27})).find("rank 2"), std::string::npos);
}

TEST(ModelSanity, ChecksAttributeKindsAndConstantTypesAgainstTheSchema) {
  EXPECT_NE(refusal(conv_model({Attribute::make_string("strides", "1")})).find("attribute 'strides' is STRING"),
            std::string::npos);
  Model m = conv_model({});
  Value* axes = m.graph.add_initializer("axes", Tensor(DataType::Float, {1}, at::zeros({1}, at::kFloat)));
  Node* squeeze = m.graph.add_node({"Squeeze", "sq", "", {m.graph.find_value("y"), axes}, {"z"}, {}, {}, ""});
  m.graph.mark_output(squeeze->output(0));
  EXPECT_NE(refusal(m).find("input 1 ('axes') is tensor(float)"), std::string::npos);
}

TEST(ModelSanity, RefusesDeclaredShapesNoFileCouldHold) {
  Model m = conv_model({});
  m.graph.find_value("x")->type = ValueType::tensor(DataType::Float, {Dim::known(int64_t(1) << 40), Dim::known(int64_t(1) << 40)});
  EXPECT_NE(refusal(m).find("more than 2^48 elements"), std::string::npos);
  m.graph.find_value("x")->type = ValueType::tensor(DataType::Float, {Dim::known(-3)});
  EXPECT_NE(refusal(m).find("negative dimension"), std::string::npos);
}

TEST(Isolated, ReturnsBytesErrorsAndCrashes) {
  const auto ok = onnxio::run_isolated([] { return std::string("answer\0with zero", 16); });
  EXPECT_FALSE(ok.crashed);
  EXPECT_EQ(ok.bytes, std::string("answer\0with zero", 16));
  const auto threw = onnxio::run_isolated([]() -> std::string { throw std::runtime_error("bad shape"); });
  EXPECT_FALSE(threw.crashed);
  EXPECT_EQ(threw.error, "bad shape");
  const auto crashed = onnxio::run_isolated([]() -> std::string {
    std::raise(SIGSEGV);
    return "unreachable";
  });
  EXPECT_TRUE(crashed.crashed);
}

TEST(Graph, MovedGraphsKeepTheirNodesPointingAtThem) {
  Model a = conv_model({});
  Model b = std::move(a);
  Graph c = std::move(b.graph);
  for (const auto& n : c.nodes()) EXPECT_EQ(&n->graph(), &c);
  EXPECT_EQ(c.nodes()[0]->describe(), "'conv' (Conv)");
}

TEST(AtomicFile, NothingVisibleBeforeCommitAndUsualPermissionsAfter) {
  reset_file_guard();
  const fs::path dir = fs::temp_directory_path() / ("atomic_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "out.onnx").string();
  {
    AtomicFile out(path);
    out.write(std::string("partial"));
    EXPECT_TRUE(fs::is_empty(dir)) << "an unnamed temporary (O_TMPFILE) until commit";
  }
  EXPECT_TRUE(fs::is_empty(dir)) << "an uncommitted file leaves nothing";
  reset_file_guard();
  {
    AtomicFile out(path);
    out.write(std::string("whole"));
    out.commit();
  }
  std::ifstream in(path);
  std::string text;
  in >> text;
  EXPECT_EQ(text, "whole");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
  reset_file_guard();
}

TEST(AtomicFile, ACommitGroupWritesAllOutputsOrNone) {
  reset_file_guard();
  const fs::path dir = fs::temp_directory_path() / ("group_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto write_both = [&] {
    for (const char* name : {"model.onnx", "report.json"}) {
      AtomicFile out((dir / name).string());
      out.write(std::string(name));
      out.commit();
    }
  };
  {
    CommitGroup failed;
    write_both();
    EXPECT_TRUE(fs::is_empty(dir)) << "committed files wait for the group";
  }  // the command failed after writing both: neither appears
  EXPECT_TRUE(fs::is_empty(dir));
  reset_file_guard();
  {
    CommitGroup succeeded;
    write_both();
    succeeded.commit();
  }
  EXPECT_TRUE(fs::exists(dir / "model.onnx") && fs::exists(dir / "report.json"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
  fs::remove_all(dir);
  reset_file_guard();
}

TEST(Format, PrintableEscapesControlAndBinaryBytes) {
  EXPECT_EQ(printable("conv_1"), "conv_1");
  EXPECT_EQ(printable(std::string("a\nb\x1b[31m\xff", 9)), "a\\x0ab\\x1b[31m\\xff");
  EXPECT_EQ(printable(std::string(500, 'x')).size(), 203u);
}
