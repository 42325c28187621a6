// Every option of every command, and every option of every pass as a recipe value, with nan, inf,
// -1, 0 and a huge value, each call in process in a forked child (tests/support/forked_cases.h).
// Each call must:
//   - exit 0 or 2 (compress: 3 or 2, see below), never 1, never by a signal, within 60 s; NaN or
//     infinity for a number option or recipe value: exit 2;
//   - leave no model with a NaN or infinite float weight;
//   - keep compress's quality gate on: its base run asks for an unreachable --min-size-ratio, so
//     whatever else is set it must end 3 (gate not met) or 2 — exit 0 means a gate was switched off;
//   - change nothing outside its own folder (the inputs are hashed before and after).
// The option lists come from the command tree and the pass registry themselves, so a new option
// is covered without editing this file.
//   nncompress_option_matrix_tests [--only COMMAND] [--keep DIR]
#include <ATen/ATen.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "nncompress/data/array_io.h"
#include "nncompress/passes/registry.h"
#include "support/call_cli.h"
#include "support/forked_cases.h"

namespace fs = std::filesystem;
using nncompress::testing::CaseResult;

namespace {

const std::string kSource = NNCOMPRESS_SOURCE_DIR;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A command with its positionals and options; varying one option replaces its value.
struct Base {
  std::string label;  // "prune --method magnitude"
  std::string command;
  std::vector<std::string> positionals;
  std::vector<std::pair<std::string, std::string>> options;
  bool gated = false;  // carries an unreachable gate: exit 0 is a gate switched off

  // The command with option `name` (or the positional_index-th positional) set to `value`;
  // with an empty name, the base command unchanged.
  std::vector<std::string> argv_with(const std::string& name, bool positional, int positional_index,
                                     const std::string& value) const {
    std::vector<std::string> argv{"nncompress"};
    if (command.empty()) {  // the options before the subcommand
      if (!name.empty()) argv.insert(argv.end(), {name, value});
      argv.insert(argv.end(), {"inspect", positionals.at(0)});
    } else {
      argv.push_back(command);
      for (size_t i = 0; i < positionals.size(); ++i)
        argv.push_back(positional && static_cast<int>(i) == positional_index ? value : positionals[i]);
      bool replaced = false;
      for (const auto& [opt, v] : options) {
        argv.push_back(opt);
        if (!v.empty()) argv.push_back(!positional && opt == name ? (replaced = true, value) : v);
      }
      if (!positional && !replaced && !name.empty()) argv.insert(argv.end(), {name, value});
    }
    return argv;
  }
};

struct Case {
  const Base* base;
  std::string option;  // "" for the base command itself, which must succeed (gated: exit 3)
  std::vector<std::string> argv;
  std::string recipe;  // written to recipe.yaml in the call's folder when not empty
  bool must_refuse = false;  // NaN or infinity for a number: exit 2, nothing else
};

bool non_finite(const std::string& value) { return value == "nan" || value == "inf"; }

std::string joined(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

// The float values a model stores (initializers, Constant nodes, subgraphs), checked for NaN/inf.
std::string non_finite_weight(const onnx::GraphProto& graph) {
  auto check = [](const onnx::TensorProto& t) -> std::string {
    if (t.data_type() != onnx::TensorProto::FLOAT) return "";
    const size_t n = t.has_raw_data() ? t.raw_data().size() / 4 : t.float_data_size();
    for (size_t i = 0; i < n; ++i) {
      float v;
      if (t.has_raw_data()) std::memcpy(&v, t.raw_data().data() + 4 * i, 4);
      else v = t.float_data(static_cast<int>(i));
      if (!std::isfinite(v)) return "weight '" + t.name() + "' holds " + std::to_string(v);
    }
    return "";
  };
  for (const auto& t : graph.initializer())
    if (auto p = check(t); !p.empty()) return p;
  for (const auto& node : graph.node())
    for (const auto& a : node.attribute()) {
      if (a.has_t())
        if (auto p = check(a.t()); !p.empty()) return p;
      if (a.has_g())
        if (auto p = non_finite_weight(a.g()); !p.empty()) return p;
    }
  return "";
}

// An IDX file of uint8 values (big-endian header: magic, then each dim).
void write_idx(const at::Tensor& t, const std::string& path) {
  std::string bytes{0, 0, 0x08, static_cast<char>(t.dim())};
  for (int64_t d : t.sizes())
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>((d >> shift) & 0xff));
  bytes.append(static_cast<const char*>(t.data_ptr()), t.numel());
  std::ofstream(path, std::ios::binary) << bytes;
}

struct Fixture {
  fs::path work, in;
  std::string model, data, input, recipe;
};

Fixture make_fixture() {
  Fixture f;
  f.work = fs::temp_directory_path() / ("nncompress-options-" + std::to_string(getpid()));
  f.in = f.work / "in";
  fs::create_directories(f.in);
  f.model = (f.in / "lenet5.onnx").string();
  fs::copy_file(kSource + "/models/lenet5-mnist.onnx", f.model);
  // 256 MNIST test digits as IDX files: `--limit 0` and a huge --limit mean "all", and all must
  // stay small for ~1,600 calls.
  const auto mnist = nncompress::data::read_npz(kSource + "/models/data/mnist-test.npz");
  const at::Tensor x = mnist.at("x").narrow(0, 0, 256).to(at::kByte).contiguous();
  const at::Tensor y = mnist.at("y").narrow(0, 0, 256).to(at::kByte).contiguous();
  f.data = (f.in / "digits-images-idx3-ubyte").string();
  write_idx(x, f.data);
  write_idx(y, (f.in / "digits-labels-idx1-ubyte").string());
  f.input = (f.in / "x.npy").string();
  nncompress::data::write_npy(at::zeros({1, 1, 28, 28}), f.input);
  f.recipe = (f.in / "recipe.yaml").string();
  std::ofstream(f.recipe) << "steps:\n  - pass: prune.magnitude\n    sparsity: 0.5\n"
                             "  - pass: finetune\n    epochs: 1\n  - pass: quant.int8\n    calib-limit: 32\n";
  return f;
}

std::vector<Base> make_bases(const Fixture& f) {
  const std::vector<std::pair<std::string, std::string>> data{{"--data", f.data}, {"--limit", "64"}};
  auto with = [&](std::vector<std::pair<std::string, std::string>> extra) {
    extra.insert(extra.begin(), data.begin(), data.end());
    return extra;
  };
  std::vector<Base> bases = {
      {"(global)", "", {f.model}, {}},
      {"convert", "convert", {f.model}, {{"--output", "out.onnx"}}},
      {"inspect", "inspect", {f.model}, {}},
      {"run", "run", {f.model}, {{"--input", f.input}, {"--output-dir", "outputs"}}},
      {"eval", "eval", {f.model}, data},
      {"compare", "compare", {f.model, f.model}, data},
      {"finetune", "finetune", {f.model}, with({{"--output", "out.onnx"}})},
      {"sensitivity", "sensitivity", {f.model}, data},
      {"passes", "passes", {}, {}},
      {"compress", "compress", {f.model},
       with({{"--output", "out.onnx"}, {"--recipe", f.recipe}, {"--min-size-ratio", "1000"}}), true},
  };
  for (const char* method : {"channels", "magnitude", "autoprune"})
    bases.push_back({std::string("prune --method ") + method, "prune", {f.model},
                     with({{"--output", "out.onnx"}, {"--method", method}})});
  for (const char* method : {"int8", "focused", "mixed", "dynamic"}) {
    Base base{std::string("quantize --method ") + method, "quantize", {f.model},
              with({{"--output", "out.onnx"}, {"--method", method}, {"--calib", f.data}})};
    if (std::string(method) == "mixed") base.options.push_back({"--avg-bits", "4"});
    bases.push_back(base);
  }
  return bases;
}

// A one-step recipe with `option: value` for every option of every pass (quant.mixed also gets
// the budget it needs), run by compress under its unreachable gate.
void add_recipe_cases(const Base& compress, std::vector<Case>& cases) {
  for (const nncompress::passes::PassInfo* pass : nncompress::passes::all_passes())
    for (const auto& spec : pass->options) {
      if (spec.kind == nncompress::passes::OptionKind::Boolean) continue;
      const bool integer = spec.kind == nncompress::passes::OptionKind::Integer;
      for (const std::string value : {"nan", "inf", "-1", "0", integer ? "9223372036854775807" : "1e308"}) {
        std::string recipe = "steps:\n  - pass: " + pass->name + "\n    " + spec.name + ": " + value + "\n";
        if (pass->name == "quant.mixed" && spec.name != "avg-bits") recipe += "    avg-bits: 4\n";
        const bool number = integer || spec.kind == nncompress::passes::OptionKind::Number;
        cases.push_back({&compress, "recipe " + pass->name + "." + spec.name,
                         compress.argv_with("--recipe", false, -1, "recipe.yaml"), recipe, number && non_finite(value)});
      }
    }
}

std::vector<Case> make_cases(const std::vector<Base>& bases, const std::string& only) {
  const std::vector<nncompress::cli::OptionInfo> options = nncompress::cli::list_options();
  std::vector<Case> cases;
  for (const Base& base : bases) {
    if (!only.empty() && base.command != only) continue;
    cases.push_back({&base, "", base.argv_with("", false, -1, ""), "", false});
    int positional_index = 0;
    for (const auto& opt : options) {
      if (opt.command != base.command || !opt.takes_value) continue;
      const bool integer = opt.type.rfind("INT", 0) == 0 || opt.type.rfind("UINT", 0) == 0;
      const bool number = integer || opt.type.rfind("FLOAT", 0) == 0 || opt.type.rfind("NUMBER", 0) == 0;
      for (const std::string value : {"nan", "inf", "-1", "0", integer ? "9223372036854775807" : "1e308"})
        cases.push_back({&base, opt.name, base.argv_with(opt.name, opt.positional, positional_index, value), "",
                         number && non_finite(value)});
      if (opt.positional) ++positional_index;
    }
    if (base.command == "compress") add_recipe_cases(base, cases);
  }
  return cases;
}

// In the child: one call in a fresh folder, then its outputs checked.
CaseResult check_case(const Case& c, const fs::path& folder) {
  fs::remove_all(folder);
  fs::create_directories(folder);
  fs::current_path(folder);
  const std::string log = (folder / "log.txt").string();
  if (!freopen(log.c_str(), "w", stdout) || !freopen(log.c_str(), "a", stderr)) _exit(99);
  if (!c.recipe.empty()) std::ofstream(folder / "recipe.yaml") << c.recipe;
  const auto t0 = std::chrono::steady_clock::now();
  const int code = nncompress::testing::call_cli(c.argv);
  fflush(stdout);
  fflush(stderr);
  CaseResult r;
  r.flags = static_cast<int32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
  const bool gate_option = c.option == "--min-size-ratio";
  const bool ok_code = c.must_refuse         ? code == 2
                      : c.option.empty() ? code == (c.base->gated ? 3 : 0)
                      : c.base->gated  ? (code == 2 || code == 3 || (code == 0 && gate_option))
                                       : (code == 0 || code == 2);
  if (!ok_code) r.problem = "exit " + std::to_string(code) + (code == 0 ? " (the quality gate was switched off)" : "");
  for (const auto& e : fs::recursive_directory_iterator(folder)) {
    if (!r.problem.empty()) break;
    if (!e.is_regular_file() || e.path().filename() == "log.txt" || e.path().filename() == "recipe.yaml") continue;
    onnx::ModelProto model;
    const std::string bytes = read_bytes(e.path());
    if (!model.ParseFromString(bytes) || !model.has_graph()) {
      if (e.path().extension() == ".onnx") r.problem = e.path().filename().string() + " is not an ONNX model";
      continue;
    }
    if (auto p = non_finite_weight(model.graph()); !p.empty()) r.problem = e.path().filename().string() + ": " + p;
  }
  return r;
}

std::string tail_of(const fs::path& path) {
  const std::string text = read_bytes(path);
  return text.substr(text.size() > 400 ? text.size() - 400 : 0);
}

std::string hash_folder(const fs::path& folder) {
  std::string all;
  for (const auto& e : fs::recursive_directory_iterator(folder))
    all += e.path().string() + "\n" + (e.is_regular_file() ? std::to_string(std::hash<std::string>{}(read_bytes(e.path()))) : "") + "\n";
  return std::to_string(std::hash<std::string>{}(all));
}

}  // namespace

int main(int argc, char** argv) {
  std::string only, keep;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--only") only = argv[i + 1];
    if (std::string(argv[i]) == "--keep") keep = argv[i + 1];
  }
  const Fixture f = make_fixture();
  const std::string inputs_before = hash_folder(f.in);
  const std::vector<Base> bases = make_bases(f);
  const std::vector<Case> cases = make_cases(bases, only);
  int failures = 0, exit0 = 0;
  std::map<std::string, double> seconds;  // per command, of the calls that finished
  nncompress::testing::run_forked_cases(
      static_cast<int>(cases.size()), 25, 60,
      [&](int k) { return check_case(cases[k], f.work / ("case-" + std::to_string(k))); },
      [&](int k, const CaseResult& r) {
        seconds[cases[k].base->label] += r.flags / 1000.0;
        const fs::path folder = f.work / ("case-" + std::to_string(k));
        if (r.problem.empty()) {
          exit0 += fs::exists(folder / "out.onnx") ? 1 : 0;
          fs::remove_all(folder);
          return;
        }
        ++failures;
        std::cerr << "FAIL: " << joined(cases[k].argv) << "\n" << cases[k].recipe << "  " << r.problem << "\n"
                  << tail_of(folder / "log.txt") << "\n";
        if (!keep.empty()) fs::copy(folder, fs::path(keep) / folder.filename(), fs::copy_options::recursive);
      });
  if (hash_folder(f.in) != inputs_before) {
    ++failures;
    std::cerr << "FAIL: a call changed the inputs in " << f.in << "\n";
  }
  fs::remove_all(f.work);
  for (const auto& [label, total] : seconds) std::cout << "  " << label << ": " << total << " s\n";
  std::cout << cases.size() << " calls (" << bases.size() << " command forms x every option, and compress x every pass option as a recipe value, x nan, inf, -1, 0, huge): "
            << failures << " problems; " << exit0 << " wrote a model\n";
  return failures == 0 ? 0 : 1;
}
