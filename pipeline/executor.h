#pragma once
// The one place where a run's tasks execute: stages (by the FlowGraphRunner) and the sub-tasks a stage
// hands to StageContext::RunTasks (AdaRound's per-layer work). A run has one executor sized by its
// thread budget; everything it runs shares that budget.
//
// LocalExecutor runs a TaskDag on this machine: a oneTBB task_arena with `threads` slots. Around each
// task it sets the thread counts through the application's ThreadSetters (the framework knows no tensor
// library):
//   - the calling thread's intra-op threads: the task's declared share;
//   - the process-wide pool (OpenBLAS): owned by the executor, never by a task. It is set when a task
//     starts or ends, to the smallest share among the tasks running then (the budget when none runs): a
//     task alone gets its whole share, and tasks side by side never get more than theirs. (A task that
//     starts beside a running one lowers the pool under it; OpenBLAS has no per-call count to avoid that.)
//
// With RemoteLanes (pipeline/remote.h; mpi/: other MPI ranks) the same executor spreads the tasks that
// carry RemoteWork: such a task takes a free remote lane, else a free local slot, whichever comes first;
// every other task runs here. The arena then has 2 × `threads` + lanes slots, and at most `threads` tasks
// compute here at once (a slot is a permit, which a stage lends while it waits for its sub-tasks). A
// thread that holds a lane computes only what the task's request needs (AdaRound: a chunk's x̂), on one
// intra-op thread, then waits: up to `lanes` such threads beside the budget, briefly.

#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "common/remote.h"
#include "pipeline/task_dag.h"
#include "pipeline/threads.h"

namespace adaflow {

class TaskExecutor {
 public:
  virtual ~TaskExecutor() = default;
  /// The thread budget every task of the run shares.
  virtual int threads() const = 0;
  /// Runs every task of `dag` and waits. Safe to call from inside a task this executor runs (a stage
  /// running its sub-tasks): the waiting thread works on them. `stop` cancels tasks not yet started.
  virtual TaskDag::Result Run(TaskDag& dag, const std::atomic<bool>* stop) = 0;
  /// Sets the calling thread's intra-op threads (a stage body that runs tensor code itself).
  virtual void UseThreads(int threads) const = 0;
};

class LocalExecutor : public TaskExecutor {
 public:
  /// `remote` (optional): where tasks with RemoteWork may run besides here.
  LocalExecutor(int threads, ThreadSetters setters, std::shared_ptr<RemoteLanes> remote = nullptr);
  ~LocalExecutor() override;
  int threads() const override { return threads_; }
  TaskDag::Result Run(TaskDag& dag, const std::atomic<bool>* stop) override;
  void UseThreads(int threads) const override;

 private:
  /// Runs one task: here, or on a remote lane.
  void Dispatch(const TaskDag::TaskRef& task, const std::atomic<bool>* stop);
  /// Runs one task between Enter and Leave of its share; called on the task's thread.
  void RunTask(int threads, const TaskDag::Body& body);
  /// With remote lanes: a local permit (returns -1) or, when `remote_ok`, a free lane (its index).
  int Acquire(bool remote_ok);
  void Release(int lane);
  /// A task with `share` threads starts / ends: the process pool follows the running tasks' smallest share.
  void Enter(int share);
  void Leave(int share);
  void SetPoolLocked();

  int threads_;
  ThreadSetters setters_;
  std::unique_ptr<tbb::task_arena> arena_;
  std::mutex pool_mutex_;
  std::multiset<int> running_;  ///< shares of the tasks running now
  int pool_ = 0;                ///< the process pool's count as last set (0: never)
  // Remote lanes (all unused without them).
  std::shared_ptr<RemoteLanes> remote_;
  std::unique_ptr<tbb::global_control> parallelism_;  ///< room for the threads that wait on remote lanes
  std::mutex slot_mutex_;
  std::condition_variable slot_freed_;
  int free_permits_ = 0;
  std::vector<int> free_lanes_;
};

}  // namespace adaflow
