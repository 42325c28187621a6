// Shape and layout ops: Flatten, Reshape, Transpose, Concat, Split, Slice, Squeeze, Unsqueeze,
// Gather(Elements), Shape, Size, Constant(OfShape), Expand, Tile, Pad, ArgMax/ArgMin, Range.
#include <algorithm>
#include <cmath>

#include "kernel_util.h"
#include "nncompress/runtime/kernel_registry.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::runtime::kernels {
namespace {

using Ctx = KernelContext;
using Out = std::vector<at::Tensor>;

// An int list given as an attribute before `input_since` and as input `index` from then on.
std::optional<std::vector<int64_t>> ints_arg(const Ctx& c, const char* attr, int64_t input_since, size_t index) {
  if (c.opset >= input_since) {
    if (!c.has_input(index)) return std::nullopt;
    return int_values(c.input(index));
  }
  if (!c.node.has_attribute(attr)) return std::nullopt;
  return c.node.attr_ints(attr, {});
}

Out flatten(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  // Flatten's axis ranges over [-rank, rank]: axis == rank gives [numel, 1].
  int64_t axis = c.node.attr_int("axis", 1);
  if (axis < 0) axis += x.dim();
  if (axis < 0 || axis > x.dim()) c.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(x.dim()));
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < x.dim(); ++i) (i < axis ? outer : inner) *= x.size(i);
  return one(x.reshape({outer, inner}));
}

Out reshape(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  std::vector<int64_t> shape = c.opset >= 5 ? int_values(c.input(1)) : c.node.attr_ints("shape", {});
  const bool allow_zero = c.node.attr_int("allowzero", 0) != 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0 && !allow_zero) {
      if (static_cast<int64_t>(i) >= x.dim()) c.fail("shape copies dimension " + std::to_string(i) + " the input lacks");
      shape[i] = x.size(static_cast<int64_t>(i));
    }
  }
  return one(x.reshape(shape));
}

Out transpose(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  std::vector<int64_t> perm(x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) perm[i] = x.dim() - 1 - i;
  perm = c.node.attr_ints("perm", perm);
  return one(x.permute(perm));
}

Out concat(const Ctx& c) {
  std::vector<at::Tensor> parts;
  for (size_t i = 0; i < c.num_inputs(); ++i) parts.push_back(c.input(i));
  const int64_t axis = normalize_axis(c, c.node.attr_int("axis", 0), parts.at(0).dim());
  return one(at::cat(parts, axis));
}

Out split(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const int64_t axis = normalize_axis(c, c.node.attr_int("axis", 0), x.dim());
  const int64_t n = static_cast<int64_t>(c.num_outputs());
  std::vector<int64_t> sizes;
  if (auto given = ints_arg(c, "split", 13, 1)) {
    sizes = *given;
  } else {
    // Equal parts; from opset 18 (num_outputs) the last part may be smaller.
    const int64_t dim = x.size(axis);
    const int64_t chunk = (dim + n - 1) / n;
    if (c.opset < 18 && dim % n) c.fail("cannot split " + std::to_string(dim) + " into " + std::to_string(n) + " equal parts");
    for (int64_t i = 0; i < n; ++i) sizes.push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
  }
  return x.split_with_sizes(sizes, axis);
}

Out slice(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const std::vector<int64_t> starts = c.opset >= 10 ? int_values(c.input(1)) : c.node.attr_ints("starts", {});
  const std::vector<int64_t> ends = c.opset >= 10 ? int_values(c.input(2)) : c.node.attr_ints("ends", {});
  std::vector<int64_t> axes = ints_arg(c, "axes", 10, 3).value_or(std::vector<int64_t>());
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  const std::vector<int64_t> steps = c.opset >= 10 && c.has_input(4) ? int_values(c.input(4)) : std::vector<int64_t>(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    c.fail("starts, ends, axes and steps differ in length");
  at::Tensor y = x;
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t axis = normalize_axis(c, axes[i], x.dim());
    const int64_t dim = x.size(axis), step = steps[i];
    if (step == 0) c.fail("slice step is 0");
    int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      y = y.slice(axis, start, std::max(start, end), step);
    } else {
      start = std::clamp<int64_t>(start, -1, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      const at::Tensor idx = start > end ? at::arange(start, end, step, at::kLong) : at::empty({0}, at::kLong);
      y = y.index_select(axis, idx);
    }
  }
  return one(y);
}

Out squeeze(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const auto axes = ints_arg(c, "axes", 13, 1);
  if (!axes) return one(x.squeeze());
  std::vector<int64_t> keep;
  std::vector<bool> drop(x.dim(), false);
  for (int64_t a : *axes) drop[normalize_axis(c, a, x.dim())] = true;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (!drop[i]) keep.push_back(x.size(i));
  return one(x.reshape(keep));
}

Out unsqueeze(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const auto axes = ints_arg(c, "axes", 13, 1);
  if (!axes) c.fail("Unsqueeze needs axes");
  const int64_t rank = x.dim() + static_cast<int64_t>(axes->size());
  std::vector<bool> inserted(rank, false);
  for (int64_t a : *axes) inserted[normalize_axis(c, a, rank)] = true;
  std::vector<int64_t> shape;
  int64_t src = 0;
  for (int64_t i = 0; i < rank; ++i) shape.push_back(inserted[i] ? 1 : x.size(src++));
  return one(x.reshape(shape));
}

at::Tensor wrap_negative(const at::Tensor& idx, int64_t dim) {
  const at::Tensor i = idx.to(at::kLong);
  return at::where(i < 0, i + dim, i);
}

Out gather(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const int64_t axis = normalize_axis(c, c.node.attr_int("axis", 0), x.dim());
  // One index (a transformer's Shape -> Gather of one dimension): a view, without the five
  // tensor ops of the general path (~10 us per node, a tenth of vit-fmnist's time at batch 1).
  const at::Tensor& index = c.input(1);
  if (index.dim() == 0 && index.scalar_type() == at::kLong && index.device().is_cpu()) {
    const int64_t i = index.item<int64_t>(), n = x.size(axis);
    if (i >= -n && i < n) return one(x.select(axis, i < 0 ? i + n : i));
  }
  const at::Tensor idx = wrap_negative(index, x.size(axis));
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().begin() + axis);
  shape.insert(shape.end(), idx.sizes().begin(), idx.sizes().end());
  shape.insert(shape.end(), x.sizes().begin() + axis + 1, x.sizes().end());
  return one(x.index_select(axis, idx.reshape({-1})).reshape(shape));
}

Out gather_elements(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const int64_t axis = normalize_axis(c, c.node.attr_int("axis", 0), x.dim());
  return one(at::gather(x, axis, wrap_negative(c.input(1), x.size(axis))));
}

// ScatterND: data with the slices addressed by the last axis of `indices` replaced by, or
// reduced with (opset 16/18 `reduction`), `updates`. Swin Transformer's shifted-window masks.
Out scatter_nd(const Ctx& c) {
  const at::Tensor& data = c.input(0);
  const at::Tensor& indices = c.input(1);
  const at::Tensor& updates = c.input(2);
  if (indices.dim() < 1 || indices.size(-1) < 1 || indices.size(-1) > data.dim())
    c.fail("the last axis of indices must address 1 to rank(data) axes");
  const int64_t k = indices.size(-1);
  std::vector<int64_t> expected(indices.sizes().begin(), indices.sizes().end() - 1);
  expected.insert(expected.end(), data.sizes().begin() + k, data.sizes().end());
  if (updates.sizes().vec() != expected) c.fail("updates must have the shape indices[:-1] + data[k:]");
  const std::vector<int64_t> lead(data.sizes().begin(), data.sizes().begin() + k);
  const at::Tensor dims = at::tensor(lead, at::kLong);
  at::Tensor idx = indices.to(at::kLong).reshape({-1, k});
  idx = at::where(idx < 0, idx + dims, idx);
  if (idx.numel() > 0 && ((idx < 0).any().item<bool>() || (idx >= dims).any().item<bool>()))
    c.fail("an index is out of range");
  std::vector<int64_t> strides(k, 1);  // row-major position over the first k axes
  for (int64_t i = k - 2; i >= 0; --i) strides[i] = strides[i + 1] * lead[i + 1];
  const at::Tensor rows = (idx * at::tensor(strides, at::kLong)).sum(1);
  std::vector<int64_t> flat = {ir::element_count(lead)};
  flat.insert(flat.end(), data.sizes().begin() + k, data.sizes().end());
  std::vector<int64_t> update_rows = flat;
  update_rows[0] = -1;
  at::Tensor out = data.clone().reshape(flat);
  const at::Tensor upd = updates.to(data.scalar_type()).reshape(update_rows);
  const std::string reduction = c.node.attr_string("reduction", "none");
  if (reduction == "none") return one(out.index_copy_(0, rows, upd).reshape(data.sizes()));
  if (reduction == "add") return one(out.index_add_(0, rows, upd).reshape(data.sizes()));
  // Row by row, in order, so repeated indices compound (LibTorch's index_reduce_ is beta and warns).
  using Reduce = at::Tensor (*)(const at::Tensor&, const at::Tensor&);
  Reduce reduce = nullptr;
  if (reduction == "mul") reduce = [](const at::Tensor& a, const at::Tensor& b) { return a * b; };
  else if (reduction == "max") reduce = [](const at::Tensor& a, const at::Tensor& b) { return at::maximum(a, b); };
  else if (reduction == "min") reduce = [](const at::Tensor& a, const at::Tensor& b) { return at::minimum(a, b); };
  else c.fail("unknown reduction '" + reduction + "'");
  const at::Tensor positions = rows.contiguous();
  for (int64_t i = 0; i < positions.size(0); ++i) {
    at::Tensor row = out[positions.data_ptr<int64_t>()[i]];
    row.copy_(reduce(row, upd[i]));
  }
  return one(out.reshape(data.sizes()));
}

Out shape(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const int64_t rank = x.dim();
  int64_t start = c.node.attr_int("start", 0), end = c.node.attr_int("end", rank);
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
  std::vector<int64_t> dims(x.sizes().begin() + start, x.sizes().begin() + std::max(start, end));
  return one(at::tensor(dims, at::kLong));
}

Out size(const Ctx& c) { return one(at::scalar_tensor(c.input(0).numel(), at::kLong)); }

Out constant(const Ctx& c) {
  for (const ir::Attribute& a : c.node.attributes()) {
    if (a.name == "value") return one(to_aten(a.t));
    if (a.name == "value_float") return one(at::scalar_tensor(a.f, at::kFloat));
    if (a.name == "value_int") return one(at::scalar_tensor(a.i, at::kLong));
    if (a.name == "value_floats") return one(at::tensor(a.floats, at::kFloat));
    if (a.name == "value_ints") return one(at::tensor(a.ints, at::kLong));
    if (a.name == "value_string" || a.name == "value_strings" || a.name == "sparse_value")
      c.fail("Constant with " + a.name + " is not supported by the executor");
  }
  c.fail("Constant without a value");
}

Out constant_of_shape(const Ctx& c) {
  const std::vector<int64_t> shape = int_values(c.input(0));
  const ir::Attribute* value = c.node.find_attribute("value");
  const at::Tensor v = value ? to_aten(value->t) : at::zeros({1}, at::kFloat);
  check_result_size(c, shape, v.element_size());
  if (!value) return one(at::zeros(shape, at::kFloat));
  return one(at::full(shape, v.reshape({-1})[0].item(), v.options()));
}

Out expand(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const std::vector<int64_t> shape = int_values(c.input(1));
  // Bidirectional broadcast: the result has the larger rank and, per dim, the non-1 size.
  const size_t rank = std::max<size_t>(shape.size(), x.dim());
  std::vector<int64_t> out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t a = i < rank - x.dim() ? 1 : x.size(static_cast<int64_t>(i - (rank - x.dim())));
    const int64_t b = i < rank - shape.size() ? 1 : shape[i - (rank - shape.size())];
    if (a != b && a != 1 && b != 1) c.fail("cannot expand dimension " + std::to_string(a) + " to " + std::to_string(b));
    out[i] = a == 1 ? b : a;
  }
  check_result_size(c, out, x.element_size());
  return one(x.expand(out));
}

Out tile(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const std::vector<int64_t> repeats = int_values(c.input(1));
  if (static_cast<int64_t>(repeats.size()) != x.dim())
    c.fail("repeats has " + std::to_string(repeats.size()) + " values for rank " + std::to_string(x.dim()));
  std::vector<int64_t> out(repeats);
  for (size_t i = 0; i < out.size(); ++i) {
    if (repeats[i] < 0) c.fail("negative repeat " + std::to_string(repeats[i]));
    check_result_size(c, {x.size(static_cast<int64_t>(i)), repeats[i]}, 1);
    out[i] *= x.size(static_cast<int64_t>(i));
  }
  check_result_size(c, out, x.element_size());
  return one(x.repeat(repeats));
}

// Indices along one axis that realize reflect / edge / wrap padding.
at::Tensor pad_indices(const Ctx& c, const std::string& mode, int64_t dim, int64_t begin, int64_t end) {
  at::Tensor i = at::arange(-begin, dim + end, at::kLong);
  if (mode == "edge") return i.clamp(0, dim - 1);
  if (mode == "wrap") return i.remainder(dim);
  if (dim < 2 && (begin > 0 || end > 0)) c.fail("reflect padding needs at least 2 elements");
  const int64_t period = 2 * (dim - 1);
  i = i.abs().remainder(period);
  return at::where(i >= dim, period - i, i);
}

Out pad(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const std::string mode = c.node.attr_string("mode", "constant");
  const std::vector<int64_t> pads = c.opset >= 11 ? int_values(c.input(1)) : c.node.attr_ints(c.opset >= 2 ? "pads" : "paddings", {});
  std::vector<int64_t> axes;
  if (c.opset >= 18 && c.has_input(3)) {
    for (int64_t a : int_values(c.input(3))) axes.push_back(normalize_axis(c, a, x.dim()));
  } else {
    for (int64_t i = 0; i < x.dim(); ++i) axes.push_back(i);
  }
  const size_t n = axes.size();
  if (pads.size() != 2 * n) c.fail("pads has " + std::to_string(pads.size()) + " values for " + std::to_string(n) + " axes");
  if (mode == "constant") {
    double value = c.node.attr_float("value", 0.0f);
    if (c.opset >= 11 && c.has_input(2)) value = c.input(2).item<double>();
    std::vector<int64_t> full(2 * x.dim(), 0);  // (last_begin, last_end, ...)
    for (size_t i = 0; i < n; ++i) {
      full[2 * (x.dim() - 1 - axes[i])] = pads[i];
      full[2 * (x.dim() - 1 - axes[i]) + 1] = pads[i + n];
    }
    return one(at::constant_pad_nd(x, full, value));
  }
  if (mode != "reflect" && mode != "edge" && mode != "wrap") c.fail("unknown pad mode '" + mode + "'");
  at::Tensor y = x;
  for (size_t i = 0; i < n; ++i) {
    // Negative pads crop; apply them first so the indices see the cropped extent.
    const int64_t begin = pads[i], end = pads[i + n], axis = axes[i];
    if (begin == 0 && end == 0) continue;
    if (begin < 0) y = y.narrow(axis, -begin, y.size(axis) + begin);
    if (end < 0) y = y.narrow(axis, 0, y.size(axis) + end);
    y = y.index_select(axis, pad_indices(c, mode, y.size(axis), std::max<int64_t>(begin, 0), std::max<int64_t>(end, 0)));
  }
  return one(y);
}

template <bool Max>
Out arg_extreme(const Ctx& c) {
  const at::Tensor& x = c.input(0);
  const int64_t axis = normalize_axis(c, c.node.attr_int("axis", 0), x.dim());
  const bool keep = c.node.attr_int("keepdims", 1) != 0;
  if (c.node.attr_int("select_last_index", 0)) {
    const at::Tensor flipped = x.flip({axis});
    const at::Tensor idx = Max ? at::argmax(flipped, axis, keep) : at::argmin(flipped, axis, keep);
    return one(x.size(axis) - 1 - idx);
  }
  return one(Max ? at::argmax(x, axis, keep) : at::argmin(x, axis, keep));
}

Out range(const Ctx& c) {
  const at::Tensor& start = c.input(0);
  const double s = start.item<double>(), l = c.input(1).item<double>(), d = c.input(2).item<double>();
  const double count = std::ceil((l - s) / d);
  if (!std::isfinite(count)) c.fail("start, limit and delta give no finite number of elements");
  if (count > 0) check_result_size(c, {static_cast<int64_t>(std::min(count, 9.0e18))}, 8);
  const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(count));
  return one((at::arange(n, at::kDouble) * d + s).to(start.scalar_type()));
}

}  // namespace

void register_shape_kernels(KernelRegistry& r) {
  const std::pair<const char*, Kernel> ops[] = {
      {"Flatten", flatten}, {"Reshape", reshape}, {"Transpose", transpose}, {"Concat", concat}, {"Split", split},
      {"Slice", slice}, {"Squeeze", squeeze}, {"Unsqueeze", unsqueeze}, {"Gather", gather},
      {"GatherElements", gather_elements}, {"ScatterND", scatter_nd}, {"Shape", shape}, {"Size", size}, {"Constant", constant},
      {"ConstantOfShape", constant_of_shape}, {"Expand", expand}, {"Tile", tile}, {"Pad", pad},
      {"ArgMax", arg_extreme<true>}, {"ArgMin", arg_extreme<false>}, {"Range", range},
  };
  for (const auto& [name, kernel] : ops) r.add(name, kernel);
}

}  // namespace nncompress::runtime::kernels
