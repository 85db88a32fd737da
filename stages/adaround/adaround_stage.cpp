#include "stages/adaround/adaround_stage.h"

#include "stages/stage_common.h"

namespace adaflow {

const Schema<AdaroundOptions>& AdaroundStage::GetSchema() {
  static const Schema<AdaroundOptions> schema = [] {
    using O = AdaroundOptions;
    Schema<O> s("adaround");
    s.Int("default_param_bw", &O::default_param_bw, "weight bitwidth").Range(2, 16);
    s.Int("num_iterations", &O::num_iterations,
          "optimizer steps per layer; 0 = 10000, or 15000 below 8 bits (AIMET)").Min(0);
    s.Float("reg_param", &O::reg_param, "rounding regulariser weight (lambda)").Min(0);
    s.FloatList("beta_range", &O::beta_range, "regulariser exponent [start, end], cosine-annealed").Size(2).Min(0);
    s.Float("warm_start", &O::warm_start, "fraction of iterations without the regulariser").Range(0, 1);
    s.Float("learning_rate", &O::learning_rate, "Adam learning rate").Min(0);
    s.Int("batch_size", &O::batch_size, "calibration samples per optimizer step").Min(1);
    s.Enum("quant_scheme", &O::quant_scheme,
           {{"tf_enhanced", WeightQuantScheme::kTfEnhanced}, {"tf", WeightQuantScheme::kTf}},
           "how the weight grid is chosen");
    s.Bool("per_channel", &O::per_channel, "one grid per output channel");
    s.Bool("symmetric", &O::symmetric, "symmetric weight grid");
    s.Enum("input_source", &O::input_source, {{"quant", InputSource::kQuant}, {"fp", InputSource::kFp}},
           "layer inputs from the partly rounded model (quant, AIMET) or the FP model (fp)");
    s.Enum("objective", &O::objective,
           {{"auto", Objective::kAuto}, {"sampled", Objective::kSampled}, {"gram", Objective::kGram}},
           "reconstruction loss: sampled rows, exact Gram form, or the cheaper per layer");
    s.StringIntMap("param_bw_override", &O::param_bw_override, "weight bitwidth per layer name").Range(2, 16);
    s.StringList("ignore", &O::ignore, "layers left at FP");
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> AdaroundStage::Make(const Options& options, const PipelineSpec& spec) {
  if (options.beta_range[0] < options.beta_range[1])
    throw InputError("'beta_range' must anneal downwards ([start, end] with start >= end), got [" +
                     FormatOptionValue(options.beta_range[0]) + ", " + FormatOptionValue(options.beta_range[1]) + "]");
  if (options.warm_start >= 1.0) throw InputError("'warm_start' must be below 1 (the regulariser would never start)");
  RequireData(spec, "calibration", "adaround");
  return std::make_unique<AdaroundStage>(options);
}

StageOutputs AdaroundStage::Run(const StageInputs&, StageContext&) { ThrowNotAvailable("adaround"); }

void RegisterAdaroundStage(StageRegistry& registry) {
  registry.Add(DefineStage<AdaroundStage>(
      "adaround", "learn the rounding of every weight, layer by layer (AdaRound)",
      {{PortType::kModel}, {PortType::kLayerSet}, {PortType::kActivationCache}},
      {PortType::kModel, PortType::kEncodings, PortType::kMetrics}));
}

}  // namespace adaflow
