#pragma once
// Runs many small cases in forked children so that a crash, a sanitizer report or a hang in one
// case is seen and named, and no state a case leaves behind leaks past its child. Used by the
// mutation test and the option matrix (tests/integration/).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace nncompress::testing {

struct CaseResult {
  int32_t flags = 0;    // the caller's own bits (e.g. "every command exited 0")
  std::string problem;  // empty when the case is fine
};

// Runs check(k) for k in [0, count), up to `per_child` cases in each forked child (forking a
// process that holds LibTorch costs more than a small case), each case under alarm(timeout_s).
// Calls done(k, result) in the parent for every case; a case that ended its child gets the
// problem "signal N", "hang (over T s)" or "child exited N (a sanitizer report?)".
inline void run_forked_cases(int count, int per_child, unsigned timeout_s, const std::function<CaseResult(int)>& check,
                             const std::function<void(int, const CaseResult&)>& done) {
  struct Record {
    int32_t index;
    int32_t flags;
    char problem[1024];
  };
  int next = 0;
  while (next < count) {
    const int end = std::min(count, next + per_child);
    int fds[2];
    if (pipe(fds) != 0) {
      done(next, {0, "pipe() failed"});
      return;
    }
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      for (int k = next; k < end; ++k) {
        alarm(timeout_s);
        const CaseResult result = check(k);
        alarm(0);
        Record r{k, result.flags, {}};
        std::snprintf(r.problem, sizeof(r.problem), "%s", result.problem.c_str());
        if (write(fds[1], &r, sizeof(r)) != sizeof(r)) _exit(98);
      }
      _exit(0);
    }
    close(fds[1]);
    Record r;
    while (read(fds[0], &r, sizeof(r)) == sizeof(r)) {
      next = r.index + 1;
      done(r.index, {r.flags, r.problem});
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (next < end) {  // the child died in case `next`
      std::string what = WIFSIGNALED(status)
                             ? (WTERMSIG(status) == SIGALRM ? "hang (over " + std::to_string(timeout_s) + " s)"
                                                            : "signal " + std::to_string(WTERMSIG(status)))
                             : "child exited " + std::to_string(WEXITSTATUS(status)) + " (a sanitizer report?)";
      done(next, {0, what});
      ++next;
    }
  }
}

}  // namespace nncompress::testing
