#pragma once
// Shared by the fuzz targets: a scratch directory per process and whole-file writes.
//
// Every target defines LLVMFuzzerTestOneInput. It must return normally for every input: a clear
// InputError (what a user sees as exit 2) is a pass; a crash, a sanitizer report or any other
// exception escaping is a finding. Built with clang and -DADAFLOW_FUZZ=ON, libFuzzer drives them
// (scripts/fuzz.sh); in every other build replay_main.cpp replays the files named on its command line,
// which is how the corpus and each finding's regression file run in the test suite.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace adaflow::fuzz {

/// A directory of this process's own under /dev/shm (or the temp dir), created once.
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    auto path = base / ("adaflow-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
    return path.string();
  }();
  return dir;
}

inline void WriteBytes(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace adaflow::fuzz
