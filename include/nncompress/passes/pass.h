#pragma once
// The pass: the unit of the architecture. A pass declares, once, its name, a one-line summary, its
// typed options (default, range or choices, help), what it needs (data, labels, a teacher) and one
// entry point. Recipes, `passes [--json]`, the flags of `prune` and `quantize` and the up-front
// validation of every step are all generated from these declarations (passes/registry.h); a pass
// never parses a file or names a command-line flag.
//
// Adding a pass: a source file defining `const PassInfo& my_pass()` and one line in
// src/passes/pass_list.def (docs/architecture.md has a worked example).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nncompress/data/dataset.h"
#include "nncompress/eval/evaluate.h"
#include "nncompress/ir/model.h"
#include "nncompress/runtime/executor.h"

namespace nncompress::train {
struct EpochStats;
}

namespace nncompress::passes {

enum class OptionKind { Number, Integer, Boolean, Text, List };
const char* kind_name(OptionKind kind);

struct Bound {
  double value = 0;
  bool inclusive = true;
};

struct OptionSpec {
  std::string name;  // a recipe key and, in `prune`/`quantize`, the flag --name
  std::vector<std::string> aliases;  // other spellings of the key and flag (keep: exclude)
  OptionKind kind = OptionKind::Number;
  std::string default_value;  // "" = unset (the pass decides, e.g. "lambda decides")
  std::string help;
  std::vector<std::string> choices;  // Text: the allowed values (empty = any)
  std::optional<Bound> min, max;     // Number and Integer

  // Builders for declarations: opt("ratio", Number, "0.3", "...").range(0, 1, false)
  OptionSpec& at_least(double v, bool inclusive = true);
  OptionSpec& at_most(double v, bool inclusive = true);
  OptionSpec& range(double lo, double hi, bool hi_inclusive = true);
  OptionSpec& one_of(std::vector<std::string> values);
  OptionSpec& also(std::string alias);
  // "[0, 1)", "> 0", "one of l1, l2", "" for options without a constraint.
  std::string constraint() const;
};

OptionSpec option(std::string name, OptionKind kind, std::string default_value, std::string help);

// What is wrong with `value` for `spec` ("1.5 is not in [0, 1)"), or nullopt when it is valid.
std::optional<std::string> check_value(const OptionSpec& spec, const std::string& value);

struct PassInfo;

// A step's option values: what was written (validated), else the pass's defaults.
class OptionValues {
 public:
  OptionValues(const PassInfo& pass, std::map<std::string, std::string> given);

  const PassInfo& pass() const { return *pass_; }
  const std::map<std::string, std::string>& given() const { return given_; }
  bool has(const std::string& name) const;  // given, or with a default
  bool given(const std::string& name) const { return given_.count(name) > 0; }
  double number(const std::string& name) const;
  int64_t integer(const std::string& name) const;
  bool boolean(const std::string& name) const;
  std::string text(const std::string& name) const;
  std::vector<std::string> list(const std::string& name) const;
  // The number when set (given or defaulted), else `otherwise`.
  double number_or(const std::string& name, double otherwise) const { return has(name) ? number(name) : otherwise; }

 private:
  const std::string& raw(const std::string& name) const;
  const PassInfo* pass_;
  std::map<std::string, std::string> given_;
};

// How a front end spells an option in its messages: "--ratio" on the command line, "ratio" in a
// recipe. Passes word their combination checks with it.
using OptionNamer = std::function<std::string(const std::string& option)>;

// What a step needs from the run, given its options.
struct Needs {
  bool training_data = false;     // samples to train or score on (--data)
  bool labels = false;            // ... with labels
  bool calibration_data = false;  // samples to calibrate or measure sensitivity on (labels not needed)
  bool teacher = false;           // the input model as a distillation teacher
};

// What a pass gets from the run. Datasets and the teacher are owned by the front end.
struct PassContext {
  const data::Dataset* train = nullptr;        // training data (fine-tuning, Taylor scores)
  const data::Dataset* val = nullptr;          // validation with labels (per-epoch top-1), or nullptr
  const data::Dataset* calibration = nullptr;  // calibration / sensitivity data
  data::Preprocess preprocess;
  int64_t batch = 64;
  uint64_t seed = 0;
  const runtime::Executor* teacher = nullptr;  // the input model, when a step distills
  // Set for a detector: fine-tuning uses YOLOv8's loss on the data's boxes, accuracy is mAP@0.5.
  std::optional<eval::DetectionOptions> detection;
  // Progress of long work: a training bar (epoch, batch, batches, loss, accuracy), a line per
  // finished epoch, and a generic bar factory for other loops (calibration, sensitivity).
  std::function<void(int, int64_t, int64_t, double, double)> training_progress;
  std::function<void(const train::EpochStats&)> epoch_done;
  std::function<std::function<void(int64_t, int64_t)>(const std::string& label)> progress_bar;
};

// A small table for people (the CLI prints it aligned); cells are already formatted.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

struct PassResult {
  std::string summary;         // one line: what the pass did
  nlohmann::json details = nlohmann::json::object();  // for machines: per-layer rows and the pass's numbers
  Table table;                 // per-layer, for people
  std::vector<std::string> notes;  // lines printed after the table (totals, encoded sizes, what was left alone)
  // Set when the pass left the model as it was, saying why ("no Conv/Gemm/MatMul with a constant
  // weight"). pipeline::run_step also sets it when the model's bytes did not change.
  std::string unchanged;
};

struct PassInfo {
  std::string name;     // "prune.channels"
  std::string summary;  // one line for `passes` and --help
  std::string needs_text;  // for people: "labeled data for criterion taylor or epochs > 0"
  std::vector<OptionSpec> options;
  // Needs under these options (nullptr: nothing).
  Needs (*needs)(const OptionValues&) = nullptr;
  // Problems with a combination of values, worded with `name` (nullptr: none).
  std::vector<std::string> (*check)(const OptionValues&, const OptionNamer& name) = nullptr;
  PassResult (*apply)(ir::Model&, const PassContext&, const OptionValues&) = nullptr;
  // Later passes may not follow this one (quantized weights are stored as codes nothing trains).
  bool must_be_last = false;

  const OptionSpec* find_option(const std::string& name) const;
};

}  // namespace nncompress::passes
