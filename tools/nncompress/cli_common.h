#pragma once
// What every subcommand shares: registration, logging, formatting, and exit-code mapping.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace nncompress::cli {

// Exit codes documented in the README.
enum ExitCode : int { kOk = 0, kInternal = 1, kBadInput = 2, kGateFailed = 3 };

// A subcommand adds itself to the app and sets `action` when it is the one selected.
using Action = std::function<int()>;
void register_convert(CLI::App& app, Action& action);
void register_inspect(CLI::App& app, Action& action);

// Sets up spdlog on stderr: warnings only with --quiet, debug with --verbose.
void configure_logging(bool quiet, bool verbose);
// Runs the action, turning exceptions into a one-line message and an exit code.
int run_action(const Action& action);

// "46.8 MB", "1.81 G", "11,689,512".
std::string human_bytes(uint64_t bytes);
std::string human_count(double value);
std::string with_commas(int64_t value);

}  // namespace nncompress::cli
