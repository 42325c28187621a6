#pragma once
// Recipes: an ordered list of passes with options, read from YAML and validated completely
// (unknown pass or option, a value of the wrong kind, data a pass needs but was not given) before
// any work starts. The registry lists every pass with its options and what it needs.
#include <map>
#include <string>
#include <vector>

namespace nncompress::pipeline {

enum class OptionKind { Number, Integer, Boolean, Text, List };

struct OptionSpec {
  std::string name;
  OptionKind kind = OptionKind::Number;
  std::string default_value;          // "" = unset
  std::string help;
  std::vector<std::string> choices;   // Text options: allowed values (empty = any)
};

struct PassSpec {
  std::string name, summary;
  std::string needs;  // "nothing", "data", "labeled data", ... (for people)
  std::vector<OptionSpec> options;
};

// Every pass a recipe can name, in a stable order.
const std::vector<PassSpec>& pass_registry();

struct Step {
  std::string pass;
  std::map<std::string, std::string> options;  // as written (lists comma-joined)
  int line = 0;                                // 1-based line in the recipe file (0: built in)

  bool has(const std::string& name) const { return options.count(name) > 0; }
  double number(const std::string& name) const;  // the option, or the pass's default
  int64_t integer(const std::string& name) const;
  bool boolean(const std::string& name) const;
  std::string text(const std::string& name) const;
  std::vector<std::string> list(const std::string& name) const;
};

struct Recipe {
  std::string name, source;  // source: file path or "default"
  std::vector<Step> steps;
};

// What the run was given, for validation.
struct Available {
  bool train_data = false;
  bool train_labels = false;
};

// Reads and validates a YAML recipe: `name:` and `steps:`, a list of maps with `pass:` and the
// pass's options. Throws bad_input naming the file and line.
Recipe load_recipe(const std::string& path);
// The recipe used without --recipe (docs/compress.md): prune.channels to half the MACs (l1) with
// 3 epochs of fine-tuning, then quant.int8 calibrated on the training data. Needs labeled data.
Recipe default_recipe();
// Checks that every step's needs are met and that a quant.* step comes last (bad_input naming the
// step and its line otherwise).
void check_needs(const Recipe& recipe, const Available& available);

}  // namespace nncompress::pipeline
