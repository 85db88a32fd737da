#include "stages/evaluate/evaluate_stage.h"

#include <algorithm>
#include <filesystem>

#include "pipeline/stage_context.h"
#include "pipeline/pipeline_spec.h"
#include "pipeline/planner.h"
#include "stages/artifacts.h"
#include "src/io/aimet_encodings.h"
#include "stages/calibrate/calibrate_stage.h"
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

constexpr const char* kType = "evaluate";

class EvaluateStage : public Stage {
 public:
  using Options = EvaluateOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit EvaluateStage(Options options) : options_(std::move(options)) {}
  /// With `nearest` in compare and AdaRound's weights in the compared quant-sim: the nearest baseline as
  /// two derived stages, `<id>.nearest_sim` (the quant_sim's options, FP weights, no param_encodings file)
  /// and `<id>.nearest_calibrate` (the calibrate's options), feeding the input `nearest`.
  /// With `nearest` in compare and AdaRound's weights in the compared quant-sim: the nearest baseline as
  /// derived stages, `<id>.nearest_sim` (the quant_sim's options, FP weights, no encodings files) and,
  /// unless the quant-sim is weights only, `<id>.nearest_calibrate` (the calibrate's options, or its
  /// defaults when the quant-sim read its activation encodings from a file), feeding the input `nearest`.
  static std::vector<DerivedStage> Derive(const Plan& plan, std::size_t self);
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  StageOutputs Restore(const StageInputs& inputs, StageContext& ctx) override;

 private:
  Options options_;
};

}  // namespace

const Schema<EvaluateOptions>& EvaluateStage::GetSchema() {
  static const Schema<EvaluateOptions> schema = [] {
    using O = EvaluateOptions;
    Schema<O> s(kType);
    s.EnumList("compare", &O::compare,
               kEvalVariantNames,
               "variants to compare");
    s.Int("num_samples", &O::num_samples, "evaluation samples to use; 0 = all").Min(0);
    s.EnumList("metrics", &O::metrics, kMetricNames,
               "what to report: top1/top5 need labels; token_accuracy/perplexity need a label per token (N x T, "
               "-100 = none); sqnr, cosine and mse compare each variant's outputs with the FP model's; [] = top1, top5 "
               "with labels, else sqnr, cosine");
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> EvaluateStage::Make(const Options& options, const PipelineSpec& spec) {
  if (options.compare.empty()) throw InputError("'compare' must name at least one variant");
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
  // The compared quant-sim: a quant_sim stage, calibrated by a calibrate stage or not (weights only, or
  // activation encodings from a file); anything else fails in Run.
  const PlannedStage* fed = feeder(stage, port::kModel);
  const PlannedStage* calibrate = fed && fed->type == "calibrate" ? fed : nullptr;
  const PlannedStage* sim = calibrate ? feeder(*calibrate, port::kModel) : fed;
  if (!sim || sim->type != "quant_sim") return {};
  const PlannedStage* weights = feeder(*sim, port::kModel);
  const QuantSimOptions sim_options = QuantSimSchema().Bind(sim->options);
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
  const std::string prepare = feeder(*sim, port::kLayerGraph)->id;
  // Weights only: nothing to calibrate, the baseline's quant-sim is compared as it is.
  if (sim_options.default_output_bw >= 32) return {{"nearest_sim", "quant_sim", nearest_sim, {prepare}, kNearestInput}};
  // Calibrated as the compared quant-sim was: by its calibrate stage's options, or (activation encodings
  // read from a file, which fit AdaRound's weights only) by calibrate's defaults on the calibration data.
  const OptionValues calibration = calibrate ? calibrate->options : CalibrateSchema().erased().Defaults();
  return {{"nearest_sim", "quant_sim", nearest_sim, {prepare}, ""},
          {"nearest_calibrate", "calibrate", calibration, {stage.id + ".nearest_sim"}, kNearestInput}};
}

StageOutputs EvaluateStage::Run(const StageInputs& inputs, StageContext& ctx) {
  const auto& upstream = inputs.Get<ModelArtifact>(port::kModel);
  const auto sim = inputs.As<QuantSimArtifact>(port::kModel);
  const auto nearest = inputs.As<QuantSimArtifact>(kNearestInput);
  const auto data = RunDataSet(ctx, "evaluation");
  const model::ForwardFn fp = [&](const model::Inputs& x) { return upstream.fp->Forward(x); };
  auto metrics = std::make_shared<MetricsArtifact>();
  if (sim) {
    metrics->param_bw = sim->sim->config().param_bw;
    metrics->output_bw = sim->sim->config().output_bw;
  }
  std::vector<model::ForwardFn> forwards;
  for (EvalVariant variant : options_.compare) {
    const std::string name = NameOf(kEvalVariantNames, variant);
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
                         "nearest baseline was derived (evaluate a quant_sim stage, or a calibrate stage fed by one)");
      chosen = nearest->sim;
    }
    forwards.push_back([chosen](const model::Inputs& x) { return chosen->Forward(x); });
  }
  for (model::Metric metric : options_.metrics)
    if (model::NeedsLabels(metric) && !data->labelled())
      throw InputError(std::string("'metrics' lists '") + NameOf(kMetricNames, metric) + "', which needs labels, and data set '" +
                       data->name() + "' has none (sqnr, cosine and mse need no labels)");
  // Every variant's pieces side by side on the run's threads.
  const auto results = EvaluateInTasks(ctx, forwards, *data, &fp, options_.num_samples, options_.metrics);
  for (std::size_t index = 0; index < results.size(); ++index) {
    const std::string name = NameOf(kEvalVariantNames, options_.compare[index]);
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
  StageDef def = DefineStage<EvaluateStage>(kType, "top-1/top-5, SQNR, cosine or MSE of the variants it compares",
      {{port::kModel}, {port::kModel, /*optional=*/true, kNearestInput, /*derived=*/true}}, {port::kMetrics},
      std::vector<DataSetUse>{{"evaluation"}});
  def.derive = &EvaluateStage::Derive;
  registry.Add(std::move(def));
}

}  // namespace adaflow
