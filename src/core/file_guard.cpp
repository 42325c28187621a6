#include "nncompress/core/file_guard.h"

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <utility>

#include "nncompress/core/error.h"

namespace nncompress {

namespace fs = std::filesystem;

namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, std::string> inputs;  // canonical path -> as given
  struct Output {
    std::string given;
    bool written = false;
  };
  std::map<std::string, Output> outputs;
  std::map<std::pair<dev_t, ino_t>, std::string> input_files;  // hard links share an inode
};

Registry& registry() {
  static Registry r;
  return r;
}

std::string canonical(const std::string& path) {
  std::error_code ec;
  const fs::path p = fs::weakly_canonical(path, ec);
  return ec ? fs::absolute(path, ec).lexically_normal().string() : p.string();
}

// Checks `path` against the inputs and the outputs so far and records it; `planned` reserves it
// for one later write.
void claim(Registry& r, const std::string& path, bool planned) {
  const std::string key = canonical(path);
  if (auto it = r.inputs.find(key); it != r.inputs.end())
    throw bad_input("output '" + path + "' is an input of this command ('" + it->second +
                    "'); choose another path (inputs are never overwritten)");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (auto it = r.input_files.find({st.st_dev, st.st_ino}); it != r.input_files.end())
      throw bad_input("output '" + path + "' is the same file as the input '" + it->second +
                      "' (a link); choose another path (inputs are never overwritten)");
    if (!S_ISREG(st.st_mode)) throw bad_input("output '" + path + "' exists and is not a regular file");
  }
  auto it = r.outputs.find(key);
  if (it != r.outputs.end() && (planned || it->second.written))
    throw bad_input("outputs '" + it->second.given + "' and '" + path + "' are the same file; give them different paths");
  if (it == r.outputs.end()) it = r.outputs.emplace(key, Registry::Output{path, false}).first;
  it->second.written = !planned;
}

}  // namespace

void note_input(const std::string& path) {
  Registry& r = registry();
  const std::lock_guard<std::mutex> lock(r.mutex);
  r.inputs.emplace(canonical(path), path);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) r.input_files.emplace(std::make_pair(st.st_dev, st.st_ino), path);
}

void plan_outputs(const std::vector<std::string>& inputs, const std::vector<std::string>& outputs) {
  for (const std::string& in : inputs)
    if (!in.empty()) note_input(in);
  Registry& r = registry();
  const std::lock_guard<std::mutex> lock(r.mutex);
  for (const std::string& out : outputs)
    if (!out.empty()) claim(r, out, true);
}

void claim_output(const std::string& path) {
  Registry& r = registry();
  const std::lock_guard<std::mutex> lock(r.mutex);
  claim(r, path, false);
}

void reset_file_guard() {
  Registry& r = registry();
  const std::lock_guard<std::mutex> lock(r.mutex);
  r.inputs.clear();
  r.outputs.clear();
  r.input_files.clear();
}

}  // namespace nncompress
