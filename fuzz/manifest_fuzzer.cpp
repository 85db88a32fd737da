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

/// Whether `path`, taken relative to `dir`, names something below it (checked another way than the store
/// checks it: by normalizing the joined path).
bool Below(const std::string& dir, const std::string& path) {
  const auto joined = (std::filesystem::path(dir) / path).lexically_normal().string();
  const auto base = std::filesystem::path(dir).lexically_normal().string() + "/";
  return joined.size() > base.size() && joined.compare(0, base.size(), base) == 0;
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
        if (!Below(dir, file.path)) {
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
