#include "common/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "common/error.h"

namespace slimfit {
namespace fs = std::filesystem;

void check_output_path(const std::string& path, const std::string& what) {
  SLIMFIT_CHECK(!path.empty(), what, ": the path is empty");
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  SLIMFIT_CHECK(fs::is_directory(dir, ec), what, path, ": the directory ", dir.string(),
                " does not exist; create it first");
  SLIMFIT_CHECK(::access(dir.c_str(), W_OK | X_OK) == 0, what, path, ": the directory ",
                dir.string(), " is not writable (", std::strerror(errno), ")");
  const fs::file_status status = fs::symlink_status(target, ec);
  if (!fs::exists(status)) return;
  const fs::file_status followed = fs::status(target, ec);  // a link to a regular file is fine
  SLIMFIT_CHECK(fs::is_regular_file(followed), what, path,
                " exists and is not a regular file (a directory, device or FIFO); slimfit "
                "replaces only regular files");
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  SLIMFIT_CHECK(f, "cannot create ", tmp, ": ", std::strerror(errno));
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size() &&
                       std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const int write_errno = errno;
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed) {
    std::remove(tmp.c_str());
    throw Error(str_cat("writing ", path, " failed: ",
                        std::strerror(written ? errno : write_errno),
                        "; the previous file, if any, is unchanged"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int rename_errno = errno;
    std::remove(tmp.c_str());
    throw Error(str_cat("cannot rename ", tmp, " to ", path, ": ", std::strerror(rename_errno)));
  }
}

FileLock::FileLock(const std::string& path, const std::string& what) : lock_path_(path + ".lock") {
  fd_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  SLIMFIT_CHECK(fd_ >= 0, what, path, ": cannot create the lock file ", lock_path_, ": ",
                std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    SLIMFIT_CHECK(err != EWOULDBLOCK, what, path, " is in use by another run (", lock_path_,
                  " is locked); give each run its own checkpoint path");
    throw Error(str_cat(what, path, ": cannot lock ", lock_path_, ": ", std::strerror(err)));
  }
}

FileLock::FileLock(FileLock&& other) noexcept
    : lock_path_(std::move(other.lock_path_)), fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    release();
    lock_path_ = std::move(other.lock_path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FileLock::~FileLock() { release(); }

void FileLock::release() {
  if (fd_ < 0) return;
  ::unlink(lock_path_.c_str());  // while still held: no other run can be holding it
  ::close(fd_);
  fd_ = -1;
}

}  // namespace slimfit
