// The nearest-rounding baseline end to end through the CLI on the shipped model and the full
// Fashion-MNIST test set: FP32 equals the recorded accuracy, W8A8 stays within 0.5 pt, and a
// traced export gives the same numbers as the scripted one.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

const char* kConfig = "configs/fmnist_resnet8_nearest.yaml";

/// top-1 by variant name from a run's metrics.json.
std::map<std::string, double> RunAndReadTop1(const TempDir& dir, const std::string& name, const std::string& sets) {
  const CommandResult result = RunCli(std::string("run ") + kConfig + " --run-dir " + (dir / name) + " " + sets);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  std::map<std::string, double> top1;
  const auto json = nlohmann::json::parse(ReadTextFile(dir / (name + "/metrics.json")));
  for (const auto& item : json.at("variants")) top1[item.at("name").get<std::string>()] = item.at("top1").get<double>();
  return top1;
}

TEST(NearestPipelineTest, RecordedAccuracyAndTheW8A8AndW4A8Baselines) {
  const auto record = nlohmann::json::parse(ReadTextFile(SourcePath("examples/models/resnet8_fmnist.json")));
  const double recorded = record.at("scripted").at("top1").get<double>();
  TempDir dir;
  const auto w4a8 = RunAndReadTop1(dir, "w4a8", "");
  EXPECT_NEAR(w4a8.at("fp"), recorded, 0.01);
  EXPECT_LT(w4a8.at("nearest"), w4a8.at("fp"));
  EXPECT_GT(w4a8.at("nearest"), 80.0);
  const auto w8a8 = RunAndReadTop1(dir, "w8a8", "--set stages.quantsim.default_param_bw=8");
  EXPECT_NEAR(w8a8.at("fp"), recorded, 0.01);
  EXPECT_NEAR(w8a8.at("nearest"), w8a8.at("fp"), 0.5);
  const auto traced = RunAndReadTop1(dir, "traced", "--set model.path=examples/models/resnet8_fmnist_traced.pt");
  EXPECT_DOUBLE_EQ(traced.at("fp"), w4a8.at("fp"));
  EXPECT_DOUBLE_EQ(traced.at("nearest"), w4a8.at("nearest"));
  std::printf("FP32 %.2f | W8A8 nearest %.2f | W4A8 nearest %.2f (traced %.2f)\n", w4a8.at("fp"), w8a8.at("nearest"),
              w4a8.at("nearest"), traced.at("nearest"));

  // Running again resumes: every stage is already done.
  const CommandResult again = RunCli(std::string("run ") + kConfig + " --run-dir " + (dir / "w4a8"));
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.output.find("0 of 5 stages to run"), std::string::npos) << again.output;
}

TEST(NearestPipelineTest, WeightsOnlyRunDerivesTheNearestBaselineFromTheQuantSim) {
  // quant_sim with default_output_bw 32 straight into evaluate: the baseline is one derived quant_sim,
  // nothing is calibrated, and its accuracy is that of a nearest weights-only quant-sim of its own.
  TempDir dir;
  const CommandResult run = RunCli("run tests/configs/weights_only.yaml --run-dir " + (dir / "w"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("evaluate.nearest_sim"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("nearest_calibrate"), std::string::npos) << run.output;
  const auto report = nlohmann::json::parse(ReadTextFile(dir / "w/report.json"));
  const auto& accuracy = report.at("accuracy");
  for (const char* variant : {"nearest", "adaround"}) {
    EXPECT_EQ(accuracy.at(variant).at("param_bw"), 4) << variant;
    EXPECT_EQ(accuracy.at(variant).at("output_bw"), 32) << variant;
  }
  const double nearest = accuracy.at("nearest").at("top1").get<double>();
  const double adaround = accuracy.at("adaround").at("top1").get<double>();
  EXPECT_GT(adaround, nearest + 1.0);
  const CommandResult own = RunCli(std::string("run ") + kConfig + " --run-dir " + (dir / "n") +
                                   " --set stages.quantsim.default_output_bw=32 --set 'stages.evaluate.after=[quantsim]'" +
                                   " --set data.evaluation.num_samples=2000");
  ASSERT_EQ(own.exit_code, 0) << own.output;
  const auto own_metrics = nlohmann::json::parse(ReadTextFile(dir / "n/report.json")).at("accuracy");
  EXPECT_DOUBLE_EQ(own_metrics.at("nearest").at("top1").get<double>(), nearest);
  std::printf("weights only, W4: nearest %.2f, AdaRound %.2f\n", nearest, adaround);
}

TEST(NearestPipelineTest, BadModelAndDataAreExitTwoAndKeepEarlierResults) {
  TempDir dir;
  const CommandResult not_model = RunCli(std::string("run ") + kConfig + " --run-dir " + (dir / "a") +
                                         " --set model.path=tests/models/not_a_model.pt");
  EXPECT_EQ(not_model.exit_code, 2) << not_model.output;
  EXPECT_NE(not_model.output.find("stage 'load': model 'tests/models/not_a_model.pt' is not a TorchScript model"),
            std::string::npos)
      << not_model.output;

  const CommandResult shape = RunCli(std::string("run ") + kConfig + " --run-dir " + (dir / "b") +
                                     " --set model.input_shape=[1,3,28,28]");
  EXPECT_EQ(shape.exit_code, 2) << shape.output;
  EXPECT_NE(shape.output.find("does not accept an input of shape [1, 3, 28, 28]"), std::string::npos) << shape.output;

  // Evaluation data of the wrong shape fails in evaluate; the stages before it stay finished.
  const CommandResult data = RunCli(std::string("run ") + kConfig + " --run-dir " + (dir / "c") +
                                    " --set 'data.evaluation={type: random, shape: [3, 28, 28], num_samples: 8}'");
  EXPECT_EQ(data.exit_code, 2) << data.output;
  EXPECT_NE(data.output.find("data set 'evaluation' has samples of shape [3, 28, 28], but model.input_shape "
                             "[1, 1, 28, 28] expects [1, 28, 28]"),
            std::string::npos)
      << data.output;
  const auto manifest = nlohmann::json::parse(ReadTextFile(dir / "c/manifest.json"));
  EXPECT_TRUE(manifest.at("nodes").contains("calibrate"));
  EXPECT_FALSE(manifest.at("nodes").contains("evaluate"));

  // Frozen param encodings from a file that does not match the model.
  WriteTextFile(dir / "other.encodings", R"({"param_encodings": {"conv9.weight": [{"bitwidth": 4, "dtype": "int",
      "is_symmetric": "True", "min": -0.8, "max": 0.7, "offset": -8, "scale": 0.1}]}})");
  const CommandResult mismatch = RunCli(std::string("run ") + kConfig + " --run-dir " + (dir / "d") +
                                        " --set stages.quantsim.param_encodings=" + (dir / "other.encodings"));
  EXPECT_EQ(mismatch.exit_code, 2) << mismatch.output;
  EXPECT_NE(mismatch.output.find("entry 'conv9.weight' names no parameter of model"), std::string::npos)
      << mismatch.output;
  const CommandResult missing = RunCli(std::string("validate ") + kConfig +
                                       " --set stages.quantsim.param_encodings=/nonexistent/x.encodings");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("'param_encodings': '/nonexistent/x.encodings' does not exist"), std::string::npos)
      << missing.output;
}

}  // namespace
}  // namespace adaflow::testing
