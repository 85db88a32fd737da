#pragma once
// A full disk as an error the user can act on: the file that could not be written, the space left,
// and that the same command resumes once space is freed (finished work is kept; files are written
// under temporary names and renamed when complete).

#include <sys/statvfs.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/error.h"

namespace adaflow {

/// Thrown when a write fails for want of space (exit 2: the user can fix it).
class DiskFull : public InputError {
 public:
  using InputError::InputError;
};

/// Bytes free to an unprivileged writer on the filesystem holding `path` (or its nearest existing
/// parent); -1 when unknown.
inline std::int64_t FreeBytes(const std::string& path) {
  std::filesystem::path at = std::filesystem::absolute(path);
  std::error_code ec;
  while (!at.empty() && !std::filesystem::exists(at, ec) && at != at.parent_path()) at = at.parent_path();
  struct statvfs info {};
  if (::statvfs(at.c_str(), &info) != 0) return -1;
  return static_cast<std::int64_t>(info.f_bavail) * static_cast<std::int64_t>(info.f_frsize);
}

/// Whether a failed write of `path` is explained by a full disk: the error number says so, or, when
/// there is none (0: a library that keeps no errno), under 1 MiB is left where the file goes.
inline bool OutOfSpace(const std::string& path, int error_number) {
  if (error_number == ENOSPC || error_number == EDQUOT) return true;
  if (error_number != 0) return false;
  const std::int64_t free = FreeBytes(path);
  return free >= 0 && free < (std::int64_t{1} << 20);
}

inline DiskFull DiskFullError(const std::string& path) {
  const std::int64_t free = FreeBytes(path);
  return DiskFull("disk full: cannot write '" + path + "'" +
                  (free >= 0 ? " (" + std::to_string(free / 1024) + " KiB free)" : std::string()) +
                  "; free some space and run the same command again: finished work is kept and the run resumes");
}

/// Throws DiskFull when the failed write of `path` is a full disk, else std::runtime_error with `what`.
[[noreturn]] inline void ThrowWriteError(const std::string& path, int error_number, const std::string& what) {
  if (OutOfSpace(path, error_number)) throw DiskFullError(path);
  throw std::runtime_error(what + (error_number != 0 ? std::string(": ") + std::strerror(error_number) : ""));
}

}  // namespace adaflow
