#pragma once
// Planner: parse → bind every stage (schema + cross-field checks) → wire `after:` edges and typed
// ports, detect cycles → plan. `--dry-run` ends here; nothing is computed before the plan is valid.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/pipeline_spec.h"
#include "pipeline/stage.h"
#include "pipeline/stage_registry.h"

namespace adaflow {

struct PlannedStage {
  std::string id;
  std::string type;
  std::string where;                     ///< file:line of the stage, for messages
  const StageDef* def = nullptr;
  OptionValues options;
  std::vector<std::size_t> after;        ///< indices of direct upstream stages
  std::map<std::string, std::size_t> input_from;  ///< which upstream stage feeds each input (by port id)
  std::unique_ptr<Stage> stage;
  /// Id of the stage this one was derived for (StageDef::derive); "" for a stage of the config.
  std::string derived_for;
  /// The sweep point this stage belongs to ("" when every point shares it, or there is no sweep) and
  /// the id the config gives it (without "@<point>").
  std::string point;
  std::string base_id;

  /// Where its files go in the run directory, so that no two stages write the same file: "" (the
  /// top), "<point>/" for a sweep point's stage, "<id>/" for a derived stage ("<point>/<base id>/" for
  /// one a point's stage derives).
  std::string Folder() const;

  /// The kind of input `port` (a PortSpec::id of def->inputs).
  const std::string& KindOf(const std::string& port) const;
};

struct Plan {
  PipelineSpec spec;
  std::vector<PlannedStage> stages;
  std::vector<std::size_t> order;        ///< a topological order of `stages`
  /// The registry's thread setters (see StageRegistry::SetThreadSetters).
  ThreadSetters thread_setters;

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
};

/// Builds and checks the plan: the config's stages, then those their types derive (StageDef::derive).
/// Throws InputError naming file:line and the key or stage.
std::unique_ptr<Plan> BuildPlan(PipelineSpec spec, const StageRegistry& registry);

/// Content key of every stage (same index as plan.stages): hash of the format version, stage type,
/// resolved options, upstream keys, the sections (the model file), the data sets and the seed. Hashes
/// input files.
std::vector<std::string> ComputeContentKeys(const Plan& plan);

/// The config with every default filled in (config.resolved.yaml).
YAML::Node ResolvedConfig(const Plan& plan);

/// A table of the plan for people: order, id, type, after, inputs and where they come from.
/// `status` (optional, same index as plan.stages) adds a column such as "done" / "to run".
std::string DescribePlan(const Plan& plan, const std::vector<std::string>& status = {});

}  // namespace adaflow
