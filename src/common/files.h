// Output files: checked before any work, written so that a failure never leaves a torn file.
#pragma once

#include <string>

namespace slimfit {

// Throws slimfit::Error, naming `what` (e.g. "checkpoint=") and the path, unless `path` can be
// written: its directory exists and is writable, and the path is absent or a regular file (a
// device node, a directory or a FIFO is refused, so a run never replaces one).
void check_output_path(const std::string& path, const std::string& what);

// Writes `text` to a temporary file next to `path`, flushes it to disk and renames it over
// `path`. Every step is checked: a full disk or a failed write is an error naming the path,
// and the previous file, if any, is left as it was.
void write_file_atomically(const std::string& path, const std::string& text);

// An exclusive lock on `path` + ".lock" (flock), held for the object's lifetime, so that two
// runs cannot write one checkpoint. Throws slimfit::Error when another process holds it. The
// lock file is removed when the lock is released.
class FileLock {
 public:
  FileLock() = default;
  FileLock(const std::string& path, const std::string& what);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  void release();
  std::string lock_path_;
  int fd_ = -1;
};

}  // namespace slimfit
