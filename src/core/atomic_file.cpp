#include "nncompress/core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "nncompress/core/error.h"
#include "nncompress/core/file_guard.h"

namespace nncompress {

namespace fs = std::filesystem;

namespace {

mode_t usual_mode() {
  // Outputs get the usual permissions (rw-r--r-- under a 022 umask), not mkstemp's 0600.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  return 0666 & ~mask;
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) throw bad_input("output path is empty");
  std::error_code ec;
  if (fs::is_directory(path_, ec)) throw bad_input("cannot write '" + path_ + "': it is a directory");
  claim_output(path_);
  // An unnamed file in the target's folder (O_TMPFILE): if the process dies before commit, even
  // by SIGKILL, nothing is left behind. Filesystems without O_TMPFILE get a named temporary,
  // removed on failure and by the destructor.
  const std::string folder = fs::path(path_).parent_path().empty() ? "." : fs::path(path_).parent_path().string();
  int fd = ::open(folder.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, usual_mode());
  if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
    throw bad_input("cannot write '" + path_ + "': " + std::strerror(errno));
  if (fd < 0) {
    std::vector<char> templ(path_.begin(), path_.end());
    const std::string suffix = ".tmp.XXXXXX";
    templ.insert(templ.end(), suffix.begin(), suffix.end());
    templ.push_back('\0');
    fd = ::mkstemp(templ.data());
    if (fd < 0) throw bad_input("cannot write '" + path_ + "': " + std::strerror(errno));
    temp_path_ = templ.data();
    ::fchmod(fd, usual_mode());
  }
  file_ = ::fdopen(fd, "wb");
  if (!file_) {
    ::close(fd);
    if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
    throw internal_error("cannot open a stream on the temporary file for '" + path_ + "'");
  }
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  if (size && std::fwrite(data, 1, size, file_) != size)
    throw bad_input("cannot write '" + path_ + "': " + std::strerror(errno));
  written_ += size;
}

void AtomicFile::commit() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0)
    throw bad_input("cannot write '" + path_ + "': " + std::strerror(errno));
  if (temp_path_.empty()) {
    // Give the unnamed file a name beside the target, then rename it over the target (linkat
    // alone cannot replace an existing file). Only this instant can leave a temporary behind.
    static int counter = 0;
    temp_path_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    const std::string self = "/proc/self/fd/" + std::to_string(::fileno(file_));
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, temp_path_.c_str(), AT_SYMLINK_FOLLOW) != 0) {
      const int saved_errno = errno;
      temp_path_.clear();
      throw bad_input("cannot write '" + path_ + "': " + std::strerror(saved_errno));
    }
  }
  std::fclose(file_);
  file_ = nullptr;
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0)
    throw bad_input("cannot write '" + path_ + "': " + std::strerror(errno));
  committed_ = true;
}

void check_output_path(const std::string& input, const std::string& output) {
  std::error_code ec;
  if (fs::exists(output, ec) && fs::equivalent(input, output, ec))
    throw bad_input("output '" + output + "' is the input file; choose another path (the input is never overwritten)");
  const fs::path parent = fs::path(output).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw bad_input("cannot write '" + output + "': directory '" + parent.string() + "' does not exist");
}

}  // namespace nncompress
