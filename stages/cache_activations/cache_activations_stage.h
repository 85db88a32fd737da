#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"

namespace adaflow {

enum class CacheDtype { kFloat32, kFloat16 };

/// `type: cache_activations` — FP input and target of every quantizable layer, in activations.h5.
struct CacheActivationsOptions {
  /// MiB of activations held in RAM at once: caching takes more passes over the data, and AdaRound
  /// streams a layer's rows from activations.h5 when they need more. Default: 2048
  int memory_budget = 2048;
  /// Storage type of cached activations. Default: float32
  CacheDtype dtype = CacheDtype::kFloat32;
};

class CacheActivationsStage : public Stage {
 public:
  using Options = CacheActivationsOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit CacheActivationsStage(Options options) : options_(std::move(options)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  StageOutputs Restore(const StageInputs& inputs, StageContext& ctx) override;

 private:
  Options options_;
};

void RegisterCacheActivationsStage(StageRegistry& registry);

}  // namespace adaflow
