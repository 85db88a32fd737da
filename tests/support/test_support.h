#pragma once
// Helpers shared by the test suites: a temporary directory, running the real CLI, small files.

#include <string>

namespace adaflow::testing {

/// A fresh directory under /tmp, removed with everything in it at the end of the scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr together
};

/// Runs `command` through /bin/sh in the source directory.
CommandResult RunCommand(const std::string& command);

/// Runs the built adaflow binary with `args` (already shell-quoted where needed).
CommandResult RunCli(const std::string& args);

void WriteTextFile(const std::string& path, const std::string& text);
std::string ReadTextFile(const std::string& path);

/// Absolute path of a file in the source tree.
std::string SourcePath(const std::string& relative);

/// The message of the exception of type E that `body` throws; "" when it throws nothing (another type
/// propagates).
template <typename E, typename F>
std::string ErrorMessage(F&& body) {
  try {
    body();
  } catch (const E& error) {
    return error.what();
  }
  return "";
}

}  // namespace adaflow::testing
