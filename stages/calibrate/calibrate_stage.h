#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"
#include "src/quant/encoding.h"

namespace adaflow {

/// `type: calibrate` — activation encodings from the calibration data; frozen param encodings kept.
struct CalibrateOptions {
  /// How activation ranges are chosen. Default: tf_enhanced
  quant::Scheme quant_scheme = quant::Scheme::kTfEnhanced;
  /// Percentile for quant_scheme: percentile; 100 takes the histogram's range (AIMET's default). Default: 100
  double percentile = 100.0;
  /// Calibration batches to use; 0 = all. Default: 0
  int num_batches = 0;
};

class CalibrateStage : public Stage {
 public:
  using Options = CalibrateOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit CalibrateStage(Options options) : options_(std::move(options)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  std::optional<std::vector<std::string>> DataSets() const override { return std::vector<std::string>{"calibration"}; }
  StageOutputs Restore(const StageInputs& inputs, StageContext& ctx) override;

 private:
  Options options_;
};

void RegisterCalibrateStage(StageRegistry& registry);

}  // namespace adaflow
