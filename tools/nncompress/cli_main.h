#pragma once
// The whole command line as a function: the nncompress binary's main() and the in-process tests
// (tests/integration/mutants_test.cpp) call it with the same arguments.

#include <string>
#include <vector>

namespace nncompress::cli {

// Parses argv, runs the subcommand and returns its exit code (0 ok, 1 internal, 2 bad input or
// usage, 3 quality gate not met).
int run_cli(int argc, char** argv);

// One option of one subcommand, for tests that exercise every option (option_matrix_test.cpp).
struct OptionInfo {
  std::string command;    // "" for the options before the subcommand (--threads)
  std::string name;       // "--epochs", or the positional's name
  std::string type;       // CLI11's type name: "FLOAT:> 0", "INT", "TEXT", ...
  bool takes_value;       // false for flags
  bool positional;
};
std::vector<OptionInfo> list_options();

}  // namespace nncompress::cli
