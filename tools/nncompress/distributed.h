#pragma once
// Any command as one rank of a data-parallel group (the training passes split each batch across
// ranks; see train/trainer.h): joined from torchrun's environment (MASTER_ADDR, MASTER_PORT, RANK,
// WORLD_SIZE), from --dist-url/--rank/--world-size, or started as --nproc local ranks.
#include <CLI/CLI.hpp>

#include <string>

namespace nncompress::cli {

struct DistributedOptions {
  int nproc = 0;         // > 1: this process launches that many local ranks and waits for them
  std::string dist_url;  // tcp://host:port of rank 0's rendezvous
  int rank = -1;         // -1: from RANK, else 0
  int world_size = 0;    // 0: from WORLD_SIZE, else 1
  double timeout_seconds = 300;
  std::string batchnorm = "sync";  // "sync" (global batch statistics) or "local" (each rank's)
};

// Global options (before or after the subcommand), like --threads.
void add_distributed_options(CLI::App& app, DistributedOptions& options);

// The --nproc launcher: serves the rendezvous on a free loopback port, starts the ranks (this same
// command line without --nproc, `threads` each; ranks other than 0 print nothing on stdout), and
// waits. When one rank fails the others are stopped; returns the first failure's exit code, else
// rank 0's.
int launch_local_ranks(int argc, char** argv, const DistributedOptions& options, int threads);

// Joins the group when the flags or the environment name more than one rank; afterwards ranks
// other than 0 log warnings and errors only (prefixed with their rank) and print nothing on stdout.
// Throws bad_input for a wrong URL, rank or world size, a port in use or a rendezvous not met.
void join_group(const DistributedOptions& options);

// After the command: ranks that succeeded (or failed only their quality gate) confirm it to each
// other before any output is written, so that outputs appear only when every rank finished. A
// rank that failed returns at once (its exit ends the others' collectives). Returns the exit code.
int agree_on_outcome(int exit_code);
// Whether this process writes the command's outputs (rank 0, or the only process).
bool writes_outputs();

}  // namespace nncompress::cli
