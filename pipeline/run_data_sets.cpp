#include "pipeline/run_data_sets.h"

#include "pipeline/pipeline_spec.h"
#include "pipeline/stage_registry.h"

namespace adaflow {

ArtifactPtr LoadDataSetArtifact(const PipelineSpec& spec, const std::string& name) {
  const DataSetSpec* set = spec.FindData(name);
  if (!set) throw InputError("the config has no 'data: " + name + ":' section");
  if (!set->def || !set->def->load)
    throw InputError("data set '" + name + "': type '" + set->type + "' cannot be read by this version of adaflow");
  ArtifactPtr loaded = set->def->load(*set, spec);
  if (!loaded) throw std::logic_error("the loader of data type '" + set->type + "' returned nothing");
  return loaded;
}

ArtifactPtr RunDataSets::Get(const std::string& name) {
  // Loading under the lock: a second stage asking for the same set waits for the first read.
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto held = held_[name].lock()) return held;
  ArtifactPtr loaded = LoadDataSetArtifact(spec_, name);
  held_[name] = loaded;
  ++loads_;
  return loaded;
}

int RunDataSets::loads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return loads_;
}

}  // namespace adaflow
