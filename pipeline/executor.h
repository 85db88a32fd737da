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
// A distributed executor would implement the same interface and ship tasks elsewhere.

#include <tbb/task_arena.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>

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
  LocalExecutor(int threads, ThreadSetters setters);
  ~LocalExecutor() override;
  int threads() const override { return threads_; }
  TaskDag::Result Run(TaskDag& dag, const std::atomic<bool>* stop) override;
  void UseThreads(int threads) const override;

 private:
  /// Runs one task between Enter and Leave of its share; called on the task's thread.
  void RunTask(int threads, const TaskDag::Body& body);
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
};

}  // namespace adaflow
