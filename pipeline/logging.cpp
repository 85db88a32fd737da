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

namespace {

std::shared_ptr<spdlog::logger> MakeWithSinks(const std::string& name, std::vector<std::shared_ptr<spdlog::sinks::sink>> list) {
  auto logger = std::make_shared<spdlog::logger>(name, list.begin(), list.end());
  logger->set_level(spdlog::level::debug);
  logger->flush_on(spdlog::level::info);
  return logger;
}

}  // namespace

RunLog::RunLog(const std::string& path) {
  file_ = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  file_->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %v");
  file_->set_level(spdlog::level::debug);
}

RunLog::~RunLog() { file_->flush(); }

std::shared_ptr<spdlog::logger> RunLog::Make(const std::string& name) const {
  Sinks& sinks = GetSinks();
  std::lock_guard<std::mutex> lock(sinks.mutex);
  return MakeWithSinks(name, {Console(sinks), file_});
}

}  // namespace adaflow
