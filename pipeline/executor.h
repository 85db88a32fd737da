#pragma once
// The one place where a run's tasks execute: stages (by the FlowGraphRunner) and the sub-tasks a stage
// hands to StageContext::RunTasks (AdaRound's per-layer work). A run has one executor sized by its
// thread budget; everything it runs shares that budget.
//
// LocalExecutor runs a TaskDag on this machine: a oneTBB task_arena with `threads` slots. Before each
// task it sets the calling thread's intra-op thread count to the task's declared share (through the
// application's ThreadSetter: the framework knows no tensor library). A distributed executor would
// implement the same interface and ship tasks elsewhere.

#include <tbb/task_arena.h>

#include <atomic>
#include <functional>
#include <memory>

#include "pipeline/task_dag.h"

namespace adaflow {

/// Sets the calling thread's intra-op thread count (LibTorch, BLAS). Installed by the application.
using ThreadSetter = std::function<void(int threads)>;

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
  LocalExecutor(int threads, ThreadSetter setter);
  ~LocalExecutor() override;
  int threads() const override { return threads_; }
  TaskDag::Result Run(TaskDag& dag, const std::atomic<bool>* stop) override;
  void UseThreads(int threads) const override;

 private:
  int threads_;
  ThreadSetter setter_;
  std::unique_ptr<tbb::task_arena> arena_;
};

}  // namespace adaflow
