#include "nncompress/data/dataset.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>

#include "nncompress/core/error.h"
#include "nncompress/data/array_io.h"
#include "nncompress/data/images.h"
#include "nncompress/onnx/model_file.h"
#include "nncompress/runtime/tensor_convert.h"

namespace nncompress::data {

namespace fs = std::filesystem;

namespace {

// One pass without temporaries: x * 0 is NaN exactly for NaN and infinity, and NaN survives the
// sums. `isfinite().all()` made three passes and two tensors, a twentieth of eval's time at batch 1.
bool all_finite(const at::Tensor& t) {
  if (t.scalar_type() != at::kFloat) return t.isfinite().all().item<bool>();
  const at::Tensor c = t.contiguous();
  const float* p = c.data_ptr<float>();
  const int64_t n = c.numel();
  constexpr int64_t lanes = 16;
  float acc[lanes] = {};
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes)
    for (int64_t k = 0; k < lanes; ++k) acc[k] += p[i + k] * 0.0f;
  float sum = 0.0f;
  for (; i < n; ++i) sum += p[i] * 0.0f;
  for (const float a : acc) sum += a;
  return sum == 0.0f;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_string(at::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? "," : "") + std::to_string(sizes[i]);
  return s + "]";
}

at::Tensor labels_from(const at::Tensor& y, const std::string& label) {
  if (!at::isIntegralType(y.scalar_type(), false) || y.dim() != 1)
    throw bad_input(label + ": labels must be a 1-D integer array, found " + c10::toString(y.scalar_type()) + " " +
                    shape_string(y.sizes()));
  return y.to(at::kLong);
}

at::Tensor boxes_from(const at::Tensor& b, int64_t samples, const std::string& label) {
  if (!at::isFloatingType(b.scalar_type()) || b.dim() != 3 || b.size(2) != 5 || b.size(0) != samples)
    throw bad_input(label + ": boxes must be a float array [" + std::to_string(samples) +
                    " samples, objects, 5] of (class, x1, y1, x2, y2) rows, found " + c10::toString(b.scalar_type()) + " " +
                    shape_string(b.sizes()));
  at::Tensor f = b.to(at::kFloat);
  if (!all_finite(f)) throw bad_input(label + ": boxes hold NaN or infinite values");
  const at::Tensor real = f.select(2, 0).ge(0);
  const at::Tensor bad = real & (f.select(2, 3).lt(f.select(2, 1)) | f.select(2, 4).lt(f.select(2, 2)));
  if (bad.any().item<bool>()) {
    const at::Tensor where = bad.nonzero()[0];
    throw bad_input(label + ": box " + std::to_string(where[1].item<int64_t>()) + " of sample " +
                    std::to_string(where[0].item<int64_t>()) + " has x2 < x1 or y2 < y1");
  }
  return f;
}

Dataset from_npz(const std::string& path, int64_t limit) {
  auto arrays = read_npz(path, limit);
  Dataset d;
  if (arrays.count("x")) {
    d.x = arrays.at("x");
  } else if (arrays.size() == 1) {
    d.x = arrays.begin()->second;
  } else {  // arrays named after the model's inputs
    for (const auto& [name, a] : arrays)
      if (name != "y" && name != "boxes") d.inputs.emplace_back(name, a);
    if (d.inputs.empty()) throw bad_input("'" + path + "' holds labels 'y' but no samples");
    d.x = d.inputs.front().second;
    for (const auto& [name, a] : d.inputs)
      if (a.dim() < 1 || a.size(0) != d.x.size(0))
        throw bad_input("'" + path + "': array '" + name + "' has " + std::to_string(a.dim() ? a.size(0) : 0) +
                        " samples, '" + d.inputs.front().first + "' has " + std::to_string(d.x.size(0)));
  }
  if (arrays.count("y")) d.y = labels_from(arrays.at("y"), "'" + path + "'");
  if (arrays.count("boxes")) d.boxes = boxes_from(arrays.at("boxes"), d.x.size(0), "'" + path + "'");
  return d;
}

Dataset from_idx(const std::string& path) {
  Dataset d;
  d.x = read_idx(path);
  std::string labels = path;
  const auto pos = labels.find("images-idx3");
  if (pos != std::string::npos) {
    labels.replace(pos, 11, "labels-idx1");
    if (fs::exists(labels)) d.y = labels_from(read_idx(labels), "'" + labels + "'");
  }
  return d;
}

Dataset from_test_data(const fs::path& dir) {
  std::vector<fs::path> sets;
  if (fs::exists(dir / "input_0.pb")) sets.push_back(dir);
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && fs::exists(e.path() / "input_0.pb")) sets.push_back(e.path());
  if (sets.empty()) throw bad_input("'" + dir.string() + "' holds no input_0.pb (not an ONNX test-data folder)");
  std::sort(sets.begin(), sets.end());
  Dataset d;
  for (int k = 0; fs::exists(sets.front() / ("input_" + std::to_string(k) + ".pb")); ++k) {
    std::vector<at::Tensor> parts;
    std::string name;
    for (const auto& s : sets) {
      const ir::Tensor t = onnxio::load_tensor((s / ("input_" + std::to_string(k) + ".pb")).string());
      name = t.name.empty() ? "#" + std::to_string(k) : t.name;
      parts.push_back(runtime::to_aten(t));
    }
    d.inputs.emplace_back(name, at::cat(parts, 0));
  }
  d.x = d.inputs.front().second;
  if (d.inputs.size() == 1) d.inputs.clear();
  return d;
}

}  // namespace

Dataset load_dataset(const std::string& path, int64_t limit, const ImageSize& resize) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw bad_input("cannot open '" + path + "': no such file or folder");
  const bool images = (fs::is_directory(path) && is_image_folder(path)) || (!fs::is_directory(path) && is_image_file(path));
  if (resize.set() && !images)
    throw bad_input("'" + path + "': resizing applies to images (PNG, JPEG, ...), not to this dataset");
  Dataset d;
  if (images) d = read_images(path, resize);
  else if (fs::is_directory(path)) d = from_test_data(path);
  else if (ends_with(path, ".npz")) d = from_npz(path, limit);
  else if (ends_with(path, ".npy")) d.x = read_npy(path, limit);
  else if (path.find("idx3-ubyte") != std::string::npos) d = from_idx(path);
  else throw bad_input("'" + path + "': unknown dataset format (use .npz, .npy, IDX images, an ONNX test-data folder, "
                       "or images: one file, a folder, or a folder of class folders)");
  if (d.x.dim() < 1 || d.x.size(0) == 0) throw bad_input("'" + path + "' holds no samples");
  if (d.has_labels() && d.y.size(0) != d.x.size(0))
    throw bad_input("'" + path + "' has " + std::to_string(d.x.size(0)) + " samples but " + std::to_string(d.y.size(0)) + " labels");
  if (limit > 0) d = first_samples(d, limit);
  d.source = path;
  return d;
}

Dataset first_samples(const Dataset& data, int64_t limit) {
  if (limit >= data.size()) return data;
  return sample_range(data, 0, limit);
}

Dataset sample_range(const Dataset& data, int64_t first, int64_t count) {
  Dataset out = data;
  out.x = out.x.narrow(0, first, count);
  for (auto& [name, a] : out.inputs) a = a.narrow(0, first, count);
  if (out.has_labels()) out.y = out.y.narrow(0, first, count);
  if (out.has_boxes()) out.boxes = out.boxes.narrow(0, first, count);
  return out;
}

namespace {

// prepare_inputs with the samples chosen by `pick` (a function of a [N, ...] array).
template <typename Pick>
std::vector<at::Tensor> prepare_picked(const Dataset& data, const std::vector<const ir::Value*>& model_inputs,
                                       const Preprocess& options, Pick pick) {
  std::string names;
  for (const ir::Value* v : model_inputs) names += (names.empty() ? "'" : ", '") + v->name() + "'";
  std::vector<at::Tensor> out;
  if (data.inputs.empty()) {
    if (model_inputs.size() != 1)
      throw bad_input("the model has " + std::to_string(model_inputs.size()) + " inputs (" + names +
                      "): give an .npz with one array named after each");
    out.push_back(prepare_batch(pick(data.x), model_inputs[0]->name(), model_inputs[0]->type, options));
    return out;
  }
  for (size_t k = 0; k < model_inputs.size(); ++k) {
    const ir::Value* v = model_inputs[k];
    auto it = std::find_if(data.inputs.begin(), data.inputs.end(), [&](const auto& p) {
      return p.first == v->name() || p.first == "#" + std::to_string(k);
    });
    if (it == data.inputs.end()) {
      std::string have;
      for (const auto& p : data.inputs) have += (have.empty() ? "'" : ", '") + p.first + "'";
      throw bad_input(data.source + " has no array for model input '" + v->name() + "' (it has " + have +
                      "; the model's inputs: " + names + ")");
    }
    out.push_back(prepare_batch(pick(it->second), v->name(), v->type, options));
  }
  return out;
}

}  // namespace

std::vector<at::Tensor> prepare_inputs(const Dataset& data, const at::Tensor& rows,
                                       const std::vector<const ir::Value*>& model_inputs, const Preprocess& options) {
  return prepare_picked(data, model_inputs, options, [&](const at::Tensor& a) { return a.index_select(0, rows); });
}

std::vector<at::Tensor> prepare_inputs(const Dataset& data, int64_t start, int64_t count,
                                       const std::vector<const ir::Value*>& model_inputs, const Preprocess& options) {
  return prepare_picked(data, model_inputs, options, [&](const at::Tensor& a) { return a.narrow(0, start, count); });
}

at::Tensor prepare_batch(const at::Tensor& raw, const std::string& input_name, const ir::ValueType& type,
                         const Preprocess& options) {
  const double scale = options.scale.value_or(raw.scalar_type() == at::kByte ? 1.0 / 255.0 : 1.0);
  at::Tensor x = raw.to(at::kFloat);
  if (scale != 1.0) x = x * scale;
  const auto expected = type.shape;
  const int64_t want_rank = expected ? static_cast<int64_t>(expected->size()) : x.dim();
  auto dim_of = [&](int64_t i) -> int64_t {
    const ir::Dim& d = (*expected)[i];
    return d.is_known() ? *d.value : -1;
  };
  // Channels-last on disk ([B,H,W,C]) to channels-first, when asked or when only that fits.
  if (x.dim() == 4 && want_rank == 4) {
    const bool nhwc = options.layout == "nhwc" ||
                      (options.layout == "auto" && expected && dim_of(1) > 0 && x.size(1) != dim_of(1) && x.size(3) == dim_of(1));
    if (nhwc) x = x.permute({0, 3, 1, 2}).contiguous();
  }
  if (x.dim() == want_rank - 1) x = x.unsqueeze(1);  // [B,H,W] -> [B,1,H,W]
  if (!options.mean.empty() || !options.std.empty()) {
    if (x.dim() < 2) throw bad_input("--mean/--std need samples with a channel dimension");
    const int64_t c = x.size(1);
    auto per_channel = [&](const std::vector<double>& v, double fallback, const char* what) {
      std::vector<double> values = v.empty() ? std::vector<double>(c, fallback) : v;
      if (values.size() == 1) values.assign(c, values[0]);
      if (static_cast<int64_t>(values.size()) != c)
        throw bad_input(std::string(what) + " has " + std::to_string(v.size()) + " values for " + std::to_string(c) + " channels");
      std::vector<int64_t> shape(x.dim(), 1);
      shape[1] = c;
      return at::tensor(values, at::kFloat).view(shape);
    };
    x = (x - per_channel(options.mean, 0.0, "--mean")) / per_channel(options.std, 1.0, "--std");
  }
  // NaN in the data, or a --scale/--mean/--std that overflows float, would train NaN weights.
  if (!all_finite(x))
    throw bad_input("data for model input '" + input_name + "' holds NaN or infinite values after preprocessing"
                    " (--scale, --mean and --std are applied in float32)");
  bool ok = x.dim() == want_rank;
  for (int64_t i = 1; ok && expected && i < want_rank; ++i) ok = dim_of(i) < 0 || dim_of(i) == x.size(i);
  if (!ok)
    throw bad_input("data samples have shape " + shape_string(raw.sizes().slice(1)) + " (prepared: " + shape_string(x.sizes()) +
                    "); model input '" + input_name + "' expects " + ir::to_string(type));
  const at::ScalarType want = runtime::compute_type_of(type.elem_type);
  return type.is_tensor() && want != at::ScalarType::Undefined && want != at::kFloat ? x.to(want) : x;
}

}  // namespace nncompress::data
