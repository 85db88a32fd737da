#include "src/io/aimet_encodings.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "src/model/batch_norm_fold.h"
#include "src/quant/quant_sim.h"
#include "tests/support/test_support.h"

namespace adaflow::io {
namespace {

using adaflow::testing::SourcePath;
using adaflow::testing::TempDir;
using adaflow::testing::WriteTextFile;

TEST(AimetEncodingsTest, WrittenEncodingsReadBackAndFreezeTheSameQuantSim) {
  auto fp = model::FoldBatchNorm(*model::Model::Load(SourcePath("tests/models/mixed_traced.pt"), {}));
  const auto layers = model::DiscoverLayers(*fp);
  for (bool per_channel : {false, true}) {
    quant::QuantSimConfig config;
    config.param.per_channel = per_channel;
    config.param_bw_override = {{"fc2", 8}};
    const quant::QuantSim computed(fp, layers, config);
    TempDir dir;
    WriteTextFile(dir / "x_adaround.encodings", ParamEncodingsJson(computed.param_encodings()));
    // AIMET's key names and value types.
    const auto json = nlohmann::json::parse(adaflow::testing::ReadTextFile(dir / "x_adaround.encodings"));
    const auto& entry = json.at("param_encodings").at("dw.weight")[0];
    EXPECT_TRUE(entry.at("bitwidth").is_number_integer());
    EXPECT_EQ(entry.at("dtype").get<std::string>(), "int");
    EXPECT_EQ(entry.at("is_symmetric").get<std::string>(), "True");
    EXPECT_TRUE(entry.at("offset").is_number_integer());
    EXPECT_TRUE(entry.at("scale").is_number_float());
    EXPECT_EQ(json.at("param_encodings").at("up.weight").size(), per_channel ? 4u : 1u);

    const auto frozen = ReadParamEncodings(dir / "x_adaround.encodings", layers, *fp).params;
    ASSERT_EQ(frozen.size(), computed.param_encodings().size());
    for (const auto& [name, encoding] : computed.param_encodings())
      EXPECT_EQ(frozen.at(name).channels, encoding.channels) << name;
    const quant::QuantSim loaded(fp, layers, quant::QuantSimConfig{}, frozen);
    for (const auto& layer : layers.layers)
      EXPECT_TRUE(torch::equal(loaded.weights_model()->Submodule(layer.name).attr("weight").toTensor(),
                               computed.weights_model()->Submodule(layer.name).attr("weight").toTensor()))
          << layer.name;
  }
}

TEST(AimetEncodingsTest, FullFilesInBothVersionsHoldTheSameGridsPerChannel) {
  auto fp = model::FoldBatchNorm(*model::Model::Load(SourcePath("tests/models/mixed_traced.pt"), {}));
  const auto layers = model::DiscoverLayers(*fp);
  quant::QuantSimConfig config;
  config.param.per_channel = true;
  config.output_bw = 32;
  config.param_bw_override = {{"fc2", 32}};  // left float: an excluded layer
  const quant::QuantSim sim(fp, layers, config);
  ModelEncodings encodings;
  encodings.params = sim.param_encodings();
  quant::Encoding activation;
  activation.bitwidth = 8;
  activation.scale = 0.02;
  activation.offset = -128;
  activation.num_steps = 255;
  activation.min = -2.56;
  activation.max = 2.54;
  encodings.activations = {{"input", activation}, {"fc1.gelu", quant::Encoding{}}};
  encodings.activations[1].second.bitwidth = 32;
  encodings.excluded_layers = {"fc2"};
  encodings.args.per_channel = true;

  TempDir dir;
  WriteTextFile(dir / "v0.encodings", EncodingsJson(encodings, EncodingsVersion::k061));
  WriteTextFile(dir / "v1.encodings", EncodingsJson(encodings, EncodingsVersion::k100));
  const auto v0 = nlohmann::json::parse(adaflow::testing::ReadTextFile(dir / "v0.encodings"));
  const auto v1 = nlohmann::json::parse(adaflow::testing::ReadTextFile(dir / "v1.encodings"));
  EXPECT_EQ(v0.at("version"), "0.6.1");
  EXPECT_EQ(v1.at("version"), "1.0.0");
  EXPECT_EQ(v0.at("excluded_layers"), nlohmann::json::array({"fc2"}));
  EXPECT_EQ(v0.at("quantizer_args").at("per_channel_quantization"), true);
  EXPECT_FALSE(v0.at("param_encodings").contains("fc2.weight"));
  // Per channel: one 0.6.1 entry per output channel (ConvTranspose2d 'up': 4 channels on axis 1),
  // one 1.0.0 entry with arrays of that length.
  EXPECT_EQ(v0.at("param_encodings").at("up.weight").size(), 4u);
  bool found_up = false;
  for (const auto& entry : v1.at("param_encodings")) {
    if (entry.at("name") != "up.weight") continue;
    found_up = true;
    EXPECT_EQ(entry.at("enc_type"), "PER_CHANNEL");
    EXPECT_EQ(entry.at("scale").size(), 4u);
    EXPECT_EQ(entry.at("offset").size(), 4u);
    EXPECT_EQ(entry.at("is_sym"), true);
  }
  EXPECT_TRUE(found_up);
  // Activations: an 8-bit grid, and a float tensor as AIMET writes one.
  EXPECT_EQ(v0.at("activation_encodings").at("input")[0].at("offset"), -128);
  EXPECT_EQ(v0.at("activation_encodings").at("input")[0].at("is_symmetric"), "False");
  EXPECT_EQ(v0.at("activation_encodings").at("fc1.gelu")[0], (nlohmann::json{{"bitwidth", 32}, {"dtype", "float"}}));
  EXPECT_EQ(v1.at("activation_encodings")[1].at("dtype"), "FLOAT");

  // Both read back to the same grids the quant-sim used.
  for (const char* file : {"v0.encodings", "v1.encodings"}) {
    const auto frozen = ReadParamEncodings(dir / file, layers, *fp).params;
    ASSERT_EQ(frozen.size(), sim.param_encodings().size()) << file;
    for (const auto& [name, encoding] : sim.param_encodings()) {
      ASSERT_EQ(frozen.at(name).channels.size(), encoding.channels.size()) << file << " " << name;
      EXPECT_EQ(frozen.at(name).axis, encoding.axis) << file << " " << name;
      for (std::size_t channel = 0; channel < encoding.channels.size(); ++channel) {
        EXPECT_EQ(frozen.at(name).channels[channel].scale, encoding.channels[channel].scale);
        EXPECT_EQ(frozen.at(name).channels[channel].offset, encoding.channels[channel].offset);
        EXPECT_EQ(frozen.at(name).channels[channel].num_steps, encoding.channels[channel].num_steps);
      }
    }
  }
}

std::string ReadError(const std::string& text) {
  auto fp = model::FoldBatchNorm(*model::Model::Load(SourcePath("tests/models/mixed_traced.pt"), {}));
  TempDir dir;
  WriteTextFile(dir / "bad.encodings", text);
  try {
    ReadParamEncodings(dir / "bad.encodings", model::DiscoverLayers(*fp), *fp);
  } catch (const InputError& error) {
    return error.what();
  }
  return "";
}

TEST(AimetEncodingsTest, MalformedFilesAreClearErrorsThatNameTheFileAndEntry) {
  EXPECT_NE(ReadError("{not json").find("is not valid JSON"), std::string::npos);
  EXPECT_NE(ReadError("{\"activation_encodings\": {}}").find("has no \"param_encodings\" object"), std::string::npos);
  EXPECT_NE(ReadError("{\"param_encodings\": {\"fc9.weight\": []}}")
                .find("bad.encodings', entry 'fc9.weight' names no parameter of model"),
            std::string::npos);
  EXPECT_NE(ReadError("{\"param_encodings\": {\"fc2.weight\": [{\"bitwidth\": 4}]}}")
                .find("entry 'fc2.weight' lacks a field"),
            std::string::npos);
  EXPECT_NE(ReadError("{\"param_encodings\": {\"fc2.weight\": [{\"bitwidth\": 4, \"scale\": 0.1, \"offset\": -40, "
                      "\"is_symmetric\": \"True\"}]}}")
                .find("entry 'fc2.weight': offset is outside the grid"),
            std::string::npos);
  EXPECT_NE(ReadError("{\"param_encodings\": [{\"name\": \"fc2.weight\", \"bw\": 4, \"scale\": [0.1, 0.2], "
                      "\"offset\": [-8]}]}")
                .find("entry 'fc2.weight': 'scale' and 'offset' must be lists of the same length"),
            std::string::npos);
}

TEST(AimetEncodingsTest, LayerBiasesAreSkippedOtherModulesParametersReadAndFloatEntriesLeaveTheirTensorFloat) {
  // A whole-model AIMET file: a weight, a bias, the parameters of a BatchNorm of the unfolded model (one
  // quantized, one float), and a weight left float.
  auto loaded = model::Model::Load(SourcePath("tests/models/mixed_traced.pt"), {});
  const auto layers = model::DiscoverLayers(*loaded);
  TempDir dir;
  WriteTextFile(dir / "full.encodings",
                "{\"param_encodings\": {"
                "\"stem.weight\": [{\"bitwidth\": 4, \"dtype\": \"int\", \"scale\": 0.1, \"offset\": -8, "
                "\"is_symmetric\": \"True\"}],"
                "\"fc1.bias\": [{\"bitwidth\": 32, \"dtype\": \"int\", \"scale\": 1e-6, \"offset\": -2147483648, "
                "\"is_symmetric\": \"True\"}],"
                "\"stem_bn.weight\": [{\"bitwidth\": 8, \"dtype\": \"int\", \"scale\": 0.01, \"offset\": -128, "
                "\"is_symmetric\": \"True\"}],"
                "\"stem_bn.bias\": [{\"bitwidth\": 32, \"dtype\": \"float\"}],"
                "\"fc2.weight\": [{\"bitwidth\": 32, \"dtype\": \"float\"}]}}");
  const ParamEncodingsFile file = ReadParamEncodings(dir / "full.encodings", layers, *loaded);
  ASSERT_EQ(file.params.size(), 1u);
  EXPECT_DOUBLE_EQ(file.params.at("stem").channels.at(0).scale, 0.1);
  ASSERT_EQ(file.module_params.size(), 1u);
  EXPECT_DOUBLE_EQ(file.module_params.at("stem_bn.weight").channels.at(0).scale, 0.01);
  EXPECT_EQ(file.float_params, (std::vector<std::string>{"stem_bn.bias"}));
  EXPECT_EQ(file.skipped, (std::vector<std::string>{"fc1.bias"}));
  EXPECT_EQ(file.float_layers, (std::vector<std::string>{"fc2"}));
  // A per-channel entry whose count is not the parameter's: an error naming the file and entry.
  WriteTextFile(dir / "wrong.encodings",
                "{\"param_encodings\": {\"stem_bn.weight\": ["
                "{\"bitwidth\": 8, \"dtype\": \"int\", \"scale\": 0.01, \"offset\": -128, \"is_symmetric\": \"True\"},"
                "{\"bitwidth\": 8, \"dtype\": \"int\", \"scale\": 0.01, \"offset\": -128, \"is_symmetric\": \"True\"}]}}");
  const std::string error =
      adaflow::testing::ErrorMessage<InputError>([&] { ReadParamEncodings(dir / "wrong.encodings", layers, *loaded); });
  EXPECT_NE(error.find("entry 'stem_bn.weight' has 2 per-channel encodings; 'stem_bn.weight' has 8 channels"),
            std::string::npos)
      << error;
}

TEST(AimetEncodingsTest, OtherModulesParametersRoundTripThroughEveryLayoutIntoTheSameQuantSim) {
  // norm_ops: GroupNorm, InstanceNorm, PReLU, LayerNorm and Embedding parameters beside three layers.
  auto fp = model::FoldBatchNorm(*model::Model::Load(SourcePath("tests/models/norm_ops_traced.pt"), {2, 3, 8, 8}));
  const auto layers = model::DiscoverLayers(*fp);
  quant::QuantSimConfig config;
  config.param.per_channel = true;
  const quant::QuantSim computed(fp, layers, config);
  ASSERT_EQ(computed.module_param_encodings().size(), 5u);
  ModelEncodings encodings;
  encodings.params = computed.param_encodings();
  encodings.module_params = computed.module_param_encodings();
  TempDir dir;
  WriteTextFile(dir / "v0.encodings", EncodingsJson(encodings, EncodingsVersion::k061));
  WriteTextFile(dir / "v1.encodings", EncodingsJson(encodings, EncodingsVersion::k100));
  WriteTextFile(dir / "x_torch.encodings", TorchEncodingsJson(encodings));
  for (const char* name : {"v0.encodings", "v1.encodings", "x_torch.encodings"}) {
    SCOPED_TRACE(name);
    const ParamEncodingsFile file = ReadParamEncodings(dir / name, layers, *fp);
    EXPECT_TRUE(file.skipped.empty());
    quant::ParamEncodings frozen = file.params;
    frozen.insert(file.module_params.begin(), file.module_params.end());
    // Frozen at another bitwidth and per tensor: the file's grids win.
    quant::QuantSimConfig other;
    other.param_bw = 8;
    const quant::QuantSim loaded(fp, layers, other, frozen);
    ASSERT_EQ(loaded.module_param_encodings().size(), 5u);
    for (const auto& [key, encoding] : computed.module_param_encodings()) {
      EXPECT_EQ(loaded.module_param_encodings().at(key).channels, encoding.channels) << key;
      const auto dot = key.rfind('.');
      EXPECT_TRUE(torch::equal(loaded.weights_model()->Submodule(key.substr(0, dot)).attr(key.substr(dot + 1)).toTensor(),
                               computed.weights_model()->Submodule(key.substr(0, dot)).attr(key.substr(dot + 1)).toTensor()))
          << key;
    }
  }
}

TEST(AimetEncodingsTest, ActivationEncodingsReadBackByQuantizerNameTensorNameOrModule) {
  auto fp = model::FoldBatchNorm(*model::Model::Load(SourcePath("tests/models/mixed_traced.pt"), {}));
  const auto layers = model::DiscoverLayers(*fp);
  quant::QuantSim sim(fp, layers, quant::QuantSimConfig{});
  torch::manual_seed(0);
  sim.Calibrate(data::Dataset("calibration", torch::randn({16, 3, 8, 8}), torch::Tensor(), 8),
                quant::Scheme::kTfEnhanced, 100.0, 0);
  ModelEncodings encodings;
  std::map<std::string, std::string> tensors;  // an invented tensor name per quantizer
  ModelEncodings by_tensor;
  for (const auto& quantizer : sim.quantizers()) {
    encodings.activations.emplace_back(quantizer.name, quantizer.encoding);
    encodings.activation_modules.emplace_back(quantizer.module, quantizer.module_input);
    tensors[quantizer.name] = "t/" + quantizer.name;
    by_tensor.activations.emplace_back("t/" + quantizer.name, quantizer.encoding);
  }
  TempDir dir;
  WriteTextFile(dir / "names.encodings", EncodingsJson(encodings, EncodingsVersion::k061));
  WriteTextFile(dir / "names_v1.encodings", EncodingsJson(encodings, EncodingsVersion::k100));
  WriteTextFile(dir / "tensors.encodings", EncodingsJson(by_tensor, EncodingsVersion::k061));
  WriteTextFile(dir / "x_torch.encodings", TorchEncodingsJson(encodings));
  // The module-keyed layout: {"stem": {"input": {"0": …}}, "stem.relu6": {"output": {"0": …}}, …}.
  const auto torch_json = nlohmann::json::parse(adaflow::testing::ReadTextFile(dir / "x_torch.encodings"));
  EXPECT_EQ(torch_json.at("activation_encodings").at("stem").at("input").at("0").at("offset"),
            sim.quantizers().front().encoding.offset);
  EXPECT_TRUE(torch_json.at("activation_encodings").at("fc2").at("output").contains("0"));

  for (const char* file : {"names.encodings", "names_v1.encodings", "tensors.encodings", "x_torch.encodings"}) {
    SCOPED_TRACE(file);
    bool asked = false;
    const auto read = ReadActivationEncodings(dir / file, sim.quantizers(), [&] {
      asked = true;
      return tensors;
    });
    EXPECT_EQ(asked, std::string(file) == "tensors.encodings");  // only when the quantizer names do not match
    ASSERT_EQ(read.size(), sim.quantizers().size());
    for (std::size_t idx = 0; idx < read.size(); ++idx)
      EXPECT_EQ(read[idx], sim.quantizers()[idx].encoding) << sim.quantizers()[idx].name;
  }

  auto error = [&](const std::string& text) -> std::string {
    WriteTextFile(dir / "bad.encodings", text);
    try {
      ReadActivationEncodings(dir / "bad.encodings", sim.quantizers(), [&] { return tensors; });
    } catch (const InputError& caught) {
      return caught.what();
    }
    return "";
  };
  nlohmann::json missing = nlohmann::json::parse(EncodingsJson(encodings, EncodingsVersion::k061));
  missing.at("activation_encodings").erase("fc2");
  EXPECT_NE(error(missing.dump()).find("bad.encodings' has no activation entry for the quantizer 'fc2' (quantizer name "
                                       "'fc2')"),
            std::string::npos)
      << error(missing.dump());
  nlohmann::json missing_tensor = nlohmann::json::parse(EncodingsJson(by_tensor, EncodingsVersion::k061));
  missing_tensor.at("activation_encodings").erase("t/up");
  EXPECT_NE(error(missing_tensor.dump()).find("no activation entry for the quantizer 'up' (ONNX tensor name 't/up')"),
            std::string::npos)
      << error(missing_tensor.dump());
  nlohmann::json extra = nlohmann::json::parse(EncodingsJson(encodings, EncodingsVersion::k061));
  extra.at("activation_encodings")["other"] = extra.at("activation_encodings").at("fc2");
  EXPECT_NE(error(extra.dump()).find("activation entries that no quantizer of this model matches (by quantizer name): "
                                     "'other'"),
            std::string::npos)
      << error(extra.dump());
  nlohmann::json floating = nlohmann::json::parse(EncodingsJson(encodings, EncodingsVersion::k061));
  floating.at("activation_encodings").at("fc2") = nlohmann::json::array({{{"bitwidth", 32}, {"dtype", "float"}}});
  EXPECT_NE(error(floating.dump()).find("activation entry 'fc2' is float"), std::string::npos) << error(floating.dump());
  EXPECT_NE(error("{\"activation_encodings\": {\"stem\": {\"output\": {\"1\": {}}}}}").find("output 1"),
            std::string::npos);
  EXPECT_NE(error("{\"activation_encodings\": {\"stem\": {}}}").find("entry 'stem' is empty"), std::string::npos);
  EXPECT_NE(error("{\"activation_encodings\": {\"stem\": {\"output\": {}}}}").find("entry 'stem': expected"),
            std::string::npos);
}

}  // namespace
}  // namespace adaflow::io
