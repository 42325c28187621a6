#include "nncompress/passes/quant/focused.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <limits>
#include <algorithm>
#include <set>

#include "nncompress/analysis/storage.h"
#include "nncompress/core/error.h"
#include "nncompress/passes/cleanup/private_constants.h"
#include "nncompress/passes/prune/magnitude_pruning.h"
#include "nncompress/passes/quant/packed_weights.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::passes {

namespace {

constexpr double kPi = 3.14159265358979323846;

struct Mixture {
  double weight[2], mean[2], var[2];
  // Ashman's D: the components are separated when it exceeds 2.
  double separation() const { return std::sqrt(2.0) * std::abs(mean[1] - mean[0]) / std::sqrt(var[0] + var[1]); }
};

// Log-densities of both components for every x: [N, 2].
at::Tensor log_densities(const at::Tensor& x, const Mixture& m) {
  std::vector<at::Tensor> cols;
  for (int k = 0; k < 2; ++k)
    cols.push_back(std::log(m.weight[k]) - 0.5 * std::log(2 * kPi * m.var[k]) - (x - m.mean[k]).pow(2) / (2 * m.var[k]));
  return at::stack(cols, 1);
}

// Two-component 1-D Gaussian mixture by EM, started from the negative and positive halves.
Mixture fit_mixture(const at::Tensor& x) {
  Mixture m;
  const double spread = std::max(x.var().item<double>(), 1e-12);
  const at::Tensor neg = x.masked_select(x < 0), pos = x.masked_select(x >= 0);
  m.mean[0] = neg.numel() ? neg.mean().item<double>() : -x.abs().mean().item<double>();
  m.mean[1] = pos.numel() ? pos.mean().item<double>() : x.abs().mean().item<double>();
  for (int k = 0; k < 2; ++k) m.weight[k] = 0.5, m.var[k] = spread / 4;
  for (int it = 0; it < 50; ++it) {
    const at::Tensor r = at::softmax(log_densities(x, m), 1);
    for (int k = 0; k < 2; ++k) {
      const at::Tensor rk = r.select(1, k);
      const double n = std::max(rk.sum().item<double>(), 1e-12);
      m.weight[k] = std::max(n / static_cast<double>(x.numel()), 1e-6);
      m.mean[k] = (rk * x).sum().item<double>() / n;
      m.var[k] = std::max((rk * (x - m.mean[k]).pow(2)).sum().item<double>() / n, 1e-12);
    }
  }
  if (m.mean[0] > m.mean[1]) {
    std::swap(m.weight[0], m.weight[1]);
    std::swap(m.mean[0], m.mean[1]);
    std::swap(m.var[0], m.var[1]);
  }
  return m;
}

// One layer's quantizer: centers (one at 0 for shift quantization, or the two component means)
// and, per center, the allowed offsets: {0, +-s, +-s/2, ...} (recentralized) or {+-s, +-s/2, ...}.
struct Quantizer {
  bool recentralized = false;
  Mixture mixture{};
  std::vector<double> centers;
  std::vector<at::Tensor> offsets;  // sorted, per center

  int64_t codes_per_center() const { return offsets.empty() ? 0 : offsets[0].numel(); }

  // Component of each (non-zero) weight.
  at::Tensor assign(const at::Tensor& x) const {
    if (!recentralized) return at::zeros(x.sizes(), at::kLong);
    return log_densities(x, mixture).argmax(1);
  }

  // Quantized values and code ids (center * codes_per_center + offset index) of non-zeros x.
  std::pair<at::Tensor, at::Tensor> apply(const at::Tensor& x) const {
    const at::Tensor z = assign(x);
    at::Tensor values = at::zeros_like(x), codes = at::zeros(x.sizes(), at::kLong);
    for (size_t c = 0; c < centers.size(); ++c) {
      const at::Tensor in = z.eq(static_cast<int64_t>(c));
      const at::Tensor d = x - centers[c];
      const at::Tensor& levels = offsets[c];
      const at::Tensor mid = (levels.narrow(0, 1, levels.numel() - 1) + levels.narrow(0, 0, levels.numel() - 1)) / 2;
      const at::Tensor idx = at::bucketize(d, mid);
      values = at::where(in, levels.index_select(0, idx.reshape({-1})).reshape(x.sizes()) + centers[c], values);
      codes = at::where(in, idx + static_cast<int64_t>(c) * codes_per_center(), codes);
    }
    return {values, codes};
  }
};

// Offsets with unit scale for `bits` per weight.
at::Tensor unit_offsets(int bits, bool recentralized) {
  std::vector<double> v;
  const int64_t exponents = recentralized ? (int64_t(1) << (bits - 2)) - 1 : int64_t(1) << (bits - 1);
  if (recentralized) v.push_back(0.0);
  for (int64_t k = 0; k < exponents; ++k) {
    v.push_back(std::ldexp(1.0, static_cast<int>(-k)));
    v.push_back(-std::ldexp(1.0, static_cast<int>(-k)));
  }
  return std::get<0>(at::tensor(v, at::kDouble).sort());
}

// Fits the layer's quantizer to its non-zero weights; the scale of each center minimizes the
// squared error over a grid of quarter-octave steps below the largest offset.
Quantizer fit(const at::Tensor& nonzeros, int bits, double bimodality) {
  Quantizer q;
  q.mixture = fit_mixture(nonzeros);
  q.recentralized = q.mixture.mean[0] < 0 && q.mixture.mean[1] > 0 && q.mixture.separation() > bimodality;
  q.centers = q.recentralized ? std::vector<double>{q.mixture.mean[0], q.mixture.mean[1]} : std::vector<double>{0.0};
  const at::Tensor unit = unit_offsets(bits, q.recentralized);
  q.offsets.assign(q.centers.size(), unit);
  const at::Tensor z = q.assign(nonzeros);
  for (size_t c = 0; c < q.centers.size(); ++c) {
    const at::Tensor d = nonzeros.masked_select(z.eq(static_cast<int64_t>(c))) - q.centers[c];
    if (d.numel() == 0) continue;
    const double top = std::max(d.abs().max().item<double>(), 1e-12);
    double best = std::numeric_limits<double>::infinity();
    for (int j = 0; j <= 16; ++j) {
      Quantizer one = q;
      one.recentralized = false;
      one.centers = {0.0};
      one.offsets = {unit * (top * std::pow(2.0, -j / 4.0))};
      const double err = (one.apply(d).first - d).pow(2).mean().item<double>();
      if (err < best) best = err, q.offsets[c] = one.offsets[0];
    }
  }
  return q;
}

struct Layer {
  PrunableWeight target;
  Quantizer quantizer;
  at::Tensor fixed, fixed_values;  // weights already quantized (pruned zeros from the start)
  at::Tensor fixed_codes;          // their code ids
};

// Fixes the largest-magnitude `fraction` of each layer's non-zeros (already fixed ones count first).
void fix_fraction(Layer& l, const at::Tensor& w, double fraction) {
  const at::Tensor nonzero = l.fixed_values.ne(0) | (~l.fixed & w.ne(0));
  const int64_t nnz = nonzero.sum().item<int64_t>(), wanted = static_cast<int64_t>(std::ceil(fraction * nnz));
  at::Tensor rank = at::where(l.fixed & nonzero, at::full_like(w, 1e30), w.abs());
  rank = at::where(nonzero, rank, at::full_like(w, -1.0));
  const at::Tensor order = std::get<1>(rank.reshape({-1}).sort(/*stable=*/true, 0, /*descending=*/true));
  at::Tensor chosen = at::zeros({w.numel()}, at::kBool);
  chosen.index_fill_(0, order.narrow(0, 0, wanted), true);
  chosen = chosen.reshape(w.sizes()) & ~l.fixed;
  const auto [q, codes] = l.quantizer.apply(w.to(at::kDouble));
  l.fixed_values = at::where(chosen, q.to(w.scalar_type()), l.fixed_values);
  l.fixed_codes = at::where(chosen, codes, l.fixed_codes);
  l.fixed = l.fixed | chosen;
}

void check(const FocusedOptions& o) {
  if (o.bits < 3 || o.bits > 8) throw bad_input("--bits must be between 3 and 8 for focused quantization");
  for (double f : o.steps)
    if (f <= 0 || f >= 1) throw bad_input("incremental steps are fractions in (0, 1)");
}

}  // namespace

FocusedResult quantize_focused(ir::Model& model, const data::Dataset* train_data, const data::Dataset* val_data,
                               const FocusedOptions& o) {
  check(o);
  if (o.train.epochs > 0 && !train_data) throw bad_input("fine-tuning during focused quantization needs --data");
  make_constants_private(model.graph);
  std::vector<Layer> layers;
  FocusedResult result;
  for (const PrunableWeight& t : prunable_weights(model.graph, o.keep)) {
    const at::Tensor w = runtime::to_aten(*t.weight->initializer()).to(at::kDouble);
    const at::Tensor nz = w.masked_select(w.ne(0));
    if (nz.numel() < 2) continue;
    Layer l{t, fit(nz, o.bits, o.bimodality), w.eq(0), at::zeros_like(w), at::zeros(w.sizes(), at::kLong)};
    FocusedLayer row;
    row.node = t.node->name, row.op = t.node->op_type(), row.weight = t.weight->name(), row.bits = o.bits;
    row.recentralized = l.quantizer.recentralized;
    if (row.recentralized) row.mean_negative = l.quantizer.centers[0], row.mean_positive = l.quantizer.centers[1];
    for (const at::Tensor& off : l.quantizer.offsets) row.scale = std::max(row.scale, off.abs().max().item<double>());
    row.elements = w.numel(), row.nonzeros = nz.numel();
    row.rms_error = std::sqrt((l.quantizer.apply(nz).first - nz).pow(2).mean().item<double>());
    result.layers.push_back(row);
    layers.push_back(std::move(l));
  }
  if (layers.empty()) throw bad_input("the model has no Conv/Gemm/MatMul weights to quantize");

  if (o.train.epochs > 0) {
    for (double fraction : o.steps) {
      for (Layer& l : layers) fix_fraction(l, runtime::to_aten(*l.target.weight->initializer()).to(at::kDouble), fraction);
      train::TrainOptions t = o.train;
      t.keep_best_epoch = false;
      for (const Layer& l : layers) {
        const at::Tensor fixed = l.fixed, values = l.fixed_values.to(at::kFloat);
        t.views.push_back({l.target.weight->name(), [fixed, values](const at::Tensor& w) {
                             return at::where(fixed, values.to(w.scalar_type()), w);
                           }});
      }
      result.training.push_back(train::fine_tune(model, *train_data, val_data, t));
    }
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    Layer& l = layers[i];
    ir::Tensor* init = l.target.weight->mutable_initializer();
    const at::Tensor w = runtime::to_aten(*init).to(at::kDouble);
    fix_fraction(l, w, 1.0);
    runtime::replace_data(*init, l.fixed_values);
    // Sizes: codes of the non-zeros, relative indices, and the quantizer's parameters
    // (2 means + 2 scales, or 1 scale) as float32.
    FocusedLayer& row = result.layers[i];
    const at::Tensor final_values = l.fixed_values;
    const at::Tensor nz = final_values.masked_select(final_values.ne(0));
    const at::Tensor codes = l.fixed_codes.masked_select(final_values.ne(0)).contiguous();
    const int64_t symbols = static_cast<int64_t>(l.quantizer.centers.size()) * l.quantizer.codes_per_center() + 1;
    std::vector<int64_t> code_counts(symbols, 0);
    const int64_t* c = codes.data_ptr<int64_t>();
    for (int64_t k = 0; k < codes.numel(); ++k) ++code_counts[c[k]];
    row.levels = std::count_if(code_counts.begin(), code_counts.end(), [](int64_t n) { return n > 0; });
    // Relative indices as Deep Compression stores them, with the index width that suits the
    // layer's sparsity (2 to 8 bits, chosen separately for each encoding).
    const int64_t parameters = (row.recentralized ? 16 : 4) + 1;  // means and scales, index width
    row.fixed_bytes = row.huffman_bytes = std::numeric_limits<int64_t>::max();
    for (int index_bits = 2; index_bits <= 8; ++index_bits) {
      const int64_t fixed = analysis::relative_index_bytes(final_values, index_bits, o.bits) + parameters;
      if (fixed < row.fixed_bytes) row.fixed_bytes = fixed, row.index_bits = index_bits;
      const std::vector<int64_t> gaps = analysis::relative_index_symbols(final_values, index_bits);
      std::vector<int64_t> counts = code_counts;
      int64_t gap_symbols = 0, table = 0;  // table: a code-length byte per symbol in use
      for (int64_t n : gaps) gap_symbols += n, table += n > 0;
      counts.back() += gap_symbols - nz.numel();  // every filler carries a (zero) code too
      for (int64_t n : counts) table += n > 0;
      const int64_t huffman = (analysis::huffman_bits(counts) + analysis::huffman_bits(gaps) + 7) / 8 + table + parameters;
      row.huffman_bytes = std::min(row.huffman_bytes, huffman);
    }
  }
  std::set<const ir::Value*> quantized;
  for (const Layer& l : layers) quantized.insert(l.target.weight);
  for (const ir::Value* v : model.graph.initializers())
    if (!quantized.count(v)) result.other_parameter_bytes += static_cast<int64_t>(v->initializer()->byte_size());
  if (o.packed_storage && model.opset_version("") >= 11) {
    for (size_t i = 0; i < layers.size(); ++i)
      if (const int bits = store_codebook_weight(model.graph, layers[i].target.node)) result.layers[i].stored_bits = bits;
    model.graph.sort_topologically();
  }
  return result;
}

}  // namespace nncompress::passes
