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
/// Help, default and range of each field: GetSchema() (`adaflow describe cache_activations`), declared once.
struct CacheActivationsOptions {
  int memory_budget = 2048;
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
