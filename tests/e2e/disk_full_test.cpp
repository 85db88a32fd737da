// A run on a disk too small for it stops with exit 2 and a message that names the file and says the disk
// is full, wherever the space runs out (before the cache, inside its HDF5 writes, a layer's files, the
// report, the exported model); once space is freed the same command finishes with the results of a run
// that never ran short. The disk is a tmpfs of a chosen size (mounting needs root: skipped otherwise).

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

namespace fs = std::filesystem;

const std::string kRun = "run tests/configs/export_small.yaml --set stages.adaround.num_iterations=50 --run-dir ";

/// A tmpfs of `kib` KiB at `dir`, unmounted when it goes.
class SmallDisk {
 public:
  SmallDisk(const std::string& dir, std::int64_t kib) : dir_(dir) {
    fs::create_directories(dir);
    mounted_ = RunCommand("mount -t tmpfs -o size=" + std::to_string(kib) + "k tmpfs '" + dir + "'").exit_code == 0;
  }
  ~SmallDisk() {
    if (mounted_) RunCommand("umount '" + dir_ + "'");
  }
  bool mounted() const { return mounted_; }
  bool Grow(std::int64_t kib) const {
    return RunCommand("mount -o remount,size=" + std::to_string(kib) + "k '" + dir_ + "'").exit_code == 0;
  }

 private:
  std::string dir_;
  bool mounted_ = false;
};

/// What a finished run computed: its encodings, exported model, layer weights and reported accuracies.
std::map<std::string, std::string> Results(const std::string& run_dir) {
  std::map<std::string, std::string> results;
  for (const char* file : {"export_small_adaround.encodings", "export_small.encodings", "export_small_v1.0.0.encodings",
                           "activation_encodings.json", "model_adaround.pt"})
    results[file] = ReadTextFile(run_dir + "/" + file);
  for (const auto& entry : fs::directory_iterator(run_dir + "/adaround"))
    if (entry.path().extension() == ".weight") results[entry.path().filename().string()] = ReadTextFile(entry.path());
  results["accuracy"] = nlohmann::json::parse(ReadTextFile(run_dir + "/report.json")).at("accuracy").dump();
  return results;
}

std::int64_t DirectoryKib(const std::string& dir) {
  std::int64_t bytes = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) bytes += static_cast<std::int64_t>(entry.file_size());
  return bytes / 1024;
}

TEST(DiskFullTest, EveryShortDiskIsExitTwoNamingTheFileAndTheRunResumesIdentical) {
  TempDir dir;
  {
    SmallDisk probe(dir / "probe", 64);
    if (!probe.mounted()) GTEST_SKIP() << "mounting a tmpfs needs root";
  }
  const CommandResult reference = RunCli(kRun + (dir / "reference"));
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  const auto expected = Results(dir / "reference");
  const std::int64_t total = DirectoryKib(dir / "reference");
  const std::int64_t cache = static_cast<std::int64_t>(fs::file_size(dir / "reference/activations.h5")) / 1024;

  // Too small for the cache (refused before any work), then sizes around the whole run's, which run out
  // inside the cache's writes, the layers' files, the report and the export.
  std::vector<std::int64_t> sizes = {64, cache / 8};
  for (std::int64_t kib = total - 800; kib <= total + 200; kib += 100) sizes.push_back(kib);
  std::set<std::string> stages_short;
  int resumed = 0;
  for (const std::int64_t kib : sizes) {
    SCOPED_TRACE("disk of " + std::to_string(kib) + " KiB");
    const std::string disk_dir = dir / ("disk" + std::to_string(kib)), run_dir = disk_dir + "/run";
    SmallDisk disk(disk_dir, kib);
    ASSERT_TRUE(disk.mounted());
    const CommandResult short_run = RunCli(kRun + run_dir);
    if (short_run.exit_code == 0) continue;  // enough room after all
    ASSERT_EQ(short_run.exit_code, 2) << short_run.output;
    const std::string error = short_run.output.substr(short_run.output.rfind("adaflow: error: "));
    EXPECT_NE(error.find("disk full"), std::string::npos) << error;
    EXPECT_NE(error.find(run_dir + "/"), std::string::npos) << "names the file: " << error;
    EXPECT_NE(error.find("run the same command again"), std::string::npos) << error;
    stages_short.insert(error.substr(error.find('\'') + 1, error.find('\'', error.find('\'') + 1) - error.find('\'') - 1));
    // Space freed: the same command resumes and ends with the reference's results.
    ASSERT_TRUE(disk.Grow(total + 65536));
    const CommandResult again = RunCli(kRun + run_dir);
    ASSERT_EQ(again.exit_code, 0) << again.output;
    EXPECT_EQ(Results(run_dir), expected);
    ++resumed;
  }
  std::string seen;
  for (const auto& stage : stages_short) seen += " " + stage;
  std::printf("%d short runs resumed; stages that ran short:%s\n", resumed, seen.c_str());
  EXPECT_GE(resumed, 6);
  EXPECT_TRUE(stages_short.count("cache")) << seen;
  EXPECT_TRUE(stages_short.count("export")) << seen;
  bool layer = false;
  for (const auto& stage : stages_short) layer = layer || stage.rfind("adaround/", 0) == 0;
  EXPECT_TRUE(layer) << "a layer's files: " << seen;
}

}  // namespace
}  // namespace adaflow::testing
