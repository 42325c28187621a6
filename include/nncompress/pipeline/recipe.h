#pragma once
// Recipes: an ordered list of passes with options, read from YAML and validated completely
// against the pass registry (unknown pass or option, a value of the wrong kind or out of range,
// an impossible combination, data a pass needs but was not given) before any work starts.
#include <map>
#include <string>
#include <vector>

#include "nncompress/passes/registry.h"

namespace nncompress::pipeline {

struct Step {
  std::string pass;
  std::map<std::string, std::string> options;  // as written (lists comma-joined)
  int line = 0;                                // 1-based line in the recipe file (0: built in)

  // The pass's option values (defaults for what was not written); the step was validated.
  passes::OptionValues values() const;
};

struct Recipe {
  std::string name, source;  // source: file path, "default", or the command that built it
  std::vector<Step> steps;
};

// What the run was given, for the needs check, and how the front end names it in messages.
struct Available {
  bool training_data = false;
  bool training_labels = false;
  bool calibration_data = false;
  std::string training_flag = "--data";     // e.g. "--data"
  std::string calibration_flag = "--data";  // compress calibrates on --data; quantize on --calib
  std::string distill_hint = "distill: true";  // how to train without labels
};

// Reads and validates a YAML recipe: `name:` and `steps:`, a list of maps with `pass:` and the
// pass's options. Throws bad_input naming the file, line and key.
Recipe load_recipe(const std::string& path);
// The recipe used without --recipe (docs/compress.md): prune.channels to half the MACs (l1) with
// 3 epochs of fine-tuning, then quant.int8 calibrated on the training data. Needs labeled data.
Recipe default_recipe();
// Checks that every step's needs are met and that passes that must be last are (bad_input naming
// the step and its line otherwise).
void check_needs(const Recipe& recipe, const Available& available);
// The same for one step, named `place` in messages.
void check_step_needs(const passes::PassInfo& pass, const passes::OptionValues& values, const Available& available,
                      const std::string& place);
// The step's place in messages: "recipe.yaml:7: step 2 (prune.channels)".
std::string step_place(const Recipe& recipe, size_t index);

}  // namespace nncompress::pipeline
