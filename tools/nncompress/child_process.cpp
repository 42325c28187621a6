#include "child_process.h"

#include <fcntl.h>
#include <spawn.h>

#include <cstring>
#include <filesystem>

#include "nncompress/core/error.h"

extern char** environ;

namespace nncompress::cli {

namespace {

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string self_executable() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

pid_t spawn_process(const std::vector<std::string>& args, const std::vector<std::string>* env,
                    const std::string& stdout_path, bool with_stderr) {
  std::vector<char*> argv = c_strings(args), envp;
  if (env) envp = c_strings(*env);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!stdout_path.empty()) posix_spawn_file_actions_addopen(&actions, 1, stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (with_stderr) posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), env ? envp.data() : environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) throw internal_error("cannot start " + args[0] + ": " + std::strerror(err));
  return pid;
}

}  // namespace nncompress::cli
