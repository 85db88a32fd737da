#include "stages/calibrate/calibrate_stage.h"

#include "stages/stage_common.h"

namespace adaflow {

const Schema<CalibrateOptions>& CalibrateStage::GetSchema() {
  static const Schema<CalibrateOptions> schema = [] {
    using O = CalibrateOptions;
    Schema<O> s("calibrate");
    s.Enum("quant_scheme", &O::quant_scheme,
           {{"tf_enhanced", CalibrationScheme::kTfEnhanced}, {"tf", CalibrationScheme::kTf},
            {"percentile", CalibrationScheme::kPercentile}},
           "how activation ranges are chosen");
    s.Float("percentile", &O::percentile, "percentile for quant_scheme: percentile").Range(90, 100);
    s.Int("num_batches", &O::num_batches, "calibration batches to use; 0 = all").Min(0);
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> CalibrateStage::Make(const Options& options, const PipelineSpec& spec) {
  RequireData(spec, "calibration", "calibrate");
  return std::make_unique<CalibrateStage>(options);
}

StageOutputs CalibrateStage::Run(const StageInputs&, StageContext&) { ThrowNotAvailable("calibrate"); }

void RegisterCalibrateStage(StageRegistry& registry) {
  registry.Add(DefineStage<CalibrateStage>("calibrate", "compute activation encodings from the calibration data",
                                           {{PortType::kModel}}, {PortType::kModel, PortType::kEncodings}));
}

}  // namespace adaflow
