#include "pipeline/flow_graph_runner.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <sys/resource.h>

#include "common/kill_point.h"
#include "common/process.h"
#include "pipeline/executor.h"
#include "pipeline/logging.h"
#include "pipeline/run_store.h"
#include "pipeline/stage_context.h"
#include "pipeline/task_dag.h"

namespace adaflow {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// What the exception being handled says (call inside a catch block).
std::string CurrentErrorText() {
  try {
    throw;
  } catch (const std::exception& error) {
    return error.what();
  } catch (...) {
    return "unknown error";
  }
}

/// User + system CPU time of the whole process so far.
double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& value) { return static_cast<double>(value.tv_sec) + value.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

const char* StageOutcomeName(StageOutcome outcome) {
  switch (outcome) {
    case StageOutcome::kNotRun: return "not run";
    case StageOutcome::kRan: return "ran";
    case StageOutcome::kRestored: return "restored";
    case StageOutcome::kSkipped: return "skipped";
    case StageOutcome::kFailed: return "failed";
    case StageOutcome::kInterrupted: return "interrupted";
    case StageOutcome::kCancelled: return "cancelled";
  }
  return "?";
}

std::string ResolveRunDir(const Plan& plan, const RunOptions& options) {
  if (!options.run_dir.empty()) return options.run_dir;
  return (std::filesystem::path("runs") / plan.spec.name).string();
}

int ResolveThreads(const Plan& plan, const RunOptions& options) {
  if (options.threads > 0) return options.threads;
  if (plan.spec.threads > 0) return plan.spec.threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

namespace {

/// One run of a plan: the state its stage nodes share. Run() is the whole of it, in three parts: which
/// stages run, are restored or skipped (Decide); each stage's node (Node); how the run ended (Finish).
class PlanRun {
 public:
  PlanRun(Plan& plan, const RunOptions& options, RunSummary& summary, RunStore& store, RunLog& run_log,
          spdlog::logger& log)
      : plan_(plan),
        options_(options),
        summary_(summary),
        store_(store),
        run_log_(run_log),
        log_(log),
        executor_(summary.threads, plan.thread_setters, options.remote),
        data_sets_(plan.spec) {}

  void Run() {
    Decide();
    TaskDag dag;
    const std::size_t count = plan_.stages.size();
    // A stage body runs its own tensor code with the whole budget; its sub-tasks declare their share.
    for (std::size_t idx = 0; idx < count; ++idx)
      dag.Add(plan_.stages[idx].id, [this, idx] { Node(idx); }, summary_.threads);
    for (std::size_t idx = 0; idx < count; ++idx)
      for (std::size_t up : plan_.stages[idx].after) dag.Precede(up, idx);
    Finish(executor_.Run(dag, options_.stop));
  }

 private:
  /// Content keys, and per stage: done (its key is in the manifest and its files verify) and needed (a
  /// stage that runs or is restored reads its outputs, or the observer asks for them).
  void Decide() {
    const std::size_t count = plan_.stages.size();
    keys_ = ComputeContentKeys(plan_);
    summary_.stages.assign(count, StageRecord{});
    done_.assign(count, false);
    needed_.assign(count, false);
    rejected_.assign(count, 0);
    outputs_.assign(count, StageOutputs{});
    std::vector<std::vector<std::size_t>> consumers(count);
    for (std::size_t idx = 0; idx < count; ++idx) {
      summary_.stages[idx].id = plan_.stages[idx].id;
      summary_.stages[idx].type = plan_.stages[idx].type;
      summary_.stages[idx].key = keys_[idx];
      done_[idx] = store_.IsDone(plan_.stages[idx].id, keys_[idx]);
      for (const auto& [port, from] : plan_.stages[idx].input_from) consumers[from].push_back(idx);
    }
    for (auto it = plan_.order.rbegin(); it != plan_.order.rend(); ++it) {
      for (std::size_t consumer : consumers[*it])
        if (!done_[consumer] || needed_[consumer]) needed_[*it] = true;
      for (const std::string& kind : options_.observed_ports) {
        const auto& produced = plan_.stages[*it].def->outputs;
        if (done_[*it] && std::find(produced.begin(), produced.end(), kind) != produced.end()) needed_[*it] = true;
      }
    }
    std::size_t to_run = 0;
    for (std::size_t idx = 0; idx < count; ++idx) to_run += done_[idx] ? 0 : 1;
    log_.info("run '{}' in {} with {} threads: {} of {} stages to run", plan_.spec.name, summary_.run_dir,
              summary_.threads, to_run, count);
  }

  /// Skips, restores or runs stage `idx`, records it and tells the observer; then checks the stages it
  /// feeds against its outputs.
  void Node(std::size_t idx) {
    PlannedStage& stage = plan_.stages[idx];
    StageRecord& record = summary_.stages[idx];
    if (done_[idx]) {
      const auto entry = store_.Find(stage.id);
      record.computed_seconds = entry ? entry->seconds : 0;
      record.cpu_seconds = entry ? entry->cpu_seconds : 0;
    }
    if (done_[idx] && !needed_[idx]) {
      record.outcome = StageOutcome::kSkipped;
      Observe(record, nullptr);
      return;
    }
    if (rejected_[idx]) {
      record.outcome = StageOutcome::kFailed;
      ObserveFailure(record);
      throw NodeError(stage.id, record.error, true);
    }
    StageInputs inputs;
    for (const auto& [port, from] : stage.input_from) inputs.Set(port, outputs_[from].Find(stage.KindOf(port)));
    StageContext ctx(stage.id, stage.type, keys_[idx], plan_.spec, store_, data_sets_, run_log_.Make(stage.id),
                     executor_, options_.stop, stage.Folder());
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = ProcessCpuSeconds();
    record.outcome = StageOutcome::kFailed;
    if (!done_[idx]) {
      ctx.log().info("running ({})", stage.type);
      KillPoint("stage:" + stage.id);
    }
    try {
      outputs_[idx] = done_[idx] ? stage.stage->Restore(inputs, ctx) : stage.stage->Run(inputs, ctx);
      if (!done_[idx] && ctx.stop_requested()) throw Interrupted("stopped while running");
    } catch (const Interrupted&) {
      record.seconds = SecondsSince(start);
      record.outcome = StageOutcome::kInterrupted;
      ObserveFailure(record);
      throw;
    } catch (...) {
      record.seconds = SecondsSince(start);
      record.error = CurrentErrorText();
      ObserveFailure(record);  // the report shows which stage failed, in Run or in Restore
      throw;
    }
    record.seconds = SecondsSince(start);
    if (done_[idx]) {
      record.outcome = StageOutcome::kRestored;
      ctx.log().debug("restored from {}", summary_.run_dir);
    } else {
      // Stages running side by side share the process: their CPU times overlap.
      record.cpu_seconds = ProcessCpuSeconds() - cpu_start;
      record.peak_rss_bytes = PeakResidentBytes();
      store_.MarkDone(stage.id, keys_[idx], ctx.files(), record.seconds, record.cpu_seconds);
      record.outcome = StageOutcome::kRan;
      record.computed_seconds = record.seconds;
      ctx.log().info("finished in {:.2f} s", record.seconds);
    }
    Observe(record, &outputs_[idx]);
    CheckDownstream(idx);
  }

  /// Stage j's CheckInput runs in the node of the stage that feeds it; a rejection fails j, not that stage.
  void CheckDownstream(std::size_t idx) {
    for (std::size_t down = 0; down < plan_.stages.size(); ++down) {
      const PlannedStage& consumer = plan_.stages[down];
      if (done_[down]) continue;  // finished before with these options: skipped or restored, never run
      for (const auto& [port, from] : consumer.input_from) {
        if (from != idx) continue;
        const ArtifactPtr value = outputs_[idx].Find(consumer.KindOf(port));
        if (!value) continue;
        try {
          consumer.stage->CheckInput(port, *value);
        } catch (const InputError& error) {
          rejected_[down] = 1;
          summary_.stages[down].error = error.what();
          // A sweep point's stage fails alone when it would start, so the other points go on;
          // any other stage fails the run now, before more work is spent on it.
          if (consumer.point.empty()) throw NodeError(consumer.id, error.what(), true);
        }
      }
    }
  }

  /// Outcomes of the stages that never ran, then the run's error (NodeError or Interrupted), if any.
  void Finish(const TaskDag::Result& result) {
    for (std::size_t idx = 0; idx < plan_.stages.size(); ++idx) {
      StageRecord& record = summary_.stages[idx];
      if (rejected_[idx]) {
        record.outcome = StageOutcome::kFailed;  // its input was rejected before it could start
        ObserveFailure(record);
        continue;
      }
      if (result.status[idx] == TaskStatus::kCancelled) {
        record.outcome = StageOutcome::kCancelled;
        ObserveFailure(record);
      }
      // A stage that finished and then had a downstream stage reject its output keeps its outcome.
      if (result.status[idx] == TaskStatus::kFailed && record.outcome != StageOutcome::kInterrupted &&
          record.outcome != StageOutcome::kRan && record.outcome != StageOutcome::kRestored)
        record.outcome = StageOutcome::kFailed;
    }
    if (!result.ok()) {
      std::size_t cancelled = 0;
      for (const auto& record : summary_.stages) cancelled += record.outcome == StageOutcome::kCancelled ? 1 : 0;
      try {
        RethrowAsNodeError(result.first_error, result.first_error_id);
      } catch (const Interrupted&) {
        throw Interrupted("interrupted in stage '" + result.first_error_id +
                          "'; finished work is kept, run the same command again to resume");
      } catch (const NodeError& error) {
        if (cancelled) log_.error("{} ({} dependent stages cancelled)", error.what(), cancelled);
        else log_.error("{}", error.what());
        throw;
      }
    }
    for (const auto& record : summary_.stages)
      if (record.outcome == StageOutcome::kCancelled)
        throw Interrupted("interrupted before stage '" + record.id +
                          "'; finished work is kept, run the same command again to resume");
  }

  void Observe(const StageRecord& record, const StageOutputs* stage_outputs) {
    if (!options_.observer) return;
    std::lock_guard<std::mutex> lock(observer_mutex_);
    options_.observer(record, stage_outputs, store_);
  }
  /// After a failure the observer (the report) is told as far as it can be: its own error (the disk
  /// that is full) must not hide the error that stopped the run.
  void ObserveFailure(const StageRecord& record) {
    try {
      Observe(record, nullptr);
    } catch (const std::exception& error) {
      log_.warn("the report could not be updated: {}", error.what());
    }
  }

  Plan& plan_;
  const RunOptions& options_;
  RunSummary& summary_;
  RunStore& store_;
  RunLog& run_log_;
  spdlog::logger& log_;
  LocalExecutor executor_;
  RunDataSets data_sets_;
  std::vector<std::string> keys_;
  std::vector<bool> done_, needed_;
  std::vector<char> rejected_;
  std::vector<StageOutputs> outputs_;
  std::mutex observer_mutex_;
};

}  // namespace

RunSummary FlowGraphRunner::Run(const RunOptions& options, RunSummary* summary_out) {
  RunSummary local_summary;
  RunSummary& summary = summary_out ? *summary_out : local_summary;
  summary.run_dir = ResolveRunDir(plan_, options);
  summary.threads = ResolveThreads(plan_, options);

  RunStore store(summary.run_dir, options.fresh ? RunStore::Open::kFresh : RunStore::Open::kResume);
  RunLog run_log(store.PathFor("log.txt"));
  auto log = run_log.Make("run");
  if (!store.repair_note().empty()) log->warn("{}", store.repair_note());
  if (options.fresh) {
    log->info("--fresh: forgetting every finished stage in {}", summary.run_dir);
    store.Clear();
  }
  if (options.resolved_config.empty()) {
    YAML::Emitter resolved;
    resolved << ResolvedConfig(plan_);
    store.WriteAtomic("config.resolved.yaml", std::string(resolved.c_str()) + "\n");
  } else {
    store.WriteAtomic("config.resolved.yaml", options.resolved_config);
  }
  PlanRun(plan_, options, summary, store, run_log, *log).Run();
  log->info("run '{}' finished: results in {}", plan_.spec.name, summary.run_dir);
  return summary;
}

}  // namespace adaflow
