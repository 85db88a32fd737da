#pragma once
// Evaluations as tasks: each forward function over the data in fixed pieces, every piece a task on the
// run's executor (one thread each), sums merged in piece order, so the result is the same with any
// thread count. Used by evaluate (several variants side by side) and export (the re-loaded model).

#include <vector>

#include "pipeline/stage.h"
#include "src/model/evaluation.h"

namespace adaflow {

/// One result per forward function, in order, of `metrics` (empty: model::DefaultMetrics of the data).
/// `reference` is needed for the metrics that compare outputs (sqnr, cosine, mse).
std::vector<model::EvalResult> EvaluateInTasks(StageContext& ctx, const std::vector<model::ForwardFn>& forwards,
                                               const data::Dataset& data, const model::ForwardFn* reference,
                                               std::int64_t max_samples,
                                               const std::vector<model::Metric>& metrics = {});

}  // namespace adaflow
