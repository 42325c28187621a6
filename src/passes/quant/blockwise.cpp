#include "nncompress/passes/quant/blockwise.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "nncompress/core/error.h"

namespace nncompress::passes {

namespace {

// The grid of one block: per output column, from the block's values [rows, N].
struct Grid {
  at::Tensor scale, zero;  // [N] float; zero holds integral values
  double max_code;

  Grid(const at::Tensor& block_values, const BlockwiseOptions& o) : max_code(double((1 << o.bits) - 1)) {
    at::Tensor lo = at::clamp_max(block_values.amin(0), 0), hi = at::clamp_min(block_values.amax(0), 0);
    if (o.symmetric) {
      hi = at::maximum(lo.abs(), hi);
      lo = -hi;
    }
    scale = (hi - lo) / max_code;
    scale = at::where(scale > 0, scale, at::ones_like(scale));  // an all-zero block
    zero = o.symmetric ? at::full_like(scale, double(1 << (o.bits - 1))) : at::round(-lo / scale);
  }
  at::Tensor codes(const at::Tensor& x) const { return at::clamp(at::round(x / scale) + zero, 0, max_code); }
  at::Tensor values(const at::Tensor& codes) const { return scale * (codes - zero); }
};

struct Assembler {
  BlockwiseWeights out;
  Assembler(int64_t k, int64_t n, int64_t block) {
    const int64_t blocks = (k + block - 1) / block;
    out.codes = at::empty({k, n}, at::kByte);
    out.scales = at::empty({blocks, n}, at::kFloat);
    out.zero_points = at::empty({blocks, n}, at::kByte);
  }
  void put(int64_t b, int64_t row, const at::Tensor& codes, const Grid& g) {
    out.codes.narrow(0, row, codes.size(0)).copy_(codes);
    out.scales[b].copy_(g.scale);
    out.zero_points[b].copy_(g.zero);
  }
};

void check(const at::Tensor& w, const BlockwiseOptions& o) {
  if (w.dim() != 2) throw internal_error("block-wise quantization needs a 2-D weight");
  if (o.bits < 2 || o.bits > 8) throw bad_input("bits must be in [2, 8]");
  if (o.block < 1) throw bad_input("the block size must be positive");
}

}  // namespace

at::Tensor BlockwiseWeights::dequantized(int64_t block) const {
  const int64_t k = codes.size(0);
  const at::Tensor s = scales.repeat_interleave(block, 0).narrow(0, 0, k);
  const at::Tensor z = zero_points.to(at::kFloat).repeat_interleave(block, 0).narrow(0, 0, k);
  return s * (codes.to(at::kFloat) - z);
}

BlockwiseWeights quantize_rtn(const at::Tensor& weight, const BlockwiseOptions& o) {
  check(weight, o);
  const at::Tensor w = weight.to(at::kFloat);
  const int64_t k = w.size(0);
  Assembler a(k, w.size(1), o.block);
  for (int64_t b = 0, row = 0; row < k; ++b, row += o.block) {
    const at::Tensor block = w.narrow(0, row, std::min(o.block, k - row));
    const Grid g(block, o);
    a.put(b, row, g.codes(block), g);
  }
  return a.out;
}

BlockwiseWeights quantize_gptq(const at::Tensor& weight, const at::Tensor& xtx, int64_t rows, const BlockwiseOptions& o,
                               double damp) {
  check(weight, o);
  const int64_t k = weight.size(0);
  if (xtx.dim() != 2 || xtx.size(0) != k || xtx.size(1) != k || rows < 1)
    throw internal_error("GPTQ: the input statistics do not match the weight");
  // GPTQ's convention: W [N, K], a column per input. Columns whose input is always zero carry
  // no information; they are quantized as zeros with a unit diagonal.
  at::Tensor w = weight.t().to(at::kDouble).contiguous();
  at::Tensor h = xtx.to(at::kDouble) * (2.0 / static_cast<double>(rows));
  const at::Tensor dead = h.diagonal() == 0;
  h.diagonal().masked_fill_(dead, 1.0);
  w.masked_fill_(dead.unsqueeze(0), 0.0);
  h.diagonal().add_(damp * h.diagonal().mean());
  // The upper Cholesky factor of H^-1: row i holds what quantizing column i does to the rest.
  const auto [l, info] = at::linalg_cholesky_ex(h);
  if (info.item<int64_t>() != 0)
    throw bad_input("GPTQ: the layer's input Hessian is not positive definite even with dampening; raise damp or use "
                    "method rtn");
  const at::Tensor hinv = at::linalg_cholesky(at::cholesky_inverse(l), /*upper=*/true);

  Assembler a(k, w.size(0), o.block);
  for (int64_t b = 0, i1 = 0; i1 < k; ++b, i1 += o.block) {
    const int64_t len = std::min(o.block, k - i1);
    at::Tensor w1 = w.narrow(1, i1, len).clone();
    const at::Tensor h1 = hinv.narrow(0, i1, len).narrow(1, i1, len);
    const Grid g(w1.t(), o);  // the block's grid from its weights after the earlier blocks' updates
    at::Tensor codes = at::empty({len, w.size(0)}, at::kDouble), errors = at::empty_like(w1);
    for (int64_t i = 0; i < len; ++i) {
      const at::Tensor col = w1.select(1, i);
      const at::Tensor c = g.codes(col);
      codes[i].copy_(c);
      const at::Tensor err = (col - g.values(c)) / h1[i][i];
      w1.narrow(1, i, len - i).sub_(err.unsqueeze(1).mm(h1[i].narrow(0, i, len - i).unsqueeze(0)));
      errors.select(1, i).copy_(err);
    }
    a.put(b, i1, codes, g);
    if (i1 + len < k) w.narrow(1, i1 + len, k - i1 - len).sub_(errors.mm(hinv.narrow(0, i1, len).narrow(1, i1 + len, k - i1 - len)));
  }
  return a.out;
}

}  // namespace nncompress::passes
