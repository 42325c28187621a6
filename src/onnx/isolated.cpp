#include "isolated.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <exception>

namespace nncompress::onnxio {

namespace {

// The answer on the pipe: 'O' + bytes, or 'E' + the exception's message.
std::string answer(const std::function<std::string()>& work) {
  try {
    return "O" + work();
  } catch (const std::exception& e) {
    return std::string("E") + e.what();
  }
}

IsolatedResult decode(const std::string& message) {
  IsolatedResult r;
  if (message.empty()) r.crashed = true;
  else if (message[0] == 'O') r.bytes = message.substr(1);
  else r.error = message.substr(1);
  return r;
}

bool write_all(int fd, const std::string& data) {
  for (size_t done = 0; done < data.size();) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

IsolatedResult run_isolated(const std::function<std::string()>& work) {
  int fds[2];
  if (::pipe(fds) != 0) return decode(answer(work));
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return decode(answer(work));
  }
  if (pid == 0) {
    ::close(fds[0]);
    // _exit: no atexit handlers or static destructors of the parent's libraries in the child.
    ::_exit(write_all(fds[1], answer(work)) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string message;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    message.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) message.clear();
  return decode(message);
}

}  // namespace nncompress::onnxio
