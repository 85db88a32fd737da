#include "stages/load_model/load_model_stage.h"

#include "stages/stage_common.h"

namespace adaflow {

const Schema<LoadModelOptions>& LoadModelStage::GetSchema() {
  static const Schema<LoadModelOptions> schema("load_model");
  return schema;
}

std::unique_ptr<Stage> LoadModelStage::Make(const Options& options, const PipelineSpec& spec) {
  RequireModel(spec, "load_model");
  return std::make_unique<LoadModelStage>(options);
}

StageOutputs LoadModelStage::Run(const StageInputs&, StageContext&) { ThrowNotAvailable("load_model"); }

void RegisterLoadModelStage(StageRegistry& registry) {
  registry.Add(DefineStage<LoadModelStage>("load_model", "load the TorchScript model of the top-level 'model:' section",
                                           {}, {PortType::kModel}));
}

}  // namespace adaflow
