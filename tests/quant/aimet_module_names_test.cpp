// The modules the module-keyed encodings (`_torch.encodings`) name are modules of the model AIMET's model
// preparer would make: tests/data/aimet_module_names.json lists them for the example and test models, as
// torch.fx traces them (tests/models/aimet_module_names.py, Debian's torch 1.13), for scripted and traced
// files alike.

#include "src/quant/aimet_module_names.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

#include "src/quant/quant_sim.h"
#include "src/model/batch_norm_fold.h"
#include "tests/support/test_support.h"

namespace adaflow::quant {
namespace {

using adaflow::testing::SourcePath;

/// The scripted file and, where there is one, the traced file of a model the reference lists.
std::vector<std::string> FilesOf(const std::string& path) {
  std::vector<std::string> files = {path};
  std::string traced = path;
  const auto scripted = traced.find("_scripted");
  if (scripted != std::string::npos) traced.replace(scripted, 9, "_traced");
  else if (traced == "examples/models/resnet8_fmnist.pt") traced = "examples/models/resnet8_fmnist_traced.pt";
  if (traced != path && std::ifstream(SourcePath(traced))) files.push_back(traced);
  return files;
}

TEST(AimetModuleNamesTest, EveryQuantizerIsKeyedByAModuleOfAimetsPreparedModel) {
  std::ifstream in(SourcePath("tests/data/aimet_module_names.json"));
  const auto reference = nlohmann::json::parse(in);
  // Functionals AIMET 1.3x's preparer leaves as they are (hardswish: its table spells it 'hardwish'; mish;
  // torch.clamp): AIMET quantizes no output there, adaflow keys its quantizer by its own name.
  const std::set<std::string> not_modules = {"aten::hardswish", "aten::mish", "aten::clamp"};
  int checked = 0;
  for (const auto& [path, entry] : reference.items()) {
    const std::set<std::string> modules(entry.at("modules").begin(), entry.at("modules").end());
    for (const std::string& file : FilesOf(path)) {
      SCOPED_TRACE(file);
      auto fp = model::FoldBatchNorm(*model::Model::Load(SourcePath(file), {}));
      const QuantSim sim(fp, model::DiscoverLayers(*fp), QuantSimConfig{});
      for (const auto& quantizer : sim.quantizers()) {
        if (not_modules.count(quantizer.op)) {
          EXPECT_EQ(quantizer.module, quantizer.name);
          continue;
        }
        EXPECT_TRUE(modules.count(quantizer.module)) << quantizer.name << " (" << quantizer.op << ") keyed by '"
                                                     << quantizer.module << "', not a module of the prepared model";
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 150);
}

TEST(AimetModuleNamesTest, TheExamplesKeysAreAimetsModules) {
  auto fp = model::FoldBatchNorm(*model::Model::Load(SourcePath("examples/models/resnet8_fmnist.pt"), {}));
  QuantSimConfig config;
  config.param_bw_override = {{"fc", 8}};
  const QuantSim sim(fp, model::DiscoverLayers(*fp), config);
  std::vector<std::string> keys;
  for (const auto& quantizer : sim.quantizers()) keys.push_back(quantizer.module + (quantizer.module_input ? ":in" : ""));
  EXPECT_EQ(keys, (std::vector<std::string>{"conv1:in", "module_relu", "layers.0.module_relu_1", "layers.0.conv2",
                                            "layers.0.module_relu_2", "layers.1.module_relu_3", "layers.1.conv2",
                                            "layers.1.shortcut.0", "layers.1.module_relu_4", "layers.2.module_relu_5",
                                            "layers.2.conv2", "layers.2.shortcut.0", "layers.2.module_relu_6",
                                            "module_adaptive_avg_pool2d", "fc"}));
}

}  // namespace
}  // namespace adaflow::quant
