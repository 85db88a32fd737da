#include "stages/evaluate/evaluate_stage.h"

#include <algorithm>
#include <filesystem>

#include "pipeline/pipeline_spec.h"
#include "pipeline/planner.h"
#include "stages/artifacts.h"
#include "src/io/aimet_encodings.h"
#include "stages/quant_sim/quant_sim_stage.h"
#include "stages/data/data_types.h"
#include "stages/evaluation_tasks.h"
#include "stages/metrics_json.h"
#include "stages/stage_common.h"

namespace adaflow {
namespace {

constexpr const char* kMetricsFile = "metrics.json";
/// The input fed by the derived nearest baseline.
constexpr const char* kNearestInput = "nearest";

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

std::vector<DerivedStage> EvaluateStage::Derive(const Plan& plan, std::size_t self) {
  const PlannedStage& stage = plan.stages[self];
  const auto& compare = GetSchema().Bind(stage.options).compare;
  if (std::find(compare.begin(), compare.end(), EvalVariant::kNearest) == compare.end()) return {};
  auto feeder = [&plan](const PlannedStage& of, const char* input) -> const PlannedStage* {
    auto it = of.input_from.find(input);
    return it == of.input_from.end() ? nullptr : &plan.stages[it->second];
  };
  // The compared quant-sim: a calibrate stage fed by a quant_sim stage (anything else fails in Run).
  const PlannedStage* calibrate = feeder(stage, port::kModel);
  if (!calibrate || calibrate->type != "calibrate") return {};
  const PlannedStage* sim = feeder(*calibrate, port::kModel);
  if (!sim || sim->type != "quant_sim") return {};
  const PlannedStage* weights = feeder(*sim, port::kModel);
  const QuantSimOptions sim_options = QuantSimStage::GetSchema().Bind(sim->options);
  const bool adaround = (weights && weights->type == "adaround") || !sim_options.param_encodings.empty();
  if (!adaround) return {};  // that quant-sim is the nearest baseline itself
  OptionValues nearest_sim = sim->options;
  nearest_sim.Set("param_encodings", std::string(), false);
  nearest_sim.Set("activation_encodings", std::string(), false);  // nearest_calibrate computes them
  // (A missing file is quant_sim's error, reported when it is built.)
  if (std::filesystem::is_regular_file(sim_options.param_encodings)) {
    // Layers the file leaves float stay float in the baseline too, as in the quant-sim it is compared with.
    auto overrides = std::get<std::map<std::string, std::int64_t>>(sim->options.Get("param_bw_override"));
    for (const auto& [key, entries] : io::ParseParamEncodings(sim_options.param_encodings)) {
      const std::string layer = io::LayerOfWeightKey(key);
      if (!layer.empty() && io::ParamEntryEncodings(entries, sim_options.param_encodings + ", entry '" + key + "'").empty())
        overrides[layer] = 32;
    }
    nearest_sim.Set("param_bw_override", overrides, false);
  }
  // After the stage that feeds the quant_sim its layer graph (prepare): the FP model and the graph from there.
  return {{"nearest_sim", "quant_sim", nearest_sim, {feeder(*sim, port::kLayerGraph)->id}, ""},
          {"nearest_calibrate", "calibrate", calibrate->options, {stage.id + ".nearest_sim"}, kNearestInput}};
}

StageOutputs EvaluateStage::Run(const StageInputs& inputs, StageContext& ctx) {
  const auto& upstream = inputs.Get<ModelArtifact>(port::kModel);
  const auto sim = inputs.As<QuantSimArtifact>(port::kModel);
  const auto nearest = inputs.As<QuantSimArtifact>(kNearestInput);
  const auto data = RunDataSet(ctx, "evaluation");
  const model::ForwardFn fp = [&](const torch::Tensor& x) { return upstream.fp->Forward(x); };
  auto metrics = std::make_shared<MetricsArtifact>();
  if (sim) {
    metrics->param_bw = sim->sim->config().param_bw;
    metrics->output_bw = sim->sim->config().output_bw;
  }
  std::vector<model::ForwardFn> forwards;
  for (EvalVariant variant : options_.compare) {
    const std::string name = VariantName(variant);
    if (variant == EvalVariant::kFp) {
      forwards.push_back(fp);
      continue;
    }
    if (!sim || !sim->sim->calibrated())
      throw InputError("compare lists '" + name + "', which needs a calibrated quant-sim upstream "
                       "(quant_sim, then calibrate, before evaluate)");
    std::shared_ptr<const quant::QuantSim> chosen = sim->sim;
    if (variant == EvalVariant::kAdaround && sim->weights != SimWeights::kAdaround)
      throw InputError("compare lists 'adaround', but no adaround stage is upstream of this evaluate stage");
    if (variant == EvalVariant::kNearest && sim->weights != SimWeights::kNearest) {
      // The derived stages' quant-sim: round-to-nearest weights, the same settings, calibrated the same way.
      if (!nearest)
        throw InputError("compare lists 'nearest', but the quant-sim upstream holds AdaRound's weights and no "
                         "nearest baseline was derived (evaluate a calibrate stage fed by a quant_sim stage)");
      chosen = nearest->sim;
    }
    forwards.push_back([chosen](const torch::Tensor& x) { return chosen->Forward(x); });
  }
  // Every variant's pieces side by side on the run's threads.
  const auto results = EvaluateInTasks(ctx, forwards, *data, &fp, options_.num_samples);
  for (std::size_t index = 0; index < results.size(); ++index) {
    const std::string name = VariantName(options_.compare[index]);
    ctx.log().info("{:<9} {}", name, model::FormatResult(results[index]));
    metrics->variants.emplace_back(name, results[index]);
  }
  return WriteMetricsOutput(ctx, kMetricsFile, metrics);
}

StageOutputs EvaluateStage::Restore(const StageInputs&, StageContext& ctx) {
  StageOutputs outputs;
  outputs.Set(port::kMetrics, ReadMetricsFile(ctx, kMetricsFile));
  return outputs;
}

void RegisterEvaluateStage(StageRegistry& registry) {
  StageDef def = DefineStage<EvaluateStage>(
      "evaluate", "top-1/top-5 (or SQNR/cosine) of the variants it compares",
      {{port::kModel}, {port::kModel, /*optional=*/true, kNearestInput, /*derived=*/true}}, {port::kMetrics});
  def.derive = &EvaluateStage::Derive;
  registry.Add(std::move(def));
}

}  // namespace adaflow
