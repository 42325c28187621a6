#include "nncompress/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>
#include <unordered_map>

#include "nncompress/core/error.h"
#include "nncompress/dist/process_group.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/runtime/tensor_convert.h"
#include "nncompress/train/detection_loss.h"

namespace nncompress::train {

namespace {

constexpr double kPi = 3.14159265358979323846;

// A parameter and its optimizer state.
struct Slot {
  at::Tensor param;
  double lr_scale = 1.0;  // group learning rate relative to the main one
  double weight_decay = 0;
  at::Tensor momentum, second;  // SGD momentum / Adam moments
};

double schedule_factor(const std::string& schedule, int64_t step, int64_t total) {
  const double t = total > 1 ? static_cast<double>(step) / static_cast<double>(total - 1) : 1.0;
  if (schedule == "cosine") return 0.5 * (1.0 + std::cos(kPi * t));
  if (schedule == "onecycle") {
    // 30% linear warm-up from lr/25, then cosine annealing down to lr/1e4.
    if (t < 0.3) return 1.0 / 25 + (1.0 - 1.0 / 25) * t / 0.3;
    return 1e-4 + (1.0 - 1e-4) * 0.5 * (1.0 + std::cos(kPi * (t - 0.3) / 0.7));
  }
  return 1.0;
}

void sgd_step(Slot& s, double lr, const TrainOptions& o) {
  at::Tensor g = s.param.grad();
  if (!g.defined()) return;
  if (s.weight_decay) g = g + s.weight_decay * s.param.detach();
  if (o.momentum) {
    if (!s.momentum.defined()) s.momentum = g.clone();
    else s.momentum.mul_(o.momentum).add_(g);
    g = o.nesterov ? g + o.momentum * s.momentum : s.momentum;
  }
  s.param.detach().sub_(lr * g);
}

void adam_step(Slot& s, double lr, int64_t step, const TrainOptions& o) {
  at::Tensor g = s.param.grad();
  if (!g.defined()) return;
  if (s.weight_decay) g = g + s.weight_decay * s.param.detach();
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  if (!s.momentum.defined()) {
    s.momentum = at::zeros_like(g);
    s.second = at::zeros_like(g);
  }
  s.momentum.mul_(b1).add_(g, 1 - b1);
  s.second.mul_(b2).addcmul_(g, g, 1 - b2);
  const double c1 = 1 - std::pow(b1, static_cast<double>(step)), c2 = 1 - std::pow(b2, static_cast<double>(step));
  s.param.detach().sub_(lr / c1 * s.momentum / ((s.second / c2).sqrt() + eps));
}

// Random crops and flips for the samples [first, first + n) of a global batch of `total`: the draws
// are made for the whole global batch on every rank, so data-parallel ranks augment their shares
// exactly as one process would the whole batch.
at::Tensor augment(const at::Tensor& x, const TrainOptions& o, at::Generator& gen, int64_t first, int64_t total) {
  at::Tensor out = x;
  if (o.augment_crop_padding > 0 && x.dim() == 4) {
    const int64_t p = o.augment_crop_padding, h = x.size(2), w = x.size(3);
    const at::Tensor padded = at::constant_pad_nd(x, {p, p, p, p}, 0.0);
    const at::Tensor offsets = at::randint(0, 2 * p + 1, {total, 2}, gen, at::kLong).narrow(0, first, x.size(0)).contiguous();
    const int64_t* off = offsets.data_ptr<int64_t>();
    std::vector<at::Tensor> crops;
    for (int64_t i = 0; i < x.size(0); ++i) crops.push_back(padded[i].narrow(1, off[2 * i], h).narrow(2, off[2 * i + 1], w));
    out = at::stack(crops);
  }
  if (o.augment_flip && x.dim() == 4) {
    const at::Tensor flip = (at::rand({total, 1, 1, 1}, gen, at::kFloat) < 0.5).narrow(0, first, x.size(0));
    out = at::where(flip, out.flip({3}), out);
  }
  return out;
}

// Tensors of the executor to snapshot for "best epoch": every float parameter.
std::unordered_map<std::string, at::Tensor> snapshot(runtime::Executor& exec, const std::vector<std::string>& names) {
  std::unordered_map<std::string, at::Tensor> s;
  for (const std::string& n : names) s[n] = exec.parameter(n).detach().clone();
  return s;
}

}  // namespace

int64_t epoch_sample_count(int64_t samples, const TrainOptions& o) {
  return o.epoch_samples > 0 ? std::min(o.epoch_samples, samples) : samples;
}

int64_t steps_per_epoch(int64_t samples, const TrainOptions& o) {
  const int64_t n = epoch_sample_count(samples, o), ranks = dist::world_size();
  const int64_t global_batch = std::max<int64_t>(o.batch, 1) * ranks;
  int64_t steps = (n + global_batch - 1) / global_batch;
  if (steps > 0 && n - (steps - 1) * global_batch < ranks) --steps;
  return steps;
}

std::vector<std::string> trainable_parameters(const ir::Model& model) {
  std::set<const ir::Value*> statistics;
  for (const auto& n : model.graph.nodes())
    if (n->op_type() == "BatchNormalization")
      for (size_t i = 3; i < 5; ++i)
        if (n->input(i)) statistics.insert(n->input(i));
  // A single number read only by formula ops (a LayerNorm's epsilon and exponent, hardswish's 3
  // and 6, a Clip bound) is part of the formula, not a weight: exporters without constant folding
  // write them as Constant nodes, which intake normalization makes initializers.
  static const std::set<std::string> layers = {"Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization",
                                               "InstanceNormalization", "LayerNormalization", "GroupNormalization",
                                               "PRelu"};
  auto formula_constant = [&](const ir::Value* v) {
    if (v->initializer()->numel() != 1) return false;
    for (const ir::Use& u : v->uses())
      if (layers.count(u.node->op_type())) return false;
    return true;
  };
  std::vector<std::string> names;
  for (const ir::Value* v : model.graph.initializers()) {
    const ir::DataType t = v->initializer()->dtype();
    if ((t == ir::DataType::Float || t == ir::DataType::Double) && !statistics.count(v) && v->initializer()->numel() > 0 &&
        !formula_constant(v))
      names.push_back(v->name());
  }
  return names;
}

namespace {

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

// Training that produced NaN/inf: the options (lr, weight decay) or the data, so bad input.
Error diverged(int epoch, int64_t step, int64_t steps, const std::string& what) {
  return bad_input("fine-tuning diverged at epoch " + std::to_string(epoch) + ", step " + std::to_string(step + 1) + " of " +
                   std::to_string(steps) + ": " + what + "; try a lower --lr or --weight-decay, or check the data");
}

void check_options(const data::Dataset& train, const TrainOptions& o) {
  if (o.detection) {
    if (!train.has_boxes() && !o.teacher)
      throw bad_input("'" + train.source + "' has no boxes: give detection data (an .npz with `boxes`) or a teacher model to distill from");
    if (o.augment_crop_padding > 0 || o.augment_flip)
      throw bad_input("augmentation (crop, flip) would move the objects of detection data without their boxes: leave it off");
  } else if (!train.has_labels() && !o.teacher) {
    throw bad_input("'" + train.source + "' has no labels: give labeled data or a teacher model to distill from");
  }
  if (o.optimizer != "sgd" && o.optimizer != "adam") throw bad_input("unknown optimizer '" + o.optimizer + "' (sgd, adam)");
  if (o.schedule != "cosine" && o.schedule != "onecycle" && o.schedule != "constant")
    throw bad_input("unknown schedule '" + o.schedule + "' (cosine, onecycle, constant)");
  if (o.epochs < 1) throw bad_input("epochs must be at least 1");
  if (o.epoch_samples < 0) throw bad_input("epoch-samples must not be negative");
  // NaN fails every comparison, so each check is written to fail on it.
  if (!(o.lr > 0) || !std::isfinite(o.lr)) throw bad_input("lr must be a finite number > 0 (got " + number(o.lr) + ")");
  if (!(o.momentum >= 0 && o.momentum <= 1)) throw bad_input("momentum must be in [0, 1] (got " + number(o.momentum) + ")");
  if (!(o.weight_decay >= 0) || !std::isfinite(o.weight_decay))
    throw bad_input("weight-decay must be a finite number >= 0 (got " + number(o.weight_decay) + ")");
  if (!(o.temperature > 0) || !std::isfinite(o.temperature))
    throw bad_input("temperature must be a finite number > 0 (got " + number(o.temperature) + ")");
  if (!(o.distill_weight >= 0 && o.distill_weight <= 1))
    throw bad_input("distill-weight must be in [0, 1] (got " + number(o.distill_weight) + ")");
  int64_t largest = 0;  // the samples' largest dimension
  for (int64_t d = 1; d < train.x.dim(); ++d) largest = std::max(largest, train.x.size(d));
  if (o.augment_crop_padding < 0 || o.augment_crop_padding > largest)
    throw bad_input("augment-crop must be in [0, " + std::to_string(largest) + "] for samples of size " +
                    std::to_string(largest) + " (got " + std::to_string(o.augment_crop_padding) + ")");
}

// One fine-tuning run: the executor over copies of the parameters, the optimizer's slots, the
// masks and the reparameterized views.
class Run {
 public:
  Run(const ir::Model& model, const data::Dataset& train, const TrainOptions& o)
      : train_(train), o_(o), exec_(model), gen_(at::detail::createCPUGenerator(o.seed)) {
    at::manual_seed(o.seed);  // dropout inside the kernels
    // Work on copies so the model changes only when training finishes; BatchNorm statistics are
    // copied too (training mode updates them in place).
    for (const ir::Value* v : model.graph.initializers())
      if (ir::is_floating_point(v->initializer()->dtype())) all_float_.push_back(v->name());
    for (const std::string& n : all_float_) exec_.parameter(n) = exec_.parameter(n).detach().clone();
    add_slots(model);
    for (const auto& [name, mask] : o.masks) {
      at::Tensor& p = exec_.parameter(name);
      if (mask.sizes() != p.sizes()) throw bad_input("mask for '" + name + "' does not match its shape");
      masks_.push_back({p, mask.to(p.scalar_type())});
    }
    apply_masks();
    // The executor sees each view while running; between runs it holds the trained weights again.
    for (const auto& [name, view] : o.views) viewed_.push_back({&exec_.parameter(name), exec_.parameter(name)});
  }

  TrainResult train(const data::Dataset* val) {
    TrainResult result;
    const int64_t n = epoch_sample_count(train_.size(), o_);
    const int64_t batches = steps_per_epoch(train_.size(), o_);
    total_steps_ = batches * o_.epochs;
    std::unordered_map<std::string, at::Tensor> best = snapshot(exec_, all_float_);
    double best_val = -1;
    const auto t_start = std::chrono::steady_clock::now();
    const dist::Traffic traffic_start = dist::traffic();
    for (int epoch = 1; epoch <= o_.epochs; ++epoch) {
      const auto t0 = std::chrono::steady_clock::now();
      EpochStats stats = train_epoch(epoch, n, batches);
      bool better = true;
      std::optional<double> score;  // top-1, or mAP@0.5 for a detector
      if (val && eval::has_truths(*val, o_.detection)) {
        score = validate(*val);
        (o_.detection ? stats.val_map50 : stats.val_top1) = score;
        better = *score > best_val;
      }
      if (!o_.keep_best_epoch) better = epoch == o_.epochs;
      if (better) {
        best = snapshot(exec_, all_float_);
        result.best_epoch = epoch;
        if (score) best_val = *score, (o_.detection ? result.best_val_map50 : result.best_val_top1) = score;
      }
      stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (o_.epoch_done) o_.epoch_done(stats);
      result.epochs.push_back(stats);
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    const int64_t trained = std::min(n, batches * o_.batch * dist::world_size());  // less a dropped remainder
    result.samples_per_second = elapsed > 0 ? static_cast<double>(trained) * o_.epochs / elapsed : 0;
    const dist::Traffic traffic = dist::traffic();
    result.ranks = dist::world_size();
    result.exchanges = traffic.exchanges - traffic_start.exchanges;
    result.exchanged_bytes = traffic.bytes - traffic_start.bytes;
    result.exchange_seconds = traffic.seconds - traffic_start.seconds;
    weights_ = std::move(best);
    return result;
  }

  // The kept epoch's parameters, after train().
  const std::unordered_map<std::string, at::Tensor>& weights() const { return weights_; }

 private:
  void add_slots(const ir::Model& model) {
    const std::set<std::string> frozen(o_.frozen.begin(), o_.frozen.end());
    for (const std::string& n : trainable_parameters(model)) {
      if (frozen.count(n)) continue;
      at::Tensor& p = exec_.parameter(n);
      p.requires_grad_(true);
      slots_.push_back({p, 1.0, o_.weight_decay, {}, {}});
    }
    for (const ParamGroup& g : o_.extra_groups)
      for (at::Tensor p : g.params) {  // a handle copy: requires_grad_ applies to the shared tensor
        p.requires_grad_(true);
        slots_.push_back({p, g.lr > 0 ? g.lr / o_.lr : 1.0, g.weight_decay, {}, {}});
      }
  }

  void apply_masks() {
    at::NoGradGuard no_grad;
    for (auto& [p, m] : masks_) p.detach().mul_(m);
  }
  void show_views() {
    for (size_t i = 0; i < viewed_.size(); ++i) *viewed_[i].first = o_.views[i].second(viewed_[i].second);
  }
  void hide_views() {
    for (auto& [slot, weight] : viewed_) *slot = weight;
  }

  // Cross-entropy on labels and/or distillation from the teacher, plus any extra term. Class
  // scores ([N, C], C >= 2) distill by softened KL; other outputs (detection maps, regressions,
  // a [N, 1] sigmoid) by mean squared error against the teacher's.
  at::Tensor loss_of(const std::vector<at::Tensor>& x, const at::Tensor& logits, const at::Tensor& labels,
                     bool class_scores) {
    at::Tensor loss;
    if (labels.defined()) {
      eval::check_label_range(labels, logits.size(1));
      loss = at::nll_loss(at::log_softmax(logits, 1), labels);
    }
    if (o_.teacher) {
      at::Tensor teacher_logits;
      {
        at::NoGradGuard no_grad;
        teacher_logits = o_.teacher->run(x).at(0).reshape({logits.size(0), -1});
      }
      at::Tensor distill;
      if (class_scores) {
        last_agreement_ = logits.argmax(1).eq(teacher_logits.argmax(1)).sum().item<int64_t>();
        const double t = o_.temperature;
        const at::Tensor target = at::softmax(teacher_logits / t, 1);
        distill = (target * (at::log(target + 1e-12) - at::log_softmax(logits / t, 1))).sum() / logits.size(0) * (t * t);
      } else {
        distill = at::mse_loss(logits, teacher_logits);
      }
      loss = labels.defined() ? o_.distill_weight * distill + (1 - o_.distill_weight) * loss : distill;
    }
    if (o_.extra_loss) loss = loss + o_.extra_loss();
    return loss;
  }

  // YOLOv8's loss on the batch's boxes, mixed with the mean squared error to the teacher's raw
  // head when distilling (distill_weight; distillation only without boxes).
  at::Tensor detection_loss_of(const std::vector<at::Tensor>& x, const at::Tensor& raw, const at::Tensor& idx) {
    at::Tensor loss;
    if (train_.has_boxes()) {
      const at::Tensor& image = x.at(0);
      const eval::Anchors anchors = eval::anchor_points(image.size(2), image.size(3), o_.detection->head);
      const DetectionLoss terms = detection_loss(raw, train_.boxes.index_select(0, idx), anchors, o_.detection->head);
      loss = terms.total;
      last_terms_ = terms;
      last_terms_.total.reset();  // the numbers only, not the batch's graph
    }
    if (o_.teacher) {
      at::Tensor teacher_raw;
      {
        at::NoGradGuard no_grad;
        teacher_raw = o_.teacher->run(x).at(0);
      }
      const at::Tensor distill = at::mse_loss(raw, teacher_raw);
      loss = loss.defined() ? o_.distill_weight * distill + (1 - o_.distill_weight) * loss : distill;
    }
    if (o_.extra_loss) loss = loss + o_.extra_loss();
    return loss;
  }

  // This batch's sums (the loss times the samples, samples, correct top-1, agreement with the
  // teacher): this rank's, then the global batch's once reduced.
  struct BatchSums {
    double loss = 0, samples = 0, correct = 0, agree = 0;
    double box = 0, cls = 0, dfl = 0;  // a detector's loss terms times the samples
  };

  void backward(const at::Tensor& loss) {
    for (Slot& s : slots_)
      if (s.param.grad().defined()) s.param.mutable_grad().zero_();
    for (at::Tensor t : o_.synced_gradients)
      if (t.grad().defined()) t.mutable_grad().zero_();
    loss.backward();
  }

  // Data-parallel: every rank's gradients and sums added up (each rank's loss was weighted by its
  // share of the global batch, so the sum is the gradient of the global batch's mean loss).
  void reduce(BatchSums& sums) {
    if (!dist::active()) return;
    std::vector<at::Tensor> tensors;
    for (Slot& s : slots_) tensors.push_back(s.param.grad());
    for (const at::Tensor& t : o_.synced_gradients) tensors.push_back(t.grad());
    tensors.push_back(
        at::tensor({sums.loss, sums.samples, sums.correct, sums.agree, sums.box, sums.cls, sums.dfl}, at::kDouble));
    dist::all_reduce_sum(tensors);
    const double* total = tensors.back().data_ptr<double>();
    sums = {total[0], total[1], total[2], total[3], total[4], total[5], total[6]};
  }

  // The optimizer step at the scheduled learning rate, then masks and hooks.
  void step() {
    ++step_;
    const double lr = o_.lr * schedule_factor(o_.schedule, step_ - 1, total_steps_);
    {
      at::NoGradGuard no_grad;
      for (Slot& s : slots_) {
        if (o_.optimizer == "adam") adam_step(s, lr * s.lr_scale, step_, o_);
        else sgd_step(s, lr * s.lr_scale, o_);
      }
    }
    if (o_.update_masks) {
      at::NoGradGuard no_grad;
      o_.update_masks(step_, total_steps_, masks_);
    }
    apply_masks();
    if (o_.after_step) o_.after_step();
  }

  EpochStats train_epoch(int epoch, int64_t n, int64_t batches) {
    exec_.set_training(true);
    const at::Tensor order = at::randperm(train_.size(), gen_, at::kLong);
    const int64_t ranks = dist::world_size(), global_batch = o_.batch * ranks;
    BatchSums epoch_sums;
    for (int64_t b = 0; b < batches; ++b) {
      // This rank's contiguous share of the global batch: with equal shares, rank r trains on what
      // one process with a batch `ranks` times larger would put at positions [r * batch, ...).
      const int64_t global = std::min(global_batch, n - b * global_batch);
      const int64_t first = global * dist::rank() / ranks, share = global * (dist::rank() + 1) / ranks - first;
      const at::Tensor idx = order.narrow(0, b * global_batch + first, share);
      std::vector<at::Tensor> x = data::prepare_inputs(train_, idx, exec_.inputs(), o_.preprocess);
      if (x.size() == 1) x[0] = augment(x[0], o_, gen_, first, global);  // image augmentation: models with one input
      show_views();
      at::Tensor logits = exec_.run(x).at(0);
      hide_views();
      BatchSums sums;
      sums.samples = static_cast<double>(share);
      at::Tensor loss;
      if (o_.detection) {
        loss = detection_loss_of(x, logits, idx);
        sums.box = last_terms_.box * sums.samples, sums.cls = last_terms_.cls * sums.samples;
        sums.dfl = last_terms_.dfl * sums.samples;
      } else {
        const bool class_scores = eval::is_class_scores(logits.sizes());
        logits = logits.reshape({logits.size(0), -1});
        const at::Tensor labels = train_.has_labels() ? train_.y.index_select(0, idx) : at::Tensor();
        loss = loss_of(x, logits, labels, class_scores);
        agreement_known_ = agreement_known_ && class_scores;
        if (labels.defined()) sums.correct = static_cast<double>(logits.argmax(1).eq(labels).sum().item<int64_t>());
        sums.agree = static_cast<double>(last_agreement_);
      }
      sums.loss = loss.item<double>() * sums.samples;
      backward(ranks > 1 ? loss * (sums.samples / static_cast<double>(global)) : loss);
      reduce(sums);
      const double loss_value = sums.loss / sums.samples;
      if (!std::isfinite(loss_value)) throw diverged(epoch, b, batches, "the loss is " + number(loss_value));
      step();
      epoch_sums.loss += sums.loss, epoch_sums.samples += sums.samples;
      epoch_sums.correct += sums.correct, epoch_sums.agree += sums.agree;
      epoch_sums.box += sums.box, epoch_sums.cls += sums.cls, epoch_sums.dfl += sums.dfl;
      if (o_.progress)
        o_.progress(epoch, b + 1, batches, epoch_sums.loss / epoch_sums.samples,
                    o_.detection ? -1
                                 : (train_.has_labels() ? epoch_sums.correct : epoch_sums.agree) / epoch_sums.samples);
    }
    // Trained tensors only: constants may hold infinity on purpose (attention masks).
    for (const Slot& s : slots_)
      if (!s.param.isfinite().all().item<bool>()) throw diverged(epoch, batches - 1, batches, "a weight became NaN or infinite");
    EpochStats stats;
    stats.epoch = epoch;
    stats.samples = static_cast<int64_t>(epoch_sums.samples);
    const double seen = std::max(epoch_sums.samples, 1.0);
    stats.train_loss = epoch_sums.loss / seen;
    if (train_.has_labels() && !o_.detection) stats.train_accuracy = epoch_sums.correct / seen;
    if (o_.teacher && agreement_known_ && !o_.detection) stats.teacher_agreement = epoch_sums.agree / seen;
    if (o_.detection && train_.has_boxes()) {
      stats.box_loss = epoch_sums.box / seen;
      stats.cls_loss = epoch_sums.cls / seen;
      stats.dfl_loss = epoch_sums.dfl / seen;
    }
    return stats;
  }

  std::optional<double> validate(const data::Dataset& val) {
    exec_.set_training(false);
    at::NoGradGuard no_grad;
    eval::EvalOptions eo;
    eo.batch = std::max<int64_t>(o_.batch, 256);
    eo.preprocess = o_.preprocess;
    eo.detection = o_.detection;
    show_views();
    const eval::EvalResult r = eval::evaluate(exec_, val, eo);  // split across data-parallel ranks
    hide_views();
    if (o_.detection) return r.map ? std::optional<double>(r.map->map50) : std::nullopt;
    return r.top1;
  }

  const data::Dataset& train_;
  const TrainOptions& o_;
  int64_t last_agreement_ = 0;  // samples of the last batch whose top-1 matched the teacher's
  DetectionLoss last_terms_;     // the last batch's, a detector trained on boxes
  bool agreement_known_ = true;  // false once an output is not class scores (no top-1 to agree on)
  runtime::Executor exec_;
  at::Generator gen_;
  std::vector<std::string> all_float_;
  std::vector<Slot> slots_;
  TrainOptions::MaskedParameters masks_;
  std::vector<std::pair<at::Tensor*, at::Tensor>> viewed_;  // executor slot, trained weight
  int64_t step_ = 0, total_steps_ = 0;
  std::unordered_map<std::string, at::Tensor> weights_;
};

}  // namespace

TrainResult fine_tune(ir::Model& model, const data::Dataset& train, const data::Dataset* val, const TrainOptions& o) {
  check_options(train, o);
  Run run(model, train, o);
  const TrainResult result = run.train(val);
  for (const auto& [name, tensor] : run.weights())
    runtime::replace_data(*model.graph.value(name).mutable_initializer(), tensor);
  return result;
}

}  // namespace nncompress::train
