#pragma once
// The nncompress command line called in process (tools/nncompress/cli_main.h), for tests that
// run thousands of commands without paying LibTorch's start-up for each.
#include <string>
#include <vector>

#include "cli_main.h"

namespace nncompress::testing {

inline int call_cli(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return nncompress::cli::run_cli(static_cast<int>(args.size()), argv.data());
}

}  // namespace nncompress::testing
