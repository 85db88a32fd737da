#pragma once
// The registry of stage types and data types. Filled from one list
// (stages/register_builtin_stages.cpp); a duplicate name is an error at start.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage.h"

namespace adaflow {

struct PipelineSpec;
struct DataSetSpec;

/// Everything the planner, `adaflow stages` and `adaflow describe` know about one stage type.
struct StageDef {
  using Factory = std::function<std::unique_ptr<Stage>(const OptionValues&, const PipelineSpec&)>;

  std::string type;   ///< the YAML `type:`
  std::string help;   ///< one line
  const OptionSchema* schema = nullptr;
  std::vector<PortSpec> inputs;
  std::vector<PortType> outputs;
  /// Validates cross-field rules (throws InputError naming the key) and builds the stage. Runs at plan
  /// time, before any tensor moves.
  Factory make;
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
template <class S>
StageDef DefineStage(std::string type, std::string help, std::vector<PortSpec> inputs,
                     std::vector<PortType> outputs) {
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

class StageRegistry {
 public:
  /// Throws std::logic_error on a duplicate type.
  void Add(StageDef def);
  /// How a thread's intra-op thread count is set (the application's tensor library); the run's
  /// executor calls it before every stage and sub-task, so nothing else needs to.
  void SetThreadSetter(std::function<void(int threads)> setter) { thread_setter_ = std::move(setter); }
  const std::function<void(int threads)>& thread_setter() const { return thread_setter_; }
  void AddDataType(DataTypeDef def);

  const StageDef* Find(const std::string& type) const;
  const DataTypeDef* FindDataType(const std::string& type) const;
  const std::vector<StageDef>& stages() const { return stages_; }
  const std::vector<DataTypeDef>& data_types() const { return data_types_; }
  std::vector<std::string> StageTypes() const;
  std::vector<std::string> DataTypes() const;

 private:
  std::vector<StageDef> stages_;
  std::vector<DataTypeDef> data_types_;
  std::function<void(int threads)> thread_setter_;
};

/// Human-readable description of a stage type's ports and options (`adaflow describe`).
std::string DescribeStage(const StageDef& def);
std::string DescribeSchema(const OptionSchema& schema);

}  // namespace adaflow
