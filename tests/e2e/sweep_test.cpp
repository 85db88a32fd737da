// Sweeps as a user runs them: the shipped sweep (configs/fmnist_resnet8_sweep.yaml, shortened) shares its
// first stages and runs every point; one point gives the bytes of the same config run without the sweep;
// `--point`, `adaflow compare`, a failing point and bad sweep entries.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <regex>

#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kSweep = "configs/fmnist_resnet8_sweep.yaml";
// 50 iterations, 128 calibration and 500 evaluation samples: the 16 points in about a minute on 2 cores.
const std::string kShort =
    " --set stages.adaround.num_iterations=50 --set data.calibration.num_samples=128 --set stages.evaluate.num_samples=500";

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

double Top1(const json& accuracy, const std::string& variant) { return accuracy.at(variant).at("top1").get<double>(); }

TEST(SweepTest, TheShippedSweepSharesItsFirstStagesRunsEveryPointAndComparesThem) {
  TempDir dir;
  const std::string run = dir / "sweep";

  const CommandResult dry = RunCli("run " + kSweep + kShort + " --dry-run --run-dir " + run);
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find("sweep: 16 points over 3 entries"), std::string::npos) << dry.output;
  EXPECT_NE(dry.output.find("shared (run once): load prepare cache"), std::string::npos) << dry.output;
  EXPECT_NE(dry.output.find("each point's own: adaround quantsim calibrate evaluate"), std::string::npos) << dry.output;
  EXPECT_NE(dry.output.find("w8-gram-per_channel"), std::string::npos) << dry.output;
  EXPECT_FALSE(fs::exists(run)) << "a dry run must not touch the run directory";

  const CommandResult result = RunCli("run " + kSweep + kShort + " --run-dir " + run);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(Count(result.output, "running (cache_activations)"), 1u) << result.output;
  EXPECT_EQ(Count(result.output, "running (prepare)"), 1u);
  EXPECT_EQ(Count(result.output, "running (adaround)"), 16u);
  EXPECT_EQ(Count(result.output, "running (evaluate)"), 16u);

  const json report = json::parse(ReadTextFile(run + "/report.json"));
  const json& points = report.at("sweep").at("points");
  ASSERT_EQ(points.size(), 16u);
  EXPECT_EQ(report.at("sweep").at("entries"),
            json({"stages.*.default_param_bw", "stages.adaround.objective", "stages.*.per_channel"}));
  std::map<int, double> bits_of_bw;
  const double fp_top1 = Top1(points[0].at("accuracy"), "fp");
  for (const auto& point : points) {
    const std::string name = point.at("name");
    ASSERT_EQ(point.at("status"), "done") << name;
    const int bw = point.at("values").at("stages.*.default_param_bw");
    const double bits = point.at("weight_bits");
    if (bits_of_bw.count(bw)) {
      EXPECT_EQ(bits_of_bw[bw], bits) << name << ": bits depend on the bitwidth alone";
    }
    bits_of_bw[bw] = bits;
    EXPECT_EQ(Top1(point.at("accuracy"), "fp"), fp_top1) << name << ": the shared FP model";
    EXPECT_GT(point.at("adaround_seconds").get<double>(), 0) << name;
    EXPECT_EQ(point.at("accuracy").at("adaround").at("param_bw"), bw) << name;
    EXPECT_TRUE(fs::exists(run + "/" + name + "/fmnist_resnet8_sweep_adaround.encodings")) << name;
  }
  EXPECT_LT(bits_of_bw.at(2), bits_of_bw.at(3));
  EXPECT_LT(bits_of_bw.at(3), bits_of_bw.at(4));
  EXPECT_LT(bits_of_bw.at(4), bits_of_bw.at(8));
  // Each point evaluates its own model: at 8 bits both roundings keep the FP accuracy, at 2 bits per tensor rounding
  // to nearest loses most of it (50 iterations are too few for AdaRound to win it back; the full sweep does).
  for (const auto& point : points) {
    const std::string name = point.at("name");
    if (name.rfind("w8", 0) == 0) {
      EXPECT_NEAR(Top1(point.at("accuracy"), "nearest"), fp_top1, 1.5) << name;
      EXPECT_NEAR(Top1(point.at("accuracy"), "adaround"), fp_top1, 1.5) << name;
    }
    if (name.rfind("w2", 0) == 0 && name.find("per_tensor") != std::string::npos) {
      EXPECT_LT(Top1(point.at("accuracy"), "nearest"), fp_top1 - 30) << name;
    }
  }
  const std::string markdown = ReadTextFile(run + "/report.md");
  EXPECT_NE(markdown.find("## Sweep"), std::string::npos);
  EXPECT_NE(markdown.find("Pareto front (best metric for the bits): "), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("| `w4-gram-per_channel` | `4` | `gram` | `true` |"), std::string::npos) << markdown;
  EXPECT_EQ(Count(ReadTextFile(run + "/sweep.svg"), "<circle"), 32u) << "16 points in each of the two panels";
  EXPECT_NE(result.output.find("w2-sampled-per_tensor "), std::string::npos) << "the console shows the sweep table";

  // A point is the config with its values: the same run without the sweep gives the same bytes.
  const std::string plain = dir / "plain";
  const CommandResult alone =
      RunCli("run " + kSweep + kShort + " --set sweep=null --set stages.adaround.objective=gram --run-dir " + plain);
  ASSERT_EQ(alone.exit_code, 0) << alone.output;
  EXPECT_EQ(ReadTextFile(plain + "/fmnist_resnet8_sweep_adaround.encodings"),
            ReadTextFile(run + "/w4-gram-per_tensor/fmnist_resnet8_sweep_adaround.encodings"));
  const json plain_report = json::parse(ReadTextFile(plain + "/report.json"));
  const json* same = nullptr;
  for (const auto& point : points)
    if (point.at("name") == "w4-gram-per_tensor") same = &point;
  ASSERT_NE(same, nullptr);
  EXPECT_EQ(Top1(plain_report.at("accuracy"), "adaround"), Top1(same->at("accuracy"), "adaround"));
  EXPECT_EQ(Top1(plain_report.at("accuracy"), "nearest"), Top1(same->at("accuracy"), "nearest"));
  double plain_bits = 0;
  for (const auto& layer : plain_report.at("layers")) {
    double elements = 1;
    for (const auto& size : layer.at("shape")) elements *= size.get<double>();
    plain_bits += elements * layer.at("bitwidth").get<double>();
  }
  EXPECT_EQ(plain_bits, same->at("weight_bits").get<double>());

  // One point of a finished sweep: its stages and the shared ones, all done.
  const CommandResult one = RunCli("run " + kSweep + kShort + " --point w4-gram-per_tensor --run-dir " + run);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_NE(one.output.find("0 of 9 stages to run"), std::string::npos) << one.output;
  const CommandResult unknown = RunCli("run " + kSweep + kShort + " --point w5-gram --run-dir " + run);
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("no such sweep point"), std::string::npos) << unknown.output;

  // compare: a row per point and one for the plain run; the columns are the settings that differ.
  const CommandResult compare = RunCli("compare " + run + " " + plain);
  ASSERT_EQ(compare.exit_code, 0) << compare.output;
  EXPECT_EQ(Count(compare.output, "\n"), 1u + 17u) << compare.output;
  // Both runs are named fmnist_resnet8_sweep: the rows name their directories.
  EXPECT_NE(compare.output.find(run + "/w8-sampled-per_channel "), std::string::npos) << compare.output;
  EXPECT_NE(compare.output.find(plain + " "), std::string::npos) << compare.output;
  for (const char* column : {"stages.adaround.default_param_bw", "stages.quantsim.per_channel", "stages.adaround.objective"})
    EXPECT_NE(compare.output.substr(0, compare.output.find('\n')).find(column), std::string::npos) << column;
  const CommandResult markdown_compare = RunCli("compare " + run + " --markdown " + (dir / "compare.md"));
  ASSERT_EQ(markdown_compare.exit_code, 0) << markdown_compare.output;
  EXPECT_NE(ReadTextFile(dir / "compare.md").find("| `w2-gram-per_tensor` |"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "compare.svg"));
  const CommandResult not_a_run = RunCli("compare " + run + " " + (dir / "elsewhere"));
  EXPECT_EQ(not_a_run.exit_code, 2) << not_a_run.output;
  EXPECT_NE(not_a_run.output.find(dir / "elsewhere"), std::string::npos) << not_a_run.output;
  fs::create_directories(dir / "empty");
  const CommandResult empty = RunCli("compare " + (dir / "empty"));
  EXPECT_EQ(empty.exit_code, 2) << empty.output;
  EXPECT_NE(empty.output.find("not a run directory"), std::string::npos) << empty.output;
}

TEST(SweepTest, APointThatFailsLeavesTheOthersRunningAndItsRowSaysWhy) {
  TempDir dir;
  const std::string config = dir / "sweep.yaml";
  WriteTextFile(config, ReadTextFile(SourcePath("tests/configs/adaround_small.yaml")) +
                            "sweep:\n  points:\n"
                            "    - {name: good, stages.adaround.num_iterations: 20}\n"
                            "    - {name: bad, stages.adaround.num_iterations: 20, stages.adaround.param_bw_override: {layers.9.conv: 8}}\n");
  const CommandResult result = RunCli("run " + config + " --run-dir " + (dir / "run"));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  const json report = json::parse(ReadTextFile(dir / "run/report.json"));
  const json& points = report.at("sweep").at("points");
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].at("status"), "done") << result.output;
  const std::string why = points[1].at("status");
  EXPECT_EQ(why.rfind("failed in adaround@bad: ", 0), 0u) << why;
  EXPECT_NE(why.find("layers.9.conv"), std::string::npos) << why;
  EXPECT_TRUE(fs::exists(dir / "run/good/adaround_small_adaround.encodings")) << result.output;
  EXPECT_NE(result.output.find("failed in adaround@bad"), std::string::npos) << "the console shows the table";
}

TEST(SweepTest, ABadSweepEntryIsExitTwoNamingTheEntryAndItsLineBeforeAnythingRuns) {
  TempDir dir;
  std::string text = ReadTextFile(SourcePath(kSweep));
  const std::string good = "stages.adaround.objective: [sampled, gram]";
  const auto at = text.find(good);
  ASSERT_NE(at, std::string::npos);
  const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
  text.replace(at, good.size(), "stages.adaround.objective: [sampled, grams]");
  WriteTextFile(dir / "bad.yaml", text);
  const CommandResult result = RunCli("run " + (dir / "bad.yaml") + " --run-dir " + (dir / "run"));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("bad.yaml:" + std::to_string(line) + ": sweep entry 'stages.adaround.objective' (point 'w2-grams-per_tensor')"),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("grams"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "run")) << "nothing runs before the sweep is valid";
  std::string unknown = ReadTextFile(SourcePath(kSweep));
  unknown.replace(unknown.find("stages.*.per_channel:"), 21, "stages.*.per_chanel:");
  WriteTextFile(dir / "unknown.yaml", unknown);
  const CommandResult missing = RunCli("validate " + (dir / "unknown.yaml"));
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("sweep entry 'stages.*.per_chanel': no stage of this config has an option 'per_chanel'"),
            std::string::npos)
      << missing.output;
}

}  // namespace
}  // namespace adaflow::testing
