#include "stages/prepare/prepare_stage.h"

#include "stages/stage_common.h"

namespace adaflow {

const Schema<PrepareOptions>& PrepareStage::GetSchema() {
  static const Schema<PrepareOptions> schema = [] {
    Schema<PrepareOptions> s("prepare");
    s.Bool("fold_batchnorm", &PrepareOptions::fold_batchnorm, "fold BatchNorm into the preceding Conv/Linear");
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> PrepareStage::Make(const Options& options, const PipelineSpec&) {
  return std::make_unique<PrepareStage>(options);
}

StageOutputs PrepareStage::Run(const StageInputs&, StageContext&) { ThrowNotAvailable("prepare"); }

void RegisterPrepareStage(StageRegistry& registry) {
  registry.Add(DefineStage<PrepareStage>("prepare", "fold batch norm; find quantizable layers and their DAG",
                                         {{PortType::kModel}}, {PortType::kModel, PortType::kLayerSet}));
}

}  // namespace adaflow
