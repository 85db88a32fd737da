#pragma once
// The registry: what an application teaches the framework. Port kinds, top-level config sections,
// data set names, data types and stage types, each by name; the framework knows none of them itself.
// Filled from one list (stages/register_builtin_stages.cpp); a duplicate name is an error at start.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage.h"
#include "common/remote.h"
#include "pipeline/threads.h"

namespace adaflow {

struct PipelineSpec;
struct DataSetSpec;
struct Plan;

/// A kind of value that flows between stages (PortSpec::kind).
struct PortKindDef {
  std::string name;  ///< e.g. "Model"
  std::string help;  ///< one line
};

/// A top-level map of the config besides name/seed/threads/data/stages (e.g. `model:`), bound to a schema.
struct SectionDef {
  std::string name;
  std::string help;
  const OptionSchema* schema = nullptr;
};

/// A name a config may use under `data:` (e.g. `calibration`).
struct DataSetNameDef {
  std::string name;
  std::string help;
};

/// A stage the planner adds for another one (its owner) to compute an input the owner's options ask
/// for: planned, keyed, resumed and listed like the config's stages, with the id "<owner>.<name>", but
/// not written to config.resolved.yaml (the config does not name it).
struct DerivedStage {
  std::string name;
  std::string type;                ///< a registered stage type
  OptionValues options;            ///< bound to that type's schema
  std::vector<std::string> after;  ///< ids of stages of the plan or of derived stages listed before it
  std::string feeds;               ///< the owner's derived input (PortSpec::derived) it feeds, or ""
};

/// A data set (a name under the config's `data:`) that a stage reads.
struct DataSetUse {
  std::string name;
  /// Read when the config has it. A data set that is not optional must be in the config: the plan fails
  /// naming the stage otherwise.
  bool optional = false;
};

/// Everything the planner, `adaflow stages` and `adaflow describe` know about one stage type.
struct StageDef {
  using Factory = std::function<std::unique_ptr<Stage>(const OptionValues&, const PipelineSpec&)>;

  std::string type;   ///< the YAML `type:`
  std::string help;   ///< one line
  const OptionSchema* schema = nullptr;
  std::vector<PortSpec> inputs;
  std::vector<std::string> outputs;  ///< port kinds
  /// The data sets it reads. Its content key covers these and no others, so that changing the evaluation
  /// set does not recompute AdaRound. nullopt: every data set of the config (always safe).
  std::optional<std::vector<DataSetUse>> data_sets;
  /// Validates cross-field rules (throws InputError naming the key) and builds the stage. Runs at plan
  /// time, before any tensor moves.
  Factory make;
  /// Optional: the stages the planner derives for stage `self` of `plan` (already wired), so that work
  /// the stage needs is a node of the graph rather than hidden in its Run.
  std::function<std::vector<DerivedStage>(const Plan& plan, std::size_t self)> derive;
};

/// A data set type (`data.calibration.type`).
struct DataTypeDef {
  using Loader = std::function<ArtifactPtr(const DataSetSpec& set, const PipelineSpec& spec)>;

  std::string type;
  std::string help;
  const OptionSchema* schema = nullptr;
  /// Reads a data set of this type (its options bound to `schema`); throws InputError naming the data
  /// set and the file. Stages reach it through StageContext::DataSet, once per run.
  Loader load;
};

/// Builds a StageDef from a stage class S with `using Options`, `static const Schema<Options>& GetSchema()`
/// and `static std::unique_ptr<Stage> Make(const Options&, const PipelineSpec&)`.
/// It reads every data set of the config (StageDef::data_sets); the overload below names the ones it reads.
template <class S>
StageDef DefineStage(std::string type, std::string help, std::vector<PortSpec> inputs,
                     std::vector<std::string> outputs) {
  StageDef def;
  def.type = std::move(type);
  def.help = std::move(help);
  def.schema = &S::GetSchema().erased();
  def.inputs = std::move(inputs);
  def.outputs = std::move(outputs);
  def.make = [](const OptionValues& values, const PipelineSpec& spec) {
    return S::Make(S::GetSchema().Bind(values), spec);
  };
  return def;
}

template <class S>
StageDef DefineStage(std::string type, std::string help, std::vector<PortSpec> inputs,
                     std::vector<std::string> outputs, std::vector<DataSetUse> data_sets) {
  StageDef def = DefineStage<S>(std::move(type), std::move(help), std::move(inputs), std::move(outputs));
  def.data_sets.emplace(std::move(data_sets));
  return def;
}

class StageRegistry {
 public:
  void AddPortKind(PortKindDef def);
  void AddSection(SectionDef def);
  void AddDataSetName(DataSetNameDef def);
  /// Throws std::logic_error on a duplicate type or a port kind not registered before.
  void Add(StageDef def);
  /// How the application's tensor library is told its thread counts; the run's executor alone calls
  /// them, around every stage and sub-task (executor.h).
  void SetThreadSetters(ThreadSetters setters) { thread_setters_ = std::move(setters); }
  const ThreadSetters& thread_setters() const { return thread_setters_; }
  /// What worker processes run for the tasks a stage hands out with RemoteWork (pipeline/remote.h).
  RemoteHandlers& remote_handlers() { return remote_handlers_; }
  const RemoteHandlers& remote_handlers() const { return remote_handlers_; }
  void AddDataType(DataTypeDef def);

  const StageDef* Find(const std::string& type) const;
  const PortKindDef* FindPortKind(const std::string& name) const;
  const std::vector<PortKindDef>& port_kinds() const { return port_kinds_; }
  const std::vector<SectionDef>& sections() const { return sections_; }
  const std::vector<DataSetNameDef>& data_set_names() const { return data_set_names_; }
  std::vector<std::string> DataSetNames() const;
  const DataTypeDef* FindDataType(const std::string& type) const;
  const std::vector<StageDef>& stages() const { return stages_; }
  const std::vector<DataTypeDef>& data_types() const { return data_types_; }
  std::vector<std::string> StageTypes() const;
  std::vector<std::string> DataTypes() const;

 private:
  std::vector<PortKindDef> port_kinds_;
  std::vector<SectionDef> sections_;
  std::vector<DataSetNameDef> data_set_names_;
  std::vector<StageDef> stages_;
  std::vector<DataTypeDef> data_types_;
  RemoteHandlers remote_handlers_;
  ThreadSetters thread_setters_;
};

/// Human-readable description of a stage type's ports and options (`adaflow describe`).
std::string DescribeStage(const StageDef& def);
std::string DescribeSchema(const OptionSchema& schema);

}  // namespace adaflow
