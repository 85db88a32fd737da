// The manifest reader, through the run store's own open: the input is manifest.json (and, when its
// first byte is odd, manifest.json.prev too) of an otherwise empty run directory. Then every node is
// verified, and, when every recorded file lies inside the run directory, the store is cleared as
// `--fresh` would. A recorded path that leaves the run directory is a finding: `--fresh` deletes what
// the manifest records.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "common/error.h"
#include "fuzz/fuzz_support.h"
#include "pipeline/run_store.h"

namespace {

bool InsideRunDir(const std::string& path) {
  const std::filesystem::path relative(path);
  if (relative.empty() || relative.is_absolute()) return false;
  for (const auto& part : relative)
    if (part == "..") return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string dir = adaflow::fuzz::ScratchDir() + "/run";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  adaflow::fuzz::WriteBytes(dir + "/manifest.json", data, size);
  if (size > 0 && (data[0] & 1)) adaflow::fuzz::WriteBytes(dir + "/manifest.json.prev", data, size);
  try {
    adaflow::RunStore store(dir);
    bool inside = true;
    for (const auto& id : store.NodeIds()) {
      const auto entry = store.Find(id);
      if (!entry) std::abort();
      (void)store.IsDone(id, entry->key);
      for (const auto& file : entry->files) {
        if (!InsideRunDir(file.path)) {
          std::cerr << "manifest_fuzzer: node '" << id << "' records '" << file.path
                    << "', outside the run directory\n";
          inside = false;
        }
      }
    }
    if (!inside) std::abort();
    store.Clear();
  } catch (const adaflow::InputError&) {
  }
  return 0;
}
