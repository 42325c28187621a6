#include "cli_main.h"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <iostream>
#include <optional>

#include "cli_common.h"
#include "distributed.h"
#include "nncompress/core/atomic_file.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/core/format.h"
#include "nncompress/dist/process_group.h"
#include "nncompress/runtime/executor.h"

namespace nncompress::cli {

namespace {

// The first word that is neither an option nor a global option's value, when it names no subcommand.
std::optional<std::string> unknown_command(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.rfind('-', 0) == 0) {
      const CLI::Option* global = app.get_option_no_throw(word);
      if (global && global->get_expected_max() > 0) ++i;  // its value, e.g. --threads 2
      continue;
    }
    for (const CLI::App* sub : app.get_subcommands({}))
      if (sub->check_name(word)) return std::nullopt;
    return printable(word);
  }
  return std::nullopt;
}

// The whole command tree: global options and every subcommand, its action stored in `action`.
void build_app(CLI::App& app, Action& action, GlobalOptions& global, DistributedOptions& distributed) {
  app.set_version_flag("--version", std::string("nncompress ") + NNCOMPRESS_VERSION);
  app.require_subcommand(1);
  app.add_flag("-q,--quiet", global.quiet, "Only print warnings and errors; no progress bars");
  app.add_flag("-v,--verbose", global.verbose, "Print debug messages");
  app.add_option("--threads", global.threads, "Threads for LibTorch (default: one per core)")->check(non_negative());
  add_distributed_options(app, distributed);
  app.fallthrough();
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
}

}  // namespace

std::vector<OptionInfo> list_options() {
  CLI::App app;
  Action action;
  GlobalOptions global;
  DistributedOptions distributed;
  build_app(app, action, global, distributed);
  std::vector<OptionInfo> out;
  auto add = [&](const CLI::App& from, const std::string& command) {
    for (const CLI::Option* opt : from.get_options()) {
      if (opt->get_name() == "--help" || opt->get_name() == "--version") continue;
      const std::string name = opt->get_lnames().empty() ? opt->get_name() : "--" + opt->get_lnames().front();
      out.push_back({command, name, opt->get_type_name(), opt->get_expected_max() > 0, opt->get_positional()});
    }
  };
  add(app, "");  // --threads, --quiet, --verbose, the data-parallel options
  for (const CLI::App* sub : app.get_subcommands({})) add(*sub, sub->get_name());
  return out;
}

int run_cli(int argc, char** argv) {
  CLI::App app{"nncompress: compress neural networks in ONNX files (pruning, quantization, fine-tuning)"};
  // Each call starts afresh (the mutation test runs several commands in one process).
  GlobalOptions& global = global_options();
  global = GlobalOptions{};
  reset_file_guard();
  Action action;
  DistributedOptions distributed;
  build_app(app, action, global, distributed);

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
  if (distributed.nproc > 1)
    return run_action([&] { return launch_local_ranks(argc, argv, distributed, global.threads ? sane_threads(global.threads) : 0); });
  nncompress::runtime::set_threads(sane_threads(global.threads));
  struct LeaveGroup {
    ~LeaveGroup() { dist::shutdown(); }
  } leave_group;
  if (const int joined = run_action([&] {
        join_group(distributed);
        return kOk;
      });
      joined != kOk)
    return joined;
  // All outputs or none: a command that fails after writing its model leaves no model behind.
  // A failed quality gate (exit 3) keeps them: the model and the report are the evidence. Of
  // data-parallel ranks, rank 0 writes, once every rank has finished.
  CommitGroup outputs;
  const int rc = agree_on_outcome(run_action(action));
  if ((rc != kOk && rc != kGateFailed) || !writes_outputs()) return rc;
  return run_action([&] {
    outputs.commit();
    return rc;
  });
}

}  // namespace nncompress::cli
