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
  /// MiB of activations held in RAM at once: caching writes in pieces of samples that fit, AdaRound
  /// keeps a layer's rows in RAM only when they fit and reads them from the run directory otherwise.
  /// Default: 2048
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
  std::optional<std::vector<std::string>> DataSets() const override { return std::vector<std::string>{"calibration"}; }
  StageOutputs Restore(const StageInputs& inputs, StageContext& ctx) override;
  std::string Estimate(const PipelineSpec& spec) const override;

 private:
  Options options_;
};

void RegisterCacheActivationsStage(StageRegistry& registry);

}  // namespace adaflow
