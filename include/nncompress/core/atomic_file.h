#pragma once
// Writes a file atomically: data goes to an unnamed temporary file beside the target (O_TMPFILE;
// a named one where the filesystem lacks it), which replaces the target only on commit(). An
// uncommitted AtomicFile leaves nothing behind, even when the process is killed.
#include <cstdio>
#include <string>
#include <vector>

namespace nncompress {

class AtomicFile {
 public:
  // Throws bad_input when the directory of `path` cannot be written.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write(const std::string& data) { write(data.data(), data.size()); }
  size_t bytes_written() const { return written_; }
  // Flushes, syncs and renames onto the target path; inside a CommitGroup the rename waits for
  // the group's commit.
  void commit();

 private:
  std::string path_;
  std::string temp_path_;  // named temporary (empty while the file is unnamed)
  std::FILE* file_ = nullptr;
  size_t written_ = 0;
  bool committed_ = false;
};

// A command's outputs, all or none: while a CommitGroup lives, AtomicFile::commit() only syncs
// the data and hands the file to the group; the group renames every file into place in commit().
// A group destroyed without commit (the command failed) leaves none of its files behind.
class CommitGroup {
 public:
  CommitGroup();  // becomes the current group (groups do not nest)
  ~CommitGroup();
  CommitGroup(const CommitGroup&) = delete;
  CommitGroup& operator=(const CommitGroup&) = delete;
  void commit();

 private:
  friend class AtomicFile;
  struct Ready {
    std::FILE* file;
    std::string temp_path;  // named temporary, or empty for an unnamed (O_TMPFILE) file
    std::string path;
  };
  std::vector<Ready> ready_;
};

// Creates `folder` and its parents for outputs; bad_input naming it when a part is a file or the
// folder cannot be made.
void create_output_folder(const std::string& folder);

// Checked before any work: throws bad_input when `output` names the same file as `input` (we never
// overwrite the input) or when its directory does not exist.
void check_output_path(const std::string& input, const std::string& output);

}  // namespace nncompress
