#pragma once
// Reading a YAML file with errors users can act on (private to the pipeline library).
#include <yaml-cpp/yaml.h>

#include <string>

#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"

namespace nncompress::pipeline {

// The parsed file; bad_input "cannot read <what> 'path'" or "path:line: not valid YAML: ...".
inline YAML::Node load_yaml_file(const std::string& path, const std::string& what) {
  note_input(path);
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw bad_input("cannot read " + what + " '" + path + "'");
  } catch (const YAML::Exception& e) {
    throw bad_input(path + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
}

// Runs `read` over a parsed file, turning yaml-cpp's type errors (a list or a map where a single
// value belongs) into "path:line: ..." bad_input errors instead of internal ones.
template <typename Read>
auto with_yaml_errors(const std::string& path, Read&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const YAML::Exception& e) {
    const std::string why = e.msg == YAML::ErrorMsg::BAD_CONVERSION ? "a list or map where a single value belongs" : e.msg;
    throw bad_input(path + ":" + std::to_string(e.mark.line + 1) + ": " + why);
  }
}

}  // namespace nncompress::pipeline
