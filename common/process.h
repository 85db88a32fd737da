#pragma once
// The process's resident memory, from /proc/self/status (Linux; 0 elsewhere or when unreadable).

#include <cstdlib>
#include <fstream>
#include <string>

namespace adaflow {

/// A "VmRSS:"-style field of /proc/self/status, in bytes.
inline double ProcessStatusBytes(const char* field) {
  std::ifstream status("/proc/self/status");
  const std::string prefix = std::string(field) + ":";
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(prefix, 0) == 0) return std::strtod(line.c_str() + prefix.size(), nullptr) * 1024.0;
  return 0;
}

/// Resident set now.
inline double ResidentBytes() { return ProcessStatusBytes("VmRSS"); }
/// Peak resident set so far (the high-water mark, VmHWM).
inline double PeakResidentBytes() { return ProcessStatusBytes("VmHWM"); }

}  // namespace adaflow
