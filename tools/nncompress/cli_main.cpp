#include "cli_main.h"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <iostream>
#include <optional>

#include "cli_common.h"
#include "nncompress/core/atomic_file.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/core/format.h"
#include "nncompress/runtime/executor.h"

namespace nncompress::cli {

namespace {

// The first word that is neither an option nor --threads' value, when it names no subcommand.
std::optional<std::string> unknown_command(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--threads") ++i;
    if (word.rfind('-', 0) == 0) continue;
    for (const CLI::App* sub : app.get_subcommands({}))
      if (sub->check_name(word)) return std::nullopt;
    return printable(word);
  }
  return std::nullopt;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"nncompress: compress neural networks in ONNX files (pruning, quantization, fine-tuning)"};
  app.set_version_flag("--version", std::string("nncompress ") + NNCOMPRESS_VERSION);
  app.require_subcommand(1);
  // Each call starts afresh (the mutation test runs several commands in one process).
  GlobalOptions& global = global_options();
  global = GlobalOptions{};
  reset_file_guard();
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
    if (const auto unknown = unknown_command(app, argc, argv)) {
      std::cerr << "error: unknown command '" << *unknown << "'; the commands are:";
      for (const CLI::App* sub : app.get_subcommands({})) std::cerr << " " << sub->get_name();
      std::cerr << "\n";
      return kBadInput;
    }
    const int rc = app.exit(e);  // prints help, version or the usage error
    return rc == 0 ? kOk : kBadInput;
  }
  configure_logging(global.quiet, global.verbose);
  if (const auto problem = non_finite_number(app)) {
    spdlog::error("{}", *problem);
    return kBadInput;
  }
  nncompress::runtime::set_threads(sane_threads(global.threads));
  // All outputs or none: a command that fails after writing its model leaves no model behind.
  // A failed quality gate (exit 3) keeps them: the model and the report are the evidence.
  CommitGroup outputs;
  const int rc = run_action(action);
  if (rc != kOk && rc != kGateFailed) return rc;
  return run_action([&] {
    outputs.commit();
    return rc;
  });
}

}  // namespace nncompress::cli
