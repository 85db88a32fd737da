#pragma once
// What a running stage sees of the run: its StageContext (logger, thread budget, stop flag, files, the
// run's data sets, the executor for its own tasks) and SubTask, a resumable piece of its work.

#include <spdlog/logger.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/run_data_sets.h"
#include "pipeline/stage.h"
#include "pipeline/task_dag.h"

namespace adaflow {

class RunStore;
class TaskExecutor;
struct PipelineSpec;

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
  /// "" or "<dir>/": where its files lie in the run directory (see the constructor).
  const std::string& folder() const { return folder_; }
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

}  // namespace adaflow
