#include "cli_common.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <new>

#include "nncompress/core/error.h"

namespace nncompress::cli {

void configure_logging(bool quiet, bool verbose) {
  auto logger = spdlog::stderr_logger_st("nncompress");
  logger->set_pattern("%l: %v");
  logger->set_level(quiet ? spdlog::level::warn : verbose ? spdlog::level::debug : spdlog::level::info);
  spdlog::set_default_logger(logger);
}

int run_action(const Action& action) {
  try {
    return action();
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
    return e.kind() == ErrorKind::BadInput ? kBadInput : kInternal;
  } catch (const std::bad_alloc&) {
    spdlog::error("out of memory");
    return kInternal;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    spdlog::error("internal error: {}", msg.substr(0, msg.find('\n')));
    return kInternal;
  }
}

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000.0 && u < 4) {
    v /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

std::string human_count(double value) {
  const char* units[] = {"", "k", "M", "G", "T"};
  int u = 0;
  while (value >= 1000.0 && u < 4) {
    value /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.3f %s", value, units[u]);
  return buf;
}

std::string with_commas(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

}  // namespace nncompress::cli
