// The compress report as one self-contained HTML page: tables and inline SVG charts, no scripts
// and no external resources, so it opens offline in any browser.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "nncompress/core/format.h"
#include "nncompress/pipeline/report.h"

namespace nncompress::pipeline {

namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v, int digits = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string count(double v) {
  const char* units[] = {"", "k", "M", "G"};
  int u = 0;
  while (std::abs(v) >= 1000 && u < 3) v /= 1000, ++u;
  return num(v, u ? 2 : 0) + units[u];
}

std::string percent(const std::optional<double>& v) { return v ? num(100 * *v) + "%" : "—"; }

struct Series {
  std::string name, color;
  std::vector<double> values;
};

// Horizontal grouped bars: one row per label, one bar per series, scaled to the largest value.
std::string bar_chart(const std::string& title, const std::vector<std::string>& labels, const std::vector<Series>& series,
                      const std::string& unit) {
  const int label_width = 320, plot_width = 380, bar = 7, row = bar * static_cast<int>(series.size()) + 6, top = 34;
  double top_value = 0;
  for (const Series& s : series)
    for (double v : s.values) top_value = std::max(top_value, v);
  if (top_value <= 0) top_value = 1;
  const int height = top + row * static_cast<int>(labels.size()) + 10;
  std::ostringstream svg;
  svg << "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << label_width + plot_width + 80 << "\" height=\""
      << height << "\" role=\"img\"><title>" << escape(title) << "</title>";
  svg << "<text x=\"0\" y=\"14\" class=\"t\">" << escape(title) << " (" << escape(unit) << ")</text>";
  for (size_t k = 0; k < series.size(); ++k)
    svg << "<rect x=\"" << label_width + 120 * k << "\" y=\"20\" width=\"10\" height=\"8\" fill=\"" << series[k].color
        << "\"/><text x=\"" << label_width + 120 * k + 14 << "\" y=\"28\" class=\"s\">" << escape(series[k].name) << "</text>";
  for (size_t i = 0; i < labels.size(); ++i) {
    const int y = top + row * static_cast<int>(i);
    // Long exported names ("/features/features.1/conv/conv.0/Conv") keep their informative end;
    // the full name is the label's tooltip.
    std::string label = labels[i].size() > 52 ? "…" + labels[i].substr(labels[i].size() - 51) : labels[i];
    svg << "<text x=\"" << label_width - 6 << "\" y=\"" << y + row / 2 + 3 << "\" class=\"s\" text-anchor=\"end\"><title>"
        << escape(labels[i]) << "</title>" << escape(label) << "</text>";
    for (size_t k = 0; k < series.size(); ++k) {
      const double v = i < series[k].values.size() ? series[k].values[i] : 0;
      const double w = std::max(0.0, v / top_value * plot_width);
      svg << "<rect x=\"" << label_width << "\" y=\"" << y + bar * k << "\" width=\"" << num(w, 1) << "\" height=\"" << bar - 1
          << "\" fill=\"" << series[k].color << "\"><title>" << escape(labels[i] + " " + series[k].name + ": " + count(v))
          << "</title></rect>";
      svg << "<text x=\"" << label_width + w + 4 << "\" y=\"" << y + bar * k + bar - 1 << "\" class=\"v\">" << count(v) << "</text>";
    }
  }
  svg << "</svg></figure>\n";
  return svg.str();
}

struct Point {
  std::string label;
  double bytes, accuracy;
};

// Accuracy against stored bytes (log scale) for the input and after each step, joined in order.
std::string accuracy_size_chart(const std::vector<Point>& points, const std::string& metric) {
  const int w = 720, h = 300, left = 60, right = 140, top = 30, bottom = 40;
  double lo = 1e300, hi = 0, acc_lo = 1, acc_hi = 0;
  for (const Point& p : points) {
    lo = std::min(lo, p.bytes), hi = std::max(hi, p.bytes);
    acc_lo = std::min(acc_lo, p.accuracy), acc_hi = std::max(acc_hi, p.accuracy);
  }
  const double llo = std::log10(std::max(lo, 1.0)) - 0.1, lhi = std::log10(std::max(hi, 1.0)) + 0.1;
  acc_lo = std::max(0.0, acc_lo - 0.01), acc_hi = std::min(1.0, acc_hi + 0.01);
  if (acc_hi <= acc_lo) acc_hi = acc_lo + 0.01;
  auto x = [&](double b) { return left + (std::log10(std::max(b, 1.0)) - llo) / (lhi - llo) * (w - left - right); };
  auto y = [&](double a) { return top + (acc_hi - a) / (acc_hi - acc_lo) * (h - top - bottom); };
  std::ostringstream svg;
  svg << "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h
      << "\" role=\"img\"><title>" << metric << " against stored bytes</title>";
  svg << "<text x=\"0\" y=\"14\" class=\"t\">" << metric << " against stored bytes (log scale), after each step</text>";
  svg << "<line x1=\"" << left << "\" y1=\"" << h - bottom << "\" x2=\"" << w - right << "\" y2=\"" << h - bottom
      << "\" class=\"axis\"/><line x1=\"" << left << "\" y1=\"" << top << "\" x2=\"" << left << "\" y2=\"" << h - bottom
      << "\" class=\"axis\"/>";
  svg << "<text x=\"" << left << "\" y=\"" << h - 8 << "\" class=\"s\">" << count(std::pow(10, llo)) << "B</text><text x=\""
      << w - right << "\" y=\"" << h - 8 << "\" class=\"s\" text-anchor=\"end\">" << count(std::pow(10, lhi)) << "B</text>";
  svg << "<text x=\"" << left - 4 << "\" y=\"" << top + 4 << "\" class=\"s\" text-anchor=\"end\">" << num(100 * acc_hi, 1)
      << "%</text><text x=\"" << left - 4 << "\" y=\"" << h - bottom << "\" class=\"s\" text-anchor=\"end\">"
      << num(100 * acc_lo, 1) << "%</text>";
  std::string path;
  for (const Point& p : points) path += (path.empty() ? "M" : " L") + num(x(p.bytes), 1) + " " + num(y(p.accuracy), 1);
  svg << "<path d=\"" << path << "\" class=\"line\"/>";
  for (const Point& p : points)
    svg << "<circle cx=\"" << num(x(p.bytes), 1) << "\" cy=\"" << num(y(p.accuracy), 1) << "\" r=\"4\" class=\"dot\"><title>"
        << escape(p.label + ": " + count(p.bytes) + "B, " + num(100 * p.accuracy) + "%") << "</title></circle><text x=\""
        << num(x(p.bytes) + 6, 1) << "\" y=\"" << num(y(p.accuracy) - 6, 1) << "\" class=\"s\">" << escape(p.label) << "</text>";
  svg << "</svg></figure>\n";
  return svg.str();
}

const char* kStyle = R"(body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child,.l{text-align:left}.pass{color:#176c2d}.fail{color:#b3261e;font-weight:bold}
figure{margin:1.5em 0}.t{font-size:14px;font-weight:bold}.s{font-size:11px}.v{font-size:9px;fill:#555}
.axis{stroke:#888}.line{fill:none;stroke:#1f6fb2;stroke-width:2}.dot{fill:#1f6fb2})";

}  // namespace

std::string report_html(const Report& r) {
  const Measurement& a = r.after();
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>nncompress report: " << escape(r.input)
       << "</title><style>" << kStyle << "</style></head><body>\n";
  html << "<h1>nncompress: " << escape(r.input) << " → " << escape(r.output) << "</h1>\n";
  html << "<p>Recipe: " << escape(r.recipe.name) << " (" << escape(r.recipe.source) << "). Size ratio (input file / output file) "
       << num(r.size_ratio()) << "x";
  if (auto d = r.accuracy_drop_pp()) html << "; accuracy drop " << num(*d) << " pp";
  html << ". " << (r.passed() ? "<span class=\"pass\">All gates passed.</span>" : "<span class=\"fail\">A gate failed: " +
                                                                                        escape(r.failure()) + "</span>")
       << "</p>\n";
  const std::string metric = r.before.map50 ? "mAP@0.5" : "top-1";
  html << "<table><tr><th></th><th>params</th><th>non-zeros</th><th>MACs</th><th>file bytes</th><th>" << metric << "</th></tr>"
       << "<tr><td>before</td><td>" << with_commas(r.before.params) << "</td><td>" << with_commas(r.before.nonzeros) << "</td><td>"
       << with_commas(r.before.macs) << "</td><td>" << with_commas(r.input_file_bytes) << "</td><td>" << percent(r.before.accuracy())
       << "</td></tr><tr><td>after</td><td>" << with_commas(a.params) << "</td><td>" << with_commas(a.nonzeros) << "</td><td>"
       << with_commas(a.macs) << "</td><td>" << with_commas(r.output_file_bytes) << "</td><td>" << percent(a.accuracy()) << "</td></tr></table>\n";
  if (r.fidelity) {
    html << "<h2>Fidelity to the original model</h2><p>" << with_commas(r.fidelity->samples)
         << " samples, every output.</p><table><tr><th>output</th><th>shape</th><th>cosine</th><th>SNR dB</th>"
            "<th>max abs diff</th><th>mean abs diff</th><th>top-1 agreement</th></tr>";
    for (const eval::OutputFidelity& f : r.fidelity->outputs) {
      std::string shape;
      for (int64_t d : f.shape) shape += (shape.empty() ? "" : "×") + std::to_string(d);
      html << "<tr><td>" << escape(f.name) << "</td><td>" << shape << "</td><td>" << num(f.cosine, 5) << "</td><td>"
           << (std::isfinite(f.snr_db) ? num(f.snr_db) : "∞") << "</td><td>" << format("%.4g", f.max_abs_diff) << "</td><td>"
           << format("%.4g", f.mean_abs_diff) << "</td><td>" << percent(f.agreement) << "</td></tr>";
    }
    html << "</table>\n";
  }
  if (const auto& l = r.onnxruntime)
    html << "<p>" << escape(onnxruntime_latency_line(*l))
         << (l->speedup() < 1.0 ? " — <span class=\"fail\">slower than the input</span>" : "") << ".</p>\n";
  html << "<p>Weights encoded for deployment (codes at their bits, 4-bit relative indices when sparse; scales not "
          "counted): "
       << with_commas(r.before.weights_encoded_bytes) << " → " << with_commas(a.weights_encoded_bytes) << " bytes.</p>\n";

  html << "<h2>Steps</h2><table><tr><th>step</th><th>pass</th><th>seconds</th><th>what it did</th><th>non-zeros</th>"
          "<th>MACs</th><th>stored bytes</th><th>" << metric << "</th></tr>";
  for (size_t i = 0; i < r.steps.size(); ++i) {
    const StepResult& s = r.steps[i];
    html << "<tr><td>" << i + 1 << "</td><td class=\"l\">" << escape(s.step.pass) << "</td><td>" << num(s.seconds, 1)
         << "</td><td class=\"l\">" << escape(s.result.summary)
         << (s.result.unchanged.empty() ? "" : " <span class=\"fail\">(changed nothing: " + escape(s.result.unchanged) + ")</span>")
         << "</td><td>" << with_commas(s.after.nonzeros) << "</td><td>" << with_commas(s.after.macs) << "</td><td>"
         << with_commas(s.after.initializer_bytes) << "</td><td>" << percent(s.after.accuracy()) << "</td></tr>";
  }
  html << "</table>\n";

  std::vector<Point> points;
  if (r.before.accuracy()) points.push_back({"input", static_cast<double>(r.before.initializer_bytes), *r.before.accuracy()});
  for (size_t i = 0; i < r.steps.size(); ++i)
    if (r.steps[i].after.accuracy())
      points.push_back({std::to_string(i + 1) + " " + r.steps[i].step.pass, static_cast<double>(r.steps[i].after.initializer_bytes),
                        *r.steps[i].after.accuracy()});
  html << "<h2>Charts</h2>\n";
  if (points.size() >= 2) html << accuracy_size_chart(points, metric);
  else html << "<p>No accuracy-vs-size chart: it needs labeled validation data (--val).</p>\n";

  const std::vector<std::pair<const LayerStats*, const LayerStats*>> layers = r.layer_pairs();
  std::vector<std::string> names;
  Series density_before{"before", "#9aa5b1", {}}, density_after{"after", "#1f6fb2", {}};
  Series bits_before = density_before, bits_after = density_after, macs_before = density_before, macs_after = density_after;
  Series channels_before = density_before, channels_after = density_after;
  for (const auto& layer : layers) {
    const LayerStats& b = *layer.first;
    const LayerStats* l = layer.second;  // nullptr: removed
    names.push_back(b.node);
    density_before.values.push_back(b.params ? 100.0 * (1.0 - static_cast<double>(b.nonzeros) / b.params) : 0);
    density_after.values.push_back(l && l->params ? 100.0 * (1.0 - static_cast<double>(l->nonzeros) / l->params) : 100);
    bits_before.values.push_back(b.bits), bits_after.values.push_back(l ? l->bits : 0);
    macs_before.values.push_back(static_cast<double>(b.macs)), macs_after.values.push_back(l ? static_cast<double>(l->macs) : 0);
    channels_before.values.push_back(static_cast<double>(b.channels));
    channels_after.values.push_back(l ? static_cast<double>(l->channels) : 0);
  }
  html << bar_chart("Output channels per layer", names, {channels_before, channels_after}, "channels");
  html << bar_chart("Sparsity per layer", names, {density_before, density_after}, "% of weights zero");
  html << bar_chart("Weight bits per layer", names, {bits_before, bits_after}, "bits");
  html << bar_chart("MACs per layer", names, {macs_before, macs_after}, "multiply-accumulates at batch 1");

  html << "<h2>Layers</h2><table><tr><th>layer</th><th>op</th><th>channels</th><th>non-zeros</th><th>bits</th><th>MACs</th><th>encoded bytes</th></tr>";
  for (const auto& layer : layers) {
    const LayerStats& b = *layer.first;
    const LayerStats* l = layer.second;  // nullptr: removed
    auto pair = [&](int64_t x, int64_t y) { return with_commas(x) + (l ? " → " + with_commas(y) : " → removed"); };
    html << "<tr><td>" << escape(b.node) << "</td><td class=\"l\">" << escape(b.op) << "</td><td>" << pair(b.channels, l ? l->channels : 0)
         << "</td><td>" << pair(b.nonzeros, l ? l->nonzeros : 0) << "</td><td>" << pair(b.bits, l ? l->bits : 0) << "</td><td>"
         << pair(b.macs, l ? l->macs : 0) << "</td><td>" << pair(b.encoded_bytes, l ? l->encoded_bytes : 0) << "</td></tr>";
  }
  html << "</table>\n";
  if (!r.gates.empty()) {
    html << "<h2>Quality gates</h2><ul>";
    for (const Gate& g : r.gates)
      html << "<li class=\"" << (g.passed ? "pass" : "fail") << "\">" << (g.passed ? "PASS " : "FAIL ") << escape(g.name) << ": "
           << num(g.value) << " (threshold " << num(g.threshold) << ")</li>";
    html << "</ul>\n";
  }
  html << "<p><small>Report schema " << kReportSchemaVersion << "; the same numbers are in the JSON report.</small></p>\n";
  html << "</body></html>\n";
  return html.str();
}

}  // namespace nncompress::pipeline
