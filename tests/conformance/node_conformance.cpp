// Runs every ONNX backend node test (libonnx-testdata) whose ops the executor claims and compares
// the outputs with the expected ones (rtol 1e-3, atol 1e-4). Tests that fail for a stated reason
// are listed in known_failures.txt; any other failure, or a listed test that now passes, fails
// the run. With --markdown FILE it writes the per-op table of docs/conformance.md.
#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "nncompress/onnx/model_file.h"
#include "nncompress/runtime/executor.h"
#include "nncompress/runtime/kernel_registry.h"
#include "nncompress/runtime/tensor_convert.h"

namespace fs = std::filesystem;
using namespace nncompress;

namespace {

struct Outcome {
  std::string test;
  std::set<std::string> ops;
  bool claimed = false;
  bool passed = false;
  std::string message;
};

std::vector<fs::path> numbered(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (int i = 0;; ++i) {
    fs::path p = dir / (prefix + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    files.push_back(p);
  }
  return files;
}

std::string compare(const at::Tensor& got, const at::Tensor& want) {
  if (got.scalar_type() != want.scalar_type())
    return std::string("type ") + c10::toString(got.scalar_type()) + " != expected " + c10::toString(want.scalar_type());
  if (got.sizes() != want.sizes()) {
    std::ostringstream s;
    s << "shape " << got.sizes() << " != expected " << want.sizes();
    return s.str();
  }
  if (want.numel() == 0) return "";
  if (at::isIntegralType(want.scalar_type(), true)) return at::equal(got, want) ? "" : "integer values differ";
  const at::Tensor g = got.to(at::kDouble), w = want.to(at::kDouble);
  const at::Tensor both_nan = at::isnan(g) & at::isnan(w);
  const at::Tensor close = (at::abs(g - w) <= 1e-4 + 1e-3 * at::abs(w)) | both_nan | (g == w);
  if (close.all().item<bool>()) return "";
  std::ostringstream s;
  s << "max abs diff " << at::max(at::abs(g - w).masked_fill(both_nan, 0)).item<double>();
  return s.str();
}

Outcome run_test(const fs::path& dir) {
  Outcome o;
  o.test = dir.filename().string();
  try {
    const ir::Model model = onnxio::load_model((dir / "model.onnx").string());
    for (const auto& n : model.graph.nodes()) o.ops.insert(n->op_type());
    const auto& registry = runtime::KernelRegistry::instance();
    o.claimed = true;
    for (const auto& n : model.graph.nodes())
      o.claimed = o.claimed && registry.find(n->domain(), n->op_type(), model.opset_version()) != nullptr;
    if (!o.claimed) return o;
    runtime::Executor exec(model);
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (!entry.is_directory() || entry.path().filename().string().rfind("test_data_set_", 0) != 0) continue;
      std::vector<at::Tensor> inputs;
      for (const auto& p : numbered(entry.path(), "input_")) inputs.push_back(runtime::to_aten(onnxio::load_tensor(p.string())));
      // Gradients on: every op on plain tensors; off: inference, where the executor computes
      // convolutions in MKL-DNN's blocked layout. Both must match.
      for (const bool grad : {true, false}) {
        at::AutoGradMode mode(grad);
        const std::vector<at::Tensor> outputs = exec.run(inputs);
        const auto expected = numbered(entry.path(), "output_");
        if (expected.size() != outputs.size()) {
          o.message = "output count differs";
          return o;
        }
        for (size_t i = 0; i < expected.size(); ++i) {
          const std::string diff = compare(outputs[i], runtime::to_aten(onnxio::load_tensor(expected[i].string())));
          if (!diff.empty()) {
            o.message = "output " + std::to_string(i) + (grad ? "" : " (inference)") + ": " + diff;
            return o;
          }
        }
      }
    }
    o.passed = true;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    o.message = msg.substr(0, msg.find('\n'));
  }
  return o;
}

std::map<std::string, std::string> read_known(const std::string& path) {
  std::map<std::string, std::string> known;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string reason = line.substr(colon + 1);
    reason.erase(0, reason.find_first_not_of(' '));
    known[line.substr(0, colon)] = reason;
  }
  return known;
}

void write_markdown(const std::string& path, const std::vector<Outcome>& outcomes,
                    const std::map<std::string, std::string>& known) {
  std::map<std::string, std::array<int, 3>> per_op;  // tests, passed, known failures
  int claimed = 0, passed = 0;
  for (const Outcome& o : outcomes) {
    if (!o.claimed) continue;
    ++claimed;
    passed += o.passed;
    for (const std::string& op : o.ops) {
      auto& row = per_op[op];
      ++row[0];
      row[1] += o.passed;
      row[2] += !o.passed && known.count(o.test);
    }
  }
  std::ofstream md(path);
  md << "# Executor conformance\n\n"
     << "Generated by `tools/gen_conformance_doc.sh` from the ONNX backend node tests in Debian's\n"
     << "`libonnx-testdata` (ONNX 1.12). A test is *claimed* when the executor has a kernel for every op of\n"
     << "its model; its outputs must match the expected ones within rtol 1e-3, atol 1e-4.\n\n"
     << "Claimed: " << claimed << " of " << outcomes.size() << " node tests; passing: " << passed
     << "; known failures: " << claimed - passed << ".\n\n"
     << "| op | tests using it | passed | known failures |\n|---|---:|---:|---:|\n";
  for (const auto& [op, row] : per_op) md << "| " << op << " | " << row[0] << " | " << row[1] << " | " << row[2] << " |\n";
  md << "\n## Known failures and why\n\n| test | reason |\n|---|---|\n";
  for (const Outcome& o : outcomes)
    if (o.claimed && !o.passed && known.count(o.test)) md << "| " << o.test << " | " << known.at(o.test) << " |\n";
  md << "\nKernels registered: ";
  const auto ops = runtime::KernelRegistry::instance().op_types();
  for (size_t i = 0; i < ops.size(); ++i) md << (i ? ", " : "") << ops[i];
  md << ".\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string testdata = "/usr/share/libonnx-testdata/data/node", known_path, markdown;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--testdata") testdata = argv[i + 1];
    else if (flag == "--known") known_path = argv[i + 1];
    else if (flag == "--markdown") markdown = argv[i + 1];
  }
  if (!fs::exists(testdata)) {
    std::cerr << "no ONNX node tests at " << testdata << ": install libonnx-testdata (tools/setup.sh)\n";
    return 1;
  }
  const auto known = read_known(known_path);
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(testdata))
    if (e.is_directory()) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  runtime::set_threads(1);

  std::vector<Outcome> outcomes;
  int passed = 0, failed = 0, expected_failures = 0;
  for (const fs::path& dir : dirs) {
    Outcome o = run_test(dir);
    if (o.claimed) {
      const bool is_known = known.count(o.test) > 0;
      if (o.passed && is_known) {
        std::cout << "FAIL " << o.test << ": passes but is listed in known_failures.txt (remove it)\n";
        ++failed;
      } else if (!o.passed && !is_known) {
        std::cout << "FAIL " << o.test << ": " << o.message << "\n";
        ++failed;
      } else if (!o.passed) {
        ++expected_failures;
      } else {
        ++passed;
      }
    }
    outcomes.push_back(std::move(o));
  }
  for (const auto& [test, reason] : known)
    if (std::none_of(outcomes.begin(), outcomes.end(), [&](const Outcome& o) { return o.test == test && o.claimed; }))
      std::cout << "note: known failure " << test << " is not a claimed test\n";
  if (!markdown.empty()) write_markdown(markdown, outcomes, known);
  std::cout << "node conformance: " << expected_failures << " known failures (see docs/conformance.md)\n";
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed ? 1 : 0;
}
