// The CLI as a user meets it: listing, describing, validating and dry-running the shipped config.

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

const char* kExample = "configs/fmnist_resnet8_w4a8.yaml";

TEST(CliTest, StagesListsEveryStageAndDataType) {
  const CommandResult result = RunCli("stages");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  for (const char* type : {"load_model", "prepare", "cache_activations", "adaround", "quant_sim", "calibrate",
                           "evaluate", "export", "idx", "image_folder", "hdf5", "random", "calibration",
                           "evaluation", "model", "Model", "LayerGraph", "ActivationCache", "Encodings", "Metrics"})
    EXPECT_NE(result.output.find(std::string("  ") + type + " "), std::string::npos) << type;
}

TEST(CliTest, DescribeShowsOptionsWithDefaultsAndRanges) {
  const CommandResult result = RunCli("describe adaround");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("inputs:  Model, LayerGraph, ActivationCache"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("reg_param"), std::string::npos);
  EXPECT_NE(result.output.find("0.01"), std::string::npos);
  EXPECT_NE(result.output.find("[20, 2]"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("tf_enhanced|tf"), std::string::npos);
  EXPECT_EQ(RunCli("describe idx").exit_code, 0);
  const CommandResult model = RunCli("describe model");
  EXPECT_EQ(model.exit_code, 0) << model.output;
  EXPECT_NE(model.output.find("input_shape"), std::string::npos) << model.output;
  const CommandResult unknown = RunCli("describe adaroud");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("did you mean 'adaround'?"), std::string::npos) << unknown.output;
}

TEST(CliTest, ValidateAndDryRunTheExampleConfig) {
  const CommandResult validate = RunCli(std::string("validate ") + kExample);
  ASSERT_EQ(validate.exit_code, 0) << validate.output;
  EXPECT_NE(validate.output.find("valid"), std::string::npos);
  EXPECT_NE(validate.output.find("ActivationCache from cache"), std::string::npos) << validate.output;
  // The nearest baseline evaluate compares: two stages the planner adds, shown in the plan.
  EXPECT_NE(validate.output.find("evaluate.nearest_sim -> Model from evaluate.nearest_sim"), std::string::npos)
      << validate.output;
  EXPECT_NE(validate.output.find("nearest from evaluate.nearest_calibrate"), std::string::npos) << validate.output;

  TempDir dir;
  const CommandResult dry = RunCli(std::string("run ") + kExample + " --dry-run --run-dir " + (dir / "run") +
                                   " --set stages.adaround.num_iterations=500");
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find("num_iterations: 500"), std::string::npos) << dry.output;
  EXPECT_NE(dry.output.find("nothing was computed"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "run")) << "a dry run must not touch the run directory";
}

TEST(CliTest, SetOverrideErrorsAreExitTwo) {
  const CommandResult result = RunCli(std::string("validate ") + kExample + " --set stages.adaround.reg_param=-1");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("--set stages.adaround.reg_param=-1"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("must be >= 0"), std::string::npos) << result.output;
}

TEST(CliTest, UsageErrorsAreExitTwoAndHelpIsZero) {
  EXPECT_EQ(RunCli("--help").exit_code, 0);
  EXPECT_EQ(RunCli("run --help").exit_code, 0);
  EXPECT_EQ(RunCli("run").exit_code, 2);
  EXPECT_EQ(RunCli("frobnicate").exit_code, 2);
  const CommandResult missing = RunCli("validate /nonexistent/config.yaml");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("cannot read config '/nonexistent/config.yaml'"), std::string::npos);
}

}  // namespace
}  // namespace adaflow::testing
