// nncompress: compress neural networks stored as ONNX files.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cli_common.h"
#include "nncompress/runtime/executor.h"

int main(int argc, char** argv) {
  using namespace nncompress::cli;
  CLI::App app{"nncompress: compress neural networks in ONNX files (pruning, quantization, fine-tuning)"};
  app.set_version_flag("--version", std::string("nncompress ") + NNCOMPRESS_VERSION);
  app.require_subcommand(1);
  GlobalOptions& global = global_options();
  app.add_flag("-q,--quiet", global.quiet, "Only print warnings and errors; no progress bars");
  app.add_flag("-v,--verbose", global.verbose, "Print debug messages");
  app.add_option("--threads", global.threads, "Threads for LibTorch (default: one per core)")->check(non_negative());
  app.fallthrough();

  Action action;
  register_convert(app, action);
  register_inspect(app, action);
  register_run(app, action);
  register_eval(app, action);
  register_compare(app, action);
  register_finetune(app, action);
  register_prune(app, action);
  register_quantize(app, action);
  register_compress(app, action);
  register_passes(app, action);
  register_sensitivity(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help, version or the usage error
    return rc == 0 ? kOk : kBadInput;
  }
  configure_logging(global.quiet, global.verbose);
  if (const auto problem = non_finite_number(app)) {
    spdlog::error("{}", *problem);
    return kBadInput;
  }
  nncompress::runtime::set_threads(sane_threads(global.threads));
  return run_action(action);
}
