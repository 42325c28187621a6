#include "nncompress/core/atomic_file.h"

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

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) throw bad_input("output path is empty");
  std::error_code ec;
  if (fs::is_directory(path_, ec)) throw bad_input("cannot write '" + path_ + "': it is a directory");
  claim_output(path_);
  std::vector<char> templ(path_.begin(), path_.end());
  const std::string suffix = ".tmp.XXXXXX";
  templ.insert(templ.end(), suffix.begin(), suffix.end());
  templ.push_back('\0');
  const int fd = ::mkstemp(templ.data());
  if (fd < 0) throw bad_input("cannot write '" + path_ + "': " + std::strerror(errno));
  temp_path_ = templ.data();
  file_ = ::fdopen(fd, "wb");
  if (!file_) {
    ::close(fd);
    ::unlink(temp_path_.c_str());
    throw internal_error("cannot open a stream on '" + temp_path_ + "'");
  }
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  if (size && std::fwrite(data, 1, size, file_) != size)
    throw bad_input("cannot write '" + path_ + "': " + std::strerror(errno));
  written_ += size;
}

void AtomicFile::commit() {
  const bool flushed = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  const int saved_errno = errno;
  std::fclose(file_);
  file_ = nullptr;
  if (!flushed) throw bad_input("cannot write '" + path_ + "': " + std::strerror(saved_errno));
  // mkstemp creates 0600; give the output the usual permissions (rw-r--r-- under a 022 umask).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::chmod(temp_path_.c_str(), 0666 & ~mask);
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
