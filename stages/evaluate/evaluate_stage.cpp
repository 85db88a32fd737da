#include "stages/evaluate/evaluate_stage.h"

#include "stages/stage_common.h"

namespace adaflow {

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

StageOutputs EvaluateStage::Run(const StageInputs&, StageContext&) { ThrowNotAvailable("evaluate"); }

void RegisterEvaluateStage(StageRegistry& registry) {
  registry.Add(DefineStage<EvaluateStage>("evaluate", "top-1/top-5 (or SQNR/cosine) of the variants it compares",
                                          {{PortType::kModel}}, {PortType::kMetrics}));
}

}  // namespace adaflow
