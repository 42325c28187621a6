#pragma once
// `prune` and `quantize`: thin front ends over the pass registry. `--method M` picks the pass
// PREFIX.M; every option of those passes is a flag with the pass's own name, default and range
// (generated here, never written by hand); the call becomes a one-step recipe, is validated like
// a recipe before the model is touched, and runs through pipeline::run_step as `compress` does.
#include <string>

#include "cli_common.h"

namespace nncompress::cli {

struct PassCommand {
  std::string name;            // "prune"
  std::string description;     // the subcommand's one-line help
  std::string prefix;          // "prune.": --method M selects the pass "prune.M"
  std::string default_method;  // "channels"
  // quantize: calibration data comes from --calib (else from --data, as in recipes).
  bool calibration_flag = false;
};

void register_pass_command(CLI::App& app, Action& action, const PassCommand& command);

}  // namespace nncompress::cli
