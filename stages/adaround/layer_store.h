#pragma once
// The adaround stage's binding of the engine to the run: each layer's result is a resumable sub-task
// (`adaround/<layer>` in the manifest) with two files in the run directory:
//   adaround/<layer>.weight   the rounded weight, float32, row-major (exactly on the grid)
//   adaround/<layer>.json     {"layer", "bitwidth", "objective", "num_iterations", "mse_nearest", "mse_adaround",
//                              "seconds", "seconds_prepare", "seconds_optimize", "seconds_finish", "step_macs",
//                              "encoding": {"axis", "per_channel", "channels": [...]}}
// and the engine's tasks run on the run's executor.

#include <map>
#include <memory>
#include <string>

#include "pipeline/stage.h"
#include "pipeline/stage_context.h"
#include "src/adaround/engine.h"

namespace adaflow {

class SubTaskLayerStore final : public adaround::LayerStore {
 public:
  explicit SubTaskLayerStore(StageContext& ctx) : ctx_(ctx) {}
  /// Makes the layer's sub-task (the engine asks once per layer, from one thread, before anything runs).
  bool IsDone(const model::Layer& layer) override;
  /// InputError naming the file when one is damaged.
  adaround::LayerResult Read(const model::Layer& layer) override;
  /// Writes both files atomically, then commits the sub-task.
  void Write(const model::Layer& layer, const adaround::LayerResult& result) override;

 private:
  StageContext& ctx_;
  std::map<std::string, std::unique_ptr<SubTask>> subs_;
};

/// The engine's tasks as a TaskDag for the run's executor (ids relative to the stage).
TaskDag EngineDag(const adaround::Engine& engine);

}  // namespace adaflow
