// `nncompress prune MODEL -o OUT --method channels|magnitude|autoprune [...]`: the prune.* passes
// of the registry, run as a one-step recipe (pass_command.h). Structured pruning removes channels
// for real; unstructured pruning zeroes weights; either may fine-tune with pruned weights at zero.
#include "pass_command.h"

namespace nncompress::cli {

void register_prune(CLI::App& app, Action& action) {
  register_pass_command(app, action,
                        {"prune", "Prune a model: remove channels for real, or zero the smallest weights", "prune.", "channels",
                         /*calibration_flag=*/false});
}

}  // namespace nncompress::cli
