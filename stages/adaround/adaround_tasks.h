#pragma once
// The adaround stage's work as a task graph, run by the run's executor (StageContext::RunTasks):
//
//   for every layer L that AdaRound rounds:
//
//     finish/U (every layer U upstream of L, quant mode)
//        │
//        ▼
//     prepare/L/c0 … prepare/L/cK ──► stats/L ──► optimize/L/b0 … optimize/L/bB ──► finish/L
//
//   prepare   one chunk of calibration samples: x̂ from the upstream layers' rounded outputs through the
//             ops between (input_capture.h; quant mode), then its Gram statistics or its
//             round-to-nearest error
//   stats     merges the chunks in order: the Gram form, the nearest-rounding error
//   optimize  one block of output channels (block_optimizer.h)
//   finish    the rounded weight, its error, the layer's result files (a resumable sub-task); frees x̂
//             once every consumer has read it
//
// Chunks and blocks are fixed by the data and the layer, never by the thread count or the schedule, so
// the result is the same with any `threads:`. A layer finished in an earlier run is read back; its x̂ is
// recomputed only when a layer after it still has to run.

#include <functional>
#include <memory>
#include <vector>

#include "pipeline/stage.h"
#include "src/data/dataset.h"
#include "src/io/activation_cache.h"
#include "src/adaround/plan.h"
#include "src/model/layers.h"
#include "src/quant/quant_sim.h"
#include "stages/adaround/adaround_stage.h"
#include "stages/artifacts.h"

namespace adaflow {

struct AdaroundResults {
  std::shared_ptr<model::Model> rounded;  ///< the FP model with every rounded weight in place
  quant::ParamEncodings encodings;
  std::vector<LayerReport> layers;        ///< in graph order
};

class AdaroundTasks {
 public:
  using DatasetLoader = std::function<std::shared_ptr<const data::Dataset>()>;

  /// Plans the layers (throws InputError for an unknown layer name) and reads which are finished.
  AdaroundTasks(const AdaroundOptions& options, std::shared_ptr<const model::Model> fp,
                const model::LayerGraph& layers, std::shared_ptr<const io::ActivationCache> cache,
                double memory_budget_bytes, DatasetLoader calibration, StageContext& ctx);
  ~AdaroundTasks();

  /// Adds every task to `dag` (ids relative to the stage).
  void AddTo(TaskDag& dag);
  /// After the dag ran.
  AdaroundResults Results() const;

 private:
  struct Work;
  void Prepare(Work& work, std::int64_t chunk);
  void Stats(Work& work);
  void Optimize(Work& work, std::size_t block);
  /// The rounded weight into the output model (what consumers wait for).
  void Finish(Work& work);
  /// The layer's AdaRound error, files and commit.
  void Close(Work& work);
  void Release(Work& work);
  /// The bytes of x̂ that may be held in RAM.
  double XhatLimit() const;
  torch::Tensor InputRows(const Work& work, std::int64_t start, std::int64_t count) const;
  double ErrorPass(const Work& work, const torch::Tensor& weight) const;

  AdaroundOptions options_;
  std::shared_ptr<const model::Model> fp_;
  std::shared_ptr<const io::ActivationCache> cache_;
  double memory_budget_bytes_;
  DatasetLoader load_calibration_;
  StageContext& ctx_;
  std::int64_t samples_ = 0;
  std::vector<adaround::LayerJob> jobs_;
  std::vector<std::unique_ptr<Work>> works_;
  std::shared_ptr<model::Model> rounded_;
  struct Shared;
  std::unique_ptr<Shared> shared_;
};

}  // namespace adaflow
