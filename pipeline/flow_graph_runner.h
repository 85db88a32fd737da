#pragma once
// FlowGraphRunner: runs a Plan, every stage one task of a TaskDag (edges from `after:`) on the run's
// LocalExecutor (one task_arena sized by the run's thread budget). Independent stages run concurrently.
// Finished stages whose content key is in the manifest and whose files verify are skipped (or
// restored when a stage that must run, or the observer, needs their outputs). The first failure is
// recorded with its stage id and cancels the stages that depend on it. A stage's exception leaves as a
// NodeError naming it (RethrowAsNodeError, as a stage's sub-tasks' do from StageContext::RunTasks); the
// CLI turns that into an exit code.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/planner.h"
#include "common/remote.h"

namespace adaflow {

class RunStore;
struct StageRecord;

/// Called once per stage when it ran, was restored or was skipped, one call at a time. `outputs` is
/// null for a skipped stage. `store` is the run directory (for files that belong to no stage).
using StageObserver = std::function<void(const StageRecord& record, const StageOutputs* outputs, const RunStore& store)>;

struct RunOptions {
  /// Run directory. Default: runs/<name> under the current directory.
  std::string run_dir;
  /// Forget every finished stage and start over.
  bool fresh = false;
  /// Thread budget; 0 = the config's `threads:`, and when that is 0 too, every core.
  int threads = 0;
  /// Set (e.g. by a SIGINT handler) to stop: stages not yet started are cancelled.
  const std::atomic<bool>* stop = nullptr;
  /// See StageObserver.
  StageObserver observer;
  /// Finished stages producing one of these port kinds are restored even when no stage downstream
  /// needs them, so the observer sees their outputs (the run report reads Metrics this way).
  std::vector<std::string> observed_ports;
  /// The text of config.resolved.yaml; empty: the plan's (ResolvedConfig). A run of one sweep point
  /// keeps the whole sweep's here.
  std::string resolved_config;
  /// Other processes (MPI ranks) that run the sub-tasks carrying RemoteWork beside this one; null: none.
  std::shared_ptr<RemoteLanes> remote;
};

enum class StageOutcome { kNotRun, kRan, kRestored, kSkipped, kFailed, kInterrupted, kCancelled };
const char* StageOutcomeName(StageOutcome outcome);

struct StageRecord {
  std::string id;
  std::string type;
  std::string key;
  StageOutcome outcome = StageOutcome::kNotRun;
  /// Wall time of this run's work on the stage (running or restoring it).
  double seconds = 0;
  /// Wall time the stage took when it was computed: in this run, or as recorded in the manifest.
  double computed_seconds = 0;
  /// Process CPU time (user + system) while it was computed; with computed_seconds and the thread
  /// budget it says how busy the cores were. 0 when not measured.
  double cpu_seconds = 0;
  /// The process's peak resident set (VmHWM) when the stage finished computing in this run: the high-water
  /// mark of everything up to and including it. 0 when it was not computed in this run.
  double peak_rss_bytes = 0;
  /// Why it failed (kFailed), as the error said.
  std::string error;
};

struct RunSummary {
  std::string run_dir;
  int threads = 0;
  std::vector<StageRecord> stages;  ///< same index as plan.stages
};

std::string ResolveRunDir(const Plan& plan, const RunOptions& options);
int ResolveThreads(const Plan& plan, const RunOptions& options);

class FlowGraphRunner {
 public:
  explicit FlowGraphRunner(Plan& plan) : plan_(plan) {}

  /// Runs the plan. Throws InputError (run dir locked or damaged), NodeError (a stage failed: its id,
  /// and whether it was bad input), or Interrupted (stop was set before everything finished).
  /// `summary` (optional) is filled even when it throws.
  RunSummary Run(const RunOptions& options, RunSummary* summary = nullptr);

 private:
  Plan& plan_;
};

}  // namespace adaflow
