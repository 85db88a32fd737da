#pragma once
// The stage interface. A stage is created by its registered factory from validated options (before
// anything runs), then run once by the FlowGraphRunner on a worker thread of the run's task arena.

#include <spdlog/logger.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"

namespace adaflow {

class RunStore;
struct PipelineSpec;

/// What flows along an `after:` edge. A stage input is fed by the nearest upstream stage that
/// outputs the same type.
enum class PortType { kModel, kLayerSet, kActivationCache, kEncodings, kMetrics };

const char* PortTypeName(PortType type);

struct PortSpec {
  PortType type;
  bool optional = false;
};

/// A value passed between stages. Concrete types live in stages/ (they wrap src/ objects).
class Artifact {
 public:
  virtual ~Artifact() = default;
};
using ArtifactPtr = std::shared_ptr<const Artifact>;

/// The outputs of one stage, by port type.
class StageOutputs {
 public:
  void Set(PortType type, ArtifactPtr value) { values_[type] = std::move(value); }
  ArtifactPtr Find(PortType type) const;
  const std::map<PortType, ArtifactPtr>& values() const { return values_; }

 private:
  std::map<PortType, ArtifactPtr> values_;
};

/// The inputs of one stage, already wired by the planner.
class StageInputs {
 public:
  void Set(PortType type, ArtifactPtr value) { values_[type] = std::move(value); }
  bool Has(PortType type) const { return values_.count(type) && values_.at(type); }

  /// The input of `type` as T; throws std::logic_error when absent or of another class (a wiring bug).
  template <class T>
  const T& Get(PortType type) const {
    auto it = values_.find(type);
    const T* typed = it == values_.end() ? nullptr : dynamic_cast<const T*>(it->second.get());
    if (!typed) throw std::logic_error(std::string("missing or mistyped input ") + PortTypeName(type));
    return *typed;
  }

 private:
  std::map<PortType, ArtifactPtr> values_;
};

/// What a running stage sees of the run. One per stage run; used from the stage's own thread(s).
class StageContext {
 public:
  StageContext(std::string id, std::string type, std::string key, const PipelineSpec& spec, RunStore& store,
               std::shared_ptr<spdlog::logger> log, int threads, const std::atomic<bool>* stop);

  const std::string& id() const { return id_; }
  const std::string& type() const { return type_; }
  /// This stage's content key: a sub-node's key derives from it (hash(key, sub-node name)).
  const std::string& key() const { return key_; }
  /// `stop` as a pointer, for code that polls it itself (nullptr when the run has none).
  const std::atomic<bool>* stop_flag() const { return stop_; }
  const PipelineSpec& spec() const { return spec_; }
  RunStore& store() { return store_; }
  spdlog::logger& log() { return *log_; }
  std::shared_ptr<spdlog::logger> logger() const { return log_; }
  /// The run's thread budget; a stage that runs work side by side splits it, never exceeds it.
  int threads() const { return threads_; }
  /// True after Ctrl-C: long loops should return early; unfinished work is redone on resume.
  bool stop_requested() const { return stop_ && stop_->load(); }

  /// Writes `bytes` atomically to `name` in the run dir and records it as an output of this stage
  /// (verified on resume). Returns the full path.
  std::string WriteFile(const std::string& name, const std::string& bytes);
  /// Full path for an output that a library writes itself; call RecordFile after it is complete.
  std::string PathFor(const std::string& name) const;
  void RecordFile(const std::string& name);
  const std::vector<std::string>& files() const { return files_; }

 private:
  std::string id_;
  std::string type_;
  std::string key_;
  const PipelineSpec& spec_;
  RunStore& store_;
  std::shared_ptr<spdlog::logger> log_;
  int threads_;
  const std::atomic<bool>* stop_;
  std::vector<std::string> files_;
};

class Stage {
 public:
  virtual ~Stage() = default;

  /// Called by the runner once per run, on a worker thread of the run's arena, after every upstream
  /// stage finished. Other stages may run at the same time on other threads: touch only `inputs`,
  /// `ctx` and this stage's own state. Throw InputError for bad input, anything else for a bug.
  virtual StageOutputs Run(const StageInputs& inputs, StageContext& ctx) = 0;

  /// Called by the runner instead of Run when the manifest shows this stage finished with the same
  /// content key, its files verify, and a downstream stage that has to run needs its outputs.
  /// Rebuilds the outputs from the files it wrote (ctx.PathFor). The default runs the stage again,
  /// which suits stages that are cheap and deterministic.
  virtual StageOutputs Restore(const StageInputs& inputs, StageContext& ctx) { return Run(inputs, ctx); }
};

}  // namespace adaflow
