// tests/configs/norm_ops.yaml through the CLI: a model with GroupNorm, InstanceNorm, PReLU, LayerNorm and
// Embedding parameters and with ops beyond conv/linear (tensor–scalar arithmetic, F.interpolate, pow,
// mean, rsqrt, exp), under AIMET's HTP v73 config. Its encodings files carry every parameter the config
// quantizes and an output quantizer wherever an AIMET-prepared model has one; read back into a second
// config's quant-sim (param_encodings + activation_encodings), they give that quant-sim exactly.

#include <gtest/gtest.h>
#include <torch/script.h>

#include <nlohmann/json.hpp>
#include <set>

#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

using nlohmann::json;

std::string ReloadConfig(const std::string& run, const std::string& encodings) {
  return "name: reload\nseed: 0\nthreads: 2\nmodel: {path: " + run + "/model_adaround.pt, input_shape: [1, 3, 8, 8]}\n"
         "data:\n  evaluation: {type: random, shape: [3, 8, 8], num_samples: 64, batch_size: 32}\n"
         "stages:\n"
         "  - {id: load,     type: load_model}\n"
         "  - {id: prepare,  type: prepare}\n"
         "  - {id: quantsim, type: quant_sim, default_output_bw: 8, default_param_bw: 4,\n"
         "     config_file: configs/quantsim/htp_quantsim_config_v73.json,\n"
         "     param_encodings: " + encodings + ", activation_encodings: " + encodings + "}\n"
         "  - {id: export,   type: export, formats: [aimet_0.6.1]}\n";
}

TEST(NormOpsPipelineTest, EveryParameterAndOpOutputIsInTheEncodingsAndTheyRebuildTheSameQuantSim) {
  TempDir dir;
  const std::string run = dir / "run";
  const CommandResult result =
      RunCli("run tests/configs/norm_ops.yaml --run-dir " + run + " --set 'stages.evaluate.metrics=[sqnr, cosine, mse]'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::printf("%s\n", result.output.substr(result.output.find("model  ")).c_str());
  // The chosen metrics, for every row, the exported model's too.
  EXPECT_NE(result.output.find("SQNR dB   cosine      MSE"), std::string::npos) << result.output;
  const json accuracy = json::parse(ReadTextFile(run + "/report.json")).at("accuracy");
  for (const char* variant : {"nearest", "adaround", "exported"}) {
    EXPECT_GT(accuracy.at(variant).at("mse").get<double>(), 0.0) << variant;
    EXPECT_GT(accuracy.at(variant).at("sqnr_db").get<double>(), 10.0) << variant;
  }
  // top-1 on unlabelled data: exit 2 naming the option and the data set; nothing before it lost.
  const CommandResult labels = RunCli("run tests/configs/norm_ops.yaml --run-dir " + run + " --set 'stages.evaluate.metrics=[top1]'");
  EXPECT_EQ(labels.exit_code, 2) << labels.output;
  EXPECT_NE(labels.output.find("'metrics' lists 'top1', which needs labels, and data set 'evaluation' has none"),
            std::string::npos)
      << labels.output;
  ASSERT_EQ(RunCli("run tests/configs/norm_ops.yaml --run-dir " + run + " --set 'stages.evaluate.metrics=[sqnr, cosine, mse]'").exit_code, 0);

  const json encodings = json::parse(ReadTextFile(run + "/norm_ops.encodings"));
  std::set<std::string> params;
  for (const auto& [key, entry] : encodings.at("param_encodings").items()) params.insert(key);
  // The layers' weights, every other weight, and the GroupNorm bias the HTP config quantizes.
  EXPECT_EQ(params, (std::set<std::string>{"conv.weight", "conv2.weight", "fc.weight", "gn.weight", "gn.bias",
                                           "inorm.weight", "prelu.weight", "ln.weight", "emb.weight"}));
  EXPECT_EQ(encodings.at("param_encodings").at("ln.weight")[0].at("is_symmetric"), "False");  // HTP: asymmetric
  EXPECT_EQ(encodings.at("param_encodings").at("prelu.weight").size(), 8u);                   // HTP: per channel
  std::vector<std::string> activations;
  for (const auto& [key, entry] : encodings.at("activation_encodings").items()) activations.push_back(key);
  std::sort(activations.begin(), activations.end());
  // No quantizer on the interpolation (HTP: Upsample is_output_quantized False) nor on the Embedding (Gather).
  EXPECT_EQ(activations, (std::vector<std::string>{"add_0", "add_1", "add_2", "conv", "conv2", "exp_0", "fc",
                                                   "group_norm_0", "input", "instance_norm_0", "layer_norm_0",
                                                   "mean_0", "mean_1", "mul_0", "mul_1", "mul_2", "pow_0",
                                                   "prelu_0", "rsqrt_0"}));

  // The exported model is the quant-sim's weights: those parameters on their grids too.
  auto fp = torch::jit::load(SourcePath("tests/models/norm_ops_scripted.pt"));
  auto exported = torch::jit::load(run + "/model_adaround.pt");
  for (const char* module : {"ln", "gn", "emb"}) {
    SCOPED_TRACE(module);
    const torch::Tensor weight = exported.attr(module).toModule().attr("weight").toTensor();
    const json& entry = encodings.at("param_encodings").at(std::string(module) + ".weight")[0];
    const torch::Tensor steps = weight / entry.at("scale").get<double>();
    EXPECT_LT((steps - steps.round()).abs().max().item<double>(), 1e-3);
    EXPECT_FALSE(torch::equal(weight, fp.attr(module).toModule().attr("weight").toTensor()));
  }

  // Each encodings file, read into a second config's quant-sim, gives the same encodings back.
  for (const char* name : {"norm_ops.encodings", "norm_ops_v1.0.0.encodings"}) {
    SCOPED_TRACE(name);
    const std::string config = dir / (std::string(name) + ".yaml");
    WriteTextFile(config, ReloadConfig(run, run + "/" + name));
    const std::string again = dir / (std::string("again_") + name);
    const CommandResult reload = RunCli("run " + config + " --run-dir " + again);
    ASSERT_EQ(reload.exit_code, 0) << reload.output;
    EXPECT_NE(reload.output.find("froze the param encodings of 3 layers and 6 other parameters"), std::string::npos)
        << reload.output;
    // The same grids (min and max are recomputed from scale and offset on reading, as AIMET does).
    const json back = json::parse(ReadTextFile(again + "/reload.encodings"));
    for (const char* section : {"param_encodings", "activation_encodings"}) {
      ASSERT_EQ(back.at(section).size(), encodings.at(section).size()) << section;
      for (const auto& [key, entries] : encodings.at(section).items()) {
        ASSERT_TRUE(back.at(section).contains(key)) << key;
        ASSERT_EQ(back.at(section).at(key).size(), entries.size()) << key;
        for (std::size_t channel = 0; channel < entries.size(); ++channel)
          for (const char* field : {"bitwidth", "dtype", "is_symmetric", "offset", "scale"})
            EXPECT_EQ(back.at(section).at(key)[channel].at(field), entries[channel].at(field)) << key << " " << field;
      }
    }
  }
}

}  // namespace
}  // namespace adaflow::testing
