#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"
#include "src/adaround/objective.h"
#include "src/adaround/plan.h"
#include "src/quant/encoding.h"

namespace adaflow {

/// `type: adaround` — learns the rounding of every weight, layer by layer (AIMET parameter names).
/// Help, default and range of each field: GetSchema() (`adaflow describe adaround`), declared once.
/// The planning options (bitwidths, ignore, iterations, objective, input source, batch size,
/// positions per sample) are adaround::PlanOptions' own fields, which the layer planner takes as they are.
struct AdaroundOptions : adaround::PlanOptions {
  double reg_param = 0.01;
  std::vector<double> beta_range = {20.0, 2.0};
  double warm_start = 0.2;
  double learning_rate = 0.001;
  quant::Scheme quant_scheme = quant::Scheme::kTfEnhanced;
  bool per_channel = false;
  bool symmetric = true;
  bool strict_symmetric = false;
  bool unsigned_symmetric = false;
};

class AdaroundStage : public Stage {
 public:
  using Options = AdaroundOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit AdaroundStage(Options options) : options_(std::move(options)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  std::optional<std::vector<std::string>> DataSets() const override { return std::vector<std::string>{"calibration"}; }
  StageOutputs Restore(const StageInputs& inputs, StageContext& ctx) override;
  std::string Estimate(const PipelineSpec& spec) const override;
  /// `ignore` and `param_bw_override` name layers of the prepared model: checked when prepare is done.
  void CheckInput(const std::string& input, const Artifact& value) const override;

 private:
  Options options_;
};

void RegisterAdaroundStage(StageRegistry& registry);

}  // namespace adaflow
