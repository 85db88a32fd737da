#pragma once
// Logging: one named spdlog logger per stage, all writing to the same sinks — stderr and, during a
// run, log.txt in the run directory.

#include <spdlog/logger.h>
#include <spdlog/sinks/sink.h>

#include <memory>
#include <string>

namespace adaflow {

/// Sets the console level (default info). Call once at start; safe to call again.
void SetConsoleLogLevel(spdlog::level::level_enum level);

/// The loggers of one run: the console and the run's log file (appended to, so a resumed run keeps its
/// history). Two runs in one process write to their own files.
class RunLog {
 public:
  explicit RunLog(const std::string& path);
  ~RunLog();
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;
  std::shared_ptr<spdlog::logger> Make(const std::string& name) const;

 private:
  std::shared_ptr<spdlog::sinks::sink> file_;
};

}  // namespace adaflow
