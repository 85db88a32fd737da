#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"
#include "src/model/evaluation.h"

namespace adaflow {

enum class EvalVariant { kFp, kNearest, kAdaround };
inline const EnumNames<EvalVariant> kEvalVariantNames = {
    {"fp", EvalVariant::kFp}, {"nearest", EvalVariant::kNearest}, {"adaround", EvalVariant::kAdaround}};

inline const EnumNames<model::Metric> kMetricNames = {{"top1", model::Metric::kTop1},
                                                      {"top5", model::Metric::kTop5},
                                                      {"sqnr", model::Metric::kSqnr},
                                                      {"cosine", model::Metric::kCosine},
                                                      {"mse", model::Metric::kMse},
                                                      {"token_accuracy", model::Metric::kTokenAccuracy},
                                                      {"perplexity", model::Metric::kPerplexity}};

/// `type: evaluate` — accuracy (top-1/top-5, or SQNR/cosine/MSE against the FP model) of the variants it compares.
/// Help, default and range of each field: GetSchema() (`adaflow describe evaluate`), declared once.
struct EvaluateOptions {
  std::vector<EvalVariant> compare = {EvalVariant::kFp, EvalVariant::kNearest, EvalVariant::kAdaround};
  int num_samples = 0;
  /// Empty: top-1 and top-5 on labelled data, else SQNR and cosine.
  std::vector<model::Metric> metrics;
};

void RegisterEvaluateStage(StageRegistry& registry);

}  // namespace adaflow
