#pragma once
// The data sets of one run (the config's `data:` section), read through each data type's registered
// loader.

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "pipeline/stage.h"

namespace adaflow {

struct PipelineSpec;

/// Reads data set `name` of the config with its data type's loader, no cache (RunDataSets caches;
/// `--dry-run` estimates call it directly). Throws InputError when the config lacks it.
ArtifactPtr LoadDataSetArtifact(const PipelineSpec& spec, const std::string& name);

/// The data sets of one run (the config's `data:`): each is read by its data type's loader when a stage
/// first asks for it and shared by the run's stages while one of them holds it (then released, so a
/// large calibration set is not kept beside later stages' memory). Another run, in this process or
/// not, reads its own. Thread-safe.
class RunDataSets {
 public:
  explicit RunDataSets(const PipelineSpec& spec) : spec_(spec) {}
  RunDataSets(const RunDataSets&) = delete;
  RunDataSets& operator=(const RunDataSets&) = delete;

  /// Throws InputError when the config has no data set `name`, or what its loader throws.
  ArtifactPtr Get(const std::string& name);
  /// How many times a data set was read in this run (a test's view of the sharing).
  int loads() const;

 private:
  const PipelineSpec& spec_;
  mutable std::mutex mutex_;
  std::map<std::string, std::weak_ptr<const Artifact>> held_;
  int loads_ = 0;
};

}  // namespace adaflow
