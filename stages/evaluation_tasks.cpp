#include "stages/evaluation_tasks.h"

#include <algorithm>

#include "pipeline/stage_context.h"

namespace adaflow {

std::vector<model::EvalResult> EvaluateInTasks(StageContext& ctx, const std::vector<model::ForwardFn>& forwards,
                                               const data::Dataset& data, const model::ForwardFn* reference,
                                               std::int64_t max_samples, const std::vector<model::Metric>& metrics) {
  // Fixed pieces: enough to spread over the cores, few enough that each is a long run of batches.
  constexpr std::int64_t kPieces = 8;
  const std::int64_t total = max_samples > 0 ? std::min(max_samples, data.size()) : data.size();
  const std::int64_t per_piece = std::max<std::int64_t>(1, (total + kPieces - 1) / kPieces);
  std::vector<std::vector<model::EvalSums>> sums(forwards.size());
  TaskDag dag;
  for (std::size_t index = 0; index < forwards.size(); ++index) {
    for (std::int64_t start = 0; start < total; start += per_piece) {
      const std::size_t piece = sums[index].size();
      sums[index].emplace_back();
      const std::int64_t count = std::min(per_piece, total - start);
      dag.Add("variant" + std::to_string(index) + "/" + std::to_string(piece),
              [&, index, piece, start, count] {
                sums[index][piece] = model::EvaluateRange(forwards[index], data, reference, start, count, metrics);
              });
    }
  }
  ctx.RunTasks(dag);
  std::vector<model::EvalResult> results;
  for (const auto& pieces : sums) {
    model::EvalSums total_sums;
    for (const auto& piece : pieces) total_sums.Merge(piece);
    results.push_back(total_sums.Result());
  }
  return results;
}

}  // namespace adaflow
