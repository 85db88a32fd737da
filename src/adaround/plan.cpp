#include "src/adaround/plan.h"

#include <functional>
#include <set>

#include "common/error.h"

namespace adaflow::adaround {

Objective ChooseObjective(Objective requested, const model::Layer& layer, const std::vector<std::int64_t>& target_shape,
                          int batch_size, int positions_per_sample) {
  if (!GramSupported(layer)) return Objective::kSampled;
  if (requested != Objective::kAuto) return requested;
  return GramStepCost(layer) < SampledStepCost(layer, target_shape, batch_size, positions_per_sample) ? Objective::kGram
                                                                                : Objective::kSampled;
}

std::vector<std::size_t> IgnoredLayers(const model::LayerGraph& layers, const PlanOptions& options) {
  std::vector<std::size_t> ignored;
  const std::set<std::string> names(options.ignore.begin(), options.ignore.end());
  for (std::size_t index = 0; index < layers.layers.size(); ++index)
    if (names.count(layers.layers[index].name)) ignored.push_back(index);
  return ignored;
}

std::vector<LayerJob> PlanJobs(const model::LayerGraph& layers, const PlanOptions& options,
                               const TargetShape& target_shape) {
  layers.CheckNames(options.ignore, "ignore");
  layers.CheckNames(options.param_bw_override, "param_bw_override");

  const std::set<std::string> ignored(options.ignore.begin(), options.ignore.end());
  std::vector<LayerJob> jobs;
  std::map<std::size_t, std::size_t> job_of_layer;
  std::vector<int> bitwidths;
  for (std::size_t index = 0; index < layers.layers.size(); ++index) {
    const model::Layer& layer = layers.layers[index];
    if (ignored.count(layer.name)) continue;
    LayerJob job;
    job.layer = index;
    const auto override_it = options.param_bw_override.find(layer.name);
    job.bitwidth = override_it == options.param_bw_override.end() ? options.default_param_bw : override_it->second;
    const auto shape = target_shape(layer);
    job.objective = ChooseObjective(options.objective, layer, shape, options.batch_size, options.positions_per_sample);
    job.step_macs = job.objective == Objective::kGram
                        ? GramStepCost(layer)
                        : SampledStepCost(layer, shape, options.batch_size, options.positions_per_sample);
    job_of_layer[index] = jobs.size();
    bitwidths.push_back(job.bitwidth);
    jobs.push_back(job);
  }
  // AIMET picks one count for the whole model, not one per layer.
  const int iterations = options.num_iterations > 0 ? options.num_iterations : DefaultIterations(bitwidths);
  for (auto& job : jobs) job.iterations = iterations;
  if (options.input_source == InputSource::kQuant) {
    // The nearest non-ignored upstream layers, looking through ignored ones.
    std::function<void(std::size_t, std::set<std::size_t>&)> collect = [&](std::size_t index, std::set<std::size_t>& out) {
      for (std::size_t up : layers.layers[index].upstream) {
        if (job_of_layer.count(up)) out.insert(job_of_layer[up]);
        else collect(up, out);
      }
    };
    for (auto& [index, job_index] : job_of_layer) {
      std::set<std::size_t> upstream;
      collect(index, upstream);
      jobs[job_index].upstream.assign(upstream.begin(), upstream.end());
      for (std::size_t up : upstream) jobs[up].consumers.push_back(job_index);
    }
  }
  return jobs;
}

}  // namespace adaflow::adaround
