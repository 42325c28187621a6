// nncompress: compress neural networks stored as ONNX files.
#include <CLI/CLI.hpp>

#include "cli_common.h"

int main(int argc, char** argv) {
  using namespace nncompress::cli;
  CLI::App app{"nncompress: compress neural networks in ONNX files (pruning, quantization, fine-tuning)"};
  app.set_version_flag("--version", std::string("nncompress ") + NNCOMPRESS_VERSION);
  app.require_subcommand(1);
  bool quiet = false, verbose = false;
  app.add_flag("-q,--quiet", quiet, "Only print warnings and errors");
  app.add_flag("-v,--verbose", verbose, "Print debug messages");
  app.fallthrough();

  Action action;
  register_convert(app, action);
  register_inspect(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help, version or the usage error
    return rc == 0 ? kOk : kBadInput;
  }
  configure_logging(quiet, verbose);
  return run_action(action);
}
