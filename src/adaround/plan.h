#pragma once
// Which layers AdaRound optimizes, how, and in which order (policy, no execution): bitwidths and
// overrides, AIMET's default iteration count, the objective of each layer, and in quant mode the
// layers whose rounding changes each layer's input.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "src/adaround/adaround.h"

namespace adaflow::adaround {

struct PlanOptions {
  int default_param_bw = 4;
  std::map<std::string, int> param_bw_override;
  std::vector<std::string> ignore;
  int num_iterations = 0;  ///< 0: AIMET's default for the model
  Objective objective = Objective::kAuto;
  InputSource input_source = InputSource::kQuant;
  int batch_size = 32;
  int positions_per_sample = 0;  ///< output positions per sample in a sampled step (0: all)
};

struct LayerJob {
  std::size_t layer = 0;  ///< index in the LayerGraph
  int bitwidth = 4;
  int iterations = 10000;
  Objective objective = Objective::kSampled;  ///< resolved: kSampled or kGram
  double step_macs = 0;  ///< multiply-adds of one optimizer step of `objective` (SampledStepCost / GramStepCost)
  /// Jobs whose rounding changes this layer's input (quant mode; through ignored layers).
  std::vector<std::size_t> upstream;
  /// Jobs whose input this layer's rounding changes.
  std::vector<std::size_t> consumers;
};

/// The shape of a layer's cached output, [N, …] (for the objective's cost).
using TargetShape = std::function<std::vector<std::int64_t>(const model::Layer& layer)>;

/// One job per layer that is not ignored, in graph order. Throws InputError when `ignore` or
/// `param_bw_override` names no quantizable layer.
std::vector<LayerJob> PlanJobs(const model::LayerGraph& layers, const PlanOptions& options,
                               const TargetShape& target_shape);

/// `objective: auto`: the Gram form where it applies and its step is cheaper than the sampled one,
/// else the sampled form.
Objective ChooseObjective(Objective requested, const model::Layer& layer, const std::vector<std::int64_t>& target_shape,
                          int batch_size, int positions_per_sample = 0);

/// Indices of the ignored layers (they keep FP weights and are computed where x̂ passes through them).
std::vector<std::size_t> IgnoredLayers(const model::LayerGraph& layers, const PlanOptions& options);

}  // namespace adaflow::adaround
