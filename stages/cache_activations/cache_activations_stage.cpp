#include "stages/cache_activations/cache_activations_stage.h"

#include <filesystem>
#include <map>

#include "pipeline/pipeline_spec.h"
#include "src/io/activation_store.h"
#include "src/model/graph_capture.h"
#include "stages/artifacts.h"
#include "stages/data/data_types.h"
#include "stages/stage_common.h"

namespace adaflow {
namespace {

constexpr const char* kCacheFile = "activations.h5";

/// Layers in groups whose cached bytes fit the budget; each group is one pass over the data.
std::vector<std::vector<const model::Layer*>> GroupByBudget(const model::Model& model, const model::LayerGraph& layers,
                                                            const data::Dataset& data, double budget_bytes) {
  // Bytes per sample of each layer's input and target, from one probe sample.
  std::vector<model::ValueRef> refs;
  for (const auto& layer : layers.layers) {
    refs.push_back(layer.input);
    refs.push_back(layer.activation_output);
  }
  const auto probe = model::GraphCapture(std::shared_ptr<const model::Model>(&model, [](const model::Model*) {}), refs)
                         .Run(data.Slice(0, 1).inputs);
  std::vector<std::vector<const model::Layer*>> groups(1);
  double used = 0;
  for (std::size_t idx = 0; idx < layers.layers.size(); ++idx) {
    const double bytes = 4.0 * static_cast<double>(probe[2 * idx].numel() + probe[2 * idx + 1].numel()) *
                         static_cast<double>(data.size());
    if (!groups.back().empty() && used + bytes > budget_bytes) {
      groups.emplace_back();
      used = 0;
    }
    groups.back().push_back(&layers.layers[idx]);
    used += bytes;
  }
  return groups;
}

}  // namespace

const Schema<CacheActivationsOptions>& CacheActivationsStage::GetSchema() {
  static const Schema<CacheActivationsOptions> schema = [] {
    Schema<CacheActivationsOptions> s("cache_activations");
    s.Int("memory_budget", &CacheActivationsOptions::memory_budget,
          "MiB of activations held in RAM at once: more layers take more caching passes, and AdaRound "
          "streams a larger layer's rows from the file").Min(1);
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

StageOutputs CacheActivationsStage::Run(const StageInputs& inputs, StageContext& ctx) {
  const auto& upstream = inputs.Get<ModelArtifact>(PortType::kModel);
  const auto& layers = *inputs.Get<LayerSetArtifact>(PortType::kLayerSet).layers;
  const auto data = LoadDataSet(ctx.spec(), "calibration");
  const auto groups = GroupByBudget(*upstream.fp, layers, *data, options_.memory_budget * 1024.0 * 1024.0);
  const auto dtype = options_.dtype == CacheDtype::kFloat16 ? io::StoreDtype::kFloat16 : io::StoreDtype::kFloat32;

  // Written under a temporary name and renamed when complete: a killed run never leaves half a cache.
  const std::string final_path = ctx.PathFor(kCacheFile), temp_path = final_path + ".partial";
  {
    io::ActivationStore store(temp_path, /*create=*/true);
    for (std::size_t group = 0; group < groups.size(); ++group) {
      std::vector<model::ValueRef> refs;
      for (const auto* layer : groups[group]) {
        refs.push_back(layer->input);
        refs.push_back(layer->activation_output);
      }
      model::GraphCapture capture(upstream.fp, refs);
      std::vector<std::vector<torch::Tensor>> parts(refs.size());
      for (std::int64_t batch = 0; batch < data->num_batches(); ++batch) {
        if (ctx.stop_requested()) throw Interrupted("caching stopped");
        const auto values = capture.Run(data->GetBatch(batch).inputs);
        for (std::size_t idx = 0; idx < values.size(); ++idx) parts[idx].push_back(values[idx]);
      }
      for (std::size_t idx = 0; idx < groups[group].size(); ++idx) {
        const std::string& name = groups[group][idx]->name;
        store.Write(name, "input", torch::cat(parts[2 * idx]), dtype, "fp", ctx.key());
        store.Write(name, "target", torch::cat(parts[2 * idx + 1]), dtype, "fp", ctx.key());
        parts[2 * idx].clear();
        parts[2 * idx + 1].clear();
      }
      ctx.log().info("pass {}/{}: cached {} layers' inputs and targets ({} samples)", group + 1, groups.size(),
                     groups[group].size(), data->size());
    }
  }
  std::filesystem::rename(temp_path, final_path);
  ctx.RecordFile(kCacheFile);
  auto artifact = std::make_shared<ActivationCacheArtifact>();
  artifact->path = final_path;
  artifact->samples = data->size();
  artifact->memory_budget_bytes = options_.memory_budget * 1024.0 * 1024.0;
  StageOutputs outputs;
  outputs.Set(PortType::kActivationCache, artifact);
  return outputs;
}

StageOutputs CacheActivationsStage::Restore(const StageInputs&, StageContext& ctx) {
  auto artifact = std::make_shared<ActivationCacheArtifact>();
  artifact->path = ctx.PathFor(kCacheFile);
  io::ActivationStore store(artifact->path, /*create=*/false);  // throws a clear error if it is damaged
  artifact->samples = LoadDataSet(ctx.spec(), "calibration")->size();
  artifact->memory_budget_bytes = options_.memory_budget * 1024.0 * 1024.0;
  StageOutputs outputs;
  outputs.Set(PortType::kActivationCache, artifact);
  return outputs;
}

void RegisterCacheActivationsStage(StageRegistry& registry) {
  registry.Add(DefineStage<CacheActivationsStage>(
      "cache_activations", "cache every layer's FP input and target over the calibration set (activations.h5)",
      {{PortType::kModel}, {PortType::kLayerSet}}, {PortType::kActivationCache}));
}

}  // namespace adaflow
