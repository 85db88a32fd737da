#pragma once
// One AdaRound layer's summary: the per-layer table of the run report and of report.json.

#include <cstdint>
#include <string>
#include <vector>

#include "src/adaround/objective.h"

namespace adaflow::adaround {

struct LayerReport {
  std::string name;
  std::vector<std::int64_t> shape;  ///< the weight's
  int bitwidth = 0;
  Objective objective = Objective::kSampled;  ///< as resolved: kSampled or kGram
  int num_iterations = 0;
  double mse_nearest = 0;   ///< reconstruction MSE with round-to-nearest weights
  double mse_adaround = 0;  ///< … with AdaRound's
  double seconds = 0;       ///< wall time from the layer's first task to its last
  /// Thread-seconds in each phase: x̂ and statistics (prepare + stats), optimizer steps, the rest (close).
  double seconds_prepare = 0;
  double seconds_optimize = 0;
  double seconds_finish = 0;
  double step_macs = 0;  ///< multiply-adds of one optimizer step (benchmarks: GFLOP/s of the steps)
};

}  // namespace adaflow::adaround
