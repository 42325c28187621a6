#pragma once
// Numbers for people: "46.8 MB", "1.81 G", "11,689,512", "0.0123".
#include <cstdint>
#include <string>

namespace nncompress {

std::string human_bytes(uint64_t bytes);
std::string human_count(double value);
std::string with_commas(int64_t value);
// A name from a file, safe to print: control and non-ASCII bytes as \xNN, cut at 200 bytes.
std::string printable(const std::string& name);
// printf-style formatting into a std::string.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace nncompress
