#pragma once
// A DAG of named tasks run on a oneTBB flow graph: one continue_node per task, an edge per
// dependency. The runner runs stages with it; a stage may run its own (AdaRound: one task per layer).
//
//   a ──► b ──► d        a task starts when all its predecessors succeeded;
//    └──► c ──┘          b and c run at the same time when threads allow.
//
// A task that throws is recorded (the first error wins) and its dependants are cancelled without
// running; independent tasks still run to completion, so their results are kept.

#include <atomic>
#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace adaflow {

enum class TaskStatus { kPending, kDone, kFailed, kCancelled };

class TaskDag {
 public:
  using Body = std::function<void()>;

  /// Returns the task's index.
  std::size_t Add(std::string id, Body body);
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
  Result Run(const std::atomic<bool>* stop = nullptr);

  std::size_t size() const { return tasks_.size(); }
  const std::string& id(std::size_t index) const { return tasks_[index].id; }

 private:
  struct Task {
    std::string id;
    Body body;
    std::vector<std::size_t> predecessors;
    std::vector<std::size_t> successors;
  };
  std::vector<Task> tasks_;
};

}  // namespace adaflow
