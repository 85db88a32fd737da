#pragma once
// Work that a task can hand to another process, as bytes: the seam between a run's executor and a
// transport (mpi/: MPI ranks). Nothing here knows a tensor or a network.
//
//   rank 0 (the run)                                   a worker
//   task with RemoteWork ──► RemoteLanes::Run ───────► RemoteHandler (registered by `kind`)
//                             context (once per worker)     parse_context → kept by `context_key`
//                             request                       run(context, request) → reply
//   accept(reply) ◄────────── reply / error ◄──────────
//
// A task that can go remote also runs in process (its body); a handler computes what the body computes,
// from the same bytes, so where a task ran never changes its result.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

namespace adaflow {

/// How a task is run elsewhere. Every function is called on rank 0, on the thread that runs the task.
struct RemoteWork {
  std::string kind;         ///< the RemoteHandler that runs it
  std::string context_key;  ///< a shared input a worker keeps between tasks (e.g. a layer's statistics); unique per run
  std::function<std::string()> context;                ///< its bytes, asked for when a worker lacks them
  std::function<std::string()> request;                ///< this task's own input
  std::function<void(const std::string&)> accept;      ///< the handler's reply
  std::function<void(const std::string&)> progress;    ///< optional: the handler's progress messages
};

/// What a worker runs for one `kind`. `parse_context` turns context bytes into the object `run` reads
/// (kept while tasks use it); `run` may call `progress` (any thread) and throws on failure; `stop` is
/// set when the run is interrupted.
struct RemoteHandler {
  std::function<std::shared_ptr<const void>(const std::string& bytes)> parse_context;
  std::function<std::string(const void* context, const std::string& request,
                            const std::function<void(const std::string&)>& progress, const std::atomic<bool>* stop)>
      run;
};

/// The handlers an application registers (StageRegistry::remote_handlers()); a worker looks them up.
class RemoteHandlers {
 public:
  /// std::logic_error for a kind registered twice.
  void Define(const std::string& kind, RemoteHandler handler) {
    if (!handlers_.emplace(kind, std::move(handler)).second)
      throw std::logic_error("remote handler '" + kind + "' registered twice");
  }
  /// nullptr when unknown.
  const RemoteHandler* Find(const std::string& kind) const {
    const auto found = handlers_.find(kind);
    return found == handlers_.end() ? nullptr : &found->second;
  }

 private:
  std::map<std::string, RemoteHandler> handlers_;
};

/// Places where remote tasks run: `lanes()` of them at once (the workers' threads). A transport
/// implements it (mpi/); the LocalExecutor hands it the tasks that have RemoteWork.
class RemoteLanes {
 public:
  virtual ~RemoteLanes() = default;
  virtual int lanes() const = 0;
  /// Runs `work` on lane `lane` (0 ≤ lane < lanes(), used by one task at a time) and waits; calls
  /// work.accept with the reply. Throws what the worker reported (naming the rank and `task_id`), when
  /// the worker stops answering, and Interrupted when `stop` is set.
  virtual void Run(int lane, const std::string& task_id, const RemoteWork& work, const std::atomic<bool>* stop) = 0;
};

}  // namespace adaflow
