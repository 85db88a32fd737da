#include "stages/cache_activations/cache_activations_stage.h"

#include "stages/stage_common.h"

namespace adaflow {

const Schema<CacheActivationsOptions>& CacheActivationsStage::GetSchema() {
  static const Schema<CacheActivationsOptions> schema = [] {
    Schema<CacheActivationsOptions> s("cache_activations");
    s.Int("memory_budget", &CacheActivationsOptions::memory_budget,
          "MiB of a layer's rows held in RAM; larger layers stream from HDF5").Min(0);
    s.Enum("dtype", &CacheActivationsOptions::dtype,
           {{"float32", CacheDtype::kFloat32}, {"float16", CacheDtype::kFloat16}}, "storage type of cached activations");
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> CacheActivationsStage::Make(const Options& options, const PipelineSpec& spec) {
  RequireModel(spec, "cache_activations");
  RequireData(spec, "calibration", "cache_activations");
  return std::make_unique<CacheActivationsStage>(options);
}

StageOutputs CacheActivationsStage::Run(const StageInputs&, StageContext&) { ThrowNotAvailable("cache_activations"); }

void RegisterCacheActivationsStage(StageRegistry& registry) {
  registry.Add(DefineStage<CacheActivationsStage>(
      "cache_activations", "cache every layer's FP input and target over the calibration set (activations.h5)",
      {{PortType::kModel}, {PortType::kLayerSet}}, {PortType::kActivationCache}));
}

}  // namespace adaflow
