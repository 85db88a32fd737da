// A run stopped anywhere resumes and ends with the results of a run never stopped:
// - the kill corpus: SIGKILL at ≥ 30 named points spread over whole runs (every stage, AdaRound with
//   quant and fp input; inside the cache's HDF5 writes, the layers' files, the manifest update, the
//   report rewrite and the export: common/kill_point.h), each followed by the same command;
// - a full disk: a run on a disk too small for it stops with exit 2 and a message that names the file
//   and says the disk is full, wherever the space runs out (before the cache, inside its HDF5 writes, a
//   layer's files, the report, the exported model); once space is freed the same command finishes. The
//   disk is a tmpfs of a chosen size (mounting needs root: skipped otherwise).

#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

namespace fs = std::filesystem;

const std::string kRun = "run tests/configs/export_small.yaml --set stages.adaround.num_iterations=50 --run-dir ";
// Shorter runs for the kill corpus (41 of them, each killed and resumed).
const std::string kShortRun =
    "run tests/configs/export_small.yaml --set stages.adaround.num_iterations=10 --set data.evaluation.num_samples=250"
    " --run-dir ";

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

/// The points a run reached, in order ("<name>#<k>", common/kill_point.h).
std::vector<std::string> PointsOf(const std::string& log) {
  std::vector<std::string> points;
  std::istringstream lines(ReadTextFile(log));
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) points.push_back(line);
  return points;
}

/// Runs `args` once to list its kill points, then kills a run at `count` of them spread evenly over
/// the whole run (and at every kind of point in `must`, its middle occurrence), resumes each, and checks
/// each resumed run against the uninterrupted one. Returns how many runs were killed.
int KillCorpus(const std::string& dir, const std::string& args, std::size_t count,
               const std::vector<std::string>& must) {
  const std::string log = dir + "/points.txt";
  const CommandResult reference = RunCommand("ADAFLOW_TEST_KILL_LOG='" + log + "' " + ADAFLOW_CLI + " " + kShortRun +
                                             dir + "/reference" + args);
  EXPECT_EQ(reference.exit_code, 0) << reference.output;
  if (reference.exit_code != 0) return 0;
  const auto expected = Results(dir + "/reference");
  const std::vector<std::string> points = PointsOf(log);
  if (points.empty()) {
    ADD_FAILURE() << "the run reached no kill point";
    return 0;
  }
  std::vector<std::string> chosen;
  auto choose = [&](const std::string& point) {
    if (std::find(chosen.begin(), chosen.end(), point) == chosen.end()) chosen.push_back(point);
  };
  for (std::size_t i = 0; i < count; ++i) choose(points[(2 * i + 1) * points.size() / (2 * count)]);
  for (const std::string& prefix : must) {
    std::vector<std::string> of_kind;
    for (const auto& point : points)
      if (point.rfind(prefix, 0) == 0) of_kind.push_back(point);
    EXPECT_FALSE(of_kind.empty()) << "no point " << prefix << "… in the run";
    if (!of_kind.empty()) choose(of_kind[of_kind.size() / 2]);
  }
  int killed = 0;
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    SCOPED_TRACE("killed at " + chosen[i]);
    const std::string run_dir = dir + "/killed" + std::to_string(i);
    const CommandResult first =
        RunCommand("ADAFLOW_TEST_KILL_AT='" + chosen[i] + "' " + ADAFLOW_CLI + " " + kShortRun + run_dir + args);
    if (first.exit_code == 0) continue;  // threads took another path: the point was not reached
    EXPECT_EQ(first.exit_code, 128 + SIGKILL) << first.output;
    ++killed;
    const CommandResult resumed = RunCli(kShortRun + run_dir + args);
    EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
    if (resumed.exit_code != 0) continue;
    EXPECT_EQ(Results(run_dir), expected);
    for (const auto& entry : fs::recursive_directory_iterator(run_dir))
      EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << "left over: " << entry.path();
  }
  std::string list;
  for (const auto& point : chosen) list += " " + point;
  std::printf("%zu points in the run; killed at %d of %zu chosen, each then resumed:%s\n", points.size(), killed,
              chosen.size(), list.c_str());
  return killed;
}

TEST(KillCorpusTest, KilledAnywhereTheRunResumesAndEndsByteIdentical) {
  TempDir dir;
  fs::create_directories(dir / "quant");
  fs::create_directories(dir / "fp");
  const int quant = KillCorpus(dir / "quant", "", 24,
                               {"stage:", "hdf5:activations.h5.partial#", "write:manifest.json#", "write:report.json#",
                                "write:adaround/", "optimize:", "write:model_adaround.pt#", "write:export_small.encodings#"});
  const int fp = KillCorpus(dir / "fp", " --set stages.adaround.input_source=fp", 8, {"optimize:"});
  EXPECT_GE(quant + fp, 30);
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
