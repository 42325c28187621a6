#pragma once
// Starting more nncompress processes: `compress --manifest` entries and `--nproc` ranks. (Not
// named spawn.h: this folder is on the include path and would shadow <spawn.h>.)
#include <sys/types.h>

#include <string>
#include <vector>

namespace nncompress::cli {

// This executable's path.
std::string self_executable();

// Starts `args` (args[0] the program) with the environment `env` (nullptr: this process's), stdout
// written to `stdout_path` (created or truncated; empty: inherited) and stderr with it when
// `with_stderr`. Throws internal_error when the program cannot start.
pid_t spawn_process(const std::vector<std::string>& args, const std::vector<std::string>* env,
                    const std::string& stdout_path, bool with_stderr);

}  // namespace nncompress::cli
