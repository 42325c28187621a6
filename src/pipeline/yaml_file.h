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

}  // namespace nncompress::pipeline
