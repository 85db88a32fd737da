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
/// Help, default and range of each field: GetSchema() (`adaflow describe evaluate`), declared once.
struct EvaluateOptions {
  std::vector<EvalVariant> compare = {EvalVariant::kFp, EvalVariant::kNearest, EvalVariant::kAdaround};
  int num_samples = 0;
};

class EvaluateStage : public Stage {
 public:
  using Options = EvaluateOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit EvaluateStage(Options options) : options_(std::move(options)) {}
  /// With `nearest` in compare and AdaRound's weights in the compared quant-sim: the nearest baseline as
  /// two derived stages, `<id>.nearest_sim` (the quant_sim's options, FP weights, no param_encodings file)
  /// and `<id>.nearest_calibrate` (the calibrate's options), feeding the input `nearest`.
  static std::vector<DerivedStage> Derive(const Plan& plan, std::size_t self);
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  std::optional<std::vector<std::string>> DataSets() const override { return std::vector<std::string>{"evaluation"}; }
  StageOutputs Restore(const StageInputs& inputs, StageContext& ctx) override;

 private:
  Options options_;
};

void RegisterEvaluateStage(StageRegistry& registry);

}  // namespace adaflow
