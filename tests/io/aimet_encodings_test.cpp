#include "src/io/aimet_encodings.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
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
    config.per_channel = per_channel;
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

    const auto frozen = ReadParamEncodings(dir / "x_adaround.encodings", layers);
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

std::string ReadError(const std::string& text) {
  TempDir dir;
  WriteTextFile(dir / "bad.encodings", text);
  try {
    ReadParamEncodings(dir / "bad.encodings");
  } catch (const InputError& error) {
    return error.what();
  }
  return "";
}

TEST(AimetEncodingsTest, MalformedFilesAreClearErrors) {
  EXPECT_NE(ReadError("{not json").find("is not valid JSON"), std::string::npos);
  EXPECT_NE(ReadError("{\"activation_encodings\": {}}").find("has no \"param_encodings\" object"), std::string::npos);
  EXPECT_NE(ReadError("{\"param_encodings\": {\"fc.bias\": []}}").find("entry 'fc.bias' is not a weight"),
            std::string::npos);
  EXPECT_NE(ReadError("{\"param_encodings\": {\"fc.weight\": [{\"bitwidth\": 4}]}}").find("lacks a field"),
            std::string::npos);
  EXPECT_NE(ReadError("{\"param_encodings\": {\"fc.weight\": [{\"bitwidth\": 4, \"scale\": 0.1, \"offset\": -40, "
                      "\"is_symmetric\": \"True\"}]}}")
                .find("offset is outside the grid"),
            std::string::npos);
  auto fp = model::Model::Load(SourcePath("tests/models/mixed_traced.pt"), {});
  TempDir dir;
  WriteTextFile(dir / "other.encodings", "{\"param_encodings\": {\"conv9.weight\": [{\"bitwidth\": 4, \"scale\": 0.1, "
                                         "\"offset\": -8, \"is_symmetric\": \"True\"}]}}");
  EXPECT_THROW(ReadParamEncodings(dir / "other.encodings", model::DiscoverLayers(*fp)), InputError);
}

}  // namespace
}  // namespace adaflow::io
