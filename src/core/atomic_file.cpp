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

namespace {

CommitGroup* current_group = nullptr;

// Gives an unnamed file a name beside the target, then renames it over the target (linkat alone
// cannot replace an existing file): only this instant can leave a temporary behind. Closes `file`.
void put_in_place(std::FILE* file, std::string temp_path, const std::string& path) {
  if (temp_path.empty()) {
    static int counter = 0;
    temp_path = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    const std::string self = "/proc/self/fd/" + std::to_string(::fileno(file));
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, temp_path.c_str(), AT_SYMLINK_FOLLOW) != 0) {
      const int saved_errno = errno;
      std::fclose(file);
      throw bad_input("cannot write '" + path + "': " + std::strerror(saved_errno));
    }
  }
  std::fclose(file);
  if (std::rename(temp_path.c_str(), path.c_str()) != 0) {
    const int saved_errno = errno;
    ::unlink(temp_path.c_str());
    throw bad_input("cannot write '" + path + "': " + std::strerror(saved_errno));
  }
}

}  // namespace

void AtomicFile::commit() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0)
    throw bad_input("cannot write '" + path_ + "': " + std::strerror(errno));
  std::FILE* file = file_;
  file_ = nullptr;
  committed_ = true;  // from here the group or put_in_place owns the file
  if (current_group) current_group->ready_.push_back({file, temp_path_, path_});
  else put_in_place(file, temp_path_, path_);
}

CommitGroup::CommitGroup() { current_group = this; }

CommitGroup::~CommitGroup() {
  if (current_group == this) current_group = nullptr;
  for (const Ready& r : ready_) {
    std::fclose(r.file);
    if (!r.temp_path.empty()) ::unlink(r.temp_path.c_str());
  }
}

void CommitGroup::commit() {
  if (current_group == this) current_group = nullptr;
  std::vector<Ready> ready;
  ready.swap(ready_);
  for (size_t i = 0; i < ready.size(); ++i) {
    try {
      put_in_place(ready[i].file, ready[i].temp_path, ready[i].path);
    } catch (...) {
      ready_.assign(ready.begin() + static_cast<std::ptrdiff_t>(i) + 1, ready.end());  // the destructor drops the rest
      throw;
    }
  }
}

void create_output_folder(const std::string& folder) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw bad_input("cannot create the output folder '" + folder + "': " + ec.message());
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
