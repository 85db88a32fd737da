#include "pipeline/executor.h"

#include <tbb/task_arena.h>

#include <algorithm>

#include "common/error.h"

namespace adaflow {

namespace {
/// Whether this thread holds a local permit (with remote lanes): the task it runs computes here.
thread_local bool t_holds_permit = false;
}  // namespace

LocalExecutor::LocalExecutor(int threads, ThreadSetters setters, std::shared_ptr<RemoteLanes> remote)
    : threads_(std::max(1, threads)), setters_(std::move(setters)), remote_(std::move(remote)) {
  int slots = threads_;
  if (remote_) {
    free_permits_ = threads_;
    for (int lane = remote_->lanes() - 1; lane >= 0; --lane) free_lanes_.push_back(lane);
    // Threads that wait (for a worker's reply, or for a local permit) compute nothing: lanes + threads
    // more slots, so that a task that could go to a free lane is not stuck behind tasks waiting for a
    // permit.
    slots += remote_->lanes() + threads_;
    // oneTBB's default limit is the core count; the threads waiting on remote lanes come on top.
    const auto allowed = tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism);
    if (static_cast<std::size_t>(slots) + 1 > allowed)
      parallelism_ = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                           static_cast<std::size_t>(slots) + 1);
  }
  arena_ = std::make_unique<tbb::task_arena>(slots);
  std::lock_guard<std::mutex> lock(pool_mutex_);
  SetPoolLocked();
}

LocalExecutor::~LocalExecutor() = default;

TaskDag::Result LocalExecutor::Run(TaskDag& dag, const std::atomic<bool>* stop) {
  TaskDag::Result result;
  // A stage that runs its sub-tasks lends its permit while it waits, and takes one again after.
  const bool lent = remote_ && t_holds_permit;
  if (lent) {
    t_holds_permit = false;
    Release(-1);
  }
  // A thread already in the arena (a stage running its sub-tasks) runs this directly and, while it
  // waits, works on the graph: no extra thread beyond the budget.
  arena_->execute([&] { result = dag.Run(stop, [this, stop](const TaskDag::TaskRef& task) { Dispatch(task, stop); }); });
  if (lent) {
    Acquire(false);
    t_holds_permit = true;
  }
  // The calling thread ran tasks with their shares; the stage body goes on with the whole budget.
  UseThreads(threads_);
  return result;
}

void LocalExecutor::Dispatch(const TaskDag::TaskRef& task, const std::atomic<bool>* stop) {
  if (!remote_ || t_holds_permit) {
    RunTask(task.threads, task.body);
    return;
  }
  const int lane = Acquire(task.remote != nullptr);
  struct ReleaseOnExit {
    LocalExecutor& executor;
    int lane;
    ~ReleaseOnExit() {
      if (lane < 0) t_holds_permit = false;
      executor.Release(lane);
    }
  } release{*this, lane};
  if (lane >= 0) {
    // What the task computes here to make its request (a chunk's x̂) runs on this thread alone: the
    // threads waiting on lanes come on top of the budget.
    UseThreads(1);
    remote_->Run(lane, task.id, *task.remote, stop);
    return;
  }
  t_holds_permit = true;
  RunTask(task.threads, task.body);
}

int LocalExecutor::Acquire(bool remote_ok) {
  std::unique_lock<std::mutex> lock(slot_mutex_);
  slot_freed_.wait(lock, [&] { return (remote_ok && !free_lanes_.empty()) || free_permits_ > 0; });
  // A free lane first: the local slots stay for the tasks that can run only here.
  if (remote_ok && !free_lanes_.empty()) {
    const int lane = free_lanes_.back();
    free_lanes_.pop_back();
    return lane;
  }
  --free_permits_;
  return -1;
}

void LocalExecutor::Release(int lane) {
  {
    std::lock_guard<std::mutex> lock(slot_mutex_);
    if (lane < 0) ++free_permits_;
    else free_lanes_.push_back(lane);
  }
  slot_freed_.notify_all();
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
