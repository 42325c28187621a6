// The fine-tuning loop trains, not just runs: LeNet-5 with 70% of its weights zeroed at random
// (masks kept fixed) recovers >= 97% MNIST test accuracy within 3 epochs, and distillation from
// the intact model without labels comes within 1 pp of fine-tuning with labels.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "nncompress/core/error.h"
#include "nncompress/data/dataset.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/runtime/tensor_convert.h"
#include "nncompress/train/trainer.h"

using namespace nncompress;

namespace {

const std::string kSource = NNCOMPRESS_SOURCE_DIR;
const std::string kBuild = NNCOMPRESS_BINARY_DIR;

double accuracy(const ir::Model& model, const data::Dataset& test) {
  const runtime::Executor exec(model);
  return *eval::evaluate(exec, test, {}).top1;
}

// Zeroes 70% of every weight matrix/kernel (rank >= 2) at random; returns the masks.
std::vector<std::pair<std::string, at::Tensor>> damage(ir::Model& model, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  std::vector<std::pair<std::string, at::Tensor>> masks;
  for (ir::Value* v : model.graph.initializers()) {
    ir::Tensor* t = v->mutable_initializer();
    if (t->dtype() != ir::DataType::Float || t->dims().size() < 2) continue;
    const at::Tensor w = runtime::to_aten(*t);
    const at::Tensor mask = (at::rand(w.sizes(), gen, at::kFloat) >= 0.7).to(at::kFloat);
    ir::Tensor damaged = runtime::from_aten(w * mask, t->dtype());
    damaged.name = t->name;
    *t = std::move(damaged);
    masks.push_back({v->name(), mask});
  }
  return masks;
}

train::TrainOptions recovery_options(const std::vector<std::pair<std::string, at::Tensor>>& masks) {
  train::TrainOptions o;
  o.epochs = 3;
  o.batch = 32;
  o.lr = 0.03;
  o.augment_crop_padding = 2;  // as the model was trained
  o.weight_decay = 0;
  o.seed = 3;
  o.masks = masks;
  return o;
}

void expect_masked_zeros(const ir::Model& model, const std::vector<std::pair<std::string, at::Tensor>>& masks) {
  for (const auto& [name, mask] : masks) {
    const at::Tensor w = runtime::to_aten(*model.graph.value(name).initializer());
    EXPECT_EQ(w.masked_select(mask == 0).abs().sum().item<double>(), 0.0) << name << " lost its zeros";
  }
}

}  // namespace

TEST(TrainRecovery, DamagedLeNet5RecoversWithLabelsAndByDistillation) {
  const ir::Model original = onnxio::load_model(kSource + "/models/lenet5-mnist.onnx");
  const data::Dataset train_data = data::load_dataset(kBuild + "/data/mnist-train.npz");
  const data::Dataset test = data::load_dataset(kSource + "/models/data/mnist-test.npz");
  const double intact = accuracy(original, test);

  ir::Model labeled = onnxio::load_model(kSource + "/models/lenet5-mnist.onnx");
  const auto masks = damage(labeled, 11);
  const double damaged = accuracy(labeled, test);
  ir::Model distilled = onnxio::load_model(kSource + "/models/lenet5-mnist.onnx");
  damage(distilled, 11);  // the same masks

  const train::TrainResult r = train::fine_tune(labeled, train_data, nullptr, recovery_options(masks));
  const double with_labels = accuracy(labeled, test);
  expect_masked_zeros(labeled, masks);

  data::Dataset unlabeled = train_data;
  unlabeled.y = at::Tensor();
  const runtime::Executor teacher(original);
  train::TrainOptions o = recovery_options(masks);
  o.teacher = &teacher;
  train::fine_tune(distilled, unlabeled, nullptr, o);
  const double by_distillation = accuracy(distilled, test);
  expect_masked_zeros(distilled, masks);

  std::printf("intact %.4f, damaged %.4f, fine-tuned with labels %.4f, distilled without labels %.4f, %.0f samples/s\n",
              intact, damaged, with_labels, by_distillation, r.samples_per_second);
  EXPECT_LT(damaged, with_labels);
  EXPECT_GE(with_labels, 0.97);
  EXPECT_GE(by_distillation, with_labels - 0.01);
}

TEST(TrainRecovery, RefusesUnlabeledDataWithoutTeacher) {
  ir::Model model = onnxio::load_model(kSource + "/models/lenet5-mnist.onnx");
  data::Dataset d = data::load_dataset(kSource + "/models/data/mnist-test.npz", 64);
  d.y = at::Tensor();
  EXPECT_THROW(train::fine_tune(model, d, nullptr, {}), Error);
}
