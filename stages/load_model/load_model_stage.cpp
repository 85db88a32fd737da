#include "stages/load_model/load_model_stage.h"

#include "pipeline/stage_context.h"
#include "pipeline/pipeline_spec.h"
#include "stages/artifacts.h"
#include "stages/stage_common.h"

namespace adaflow {
namespace {

constexpr const char* kType = "load_model";

class LoadModelStage : public Stage {
 public:
  using Options = LoadModelOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit LoadModelStage(Options options) : options_(std::move(options)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;

 private:
  Options options_;
};

}  // namespace


const Schema<LoadModelOptions>& LoadModelStage::GetSchema() {
  static const Schema<LoadModelOptions> schema("load_model");
  return schema;
}

std::unique_ptr<Stage> LoadModelStage::Make(const Options& options, const PipelineSpec& spec) {
  RequireModel(spec, "load_model");
  return std::make_unique<LoadModelStage>(options);
}

StageOutputs LoadModelStage::Run(const StageInputs&, StageContext& ctx) {
  const ModelSection section = ModelSectionOf(ctx.spec());
  auto artifact = std::make_shared<ModelArtifact>();
  const std::vector<TensorSpec> inputs = ModelInputsOf(ctx.spec());
  artifact->fp = model::Model::LoadWithInputs(section.path, inputs);
  std::string described;
  for (const auto& input : inputs)
    described += (described.empty() ? "" : ", ") + (inputs.size() == 1 && input.name == "input" ? "" : input.name + " ") +
                 model::ShapeString(input.shape) + (input.integer() ? " " + input.dtype : "");
  ctx.log().info("loaded {} (input {})", section.path, described);
  StageOutputs outputs;
  outputs.Set(port::kModel, artifact);
  return outputs;
}

void RegisterLoadModelStage(StageRegistry& registry) {
  registry.Add(DefineStage<LoadModelStage>(kType, "load the TorchScript model of the top-level 'model:' section",
                                           {}, {port::kModel}, std::vector<DataSetUse>{}));
}

}  // namespace adaflow
