#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"

namespace adaflow {

/// `type: load_model` — loads the TorchScript model named by the top-level `model:` section.
struct LoadModelOptions {};

class LoadModelStage : public Stage {
 public:
  using Options = LoadModelOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit LoadModelStage(Options options) : options_(std::move(options)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  std::optional<std::vector<std::string>> DataSets() const override { return std::vector<std::string>{}; }

 private:
  Options options_;
};

void RegisterLoadModelStage(StageRegistry& registry);

}  // namespace adaflow
