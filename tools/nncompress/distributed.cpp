#include "distributed.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "child_process.h"
#include "cli_common.h"
#include "nncompress/core/error.h"
#include "nncompress/dist/process_group.h"

extern char** environ;

namespace nncompress::cli {

namespace {

constexpr const char* kLauncherStore = "NNCOMPRESS_LAUNCHER_STORE";  // set by --nproc for its ranks

std::chrono::milliseconds timeout_of(const DistributedOptions& o) {
  return std::chrono::milliseconds(static_cast<int64_t>(o.timeout_seconds * 1000));
}

// An environment variable as a whole number; nullopt when unset, bad_input when not a number.
std::optional<int> env_int(const char* name) {
  const char* text = std::getenv(name);
  if (!text || !*text) return std::nullopt;
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (*end != '\0' || v < 0 || v > 1000000) throw bad_input(std::string(name) + "='" + text + "' is not a whole number >= 0");
  return static_cast<int>(v);
}

// "tcp://host:port" into the options.
void parse_url(const std::string& url, dist::GroupOptions& g) {
  const std::string scheme = "tcp://";
  const size_t colon = url.rfind(':');
  if (url.rfind(scheme, 0) != 0 || colon == std::string::npos || colon <= scheme.size())
    throw bad_input("--dist-url '" + url + "' is not tcp://HOST:PORT");
  g.master_addr = url.substr(scheme.size(), colon - scheme.size());
  const std::string port = url.substr(colon + 1);
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 1 || p > 65535) throw bad_input("--dist-url '" + url + "': the port must be in 1..65535");
  g.master_port = static_cast<int>(p);
}

// The command line of one rank: this one without --nproc and --threads, with `threads` given.
std::vector<std::string> rank_arguments(int argc, char** argv, int threads) {
  std::vector<std::string> a = {self_executable(), "--threads", std::to_string(threads)};
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--nproc" || word == "--threads") {
      ++i;
      continue;
    }
    if (word.rfind("--nproc=", 0) == 0 || word.rfind("--threads=", 0) == 0) continue;
    a.push_back(word);
  }
  return a;
}

// This process's environment without the variables a rank gets from the launcher.
std::vector<std::string> base_environment() {
  static const char* own[] = {"MASTER_ADDR=", "MASTER_PORT=", "RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "LOCAL_WORLD_SIZE="};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string var = *e;
    bool skip = var.rfind(std::string(kLauncherStore) + "=", 0) == 0;
    for (const char* p : own) skip = skip || var.rfind(p, 0) == 0;
    if (!skip) env.push_back(var);
  }
  return env;
}

}  // namespace

void add_distributed_options(CLI::App& app, DistributedOptions& o) {
  app.add_option("--nproc", o.nproc, "Data-parallel: start this many local ranks of the command (training is split across them)")
      ->check(CLI::Range(1, 256));
  app.add_option("--dist-url", o.dist_url, "Data-parallel: rank 0's rendezvous, tcp://HOST:PORT (default: MASTER_ADDR, MASTER_PORT)");
  app.add_option("--rank", o.rank, "Data-parallel: this process's rank (default: RANK)")->check(CLI::Range(0, 1000000));
  app.add_option("--world-size", o.world_size, "Data-parallel: the number of ranks (default: WORLD_SIZE, else 1)")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--dist-timeout", o.timeout_seconds,
                 "Data-parallel: seconds to wait for the rendezvous and each exchange; a rank that dies ends the others within it")
      ->check(positive());
  app.add_option("--dist-batchnorm", o.batchnorm,
                 "Data-parallel: BatchNorm statistics of the global batch (sync: N ranks train what 1 process would) or of each rank's share (local: fewer exchanges)")
      ->check(CLI::IsMember({"sync", "local"}));
}

int launch_local_ranks(int argc, char** argv, const DistributedOptions& o, int threads) {
  if (!o.dist_url.empty() || o.rank >= 0 || o.world_size > 0 || std::getenv("WORLD_SIZE"))
    throw bad_input("--nproc starts its own ranks: leave out --dist-url, --rank, --world-size and WORLD_SIZE");
  const int cores = static_cast<int>(std::max<long>(1, sysconf(_SC_NPROCESSORS_ONLN)));
  const int per_rank = threads > 0 ? threads : std::max(1, cores / o.nproc);
  const dist::StoreServer store(timeout_of(o));
  const std::vector<std::string> args = rank_arguments(argc, argv, per_rank);
  std::map<pid_t, int> running;  // pid -> rank
  for (int r = 0; r < o.nproc; ++r) {
    std::vector<std::string> env = base_environment();
    env.insert(env.end(), {"MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(store.port()), "RANK=" + std::to_string(r),
                           "LOCAL_RANK=" + std::to_string(r), "WORLD_SIZE=" + std::to_string(o.nproc),
                           "LOCAL_WORLD_SIZE=" + std::to_string(o.nproc), std::string(kLauncherStore) + "=1"});
    running[spawn_process(args, &env, r != 0 ? "/dev/null" : "", false)] = r;  // rank 0 speaks on stdout
  }
  spdlog::info("started {} ranks with {} thread{} each", o.nproc, per_rank, per_rank == 1 ? "" : "s");
  int first_failure = -1, rank0 = kOk;
  while (!running.empty()) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) break;
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const int rank = it->second;
    running.erase(it);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : int(kInternal);
    if (WIFSIGNALED(status)) spdlog::error("rank {} was killed by signal {} ({})", rank, WTERMSIG(status), strsignal(WTERMSIG(status)));
    if (rank == 0) rank0 = code;
    if (code != kOk && code != kGateFailed && first_failure < 0) {
      first_failure = code;
      // The others would only wait for it until --dist-timeout.
      for (const auto& [other, r] : running) kill(other, SIGTERM);
    }
  }
  return first_failure >= 0 ? first_failure : rank0;
}

void join_group(const DistributedOptions& o) {
  dist::GroupOptions g;
  g.timeout = timeout_of(o);
  g.sync_batch_norm = o.batchnorm == "sync";
  const std::optional<int> env_world = env_int("WORLD_SIZE"), env_rank = env_int("RANK");
  g.world_size = o.world_size > 0 ? o.world_size : env_world.value_or(1);
  if (g.world_size <= 1) {
    if (o.rank > 0) throw bad_input("--rank " + std::to_string(o.rank) + " needs --world-size (or WORLD_SIZE) above 1");
    return;
  }
  g.rank = o.rank >= 0 ? o.rank : env_rank.value_or(-1);
  if (g.rank < 0) throw bad_input("a data-parallel run of " + std::to_string(g.world_size) + " ranks needs --rank (or RANK)");
  if (!o.dist_url.empty()) {
    parse_url(o.dist_url, g);
  } else {
    const char* addr = std::getenv("MASTER_ADDR");
    const std::optional<int> port = env_int("MASTER_PORT");
    if (!addr || !*addr || !port) throw bad_input("a data-parallel run needs --dist-url tcp://HOST:PORT (or MASTER_ADDR and MASTER_PORT)");
    g.master_addr = addr;
    g.master_port = *port;
  }
  g.launcher_store = std::getenv(kLauncherStore) != nullptr;
  dist::init(g);
  if (g.rank != 0) {
    // Rank 0 speaks for the group: the others keep stdout (JSON, tables) empty and log problems only.
    if (!std::freopen("/dev/null", "w", stdout)) throw internal_error("cannot silence rank " + std::to_string(g.rank) + "'s stdout");
    global_options().quiet = true;
    spdlog::set_level(spdlog::level::warn);
  }
  spdlog::default_logger()->set_pattern("[rank " + std::to_string(g.rank) + "] %l: %v");
  if (g.rank == 0) spdlog::info("joined a data-parallel group of {} ranks at {}:{}", g.world_size, g.master_addr, g.master_port);
}

int agree_on_outcome(int exit_code) {
  if (!dist::active() || (exit_code != kOk && exit_code != kGateFailed)) return exit_code;
  return run_action([&] {
    std::vector<at::Tensor> done = {at::ones({1}, at::kDouble)};
    dist::all_reduce_sum(done);  // throws when a peer failed (and exited) or did not answer in time
    return exit_code;
  });
}

bool writes_outputs() { return dist::rank() == 0; }

}  // namespace nncompress::cli
