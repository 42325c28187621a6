#include "compress_batch.h"

#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "child_process.h"
#include "cli_common.h"
#include "nncompress/core/atomic_file.h"
#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"
#include "nncompress/pipeline/manifest.h"

namespace nncompress::cli {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Outcome {
  int exit_code = -1;
  double seconds = 0;
  std::string log;
};

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::vector<std::string> arguments(const pipeline::BatchEntry& e, int threads, uint64_t seed) {
  std::vector<std::string> a = {self_executable(), "--quiet", "--threads", std::to_string(threads),
                                "compress", e.model, "-o", e.output, "--report", e.report, "--seed", std::to_string(seed)};
  auto add = [&](const char* flag, const std::string& v) {
    if (!v.empty()) a.insert(a.end(), {flag, v});
  };
  add("--recipe", e.recipe);
  add("--data", e.data);
  add("--val", e.val);
  if (e.limit > 0) add("--limit", std::to_string(e.limit));
  if (e.max_accuracy_drop) add("--max-accuracy-drop", number_text(*e.max_accuracy_drop));
  if (e.min_size_ratio) add("--min-size-ratio", number_text(*e.min_size_ratio));
  a.insert(a.end(), e.extra_args.begin(), e.extra_args.end());
  return a;
}

std::string last_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

const char* status_of(int code) {
  switch (code) {
    case 0: return "ok";
    case 2: return "bad input";
    case 3: return "gate failed";
    default: return "internal failure";
  }
}

std::optional<nlohmann::json> read_report(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::string percent(const nlohmann::json& v) {
  if (!v.is_number()) return "—";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100 * v.get<double>());
  return buf;
}

}  // namespace

std::pair<int, int> parse_shard(const std::string& text) {
  const size_t slash = text.find('/');
  int index = -1, count = 0;
  try {
    size_t used_i = 0, used_n = 0;
    if (slash != std::string::npos) {
      index = std::stoi(text.substr(0, slash), &used_i);
      count = std::stoi(text.substr(slash + 1), &used_n);
    }
    if (used_i != slash || used_n != text.size() - slash - 1) index = -1;
  } catch (const std::exception&) {
    index = -1;
  }
  if (slash == std::string::npos || index < 0 || count < 1 || index >= count)
    throw bad_input("--shard '" + text + "' is not I/N with 0 <= I < N (e.g. 0/4 for the first of 4 machines)");
  return {index, count};
}

int run_compress_batch(const BatchOptions& o) {
  const std::vector<pipeline::BatchEntry> manifest = pipeline::load_manifest(o.manifest);
  // This shard's entries, round-robin so that neighbouring (often similar) models spread out;
  // outputs are checked over the whole manifest, so shards never collide.
  std::vector<pipeline::BatchEntry> entries;
  std::vector<size_t> entry_index;  // position in the manifest, for merging shards' summaries
  for (size_t i = static_cast<size_t>(o.shard_index); i < manifest.size(); i += static_cast<size_t>(o.shard_count)) {
    entries.push_back(manifest[i]);
    entry_index.push_back(i);
  }
  // No entry may write what any entry reads, or what another entry writes.
  for (const pipeline::BatchEntry& e : manifest) plan_outputs({e.model, e.data, e.val, e.recipe}, {});
  for (const pipeline::BatchEntry& e : manifest) {
    std::vector<std::string> outputs{e.output, e.report};
    for (const char* ext : {".md", ".html", ".log"})
      outputs.push_back(fs::path(e.report).replace_extension(ext).string());
    try {
      plan_outputs({}, outputs);
    } catch (const Error& err) {
      throw bad_input(o.manifest + ":" + std::to_string(e.line) + ": " + err.what());
    }
  }
  for (const pipeline::BatchEntry& e : entries) {
    const fs::path dir = fs::path(e.output).parent_path();
    if (!dir.empty()) create_output_folder(dir.string());
  }
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int jobs = std::max(1, std::min<int>(o.jobs, static_cast<int>(entries.size())));
  const int threads = o.threads > 0 ? o.threads : std::max(1, cores / jobs);

  std::vector<Outcome> outcomes(entries.size());
  std::map<pid_t, std::pair<size_t, Clock::time_point>> running;
  size_t next = 0, finished = 0;
  while (next < entries.size() || !running.empty()) {
    while (running.size() < static_cast<size_t>(jobs) && next < entries.size()) {
      outcomes[next].log = fs::path(entries[next].report).replace_extension(".log").string();
      running[spawn_process(arguments(entries[next], threads, o.seed), nullptr, outcomes[next].log, true)] = {next, Clock::now()};
      ++next;
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    auto it = running.find(pid);
    if (pid < 0 || it == running.end()) continue;
    const auto [index, started] = it->second;
    running.erase(it);
    Outcome& out = outcomes[index];
    out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : int(kInternal);
    out.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    spdlog::info("[{}/{}] {}: {} ({:.1f} s)", ++finished, entries.size(), entries[index].model, status_of(out.exit_code), out.seconds);
  }

  nlohmann::json rows = nlohmann::json::array();
  int exit_code = kOk;
  for (size_t i = 0; i < entries.size(); ++i) {
    const pipeline::BatchEntry& e = entries[i];
    const Outcome& out = outcomes[i];
    if (out.exit_code != 0 && exit_code == kOk) exit_code = out.exit_code;
    nlohmann::json row = {{"entry", entry_index[i]},  {"model", e.model},    {"output", e.output}, {"report", e.report},
                          {"log", out.log},         {"exit_code", out.exit_code}, {"status", status_of(out.exit_code)},
                          {"seconds", out.seconds}, {"top1_before", nullptr}, {"top1_after", nullptr},
                          {"size_ratio", nullptr},  {"message", out.exit_code == 0 ? "" : last_line(out.log)}};
    if (out.exit_code == 0 || out.exit_code == 3)
      if (const auto report = read_report(e.report)) {
        row["top1_before"] = (*report)["accuracy"]["top1_before"];
        row["top1_after"] = (*report)["accuracy"]["top1_after"];
        row["size_ratio"] = (*report)["sizes"]["size_ratio"];
      }
    rows.push_back(row);
  }
  if (o.json) {
    std::cout << nlohmann::json{{"manifest", o.manifest},
                                {"shard", std::to_string(o.shard_index) + "/" + std::to_string(o.shard_count)},
                                {"jobs", jobs},
                                {"models", rows}}
                     .dump(2)
              << std::endl;
    return exit_code;
  }
  std::printf("| # | model | status | top-1 before | top-1 after | size ratio | seconds | details |\n");
  std::printf("|---:|---|---|---:|---:|---:|---:|---|\n");
  for (size_t i = 0; i < rows.size(); ++i) {
    const nlohmann::json& r = rows[i];
    char ratio[32] = "—";
    if (r["size_ratio"].is_number()) std::snprintf(ratio, sizeof ratio, "%.2fx", r["size_ratio"].get<double>());
    const std::string details = r["message"].get<std::string>().empty() ? r["report"].get<std::string>() : r["message"].get<std::string>();
    std::printf("| %zu | %s | %s | %s | %s | %s | %.1f | %s |\n", entry_index[i] + 1, r["model"].get<std::string>().c_str(),
                r["status"].get<std::string>().c_str(), percent(r["top1_before"]).c_str(), percent(r["top1_after"]).c_str(),
                ratio, r["seconds"].get<double>(), details.c_str());
  }
  return exit_code;
}

}  // namespace nncompress::cli
