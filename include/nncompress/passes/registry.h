#pragma once
// The one list of passes (src/passes/pass_list.def, one line each) and the validation every front
// end shares: a step's options are checked for names, kinds, ranges, choices and combinations
// before any model is touched, with messages that name the place the user wrote them.
#include <map>
#include <string>
#include <vector>

#include "nncompress/passes/pass.h"

namespace nncompress::passes {

// Every pass, in the order of pass_list.def.
const std::vector<const PassInfo*>& all_passes();
// The pass named `name`, or nullptr.
const PassInfo* find_pass(const std::string& name);
// Names joined by ", " (for "one of ..." messages).
std::string pass_names(const std::string& prefix = "");

// How a front end names what it validates in messages.
struct OptionPlace {
  // Where an option's value was written: "recipe.yaml:7: prune.channels.ratio" or "--ratio".
  std::function<std::string(const std::string& option)> value;
  OptionNamer name;  // how an option is spelled in combination messages
  std::string step;  // the place of the step as a whole: "recipe.yaml:5: step 1 (prune.channels)" or "prune"
};

// Validates `given` for `pass` (unknown options, kinds, ranges, choices, then the pass's own
// combination checks) and returns the values; throws bad_input naming the place.
OptionValues validate_options(const PassInfo& pass, const std::map<std::string, std::string>& given,
                              const OptionPlace& place);

}  // namespace nncompress::passes
