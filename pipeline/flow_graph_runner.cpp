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
#include "pipeline/task_dag.h"

namespace adaflow {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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

RunSummary FlowGraphRunner::Run(const RunOptions& options, RunSummary* summary_out) {
  RunSummary local_summary;
  RunSummary& summary = summary_out ? *summary_out : local_summary;
  summary.run_dir = ResolveRunDir(plan_, options);
  summary.threads = ResolveThreads(plan_, options);

  RunStore store(summary.run_dir, options.fresh ? RunStore::Open::kFresh : RunStore::Open::kResume);
  RunLog run_log(store.PathFor("log.txt"));
  auto log = run_log.Make("run");
  if (!store.repair_note().empty()) log->warn("{}", store.repair_note());
  LocalExecutor executor(summary.threads, plan_.thread_setter);
  RunDataSets data_sets(plan_.spec);
  if (options.fresh) {
    log->info("--fresh: forgetting every finished stage in {}", summary.run_dir);
    store.Clear();
  }
  YAML::Emitter resolved;
  resolved << ResolvedConfig(plan_);
  store.WriteAtomic("config.resolved.yaml", std::string(resolved.c_str()) + "\n");

  const std::size_t count = plan_.stages.size();
  const std::vector<std::string> keys = ComputeContentKeys(plan_);
  summary.stages.assign(count, StageRecord{});
  std::vector<bool> done(count), needed(count);
  std::vector<std::vector<std::size_t>> consumers(count);
  for (std::size_t idx = 0; idx < count; ++idx) {
    summary.stages[idx].id = plan_.stages[idx].id;
    summary.stages[idx].type = plan_.stages[idx].type;
    summary.stages[idx].key = keys[idx];
    done[idx] = store.IsDone(plan_.stages[idx].id, keys[idx]);
    for (const auto& [port, from] : plan_.stages[idx].input_from) consumers[from].push_back(idx);
  }
  // A finished stage is restored only when a stage that will run or be restored reads its outputs.
  // So is one whose outputs the observer asks for.
  for (auto it = plan_.order.rbegin(); it != plan_.order.rend(); ++it) {
    for (std::size_t consumer : consumers[*it])
      if (!done[consumer] || needed[consumer]) needed[*it] = true;
    for (const std::string& kind : options.observed_ports) {
      const auto& produced = plan_.stages[*it].def->outputs;
      if (done[*it] && std::find(produced.begin(), produced.end(), kind) != produced.end()) needed[*it] = true;
    }
  }
  std::size_t to_run = 0;
  for (std::size_t idx = 0; idx < count; ++idx) to_run += done[idx] ? 0 : 1;
  log->info("run '{}' in {} with {} threads: {} of {} stages to run", plan_.spec.name, summary.run_dir,
            summary.threads, to_run, count);

  std::vector<StageOutputs> outputs(count);
  std::mutex observer_mutex;
  auto observe = [&](const StageRecord& record, const StageOutputs* stage_outputs) {
    if (!options.observer) return;
    std::lock_guard<std::mutex> lock(observer_mutex);
    options.observer(record, stage_outputs, store);
  };
  // After a failure the observer (the report) is told as far as it can be: its own error (the disk
  // that is full) must not hide the error that stopped the run.
  auto observe_failure = [&](const StageRecord& record) {
    try {
      observe(record, nullptr);
    } catch (const std::exception& error) {
      log->warn("the report could not be updated: {}", error.what());
    }
  };
  // Stage j's CheckInput runs in the node of the stage that feeds it; a rejection fails j, not that stage.
  std::vector<char> rejected(count, 0);
  auto check_downstream = [&](std::size_t idx) {
    for (std::size_t down = 0; down < count; ++down) {
      const PlannedStage& consumer = plan_.stages[down];
      if (done[down]) continue;  // finished before with these options: skipped or restored, never run
      for (const auto& [port, from] : consumer.input_from) {
        if (from != idx) continue;
        const ArtifactPtr value = outputs[idx].Find(consumer.KindOf(port));
        if (!value) continue;
        try {
          consumer.stage->CheckInput(port, *value);
        } catch (const InputError& error) {
          rejected[down] = 1;
          throw NodeError(consumer.id, error.what(), true);
        }
      }
    }
  };
  TaskDag dag;
  for (std::size_t idx = 0; idx < count; ++idx) {
    dag.Add(plan_.stages[idx].id, [&, idx] {
      PlannedStage& stage = plan_.stages[idx];
      StageRecord& record = summary.stages[idx];
      if (done[idx]) {
        const auto entry = store.Find(stage.id);
        record.computed_seconds = entry ? entry->seconds : 0;
        record.cpu_seconds = entry ? entry->cpu_seconds : 0;
      }
      if (done[idx] && !needed[idx]) {
        record.outcome = StageOutcome::kSkipped;
        observe(record, nullptr);
        return;
      }
      StageInputs inputs;
      for (const auto& [port, from] : stage.input_from) inputs.Set(port, outputs[from].Find(stage.KindOf(port)));
      StageContext ctx(stage.id, stage.type, keys[idx], plan_.spec, store, data_sets, run_log.Make(stage.id),
                       executor, options.stop, stage.derived_for.empty() ? "" : stage.id + "/");
      // A stage body runs its own tensor code with the whole budget; its sub-tasks declare their share.
      executor.UseThreads(summary.threads);
      const auto start = std::chrono::steady_clock::now();
      const double cpu_start = ProcessCpuSeconds();
      record.outcome = StageOutcome::kFailed;
      if (done[idx]) {
        outputs[idx] = stage.stage->Restore(inputs, ctx);
        record.outcome = StageOutcome::kRestored;
        record.seconds = SecondsSince(start);
        ctx.log().debug("restored from {}", summary.run_dir);
        observe(record, &outputs[idx]);
        check_downstream(idx);
        return;
      }
      ctx.log().info("running ({})", stage.type);
      KillPoint("stage:" + stage.id);
      try {
        outputs[idx] = stage.stage->Run(inputs, ctx);
        if (ctx.stop_requested()) throw Interrupted("stopped while running");
      } catch (const Interrupted&) {
        record.seconds = SecondsSince(start);
        record.outcome = StageOutcome::kInterrupted;
        observe_failure(record);
        throw;
      } catch (...) {
        record.seconds = SecondsSince(start);
        observe_failure(record);  // the report shows which stage failed
        throw;
      }
      record.seconds = SecondsSince(start);
      // Stages running side by side share the process: their CPU times overlap.
      record.cpu_seconds = ProcessCpuSeconds() - cpu_start;
      record.peak_rss_bytes = PeakResidentBytes();
      store.MarkDone(stage.id, keys[idx], ctx.files(), record.seconds, record.cpu_seconds);
      record.outcome = StageOutcome::kRan;
      record.computed_seconds = record.seconds;
      ctx.log().info("finished in {:.2f} s", record.seconds);
      observe(record, &outputs[idx]);
      check_downstream(idx);
    });
  }
  for (std::size_t idx = 0; idx < count; ++idx)
    for (std::size_t up : plan_.stages[idx].after) dag.Precede(up, idx);

  const TaskDag::Result result = executor.Run(dag, options.stop);

  for (std::size_t idx = 0; idx < count; ++idx) {
    StageRecord& record = summary.stages[idx];
    if (rejected[idx]) {
      record.outcome = StageOutcome::kFailed;  // its input was rejected before it could start
      observe_failure(record);
      continue;
    }
    if (result.status[idx] == TaskStatus::kCancelled) {
      record.outcome = StageOutcome::kCancelled;
      observe_failure(record);
    }
    // A stage that finished and then had a downstream stage reject its output keeps its outcome.
    if (result.status[idx] == TaskStatus::kFailed && record.outcome != StageOutcome::kInterrupted &&
        record.outcome != StageOutcome::kRan && record.outcome != StageOutcome::kRestored)
      record.outcome = StageOutcome::kFailed;
  }
  if (!result.ok()) {
    std::size_t cancelled = 0;
    for (const auto& record : summary.stages) cancelled += record.outcome == StageOutcome::kCancelled ? 1 : 0;
    try {
      std::rethrow_exception(result.first_error);
    } catch (const NodeError& error) {
      log->error("{}", error.what());
      throw;
    } catch (const Interrupted&) {
      throw Interrupted("interrupted in stage '" + result.first_error_id +
                        "'; finished work is kept, run the same command again to resume");
    } catch (const InputError& error) {
      NodeError wrapped(result.first_error_id, error.what(), true);
      log->error("{} ({} dependent stages cancelled)", wrapped.what(), cancelled);
      throw wrapped;
    } catch (const std::exception& error) {
      NodeError wrapped(result.first_error_id, error.what(), false);
      log->error("{} ({} dependent stages cancelled)", wrapped.what(), cancelled);
      throw wrapped;
    }
  }
  for (const auto& record : summary.stages) {
    if (record.outcome == StageOutcome::kCancelled)
      throw Interrupted("interrupted before stage '" + record.id +
                        "'; finished work is kept, run the same command again to resume");
  }
  log->info("run '{}' finished: results in {}", plan_.spec.name, summary.run_dir);
  return summary;
}

}  // namespace adaflow
