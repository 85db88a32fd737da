#include "pipeline/task_dag.h"

#include <tbb/flow_graph.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "common/error.h"

namespace adaflow {

std::size_t TaskDag::Add(std::string id, Body body, int threads, std::shared_ptr<const RemoteWork> remote) {
  tasks_.push_back({std::move(id), std::move(body), std::max(1, threads), std::move(remote), {}, {}});
  return tasks_.size() - 1;
}

void TaskDag::Precede(std::size_t before, std::size_t after) {
  if (before >= tasks_.size() || after >= tasks_.size() || before == after)
    throw std::logic_error("TaskDag::Precede: bad task index");
  tasks_[after].predecessors.push_back(before);
  tasks_[before].successors.push_back(after);
}

TaskDag::Result TaskDag::Run(const std::atomic<bool>* stop, const RunTask& run) {
  using Node = tbb::flow::continue_node<tbb::flow::continue_msg>;
  const std::size_t count = tasks_.size();
  // Statuses are written before the node's message goes out, so successors see them (the graph's
  // edges order the two).
  std::unique_ptr<std::atomic<TaskStatus>[]> status(new std::atomic<TaskStatus>[count]);
  for (std::size_t idx = 0; idx < count; ++idx) status[idx].store(TaskStatus::kPending);
  std::mutex error_mutex;
  Result result;

  tbb::flow::graph graph;
  std::vector<std::unique_ptr<Node>> nodes;
  nodes.reserve(count);
  for (std::size_t idx = 0; idx < count; ++idx) {
    nodes.push_back(std::make_unique<Node>(graph, [&, idx](const tbb::flow::continue_msg&) {
      bool runnable = !(stop && stop->load());
      for (std::size_t pred : tasks_[idx].predecessors)
        if (status[pred].load() != TaskStatus::kDone) runnable = false;
      if (!runnable) {
        status[idx].store(TaskStatus::kCancelled);
        return;
      }
      try {
        const Task& task = tasks_[idx];
        if (run) run(TaskRef{task.id, task.threads, task.body, task.remote.get()});
        else task.body();
        status[idx].store(TaskStatus::kDone);
      } catch (...) {
        {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!result.first_error) {
            result.first_error = std::current_exception();
            result.first_error_id = tasks_[idx].id;
          }
        }
        status[idx].store(TaskStatus::kFailed);
      }
    }));
  }
  for (std::size_t idx = 0; idx < count; ++idx)
    for (std::size_t next : tasks_[idx].successors) tbb::flow::make_edge(*nodes[idx], *nodes[next]);
  for (std::size_t idx = 0; idx < count; ++idx)
    if (tasks_[idx].predecessors.empty()) nodes[idx]->try_put(tbb::flow::continue_msg());
  graph.wait_for_all();

  result.status.resize(count);
  for (std::size_t idx = 0; idx < count; ++idx) result.status[idx] = status[idx].load();
  return result;
}

void RethrowAsNodeError(const std::exception_ptr& error, const std::string& node) {
  try {
    std::rethrow_exception(error);
  } catch (const Interrupted&) {
    throw;
  } catch (const NodeError&) {
    throw;
  } catch (const InputError& input) {
    throw NodeError(node, input.what(), true);
  } catch (const std::exception& internal) {
    throw NodeError(node, internal.what(), false);
  }
}

}  // namespace adaflow
