#pragma once
// A DAG of named tasks run on a oneTBB flow graph: one continue_node per task, an edge per
// dependency. The runner runs stages with it; a stage runs its own through StageContext::RunTasks
// (AdaRound: a few tasks per layer), which hands it to the run's TaskExecutor.
//
//   a ──► b ──► d        a task starts when all its predecessors succeeded;
//    └──► c ──┘          b and c run at the same time when threads allow.
//
// A task that throws is recorded (the first error wins) and its dependants are cancelled without
// running; independent tasks still run to completion, so their results are kept.

#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/remote.h"

namespace adaflow {

enum class TaskStatus { kPending, kDone, kFailed, kCancelled };

class TaskDag {
 public:
  using Body = std::function<void()>;
  /// One task as the executor sees it.
  struct TaskRef {
    const std::string& id;
    int threads;
    const Body& body;
    const RemoteWork* remote;  ///< null: the task runs only in process
  };
  /// Runs one task on the task's thread: its body with its declared threads (the executor sets the
  /// thread counts around it), or its RemoteWork elsewhere. It must let what the task throws pass.
  using RunTask = std::function<void(const TaskRef& task)>;

  /// Returns the task's index. `threads`: how many threads the body itself uses (intra-op threads
  /// of the tensor library); the executor accounts for them. It must be a function of the plan, never
  /// of the schedule, so results do not depend on what ran beside the task. `remote`: how the task can
  /// run in another process instead (an executor with RemoteLanes may do so); its result is the body's.
  std::size_t Add(std::string id, Body body, int threads = 1, std::shared_ptr<const RemoteWork> remote = nullptr);
  /// `before` must finish successfully before `after` starts.
  void Precede(std::size_t before, std::size_t after);

  struct Result {
    std::vector<TaskStatus> status;
    std::exception_ptr first_error;  ///< null when every task that ran succeeded
    std::string first_error_id;
    bool ok() const { return !first_error; }
  };

  /// Runs every task and waits. Call from inside the task_arena that should run it (nesting inside a
  /// running task is fine: the waiting thread works on the graph). `stop` (optional) cancels tasks
  /// that have not started yet.
  Result Run(const std::atomic<bool>* stop = nullptr, const RunTask& run = nullptr);

 private:
  struct Task {
    std::string id;
    Body body;
    int threads = 1;
    std::shared_ptr<const RemoteWork> remote;
    std::vector<std::size_t> predecessors;
    std::vector<std::size_t> successors;
  };
  std::vector<Task> tasks_;
};

/// Rethrows a task's failure as NodeError naming `node` (bad input when it was an InputError, else an
/// internal error); a NodeError or Interrupted passes through unchanged. Used wherever a TaskDag's first
/// error leaves the framework: a stage's sub-tasks (StageContext::RunTasks) and the run's stages.
[[noreturn]] void RethrowAsNodeError(const std::exception_ptr& error, const std::string& node);

}  // namespace adaflow
