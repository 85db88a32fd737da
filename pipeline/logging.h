#pragma once
// Logging: one named spdlog logger per stage, all writing to the same sinks — stderr and, during a
// run, log.txt in the run directory.

#include <spdlog/logger.h>

#include <memory>
#include <string>

namespace adaflow {

/// Sets the console level (default info). Call once at start; safe to call again.
void SetConsoleLogLevel(spdlog::level::level_enum level);

/// Adds `path` (appended to, so a resumed run keeps its history) as a sink of every logger made
/// from now on; "" removes it.
void SetLogFile(const std::string& path);

/// A logger named `name` writing to the current sinks.
std::shared_ptr<spdlog::logger> MakeLogger(const std::string& name);

}  // namespace adaflow
