#include "pipeline/executor.h"

#include <tbb/task_arena.h>

#include <algorithm>

namespace adaflow {

LocalExecutor::LocalExecutor(int threads, ThreadSetters setters)
    : threads_(std::max(1, threads)),
      setters_(std::move(setters)),
      arena_(std::make_unique<tbb::task_arena>(threads_)) {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  SetPoolLocked();
}

LocalExecutor::~LocalExecutor() = default;

TaskDag::Result LocalExecutor::Run(TaskDag& dag, const std::atomic<bool>* stop) {
  TaskDag::Result result;
  // A thread already in the arena (a stage running its sub-tasks) runs this directly and, while it
  // waits, works on the graph: no extra thread beyond the budget.
  arena_->execute([&] {
    result = dag.Run(stop, [this](int threads, const TaskDag::Body& body) { RunTask(threads, body); });
  });
  // The calling thread ran tasks with their shares; the stage body goes on with the whole budget.
  UseThreads(threads_);
  return result;
}

void LocalExecutor::RunTask(int threads, const TaskDag::Body& body) {
  const int share = std::min(std::max(1, threads), threads_);
  Enter(share);
  struct LeaveOnExit {
    LocalExecutor& executor;
    int share;
    ~LeaveOnExit() { executor.Leave(share); }
  } leave{*this, share};
  UseThreads(share);
  body();
}

void LocalExecutor::UseThreads(int threads) const {
  if (setters_.calling_thread) setters_.calling_thread(std::min(std::max(1, threads), threads_));
}

void LocalExecutor::Enter(int share) {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  const auto entry = running_.insert(share);
  try {
    SetPoolLocked();
  } catch (...) {
    running_.erase(entry);  // the task does not run: its share must not pin the pool
    throw;
  }
}

void LocalExecutor::Leave(int share) {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  running_.erase(running_.find(share));
  SetPoolLocked();
}

void LocalExecutor::SetPoolLocked() {
  const int wanted = running_.empty() ? threads_ : *running_.begin();
  if (wanted == pool_ || !setters_.process_pool) return;
  setters_.process_pool(wanted);
  pool_ = wanted;
}

}  // namespace adaflow
