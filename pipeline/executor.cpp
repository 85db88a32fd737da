#include "pipeline/executor.h"

#include <tbb/task_arena.h>

#include <algorithm>

namespace adaflow {

LocalExecutor::LocalExecutor(int threads, ThreadSetter setter)
    : threads_(std::max(1, threads)),
      setter_(std::move(setter)),
      arena_(std::make_unique<tbb::task_arena>(threads_)) {}

LocalExecutor::~LocalExecutor() = default;

TaskDag::Result LocalExecutor::Run(TaskDag& dag, const std::atomic<bool>* stop) {
  TaskDag::Result result;
  // A thread already in the arena (a stage running its sub-tasks) runs this directly and, while it
  // waits, works on the graph: no extra thread beyond the budget.
  arena_->execute([&] { result = dag.Run(stop, [this](int threads) { UseThreads(threads); }); });
  // The calling thread ran tasks with their shares; the stage body goes on with the whole budget.
  UseThreads(threads_);
  return result;
}

void LocalExecutor::UseThreads(int threads) const {
  if (setter_) setter_(std::min(std::max(1, threads), threads_));
}

}  // namespace adaflow
