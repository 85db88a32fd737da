#pragma once
// The stage interface. A stage is created by its registered factory from validated options (before
// anything runs), then run once by the FlowGraphRunner on a worker thread of the run's task arena.
// What a running stage sees of the run (StageContext, SubTask) is in stage_context.h.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"

namespace adaflow {

struct PipelineSpec;

/// One input of a stage. What flows along an `after:` edge is a value of a port kind: a name the
/// application registers (StageRegistry::AddPortKind, e.g. "Model"), which the framework only matches.
/// An input is fed by the nearest upstream stage that outputs its kind.
struct PortSpec {
  std::string kind;
  bool optional = false;
  /// The input's own name, for a stage with two inputs of one kind; "" = the kind's name.
  std::string name = "";
  /// Fed only by a stage the planner derives for this one (StageDef::derive), never found upstream.
  bool derived = false;

  const std::string& id() const { return name.empty() ? kind : name; }
};

/// A value passed between stages. Concrete types live in stages/ (they wrap src/ objects).
class Artifact {
 public:
  virtual ~Artifact() = default;
};
using ArtifactPtr = std::shared_ptr<const Artifact>;

/// The outputs of one stage, by port kind.
class StageOutputs {
 public:
  void Set(const std::string& kind, ArtifactPtr value) { values_[kind] = std::move(value); }
  ArtifactPtr Find(const std::string& kind) const;

 private:
  std::map<std::string, ArtifactPtr> values_;
};

/// The inputs of one stage, already wired by the planner, by port id (PortSpec::id).
class StageInputs {
 public:
  void Set(const std::string& port, ArtifactPtr value) { values_[port] = std::move(value); }
  bool Has(const std::string& port) const { return Find(port) != nullptr; }
  /// The input `port`, nullptr when an optional port is not fed.
  ArtifactPtr Find(const std::string& port) const;

  /// The input `port` as T; throws std::logic_error when absent or of another class (a wiring bug).
  template <class T>
  const T& Get(const std::string& port) const {
    const T* typed = dynamic_cast<const T*>(Find(port).get());
    if (!typed) throw std::logic_error("missing or mistyped input '" + port + "'");
    return *typed;
  }
  /// The input `port` as T when it is one, else nullptr (for an input of one kind with several classes).
  template <class T>
  std::shared_ptr<const T> As(const std::string& port) const {
    return std::dynamic_pointer_cast<const T>(Find(port));
  }

 private:
  std::map<std::string, ArtifactPtr> values_;
};

class StageContext;

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

  /// Called by the runner as soon as the upstream stage that feeds `input` (a PortSpec::id) has produced it (ran or
  /// was restored), before the stages between them run: throw InputError when an option does not fit
  /// that value (a layer name the prepared model lacks), so that a run stops before hours of work
  /// rather than after. The run fails naming this stage; the upstream stage's result is kept.
  virtual void CheckInput(const std::string& input, const Artifact& value) const {}

  /// Called by `adaflow run --dry-run` on the main thread, when nothing runs: what the stage will need
  /// (disk, memory), in lines for people, or "" when there is nothing to say. May read the model and
  /// the data to work it out.
  virtual std::string Estimate(const PipelineSpec& spec) const { return ""; }
};

}  // namespace adaflow
