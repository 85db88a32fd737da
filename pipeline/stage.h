#pragma once
// The stage interface. A stage is created by its registered factory from validated options (before
// anything runs), then run once by the FlowGraphRunner on a worker thread of the run's task arena.

#include <spdlog/logger.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "pipeline/task_dag.h"

namespace adaflow {

class RunStore;
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

class TaskExecutor;
class StageContext;
struct DataSetSpec;

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

/// A resumable piece of a stage's work (AdaRound: one layer). Its key derives from the stage's key and
/// its name (plus `detail`), its files are written atomically, and Commit records it in the manifest:
/// a rerun finds it done (IsDone) and reads its files back instead of computing it again.
/// Thread-safe: sub-tasks of one stage may run side by side.
class SubTask {
 public:
  SubTask(StageContext& ctx, std::string name, std::string key);

  /// "<stage id>/<name>", as the manifest and error messages name it.
  const std::string& id() const { return id_; }
  const std::string& key() const { return key_; }
  /// Finished before with the same key, and every file it recorded still verifies.
  bool IsDone() const;
  /// Full path of one of its files in the run directory.
  std::string PathFor(const std::string& file) const;
  /// Writes `bytes` to `file` (temp file, flush, rename) and records it.
  void WriteFile(const std::string& file, const std::string& bytes);
  /// Reads a file it wrote before; InputError naming it when missing.
  std::string ReadFile(const std::string& file) const;
  /// Records the sub-task as finished, with its files and how long it took.
  void Commit(double seconds);

 private:
  StageContext& ctx_;
  std::string id_;
  std::string key_;
  std::vector<std::string> files_;
};

/// What a running stage sees of the run. One per stage run; used from the stage's own thread(s).
class StageContext {
 public:
  /// `folder` ("" or "<dir>/") holds the stage's files in the run directory: a derived stage's own
  /// folder, so that it never writes over a file of the stage of its type in the config.
  StageContext(std::string id, std::string type, std::string key, const PipelineSpec& spec, RunStore& store,
               RunDataSets& data, std::shared_ptr<spdlog::logger> log, TaskExecutor& executor,
               const std::atomic<bool>* stop, std::string folder = "");

  const std::string& id() const { return id_; }
  const std::string& type() const { return type_; }
  /// This stage's content key: a sub-task's key derives from it.
  const std::string& key() const { return key_; }
  /// `stop` as a pointer, for code that polls it itself (nullptr when the run has none).
  const std::atomic<bool>* stop_flag() const { return stop_; }
  const PipelineSpec& spec() const { return spec_; }
  spdlog::logger& log() { return *log_; }
  std::shared_ptr<spdlog::logger> logger() const { return log_; }
  /// The run's thread budget. The stage's own thread runs with all of it; sub-tasks declare their share.
  int threads() const;
  /// True after Ctrl-C: long loops should return early; unfinished work is redone on resume.
  bool stop_requested() const { return stop_ && stop_->load(); }

  /// Data set `name` of the config (`calibration`, `evaluation`) as its data type's artifact class T;
  /// read once per run (see RunDataSets). Throws InputError when the config lacks it or it cannot be
  /// read; std::logic_error when its artifact is not a T (a wiring bug).
  template <class T>
  std::shared_ptr<const T> DataSet(const std::string& name) const {
    auto typed = std::dynamic_pointer_cast<const T>(data_.Get(name));
    if (!typed) throw std::logic_error("data set '" + name + "' is not of the class the stage asked for");
    return typed;
  }

  /// A resumable sub-task `name`; `detail` (optional) goes into its key besides the stage key.
  SubTask MakeSubTask(const std::string& name, const std::string& detail = "");
  /// Runs `dag` on the run's executor, within the run's thread budget, and waits. Task ids are
  /// relative to the stage. The first failure wins: it is rethrown as NodeError naming
  /// "<stage>/<task>" (bad input or not, as thrown); Ctrl-C is rethrown as Interrupted. Tasks that
  /// depend on a failed one never start; independent ones finish, so their sub-tasks are kept.
  void RunTasks(TaskDag& dag);

  /// Writes `bytes` atomically to `name` in the stage's folder of the run dir and records it as an
  /// output of this stage (verified on resume). Returns the full path.
  std::string WriteFile(const std::string& name, const std::string& bytes);
  /// Full path for an output that a library writes itself; call RecordFile after it is complete.
  std::string PathFor(const std::string& name) const;
  void RecordFile(const std::string& name);
  const std::vector<std::string>& files() const { return files_; }
  /// The files this stage recorded when it finished before (for Restore), named as it wrote them.
  std::vector<std::string> FinishedFiles() const;

 private:
  friend class SubTask;
  std::string id_;
  std::string type_;
  std::string key_;
  const PipelineSpec& spec_;
  RunStore& store_;
  RunDataSets& data_;
  std::shared_ptr<spdlog::logger> log_;
  TaskExecutor& executor_;
  const std::atomic<bool>* stop_;
  std::string folder_;
  std::vector<std::string> files_;  ///< as the manifest records them: folder_ + name
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

  /// Called by the runner as soon as the upstream stage that feeds `input` (a PortSpec::id) has produced it (ran or
  /// was restored), before the stages between them run: throw InputError when an option does not fit
  /// that value (a layer name the prepared model lacks), so that a run stops before hours of work
  /// rather than after. The run fails naming this stage; the upstream stage's result is kept.
  virtual void CheckInput(const std::string& input, const Artifact& value) const {}

  /// Called by `adaflow run --dry-run` on the main thread, when nothing runs: what the stage will need
  /// (disk, memory), in lines for people, or "" when there is nothing to say. May read the model and
  /// the data to work it out.
  virtual std::string Estimate(const PipelineSpec& spec) const { return ""; }

  /// The data sets (names in the config's `data:` section) this stage reads. Its content key covers
  /// these and no others, so that changing, say, the evaluation set does not recompute AdaRound. nullopt
  /// (the default) means every data set: always safe.
  virtual std::optional<std::vector<std::string>> DataSets() const { return std::nullopt; }
};

}  // namespace adaflow
