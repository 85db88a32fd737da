#include "stages/quant_sim/quant_sim_stage.h"

#include "stages/stage_common.h"

namespace adaflow {

const Schema<QuantSimOptions>& QuantSimStage::GetSchema() {
  static const Schema<QuantSimOptions> schema = [] {
    using O = QuantSimOptions;
    Schema<O> s("quant_sim");
    s.Int("default_output_bw", &O::default_output_bw, "activation bitwidth; 32 = float").Range(2, 32);
    s.Int("default_param_bw", &O::default_param_bw, "weight bitwidth; 32 = float").Range(2, 32);
    s.Enum("quant_scheme", &O::quant_scheme,
           {{"tf_enhanced", QuantScheme::kTfEnhanced}, {"tf", QuantScheme::kTf}, {"percentile", QuantScheme::kPercentile}},
           "scheme for weight encodings not frozen upstream");
    s.Bool("per_channel", &O::per_channel, "one weight grid per output channel");
    s.Bool("symmetric", &O::symmetric, "symmetric weight grids");
    s.Path("param_encodings", &O::param_encodings, "frozen param encodings file (AIMET JSON); empty = none");
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> QuantSimStage::Make(const Options& options, const PipelineSpec&) {
  CheckBitwidth(options.default_output_bw, "default_output_bw");
  CheckBitwidth(options.default_param_bw, "default_param_bw");
  return std::make_unique<QuantSimStage>(options);
}

StageOutputs QuantSimStage::Run(const StageInputs&, StageContext&) { ThrowNotAvailable("quant_sim"); }

void RegisterQuantSimStage(StageRegistry& registry) {
  registry.Add(DefineStage<QuantSimStage>(
      "quant_sim", "insert fake-quant on weights and activations (AIMET default config)",
      {{PortType::kModel}, {PortType::kLayerSet}, {PortType::kEncodings, /*optional=*/true}}, {PortType::kModel}));
}

}  // namespace adaflow
