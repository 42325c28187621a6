#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>

#include "nncompress/core/error.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/onnx/validate.h"
#include "onnx/proto_convert.h"
#include "support/proto_compare.h"

using namespace nncompress;
namespace fs = std::filesystem;

namespace {

onnx::ValueInfoProto tensor_info(const std::string& name, int elem, std::vector<int64_t> dims) {
  onnx::ValueInfoProto v;
  v.set_name(name);
  auto* t = v.mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem);
  for (int64_t d : dims) {
    if (d < 0) t->mutable_shape()->add_dim()->set_dim_param("N");
    else t->mutable_shape()->add_dim()->set_dim_value(d);
  }
  return v;
}

// A model exercising what must survive a round trip: every attribute kind we keep, raw and typed
// tensor data, a subgraph reading an outer value, metadata, value_info, custom opset domains.
onnx::ModelProto rich_model() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("test");
  m.set_producer_version("1");
  m.set_doc_string("model doc");
  m.set_model_version(3);
  auto* op = m.add_opset_import();
  op->set_version(17);
  auto* custom = m.add_opset_import();
  custom->set_domain("com.example");
  custom->set_version(2);
  auto* meta = m.add_metadata_props();
  meta->set_key("author");
  meta->set_value("nncompress");

  auto* g = m.mutable_graph();
  g->set_name("g");
  g->set_doc_string("graph doc");
  *g->add_input() = tensor_info("x", onnx::TensorProto::FLOAT, {-1, 2});
  *g->add_input() = tensor_info("cond", onnx::TensorProto::BOOL, {});
  auto* w = g->add_initializer();  // typed float_data
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(2);
  w->add_float_data(1.5f);
  w->add_float_data(-2.0f);
  auto* h = g->add_initializer();  // FLOAT16 bits in int32_data
  h->set_name("h");
  h->set_data_type(onnx::TensorProto::FLOAT16);
  h->add_dims(1);
  h->add_int32_data(0x3c00);
  auto* s = g->add_initializer();  // strings
  s->set_name("labels");
  s->set_data_type(onnx::TensorProto::STRING);
  s->add_dims(2);
  s->add_string_data("cat");
  s->add_string_data("dog");

  auto* add = g->add_node();
  add->set_op_type("Add");
  add->set_name("add");
  add->add_input("x");
  add->add_input("w");
  add->add_output("y");
  add->set_doc_string("node doc");

  auto* iff = g->add_node();
  iff->set_op_type("If");
  iff->set_name("if");
  iff->add_input("cond");
  iff->add_output("r");
  for (const char* branch : {"then_branch", "else_branch"}) {
    auto* a = iff->add_attribute();
    a->set_name(branch);
    a->set_type(onnx::AttributeProto::GRAPH);
    auto* sub = a->mutable_g();
    sub->set_name(branch);
    auto* n = sub->add_node();
    n->set_op_type("Identity");
    n->add_input("y");  // read from the outer scope
    n->add_output(std::string(branch) + "_out");
    *sub->add_output() = tensor_info(std::string(branch) + "_out", onnx::TensorProto::FLOAT, {-1, 2});
  }

  auto* c = g->add_node();
  c->set_op_type("Custom");
  c->set_domain("com.example");
  c->add_input("r");
  c->add_input("");
  c->add_output("out");
  c->add_output("");
  auto add_attr = [&](const char* name, onnx::AttributeProto::AttributeType type) {
    auto* a = c->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  };
  add_attr("f", onnx::AttributeProto::FLOAT)->set_f(0.25f);
  add_attr("i", onnx::AttributeProto::INT)->set_i(-7);
  add_attr("s", onnx::AttributeProto::STRING)->set_s("hello");
  auto* t = add_attr("t", onnx::AttributeProto::TENSOR)->mutable_t();
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(1);
  t->add_int64_data(42);
  auto* fl = add_attr("floats", onnx::AttributeProto::FLOATS);
  fl->add_floats(1.0f);
  fl->add_floats(2.0f);
  add_attr("ints", onnx::AttributeProto::INTS)->add_ints(5);
  add_attr("strings", onnx::AttributeProto::STRINGS)->add_strings("a");
  add_attr("tp", onnx::AttributeProto::TYPE_PROTO)->mutable_tp()->mutable_tensor_type()->set_elem_type(1);

  *g->add_output() = tensor_info("out", onnx::TensorProto::FLOAT, {-1, 2});
  *g->add_value_info() = tensor_info("y", onnx::TensorProto::FLOAT, {-1, 2});
  return m;
}

std::string temp_dir() {
  fs::path dir = fs::temp_directory_path() / ("nncompress_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir.string();
}

}  // namespace

TEST(OnnxIo, RoundTripKeepsEverything) {
  onnx::ModelProto original = rich_model();
  const ir::Model model = onnxio::import_model(original, nullptr);
  EXPECT_EQ(test_support::semantic_diff(original, onnxio::export_model(model)), "");
}

TEST(OnnxIo, SubgraphOuterReferencesBecomeImplicitInputs) {
  const ir::Model model = onnxio::import_model(rich_model(), nullptr);
  const ir::Value& y = model.graph.value("y");
  int implicit = 0;
  for (const ir::Use& u : y.uses()) implicit += u.implicit;
  EXPECT_EQ(implicit, 1);  // the If node, once, though both branches read it
  EXPECT_EQ(y.uses().size(), 1u);
}

TEST(OnnxIo, ImportedTensorsDecodeTypedFields) {
  const ir::Model model = onnxio::import_model(rich_model(), nullptr);
  const ir::Tensor* w = model.graph.value("w").initializer();
  ASSERT_NE(w, nullptr);
  const float* p = static_cast<const float*>(w->raw_bytes());
  EXPECT_EQ(p[0], 1.5f);
  EXPECT_EQ(p[1], -2.0f);
  const ir::Tensor* h = model.graph.value("h").initializer();
  EXPECT_EQ(*static_cast<const uint16_t*>(h->raw_bytes()), 0x3c00);
  EXPECT_EQ(model.graph.value("labels").initializer()->strings()[1], "dog");
}

TEST(OnnxIo, UndefinedValueIsBadInput) {
  onnx::ModelProto m = rich_model();
  m.mutable_graph()->mutable_node(0)->set_input(1, "nope");
  try {
    onnxio::import_model(m, nullptr);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos) << e.what();
  }
}

TEST(OnnxIo, UnsortedNodesAreOrderedAndCyclesRefused) {
  onnx::ModelProto m = rich_model();
  m.mutable_graph()->mutable_node()->SwapElements(0, 2);  // Custom before its producers
  const ir::Model model = onnxio::import_model(m, nullptr);
  EXPECT_EQ(model.graph.nodes().back()->op_type(), "Custom");
  m.mutable_graph()->mutable_node(2)->set_input(0, "out");  // Add reads the Custom output: a cycle
  EXPECT_THROW(onnxio::import_model(m, nullptr), Error);
}

TEST(OnnxIo, TensorWithWrongValueCountIsBadInput) {
  onnx::ModelProto m = rich_model();
  m.mutable_graph()->mutable_initializer(0)->add_float_data(3.0f);
  EXPECT_THROW(onnxio::import_model(m, nullptr), Error);
  m = rich_model();
  m.mutable_graph()->mutable_initializer(0)->clear_float_data();
  m.mutable_graph()->mutable_initializer(0)->set_raw_data("abc");
  EXPECT_THROW(onnxio::import_model(m, nullptr), Error);
}

TEST(OnnxIo, ParseRejectsGarbage) {
  EXPECT_THROW(onnxio::parse_model("", "empty"), Error);
  EXPECT_THROW(onnxio::parse_model("\xff\xff\xff\xff garbage", "junk"), Error);
  const std::string bytes = rich_model().SerializeAsString();
  EXPECT_THROW(onnxio::parse_model(bytes.substr(0, bytes.size() / 2), "half"), Error);
  EXPECT_NO_THROW(onnxio::parse_model(bytes, "whole"));
}

TEST(OnnxIo, SaveWithExternalDataAndLoadBack) {
  const std::string dir = temp_dir();
  onnx::ModelProto proto = rich_model();
  auto* big = proto.mutable_graph()->add_initializer();
  big->set_name("big");
  big->set_data_type(onnx::TensorProto::FLOAT);
  big->add_dims(1000);
  std::string raw(4000, '\0');
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(i % 251);
  big->set_raw_data(raw);
  const ir::Model model = onnxio::import_model(proto, nullptr);
  onnxio::SaveOptions options;
  options.external_data = true;
  const std::string path = dir + "/ext.onnx";
  onnxio::save_model(model, path, options);
  EXPECT_TRUE(fs::exists(path + ".data"));
  EXPECT_EQ(fs::file_size(path + ".data"), 4000u);
  const ir::Model back = onnxio::load_model(path);
  EXPECT_TRUE(back.graph.value("big").initializer()->same_contents(*model.graph.value("big").initializer()));
  // No temporary files are left behind.
  for (const auto& entry : fs::directory_iterator(dir))
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << entry.path();
  fs::remove_all(dir);
}

TEST(OnnxIo, ExternalDataMayNotLeaveTheModelFolder) {
  onnx::ModelProto m = rich_model();
  auto* t = m.mutable_graph()->mutable_initializer(0);
  t->clear_float_data();
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* kv = t->add_external_data();
  kv->set_key("location");
  kv->set_value("../../etc/passwd");
  EXPECT_THROW(onnxio::parse_model(m.SerializeAsString(), "evil", "/tmp"), Error);
}

TEST(OnnxIo, SaveToUnwritablePathIsBadInputAndLeavesNothing) {
  const ir::Model model = onnxio::import_model(rich_model(), nullptr);
  try {
    onnxio::save_model(model, "/nonexistent-dir/out.onnx");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
  }
}

TEST(OnnxIo, CheckerAndShapeInference) {
  const ir::Model model = onnxio::import_model(rich_model(), nullptr);
  // The custom domain op has no schema: the checker cannot pass it, but shapes of the rest are found.
  const ir::TypeMap types = onnxio::infer_shapes(model);
  ASSERT_TRUE(types.count("y"));
  EXPECT_EQ(ir::to_string(types.at("y")), "FLOAT[N,2]");
  EXPECT_EQ(onnxio::newest_known_opset(), 17);
}

namespace {

onnx::TensorProto float_tensor(const std::string& name, std::vector<int64_t> dims) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  int64_t n = 1;
  for (int64_t d : dims) {
    t.add_dims(d);
    n *= d;
  }
  t.set_raw_data(std::string(static_cast<size_t>(4 * n), '\0'));
  return t;
}

// x[N,8,4,4] -> Conv 16x3x3 -> ReduceMean-18 (axes as an input) -> Flatten -> Gemm -> [N,10], opset 21.
onnx::ModelProto opset21_model() {
  onnx::ModelProto m;
  m.set_ir_version(10);
  m.add_opset_import()->set_version(21);
  auto* g = m.mutable_graph();
  g->set_name("new");
  *g->add_input() = tensor_info("x", onnx::TensorProto::FLOAT, {-1, 8, 4, 4});
  *g->add_initializer() = float_tensor("w", {16, 8, 3, 3});
  *g->add_initializer() = float_tensor("fc", {10, 16});
  auto* axes = g->add_initializer();
  axes->set_name("axes");
  axes->set_data_type(onnx::TensorProto::INT64);
  axes->add_dims(2);
  axes->add_int64_data(2);
  axes->add_int64_data(3);
  auto node = [&](const char* op, std::vector<std::string> in, const char* out) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(out);
    for (auto& i : in) n->add_input(i);
    n->add_output(out);
    return n;
  };
  auto* conv = node("Conv", {"x", "w"}, "c");
  auto* pads = conv->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(1);
  node("ReduceMean", {"c", "axes"}, "r");
  node("Flatten", {"r"}, "f");
  auto* gemm = node("Gemm", {"f", "fc"}, "o");
  auto* tb = gemm->add_attribute();
  tb->set_name("transB");
  tb->set_type(onnx::AttributeProto::INT);
  tb->set_i(1);
  *g->add_output() = tensor_info("o", onnx::TensorProto::FLOAT, {-1, 10});
  return m;
}

}  // namespace

TEST(OnnxIo, NewerOpsetLoadsRoundTripsAndGetsShapes) {
  const onnx::ModelProto proto = opset21_model();
  const ir::Model model = onnxio::import_model(proto, nullptr);
  EXPECT_EQ(test_support::semantic_diff(proto, onnxio::export_model(model)), "");
  EXPECT_FALSE(onnxio::opsets_known(model));

  const onnxio::CheckResult check = onnxio::check_model(model);
  EXPECT_FALSE(check.checked);
  EXPECT_TRUE(check.ok());
  ASSERT_EQ(check.warnings.size(), 1u);
  EXPECT_NE(check.warnings[0].find("opset 21"), std::string::npos);

  std::vector<std::string> warnings;
  const ir::TypeMap types = onnxio::infer_shapes(model, &warnings);
  EXPECT_FALSE(warnings.empty());
  ASSERT_TRUE(types.count("r"));
  EXPECT_EQ(ir::to_string(types.at("r")), "FLOAT[N,16,1,1]");  // axes taken from the input, not "all"
  ASSERT_TRUE(types.count("o"));
  EXPECT_EQ(ir::to_string(types.at("o")), "FLOAT[N,10]");
}

TEST(OnnxIo, CheckerFailureIsReportedNotThrown) {
  onnx::ModelProto proto = opset21_model();
  proto.mutable_opset_import(0)->set_version(13);  // Reduce axes as an input is invalid at 13
  const onnxio::CheckResult check = onnxio::check_model(onnxio::import_model(proto, nullptr));
  EXPECT_TRUE(check.checked);
  EXPECT_FALSE(check.ok());
}

TEST(OnnxIo, SparseInitializersDensifyAndExportSparse) {
  onnx::ModelProto m = rich_model();
  auto* sp = m.mutable_graph()->add_sparse_initializer();
  sp->add_dims(2);
  sp->add_dims(3);
  auto* values = sp->mutable_values();
  values->set_name("sparse_w");
  values->set_data_type(onnx::TensorProto::FLOAT);
  values->add_dims(2);
  values->add_float_data(5.0f);
  values->add_float_data(-1.0f);
  auto* indices = sp->mutable_indices();  // [NNZ, rank] coordinates: (0,1) and (1,2)
  indices->set_data_type(onnx::TensorProto::INT64);
  indices->add_dims(2);
  indices->add_dims(2);
  for (int64_t v : {0, 1, 1, 2}) indices->add_int64_data(v);

  const ir::Model model = onnxio::import_model(m, nullptr);
  const ir::Tensor* t = model.graph.value("sparse_w").initializer();
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->store_sparse);
  const float* p = static_cast<const float*>(t->raw_bytes());
  EXPECT_EQ(std::vector<float>(p, p + 6), (std::vector<float>{0, 5, 0, 0, 0, -1}));

  const onnx::ModelProto out = onnxio::export_model(model);
  ASSERT_EQ(out.graph().sparse_initializer_size(), 1);
  const auto& back = out.graph().sparse_initializer(0);
  EXPECT_EQ(back.values().name(), "sparse_w");
  EXPECT_EQ(back.dims_size(), 2);
  const ir::Tensor idx = onnxio::import_tensor(back.indices(), nullptr);
  const int64_t* q = static_cast<const int64_t*>(idx.raw_bytes());
  EXPECT_EQ(std::vector<int64_t>(q, q + idx.numel()), (std::vector<int64_t>{1, 5}));  // linear indices
  // And it imports again to the same dense tensor.
  EXPECT_TRUE(onnxio::import_model(out, nullptr).graph.value("sparse_w").initializer()->same_contents(*t));
}

// The pipeline's "did the pass change anything" check: equal models hash equal, one changed
// tensor byte or one changed attribute does not.
TEST(OnnxIo, FingerprintSeesEveryTensorByteAndTheGraph) {
  const onnx::ModelProto proto = rich_model();
  const uint64_t original = onnxio::model_fingerprint(onnxio::import_model(proto, nullptr));
  EXPECT_EQ(onnxio::model_fingerprint(onnxio::import_model(proto, nullptr)), original);

  onnx::ModelProto tensor_changed = proto;
  ASSERT_GT(tensor_changed.graph().initializer_size(), 0);
  onnx::TensorProto* t = tensor_changed.mutable_graph()->mutable_initializer(0);
  const ir::Model plain = onnxio::import_model(proto, nullptr);
  onnx::TensorProto flipped = onnxio::export_tensor(*plain.graph.value(t->name()).initializer());
  std::string bytes = flipped.raw_data();  // the tensor as raw bytes, one bit flipped
  ASSERT_FALSE(bytes.empty());
  bytes.back() ^= 1;
  flipped.set_raw_data(bytes);
  *t = flipped;
  EXPECT_NE(onnxio::model_fingerprint(onnxio::import_model(tensor_changed, nullptr)), original);

  onnx::ModelProto graph_changed = proto;
  graph_changed.mutable_graph()->mutable_node(0)->set_name("renamed");
  EXPECT_NE(onnxio::model_fingerprint(onnxio::import_model(graph_changed, nullptr)), original);
}
