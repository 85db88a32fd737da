#include "stages/evaluate/evaluate_stage.h"

#include "pipeline/pipeline_spec.h"
#include "stages/artifacts.h"
#include "stages/data/data_types.h"
#include "stages/evaluation_tasks.h"
#include "stages/metrics_json.h"
#include "stages/stage_common.h"

namespace adaflow {
namespace {

constexpr const char* kMetricsFile = "metrics.json";

const char* VariantName(EvalVariant variant) {
  switch (variant) {
    case EvalVariant::kFp: return "fp";
    case EvalVariant::kNearest: return "nearest";
    case EvalVariant::kAdaround: return "adaround";
  }
  return "?";
}

}  // namespace

const Schema<EvaluateOptions>& EvaluateStage::GetSchema() {
  static const Schema<EvaluateOptions> schema = [] {
    using O = EvaluateOptions;
    Schema<O> s("evaluate");
    s.EnumList("compare", &O::compare,
               {{"fp", EvalVariant::kFp}, {"nearest", EvalVariant::kNearest}, {"adaround", EvalVariant::kAdaround}},
               "variants to compare");
    s.Int("num_samples", &O::num_samples, "evaluation samples to use; 0 = all").Min(0);
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> EvaluateStage::Make(const Options& options, const PipelineSpec& spec) {
  if (options.compare.empty()) throw InputError("'compare' must name at least one variant");
  RequireData(spec, "evaluation", "evaluate");
  return std::make_unique<EvaluateStage>(options);
}

StageOutputs EvaluateStage::Run(const StageInputs& inputs, StageContext& ctx) {
  const auto& upstream = inputs.Get<ModelArtifact>(PortType::kModel);
  const auto data = RunDataSet(ctx, "evaluation");
  const model::ForwardFn fp = [&](const torch::Tensor& x) { return upstream.fp->Forward(x); };
  auto metrics = std::make_shared<MetricsArtifact>();
  if (upstream.sim) {
    metrics->param_bw = upstream.sim->config().param_bw;
    metrics->output_bw = upstream.sim->config().output_bw;
  }
  std::vector<model::ForwardFn> forwards;
  for (EvalVariant variant : options_.compare) {
    const std::string name = VariantName(variant);
    std::shared_ptr<const quant::QuantSim> sim;
    if (variant != EvalVariant::kFp) {
      if (!upstream.sim || !upstream.sim->calibrated())
        throw InputError("compare lists '" + name + "', which needs a calibrated quant-sim upstream "
                         "(quant_sim, then calibrate, before evaluate)");
      if (variant == EvalVariant::kAdaround && upstream.sim_weights != SimWeights::kAdaround)
        throw InputError("compare lists 'adaround', but no adaround stage is upstream of this evaluate stage");
      if (variant == EvalVariant::kNearest && upstream.sim_weights == SimWeights::kNearest) {
        sim = upstream.sim;
      } else if (variant == EvalVariant::kNearest) {
        // Round-to-nearest weights with the same quant-sim settings, calibrated the same way.
        auto nearest = std::make_shared<quant::QuantSim>(upstream.fp, *upstream.layers, upstream.sim->config());
        nearest->Calibrate(*RunDataSet(ctx, "calibration"), upstream.calibration.scheme,
                           upstream.calibration.percentile, upstream.calibration.num_batches);
        sim = nearest;
      } else {
        sim = upstream.sim;
      }
    }
    forwards.push_back(sim ? model::ForwardFn([sim](const torch::Tensor& x) { return sim->Forward(x); }) : fp);
  }
  // Every variant's pieces side by side on the run's threads.
  const auto results = EvaluateInTasks(ctx, forwards, *data, &fp, options_.num_samples);
  for (std::size_t index = 0; index < results.size(); ++index) {
    const std::string name = VariantName(options_.compare[index]);
    ctx.log().info("{:<9} {}", name, model::FormatResult(results[index]));
    metrics->variants.emplace_back(name, results[index]);
  }
  ctx.WriteFile(kMetricsFile, MetricsToJson(*metrics));
  StageOutputs outputs;
  outputs.Set(PortType::kMetrics, metrics);
  return outputs;
}

StageOutputs EvaluateStage::Restore(const StageInputs&, StageContext& ctx) {
  auto metrics = std::make_shared<MetricsArtifact>();
  MetricsFromJsonFile(ctx.PathFor(kMetricsFile), *metrics);
  StageOutputs outputs;
  outputs.Set(PortType::kMetrics, metrics);
  return outputs;
}

void RegisterEvaluateStage(StageRegistry& registry) {
  registry.Add(DefineStage<EvaluateStage>("evaluate", "top-1/top-5 (or SQNR/cosine) of the variants it compares",
                                          {{PortType::kModel}}, {PortType::kMetrics}));
}

}  // namespace adaflow
