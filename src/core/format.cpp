#include "nncompress/core/format.h"

#include <cstdarg>
#include <cstdio>
#include <vector>

namespace nncompress {

namespace {

// value scaled by powers of 1000 with the matching unit.
std::string scaled(double value, const char* const units[5], const char* plain, const char* fraction) {
  int u = 0;
  while (value >= 1000.0 && u < 4) {
    value /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? plain : fraction, value, units[u]);
  return buf;
}

}  // namespace

std::string human_bytes(uint64_t bytes) {
  static const char* const units[] = {"B", "kB", "MB", "GB", "TB"};
  return scaled(static_cast<double>(bytes), units, "%.0f %s", "%.2f %s");
}

std::string human_count(double value) {
  static const char* const units[] = {"", "k", "M", "G", "T"};
  return scaled(value, units, "%.0f%s", "%.3f %s");
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

std::string format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list again;
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, args);
  va_end(args);
  std::vector<char> buf(static_cast<size_t>(n > 0 ? n : 0) + 1);
  std::vsnprintf(buf.data(), buf.size(), fmt, again);
  va_end(again);
  return std::string(buf.data(), static_cast<size_t>(n > 0 ? n : 0));
}

std::string printable(const std::string& name) {
  constexpr size_t kMax = 200;
  std::string out;
  for (size_t i = 0; i < name.size() && out.size() < kMax; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else out += format("\\x%02x", c);
  }
  if (out.size() >= kMax) out += "...";
  return out;
}

}  // namespace nncompress
