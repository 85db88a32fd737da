#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"

namespace adaflow {

enum class EvalVariant { kFp, kNearest, kAdaround };
inline const EnumNames<EvalVariant> kEvalVariantNames = {
    {"fp", EvalVariant::kFp}, {"nearest", EvalVariant::kNearest}, {"adaround", EvalVariant::kAdaround}};

/// `type: evaluate` — accuracy (top-1/top-5, or SQNR/cosine) of the variants it compares.
/// Help, default and range of each field: GetSchema() (`adaflow describe evaluate`), declared once.
struct EvaluateOptions {
  std::vector<EvalVariant> compare = {EvalVariant::kFp, EvalVariant::kNearest, EvalVariant::kAdaround};
  int num_samples = 0;
};

void RegisterEvaluateStage(StageRegistry& registry);

}  // namespace adaflow
