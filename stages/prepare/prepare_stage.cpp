#include "stages/prepare/prepare_stage.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "pipeline/stage_context.h"
#include "pipeline/pipeline_spec.h"
#include "src/model/attention.h"
#include "src/model/batch_norm_fold.h"
#include "stages/artifacts.h"
#include "stages/stage_common.h"

namespace adaflow {
namespace {

constexpr const char* kType = "prepare";

class PrepareStage : public Stage {
 public:
  using Options = PrepareOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit PrepareStage(Options options) : options_(std::move(options)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;

 private:
  Options options_;
};

}  // namespace


const Schema<PrepareOptions>& PrepareStage::GetSchema() {
  static const Schema<PrepareOptions> schema = [] {
    Schema<PrepareOptions> s(kType);
    s.Bool("fold_batchnorm", &PrepareOptions::fold_batchnorm,
           "fold BatchNorm as AIMET's fold_all_batch_norms: into the Conv1d/Conv2d/ConvTranspose2d/Linear before it");
    s.Bool("fold_forward", &PrepareOptions::fold_forward,
           "with fold_batchnorm: also fold a BatchNorm into the Conv (padding 0, groups 1) or Linear after it, "
           "as AIMET does");
    s.Bool("quantizable_attention", &PrepareOptions::quantizable_attention,
           "split each nn.MultiheadAttention's packed in_proj into Linear layers linear_Q, linear_K, linear_V, as "
           "AIMET's prepare_pt_transformer_for_quantsim does");
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> PrepareStage::Make(const Options& options, const PipelineSpec&) {
  return std::make_unique<PrepareStage>(options);
}

StageOutputs PrepareStage::Run(const StageInputs& inputs, StageContext& ctx) {
  const auto& loaded = inputs.Get<ModelArtifact>(port::kModel);
  const ModelSection section = ModelSectionOf(ctx.spec());
  auto artifact = std::make_shared<ModelArtifact>(loaded);
  if (options_.quantizable_attention) {
    std::vector<model::AttentionRewrite> rewrites;
    artifact->fp = model::MakeAttentionQuantizable(artifact->fp, &rewrites);
    for (const auto& rewrite : rewrites)
      ctx.log().info("{}", model::Describe(rewrite));
  }
  if (options_.fold_batchnorm) {
    model::BatchNormFolds folds;
    artifact->fp = model::FoldBatchNorm(*artifact->fp, {}, model::FoldOptions{options_.fold_forward}, &folds);
    for (const auto& fold : folds.folded)
      ctx.log().debug("folded {} into {} ({})", fold.batch_norm, fold.layer, fold.forward ? "before it" : "after it");
    ctx.log().info("folded {} BatchNorm(s)", folds.folded.size());
    for (const auto& [batch_norm, reason] : folds.left) ctx.log().warn("BatchNorm {} stays unfolded: {}", batch_norm, reason);
    if (!folds.converted.empty())
      ctx.log().info("{} BatchNorm(s) left have weight γ/σ and bias β − μγ/σ, as AIMET converts standalone ones: {}",
                     folds.converted.size(), fmt::join(folds.converted, ", "));
  }
  // Prepare before caching, or the cached inputs won't match the prepared weights. Check it kept the outputs.
  const std::vector<TensorSpec> model_inputs = ModelInputsOf(ctx.spec());
  if (artifact->fp != loaded.fp && !model_inputs.empty()) {
    auto generator = at::detail::createCPUGenerator(static_cast<std::uint64_t>(ctx.spec().seed));
    // Random floats; integer inputs (token ids, masks) all 1: a mask of zeros would mask every position.
    model::Inputs probe = model::ExampleInputs(model_inputs);
    for (std::size_t index = 0; index < probe.size(); ++index)
      probe[index] = model_inputs[index].integer() ? at::ones_like(probe[index])
                                                   : at::rand(model_inputs[index].shape, generator);
    const torch::Tensor before = loaded.fp->Forward(probe), after = artifact->fp->Forward(probe);
    const double difference = ((after - before).abs().max() / before.abs().max().clamp_min(1e-12)).item<double>();
    if (!std::isfinite(difference)) {
      ctx.log().info("the model's outputs on a probe input are not finite: preparing is not checked");
    } else {
      ctx.log().info("prepared model's outputs differ by {:.2e} (relative) on a random input", difference);
      if (difference > 1e-4) ctx.log().warn("preparing changed the outputs by more than 1e-4");
    }
  }
  auto graph = std::make_shared<LayerGraphArtifact>();
  graph->graph = std::make_shared<model::LayerGraph>(model::DiscoverLayers(*artifact->fp));
  if (graph->graph->layers.empty()) throw InputError("model '" + section.path + "' has no quantizable layers");
  ctx.log().info("{} quantizable layers", graph->graph->layers.size());
  ctx.WriteFile("layers.txt", graph->graph->Describe());
  StageOutputs outputs;
  outputs.Set(port::kModel, artifact);
  outputs.Set(port::kLayerGraph, graph);
  return outputs;
}

void RegisterPrepareStage(StageRegistry& registry) {
  registry.Add(DefineStage<PrepareStage>(kType, "split attention projections; fold batch norm; find quantizable layers and their DAG",
                                         {{port::kModel}}, {port::kModel, port::kLayerGraph},
                                         std::vector<DataSetUse>{}));
}

}  // namespace adaflow
