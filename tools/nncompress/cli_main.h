#pragma once
// The whole command line as a function: the nncompress binary's main() and the in-process tests
// (tests/integration/mutants_test.cpp) call it with the same arguments.

namespace nncompress::cli {

// Parses argv, runs the subcommand and returns its exit code (0 ok, 1 internal, 2 bad input or
// usage, 3 quality gate not met).
int run_cli(int argc, char** argv);

}  // namespace nncompress::cli
