// Without libFuzzer: runs each file named on the command line (or every file in a directory named on
// it) through the target once, in sorted order, and prints how many ran. A crash or an escaping
// exception fails the run, naming the file.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  std::set<std::filesystem::path> files;
  for (int arg = 1; arg < argc; ++arg) {
    const std::filesystem::path path = argv[arg];
    if (std::filesystem::is_directory(path)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(path))
        if (entry.is_regular_file()) files.insert(entry.path());
    } else if (std::filesystem::is_regular_file(path)) {
      files.insert(path);
    } else {
      std::cerr << "replay: '" << path.string() << "' is neither a file nor a directory\n";
      return 2;
    }
  }
  if (files.empty()) {
    std::cerr << "replay: no input files\n";
    return 2;
  }
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    try {
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& error) {
      std::cerr << "replay: '" << path.string() << "' let an exception escape: " << error.what() << "\n";
      return 1;
    }
  }
  std::cout << "replay: " << files.size() << " inputs ran cleanly\n";
  return 0;
}
