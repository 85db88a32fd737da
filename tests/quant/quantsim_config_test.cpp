// AIMET quantsim config files: the shipped ones (AIMET's default, per-channel and HTP v73 configs, in
// configs/quantsim/) read and resolve as AIMET applies them; every malformed file is an InputError that
// names the file and the JSON path.

#include "src/quant/quantsim_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/error.h"
#include "tests/support/test_support.h"

namespace adaflow::quant {
namespace {

using adaflow::testing::SourcePath;

QuantsimConfigFile Shipped(const std::string& name) { return ReadQuantsimConfig(SourcePath("configs/quantsim/" + name)); }

const OpTypes kConv2d = {"Conv2d", {"Conv"}};
const OpTypes kLinear = {"FullyConnected", {"Gemm", "MatMul"}};
const OpTypes kMaxPool = {"PoolMax2d", {"MaxPool"}};
const OpTypes kSoftmax = {"Softmax", {"Softmax"}};
const OpTypes kLayerNorm = {"LayerNorm", {"LayerNormalization", "LayerNorm"}};
const OpTypes kRelu = {"Relu", {"Relu"}};

TEST(QuantsimConfigTest, TheBuiltInDefaultIsTheShippedFileAndAimetsDefaults) {
  const QuantsimConfigFile& builtin = DefaultQuantsimConfig();
  const QuantsimConfigFile file = Shipped("default_config.json");
  EXPECT_EQ(builtin.op_type.size(), file.op_type.size());
  EXPECT_EQ(builtin.supergroups, file.supergroups);
  EXPECT_EQ(builtin.op_type.size(), 7u);
  EXPECT_EQ(builtin.supergroups.size(), 5u);
  // Every op's output quantized but the listed types; weights quantized, symmetric, per tensor; no bias.
  EXPECT_TRUE(builtin.OutputQuantized(kConv2d));
  EXPECT_TRUE(builtin.OutputQuantized(kMaxPool));
  EXPECT_FALSE(builtin.OutputQuantized({"", {"Dropout"}}));
  EXPECT_FALSE(builtin.OutputQuantized({"", {"Mean"}}));
  EXPECT_TRUE(builtin.OutputQuantized({"ReduceMean", {"ReduceMean"}}));  // torch's mean: AIMET's ReduceMean
  EXPECT_FALSE(builtin.InputQuantized(kConv2d));
  EXPECT_FALSE(builtin.Symmetric(kConv2d));
  EXPECT_TRUE(builtin.ParamQuantized(kConv2d, "weight"));
  EXPECT_FALSE(builtin.ParamQuantized(kConv2d, "bias"));
  EXPECT_TRUE(builtin.ParamSymmetric(kConv2d, "weight"));
  EXPECT_FALSE(builtin.PerChannel(kConv2d));
  EXPECT_FALSE(builtin.StrictSymmetric());
  EXPECT_FALSE(builtin.UnsignedSymmetric());
  EXPECT_TRUE(builtin.model_input_quantized.value_or(false));
  EXPECT_FALSE(builtin.model_output_quantized.has_value());
  // adaflow's weight-grid options become its defaults when no file is given.
  WeightGridOptions grid;
  grid.per_channel = true;
  grid.unsigned_symmetric = true;
  const QuantsimConfigFile adjusted = DefaultQuantsimConfig(grid);
  EXPECT_TRUE(adjusted.PerChannel(kLinear));
  EXPECT_TRUE(adjusted.WeightGrid(kConv2d, Scheme::kTf).unsigned_symmetric);
}

TEST(QuantsimConfigTest, PerChannelConfigKeepsGemmAndMatMulPerTensor) {
  const QuantsimConfigFile config = Shipped("default_config_per_channel.json");
  EXPECT_TRUE(config.PerChannel(kConv2d));
  EXPECT_TRUE(config.PerChannel({"TransposeConv2d", {"ConvTranspose"}}));
  EXPECT_FALSE(config.PerChannel(kLinear));  // Gemm and MatMul both say False
  EXPECT_FALSE(config.PerChannel({"MatMul", {"MatMul"}}));
  EXPECT_FALSE(config.PerChannel(kLayerNorm));
  const WeightGridOptions conv = config.WeightGrid(kConv2d, Scheme::kTfEnhanced);
  EXPECT_TRUE(conv.per_channel);
  EXPECT_TRUE(conv.symmetric);
  EXPECT_EQ(conv.quant_scheme, Scheme::kTfEnhanced);
}

TEST(QuantsimConfigTest, HtpV73ConfigReadsAsPublished) {
  const QuantsimConfigFile config = Shipped("htp_quantsim_config_v73.json");
  EXPECT_EQ(config.hw_version, "V73");
  EXPECT_EQ(config.supergroups.size(), 12u);
  EXPECT_EQ(config.supergroups[1], (std::vector<std::string>{"Conv", "BatchNormalization", "HardSwish"}));
  EXPECT_TRUE(config.PerChannel(kConv2d));
  EXPECT_FALSE(config.PerChannel(kLinear));
  EXPECT_FALSE(config.OutputQuantized(kMaxPool));
  EXPECT_FALSE(config.OutputQuantized({"Reshape", {"Reshape"}}));
  EXPECT_FALSE(config.OutputQuantized({"Transpose", {"Transpose"}}));
  EXPECT_TRUE(config.OutputQuantized(kRelu));
  ASSERT_TRUE(config.Constraints(kSoftmax).has_value());
  EXPECT_DOUBLE_EQ(config.Constraints(kSoftmax)->min, 0.0);
  EXPECT_DOUBLE_EQ(config.Constraints(kSoftmax)->max, 1.0);
  EXPECT_TRUE(config.Constraints({"Sigmoid", {"Sigmoid"}}).has_value());
  EXPECT_FALSE(config.Constraints(kRelu).has_value());
  // LayerNormalization's weight is asymmetric; GroupNormalization quantizes its bias; BN's statistics are not.
  EXPECT_FALSE(config.ParamSymmetric(kLayerNorm, "weight"));
  EXPECT_TRUE(config.ParamQuantized({"", {"GroupNormalization"}}, "bias"));
  EXPECT_FALSE(config.ParamQuantized({"", {"BatchNormalization"}}, "running_mean"));
  EXPECT_FALSE(config.ParamQuantized(kConv2d, "bias"));
  EXPECT_FALSE(config.UnsignedSymmetric());
}

TEST(QuantsimConfigTest, ABackendTypeEntryWinsAndLaterOnnxTypesOverrideEarlierOnes) {
  // AIMET applies a module's backend type alone when the config has it, else its ONNX types in order.
  const std::string text = R"({"defaults": {"ops": {"is_output_quantized": "True"}, "params": {"is_quantized": "True"}},
    "params": {}, "supergroups": [], "model_input": {}, "model_output": {},
    "op_type": {"Gemm": {"is_output_quantized": "False", "is_symmetric": "True"},
                "MatMul": {"is_output_quantized": "True"},
                "Conv": {"is_output_quantized": "False"}, "Conv2d": {"is_output_quantized": "True"}}})";
  const QuantsimConfigFile config = ParseQuantsimConfig(text, "inline.json");
  EXPECT_TRUE(config.OutputQuantized(kLinear));  // MatMul after Gemm
  EXPECT_TRUE(config.Symmetric(kLinear));        // Gemm's, not overridden by MatMul
  EXPECT_TRUE(config.OutputQuantized(kConv2d));  // the backend type's entry alone
  EXPECT_FALSE(config.OutputQuantized({"", {"Conv"}}));
}

/// The message ParseQuantsimConfig throws for `text`.
std::string ErrorOf(const std::string& text) {
  try {
    ParseQuantsimConfig(text, "my_config.json");
  } catch (const InputError& error) {
    return error.what();
  }
  ADD_FAILURE() << "no error for " << text;
  return "";
}

std::string WithDefaults(const std::string& rest) {
  return R"({"defaults": {"ops": {}, "params": {}}, "params": {}, "supergroups": [], "model_input": {},
             "model_output": {}, )" + rest + "}";
}

TEST(QuantsimConfigTest, EveryMistakeNamesTheFileAndTheJsonPath) {
  struct Case {
    std::string text, expected;
  };
  const std::vector<Case> cases = {
      {"{", "my_config.json: not valid JSON"},
      {"[]", "my_config.json: the document: must be an object"},
      {R"({"defaults": {"ops": {}, "params": {}}})", "my_config.json: the document: missing required key 'params'"},
      {WithDefaults(R"("op_type": {}, "op_types": {})"),
       "my_config.json: op_types: unknown key; did you mean 'op_type'?"},
      {WithDefaults(R"("op_type": {"Conv": {"is_output_quantised": "False"}})"),
       "my_config.json: op_type.Conv.is_output_quantised: unknown key; did you mean 'is_output_quantized'?"},
      {WithDefaults(R"("op_type": {"Conv": {"is_output_quantized": false}})"),
       "my_config.json: op_type.Conv.is_output_quantized: must be \"True\" or \"False\", got false"},
      {WithDefaults(R"("op_type": {"Convv": {}})"), "my_config.json: op_type.Convv: unknown op type 'Convv'; did you mean 'Conv'?"},
      {WithDefaults(R"("op_type": {"Softmax": {"encoding_constraints": {"min": 0.0}}})"),
       "my_config.json: op_type.Softmax.encoding_constraints: missing required key 'max'"},
      {WithDefaults(R"("op_type": {"Softmax": {"encoding_constraints": {"min": 1.0, "max": 0.0}}})"),
       "my_config.json: op_type.Softmax.encoding_constraints: min must be below max"},
      {WithDefaults(R"("op_type": {"Conv": {"params": {"weight": {"is_quantized": "Yes"}}}})"),
       "my_config.json: op_type.Conv.params.weight.is_quantized: must be \"True\" or \"False\", got \"Yes\""},
      {R"({"defaults": {"ops": {}, "params": {}}, "params": {}, "op_type": {}, "model_input": {}, "model_output": {},
           "supergroups": [{"op_list": ["Conv"]}]})",
       "my_config.json: supergroups[0].op_list: must list at least two op types"},
      {R"({"defaults": {"ops": {}, "params": {}}, "params": {}, "op_type": {}, "model_input": {}, "model_output": {},
           "supergroups": [{"op_list": ["Conv", "Relu6x"]}]})",
       "my_config.json: supergroups[0].op_list[1]: unknown op type 'Relu6x'"},
      {R"({"defaults": {"ops": {}, "params": {}, "supported_kernels": [{"activation": {"bitwidth": 12, "dtype": "int"}}]},
           "params": {}, "op_type": {}, "supergroups": [], "model_input": {}, "model_output": {}})",
       "my_config.json: defaults.supported_kernels[0].activation.bitwidth: must be 4, 8, 16 or 32, got 12"},
      {R"({"defaults": {"ops": {}, "params": {}}, "params": {}, "op_type": {}, "supergroups": [],
           "model_input": {"is_output_quantized": "True"}, "model_output": {}})",
       "my_config.json: model_input.is_output_quantized: unknown key"},
  };
  for (const auto& c : cases) {
    const std::string message = ErrorOf(c.text);
    EXPECT_NE(message.find(c.expected), std::string::npos) << "expected '" << c.expected << "' in: " << message;
  }
  try {
    ReadQuantsimConfig("/nonexistent/quantsim.json");
    ADD_FAILURE() << "a missing file must be an error";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/quantsim.json"), std::string::npos);
  }
}

}  // namespace
}  // namespace adaflow::quant
