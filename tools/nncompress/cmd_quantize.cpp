// `nncompress quantize MODEL -o OUT --method int8|focused|mixed [...]`: the quant.* passes of the
// registry, run as a one-step recipe (pass_command.h): post-training int8 Q/DQ, focused
// power-of-two weights for sparse models, or mixed-precision weights under a size budget.
#include "pass_command.h"

namespace nncompress::cli {

void register_quantize(CLI::App& app, Action& action) {
  register_pass_command(app, action,
                        {"quantize",
                         "Quantize a model: int8 Q/DQ (post-training), focused power-of-two weights, or mixed-precision weights",
                         "quant.", "int8", /*calibration_flag=*/true});
}

}  // namespace nncompress::cli
