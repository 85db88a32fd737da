#include "pipeline/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>
#include <vector>

namespace adaflow {
namespace {

struct Sinks {
  std::mutex mutex;
  std::shared_ptr<spdlog::sinks::sink> console;
  std::shared_ptr<spdlog::sinks::sink> file;
};

Sinks& GetSinks() {
  static Sinks sinks;
  return sinks;
}

std::shared_ptr<spdlog::sinks::sink> Console(Sinks& sinks) {
  if (!sinks.console) {
    sinks.console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    sinks.console->set_pattern("%^[%H:%M:%S] [%n] %v%$");
    sinks.console->set_level(spdlog::level::info);
  }
  return sinks.console;
}

}  // namespace

void SetConsoleLogLevel(spdlog::level::level_enum level) {
  Sinks& sinks = GetSinks();
  std::lock_guard<std::mutex> lock(sinks.mutex);
  Console(sinks)->set_level(level);
}

void SetLogFile(const std::string& path) {
  Sinks& sinks = GetSinks();
  std::lock_guard<std::mutex> lock(sinks.mutex);
  if (path.empty()) {
    if (sinks.file) sinks.file->flush();
    sinks.file.reset();
    return;
  }
  sinks.file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  sinks.file->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %v");
  sinks.file->set_level(spdlog::level::debug);
}

std::shared_ptr<spdlog::logger> MakeLogger(const std::string& name) {
  Sinks& sinks = GetSinks();
  std::lock_guard<std::mutex> lock(sinks.mutex);
  std::vector<std::shared_ptr<spdlog::sinks::sink>> list{Console(sinks)};
  if (sinks.file) list.push_back(sinks.file);
  auto logger = std::make_shared<spdlog::logger>(name, list.begin(), list.end());
  logger->set_level(spdlog::level::debug);
  logger->flush_on(spdlog::level::info);
  return logger;
}

}  // namespace adaflow
