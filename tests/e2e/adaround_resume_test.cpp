// AdaRound through the CLI: a run killed with SIGKILL after some layers finished resumes with only
// the unfinished layers and ends byte-identical to an uninterrupted run; identical runs are
// byte-identical; fp mode gives the same result with 1 and 2 threads.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>
#include <thread>

#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

const char* kConfig = "tests/configs/adaround_small.yaml";
const char* kEncodings = "adaround_small_adaround.encodings";

int FinishedLayers(const std::string& run_dir) {
  std::string text;
  try {
    text = ReadTextFile(run_dir + "/manifest.json");
  } catch (const std::exception&) {
    return 0;
  }
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.contains("nodes")) return 0;
  int count = 0;
  for (const auto& [id, node] : json.at("nodes").items()) count += id.rfind("adaround/", 0) == 0 ? 1 : 0;
  return count;
}

int OptimizedLayers(const std::string& output) {
  const std::regex line(R"(: W\d+, \d+ iterations, (sampled|gram), MSE)");
  return static_cast<int>(std::distance(std::sregex_iterator(output.begin(), output.end(), line), std::sregex_iterator()));
}

/// Runs `adaflow run <config> --run-dir <run_dir>` in a child process (its output to the file `output`),
/// sends it `signal` once `layers` AdaRound layers are recorded as finished (or after 5 minutes), and
/// returns its wait status.
int RunAndSignalAfterLayers(const std::string& config, const std::string& run_dir, const std::string& output,
                            int layers, int signal) {
  const pid_t child = fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) {
    if (chdir(ADAFLOW_SOURCE_DIR) != 0) _exit(127);
    const int out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(out, 2);
    execl(ADAFLOW_CLI, ADAFLOW_CLI, "run", config.c_str(), "--run-dir", run_dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (FinishedLayers(run_dir) < layers && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ::kill(child, signal);
  int status = 0;
  ::waitpid(child, &status, 0);
  return status;
}

TEST(AdaroundResumeTest, KilledRunResumesWithTheUnfinishedLayersOnlyAndEndsIdentical) {
  TempDir dir;
  const CommandResult reference = RunCli(std::string("run ") + kConfig + " --run-dir " + (dir / "reference"));
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  EXPECT_EQ(OptimizedLayers(reference.output), 10) << reference.output;

  // Start a run, SIGKILL it once at least two layers are recorded as finished.
  const std::string killed_dir = dir / "killed";
  const int status = RunAndSignalAfterLayers(kConfig, killed_dir, "/dev/null", 2, SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";
  const int finished_before = FinishedLayers(killed_dir);
  ASSERT_GE(finished_before, 2);
  ASSERT_LT(finished_before, 10);

  const CommandResult resumed = RunCli(std::string("run ") + kConfig + " --run-dir " + killed_dir);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(OptimizedLayers(resumed.output), 10 - finished_before) << resumed.output;
  EXPECT_EQ(ReadTextFile(killed_dir + "/" + kEncodings), ReadTextFile(dir / ("reference/" + std::string(kEncodings))));
  EXPECT_EQ(ReadTextFile(killed_dir + "/adaround/layers.2.conv2.weight"),
            ReadTextFile(dir / "reference/adaround/layers.2.conv2.weight"));
  std::printf("killed after %d of 10 layers; the rerun optimized %d\n", finished_before, OptimizedLayers(resumed.output));

  // The sampled objective draws rows at random: streaming them from activations.h5 (a 1 MiB budget)
  // gives the same bytes as holding them in RAM.
  const std::string sampled = " --set stages.adaround.objective=sampled --set stages.adaround.num_iterations=100";
  const CommandResult in_ram = RunCli(std::string("run ") + kConfig + " --run-dir " + (dir / "in_ram") + sampled);
  ASSERT_EQ(in_ram.exit_code, 0) << in_ram.output;
  const CommandResult streamed = RunCli(std::string("run ") + kConfig + " --run-dir " + (dir / "streamed") + sampled +
                                        " --set stages.cache.memory_budget=1");
  ASSERT_EQ(streamed.exit_code, 0) << streamed.output;
  EXPECT_NE(streamed.output.find("exceed memory_budget; streaming them"), std::string::npos) << streamed.output;
  EXPECT_EQ(ReadTextFile(dir / ("streamed/" + std::string(kEncodings))),
            ReadTextFile(dir / ("in_ram/" + std::string(kEncodings))));

  // A second identical run from scratch gives the same bytes.
  const CommandResult again = RunCli(std::string("run ") + kConfig + " --run-dir " + (dir / "again"));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(ReadTextFile(dir / ("again/" + std::string(kEncodings))),
            ReadTextFile(dir / ("reference/" + std::string(kEncodings))));
}

/// Sends `signal` to a run once a layer has finished: the run stops with exit 130, keeps the finished
/// layers, and the same command optimizes only the others.
void StopsWithExitCode130AndResumes(int signal) {
  TempDir dir;
  const std::string run_dir = dir / "run";
  const std::string log = dir / "output.txt";
  const int status = RunAndSignalAfterLayers("tests/configs/export_small.yaml", run_dir, log, 1, signal);
  ASSERT_TRUE(WIFEXITED(status));
  const std::string output = ReadTextFile(log);
  if (FinishedLayers(run_dir) == 10) GTEST_SKIP() << "the run finished AdaRound before it could be interrupted";
  EXPECT_EQ(WEXITSTATUS(status), 130) << output;
  EXPECT_NE(output.find("run the same command again to resume"), std::string::npos) << output;
  const int finished = FinishedLayers(run_dir);
  EXPECT_GE(finished, 1);
  const auto report = nlohmann::json::parse(ReadTextFile(run_dir + "/report.json"));
  EXPECT_EQ(report.at("stages")[3].at("id"), "adaround");
  EXPECT_EQ(report.at("stages")[3].at("outcome"), "interrupted") << report.dump(1);
  EXPECT_EQ(report.at("stages")[2].at("outcome"), "ran");

  const CommandResult resumed = RunCli("run tests/configs/export_small.yaml --run-dir " + run_dir);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(OptimizedLayers(resumed.output), 10 - finished) << resumed.output;
  std::printf("%s after %d of 10 layers: exit 130; the rerun optimized %d\n", strsignal(signal), finished,
              OptimizedLayers(resumed.output));
}

TEST(AdaroundResumeTest, CtrlCStopsWithExitCode130KeepsFinishedLayersAndTheReportSaysInterrupted) {
  StopsWithExitCode130AndResumes(SIGINT);
}

TEST(AdaroundResumeTest, SigtermStopsWithExitCode130KeepsFinishedLayersAndTheReportSaysInterrupted) {
  StopsWithExitCode130AndResumes(SIGTERM);
}



TEST(AdaroundResumeTest, FpModeGivesTheSameResultWithOneAndTwoThreads) {
  TempDir dir;
  for (const char* threads : {"1", "2"}) {
    const CommandResult result = RunCli(std::string("run ") + kConfig + " --run-dir " + (dir / threads) +
                                        " --threads " + threads + " --set stages.adaround.input_source=fp");
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }
  EXPECT_EQ(ReadTextFile(dir / (std::string("1/") + kEncodings)), ReadTextFile(dir / (std::string("2/") + kEncodings)));
  for (const char* layer : {"conv1", "layers.0.conv1", "layers.1.shortcut.0", "layers.2.conv2", "fc"})
    EXPECT_EQ(ReadTextFile(dir / (std::string("1/adaround/") + layer + ".weight")),
              ReadTextFile(dir / (std::string("2/adaround/") + layer + ".weight")))
        << layer;
}

TEST(AdaroundResumeTest, OverridesAndIgnoreAreApplied) {
  TempDir dir;
  const CommandResult result = RunCli(std::string("run ") + kConfig + " --run-dir " + (dir / "run") +
                                      " --set 'stages.adaround.ignore=[layers.0.conv1]'" +
                                      " --set 'stages.adaround.param_bw_override={fc: 8, conv1: 3}'" +
                                      " --set stages.adaround.num_iterations=50");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto json = nlohmann::json::parse(ReadTextFile(dir / ("run/" + std::string(kEncodings))));
  const auto& params = json.at("param_encodings");
  EXPECT_FALSE(params.contains("layers.0.conv1.weight"));
  EXPECT_EQ(params.at("conv1.weight")[0].at("bitwidth").get<int>(), 3);
  EXPECT_EQ(params.at("fc.weight")[0].at("bitwidth").get<int>(), 8);
  EXPECT_EQ(params.at("layers.2.conv2.weight")[0].at("bitwidth").get<int>(), 4);
  EXPECT_EQ(params.at("layers.2.conv2.weight")[0].at("is_symmetric").get<std::string>(), "True");
  EXPECT_EQ(params.size(), 9u);

  const CommandResult unknown = RunCli(std::string("run ") + kConfig + " --run-dir " + (dir / "bad") +
                                       " --set 'stages.adaround.ignore=[layers.0.conv3]'");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("'ignore' names 'layers.0.conv3', which is not a quantizable layer; did you mean "
                                "'layers.0.conv1'?"),
            std::string::npos)
      << unknown.output;
  // Checked as soon as prepare found the layers: the cache was never computed.
  EXPECT_NE(unknown.output.find("stage 'adaround': "), std::string::npos) << unknown.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "bad/activations.h5")) << unknown.output;
}

}  // namespace
}  // namespace adaflow::testing
