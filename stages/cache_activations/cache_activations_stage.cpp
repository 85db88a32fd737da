#include "stages/cache_activations/cache_activations_stage.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "common/disk.h"
#include "pipeline/stage_context.h"
#include "pipeline/pipeline_spec.h"
#include "src/io/activation_cache.h"
#include "src/io/activation_cache_writer.h"
#include "stages/artifacts.h"
#include "stages/data/data_types.h"
#include "stages/estimate.h"
#include "stages/stage_common.h"

namespace adaflow {
namespace {

constexpr const char* kCacheFile = "activations.h5";

constexpr const char* kType = "cache_activations";

class CacheActivationsStage : public Stage {
 public:
  using Options = CacheActivationsOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit CacheActivationsStage(Options options) : options_(std::move(options)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  StageOutputs Restore(const StageInputs& inputs, StageContext& ctx) override;
  std::string Estimate(const PipelineSpec& spec) const override;

 private:
  Options options_;
};

}  // namespace

const Schema<CacheActivationsOptions>& CacheActivationsStage::GetSchema() {
  static const Schema<CacheActivationsOptions> schema = [] {
    Schema<CacheActivationsOptions> s(kType);
    s.Int("memory_budget", &CacheActivationsOptions::memory_budget,
          "MiB of activations held in RAM at once: caching writes pieces of samples that fit; AdaRound keeps "
          "a layer's rows in RAM only when they fit").Min(1);
    s.Enum("dtype", &CacheActivationsOptions::dtype, io::kStoreDtypeNames, "storage type of cached activations");
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> CacheActivationsStage::Make(const Options& options, const PipelineSpec& spec) {
  RequireModel(spec, "cache_activations");
  return std::make_unique<CacheActivationsStage>(options);
}

StageOutputs CacheActivationsStage::Run(const StageInputs& inputs, StageContext& ctx) {
  const auto& upstream = inputs.Get<ModelArtifact>(port::kModel);
  const auto& layers = *inputs.Get<LayerGraphArtifact>(port::kLayerGraph).graph;
  const auto data = RunDataSet(ctx, "calibration");
  const io::StoreDtype dtype = options_.dtype;
  const io::ActivationCacheWriter writer(upstream.fp, layers, *data);
  const double sample_bytes = writer.SampleBytes();
  // One pass over the data: every layer's values for a piece of samples at a time, as many samples as
  // fit the budget (the capture holds them all at once).
  const double budget = options_.memory_budget * 1048576.0;
  const std::int64_t piece = std::clamp<std::int64_t>(static_cast<std::int64_t>(budget / sample_bytes), 1,
                                                      std::max<std::int64_t>(1, data->batch_size()));
  const std::int64_t samples = data->size();
  const double cache_bytes =
      sample_bytes * static_cast<double>(samples) * (dtype == io::StoreDtype::kFloat16 ? 0.5 : 1.0);
  ctx.log().info("{} layers, {} samples, {} per sample: {} in activations.h5 ({}), {} samples at a time",
                 layers.layers.size(), samples, FormatBytes(sample_bytes), FormatBytes(cache_bytes),
                 NameOf(io::kStoreDtypeNames, dtype), piece);

  // Written under a temporary name and renamed when complete: a killed run never leaves half a cache
  // (and a cache of an earlier config stays until the new one is whole). The space is checked first.
  const std::string final_path = ctx.PathFor(kCacheFile), temp_path = final_path + ".partial";
  std::error_code ignored;
  std::filesystem::remove(temp_path, ignored);
  const std::int64_t free = FreeBytes(final_path);
  if (free >= 0 && static_cast<double>(free) < cache_bytes)
    throw DiskFull("disk full: " + final_path + " needs " + FormatBytes(cache_bytes) + " and its disk has " +
                   FormatBytes(static_cast<double>(free)) + " free; free some space" +
                   (dtype == io::StoreDtype::kFloat32 ? " (or halve the cache with dtype: float16)" : "") +
                   " and run the same command again: finished work is kept and the run resumes");
  {
    io::ActivationCache store(temp_path, /*create=*/true);
    const auto start_time = std::chrono::steady_clock::now();
    double reported = 0;
    writer.Write(store, piece, dtype, ctx.key(), [&](std::int64_t written) {
      const double done = static_cast<double>(written) / static_cast<double>(samples);
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
      if (done - reported >= 0.25 && done < 1.0) {
        reported = done;
        ctx.log().info("cached {:.0f}% of the samples, {:.0f} s, about {:.0f} s to go", 100.0 * done, elapsed,
                       elapsed / done * (1.0 - done));
      }
    }, ctx.stop_flag());
    store.Close();  // complete on disk before it takes the final name
  }
  std::filesystem::rename(temp_path, final_path);
  ctx.RecordFile(kCacheFile);
  auto artifact = std::make_shared<ActivationCacheArtifact>();
  artifact->path = final_path;
  artifact->samples = samples;
  artifact->memory_budget_bytes = budget;
  StageOutputs outputs;
  outputs.Set(port::kActivationCache, artifact);
  return outputs;
}

std::string CacheActivationsStage::Estimate(const PipelineSpec& spec) const {
  const ModelShapes shapes = ProbeShapes(spec);
  double sample_bytes = 0;
  for (const auto& layer : shapes.layers)
    sample_bytes += 4.0 * static_cast<double>(c10::multiply_integers(layer.input) + c10::multiply_integers(layer.target));
  const double scale = options_.dtype == io::StoreDtype::kFloat16 ? 0.5 : 1.0;
  const double budget = options_.memory_budget * 1048576.0;
  // As Run: as many samples as fit the budget, at most a batch.
  const double piece = std::clamp(std::floor(budget / sample_bytes), 1.0,
                                  static_cast<double>(std::max<std::int64_t>(1, shapes.batch_size)));
  char text[512];
  std::snprintf(text, sizeof(text),
                "  cache_activations: %zu layers x %lld samples x %s per sample = %s on disk in activations.h5 (%s); "
                "RAM: %lld samples at a time (%s, memory_budget %s)\n",
                shapes.layers.size(), static_cast<long long>(shapes.samples), FormatBytes(sample_bytes).c_str(),
                FormatBytes(sample_bytes * static_cast<double>(shapes.samples) * scale).c_str(),
                NameOf(io::kStoreDtypeNames, options_.dtype),
                static_cast<long long>(piece), FormatBytes(sample_bytes * piece).c_str(),
                FormatBytes(budget).c_str());
  return text;
}

StageOutputs CacheActivationsStage::Restore(const StageInputs& inputs, StageContext& ctx) {
  auto artifact = std::make_shared<ActivationCacheArtifact>();
  artifact->path = ctx.PathFor(kCacheFile);
  io::ActivationCache store(artifact->path, /*create=*/false);  // throws a clear error if it is damaged
  // The sample count from the file itself: restoring reads no data set.
  const auto& layers = inputs.Get<LayerGraphArtifact>(port::kLayerGraph).graph->layers;
  artifact->samples = layers.empty() ? 0 : store.Shape(layers.front().name, "input").at(0);
  artifact->memory_budget_bytes = options_.memory_budget * 1024.0 * 1024.0;
  StageOutputs outputs;
  outputs.Set(port::kActivationCache, artifact);
  return outputs;
}

void RegisterCacheActivationsStage(StageRegistry& registry) {
  registry.Add(DefineStage<CacheActivationsStage>(kType, "cache every layer's FP input and target over the calibration set (activations.h5)",
      {{port::kModel}, {port::kLayerGraph}}, {port::kActivationCache},
      std::vector<DataSetUse>{{"calibration"}}));
}

}  // namespace adaflow
