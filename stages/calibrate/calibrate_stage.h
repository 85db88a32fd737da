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
/// Help, default and range of each field: GetSchema() (`adaflow describe calibrate`), declared once.
struct CalibrateOptions {
  quant::Scheme quant_scheme = quant::Scheme::kTfEnhanced;
  double percentile = 100.0;
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
