#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"

namespace adaflow {

enum class EvalVariant { kFp, kNearest, kAdaround };

/// `type: evaluate` — accuracy (top-1/top-5, or SQNR/cosine) of the variants it compares.
struct EvaluateOptions {
  /// Variants to compare. Default: [fp, nearest, adaround]
  std::vector<EvalVariant> compare = {EvalVariant::kFp, EvalVariant::kNearest, EvalVariant::kAdaround};
  /// Evaluation samples to use; 0 = all. Default: 0
  int num_samples = 0;
};

class EvaluateStage : public Stage {
 public:
  using Options = EvaluateOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit EvaluateStage(Options options) : options_(std::move(options)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  /// The evaluation set, and the calibration set that calibrates the `nearest` baseline.
  std::optional<std::vector<std::string>> DataSets() const override {
    return std::vector<std::string>{"evaluation", "calibration"};
  }
  StageOutputs Restore(const StageInputs& inputs, StageContext& ctx) override;

 private:
  Options options_;
};

void RegisterEvaluateStage(StageRegistry& registry);

}  // namespace adaflow
