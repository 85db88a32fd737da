#include "pipeline/flow_graph_runner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <exception>
#include <map>
#include <thread>

#include "pipeline/run_store.h"
#include "tests/pipeline/pipeline_fixture.h"
#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

const char* kChain = R"(name: chain
stages:
  - {id: s1, type: source, value: 1}
  - {id: s2, type: add, add: 2}
  - {id: s3, type: add, add: 3}
  - {id: s4, type: sink}
)";

//   a ──► b (made to fail) ──► c
//    └──► d
const char* kFailing = R"(name: failing
stages:
  - {id: a, type: source}
  - {id: b, type: add}
  - {id: c, type: sink}
  - {id: d, type: sink, after: [a]}
)";

class FlowGraphRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override { Hooks().Reset(); }
  void TearDown() override { Hooks().Reset(); }

  RunSummary Run(const std::string& text, RunOptions options = {}, const std::vector<std::string>& sets = {}) {
    auto plan = PlanFromText(text, sets);
    if (options.run_dir.empty()) options.run_dir = dir_ / "run";
    if (options.threads == 0) options.threads = 2;
    return FlowGraphRunner(*plan).Run(options);
  }

  /// Runs and returns the NodeError it must throw; `summary` (optional) gets the outcomes.
  NodeError RunFailing(const std::string& text, RunOptions options = {}, RunSummary* summary = nullptr) {
    try {
      auto plan = PlanFromText(text);
      if (options.run_dir.empty()) options.run_dir = dir_ / "run";
      if (options.threads == 0) options.threads = 2;
      FlowGraphRunner(*plan).Run(options, summary);
    } catch (const NodeError& error) {
      return error;
    }
    ADD_FAILURE() << "run did not fail";
    return NodeError("", "", false);
  }

  TempDir dir_;
};

TEST_F(FlowGraphRunnerTest, PassesValuesAlongTheChain) {
  const RunSummary summary = Run(kChain);
  EXPECT_EQ(Hooks().sunk.at("s4"), 1 + 2 + 3);
  for (const auto& record : summary.stages) EXPECT_EQ(record.outcome, StageOutcome::kRan) << record.id;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "run/manifest.json"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "run/config.resolved.yaml"));
  EXPECT_NE(ReadTextFile(dir_ / "run/log.txt").find("[s3]"), std::string::npos);
}

/// Two independent rendezvous stages, each waiting up to `timeout` seconds until both are inside.
std::string Rendezvous(const std::string& timeout) {
  const std::string stage = "type: rendezvous, after: [], parties: 2, timeout: " + timeout + "}\n";
  return "name: rendezvous\nstages:\n  - {id: left, " + stage + "  - {id: right, " + stage;
}

TEST_F(FlowGraphRunnerTest, IndependentStagesRunAtTheSameTime) {
  // Run one after the other, the first would time out.
  RunOptions options;
  options.threads = 2;
  const RunSummary summary = Run(Rendezvous("30"), options);
  EXPECT_EQ(summary.stages[0].outcome, StageOutcome::kRan);
  EXPECT_EQ(summary.stages[1].outcome, StageOutcome::kRan);
}

TEST_F(FlowGraphRunnerTest, TwoRunsAtOnceInOneProcessWriteTheirOwnLogs) {
  auto text = [](const std::string& name, int value) {
    return "name: " + name + "\nstages:\n  - {id: " + name + "_source, type: source, value: " + std::to_string(value) +
           "}\n  - {id: " + name + "_add, type: add, add: 1}\n  - {id: " + name + "_sink, type: sink}\n";
  };
  auto plan_one = PlanFromText(text("one", 10)), plan_two = PlanFromText(text("two", 20));
  RunOptions one, two;
  one.run_dir = dir_ / "one";
  two.run_dir = dir_ / "two";
  one.threads = two.threads = 1;
  std::exception_ptr failed_one, failed_two;
  std::thread first([&] {
    try {
      FlowGraphRunner(*plan_one).Run(one);
    } catch (...) {
      failed_one = std::current_exception();
    }
  });
  try {
    FlowGraphRunner(*plan_two).Run(two);
  } catch (...) {
    failed_two = std::current_exception();
  }
  first.join();
  ASSERT_FALSE(failed_one || failed_two) << "a run failed";
  EXPECT_EQ(Hooks().sunk.at("one_sink"), 11);
  EXPECT_EQ(Hooks().sunk.at("two_sink"), 21);
  const std::string log_one = ReadTextFile(dir_ / "one/log.txt"), log_two = ReadTextFile(dir_ / "two/log.txt");
  EXPECT_NE(log_one.find("[one_sink]"), std::string::npos) << log_one;
  EXPECT_NE(log_two.find("[two_sink]"), std::string::npos) << log_two;
  EXPECT_EQ(log_one.find("[two_"), std::string::npos) << log_one;
  EXPECT_EQ(log_two.find("[one_"), std::string::npos) << log_two;
}

TEST_F(FlowGraphRunnerTest, EachRunReadsItsOwnDataSetsOnceForAllItsStages) {
  // Two stages per run hold the calibration set until both are inside, and the test keeps what they
  // held, as a stage of a run in progress would: the second run still reads its own.
  auto text = [](const std::string& name) {
    return "name: " + name + R"(
data:
  calibration: {type: counted, value: 7}
stages:
  - {id: a, type: rendezvous, after: [], parties: 2, timeout: 30, data: calibration}
  - {id: b, type: rendezvous, after: [], parties: 2, timeout: 30, data: calibration}
)";
  };
  RunOptions options;
  options.run_dir = dir_ / "one";
  Run(text("one"), options);
  Hooks().waiting = 0;
  options.run_dir = dir_ / "two";
  Run(text("two"), options);
  EXPECT_EQ(Hooks().data_loads, 2);
  ASSERT_EQ(Hooks().data_held.size(), 4u);
  EXPECT_EQ(Hooks().data_held.at("one/a"), Hooks().data_held.at("one/b"));
  EXPECT_EQ(Hooks().data_held.at("two/a"), Hooks().data_held.at("two/b"));
  EXPECT_NE(Hooks().data_held.at("one/a"), Hooks().data_held.at("two/a"));
}

TEST_F(FlowGraphRunnerTest, OneThreadRunsStagesOneAfterAnother) {
  // The same rendezvous with a budget of one thread cannot meet: the budget is really enforced.
  RunOptions options;
  options.threads = 1;
  const NodeError error = RunFailing(Rendezvous("0.5"), options);
  EXPECT_NE(std::string(error.what()).find("never arrived"), std::string::npos) << error.what();
}

TEST_F(FlowGraphRunnerTest, FailingStageCancelsDependantsAndNamesItself) {
  Hooks().fail.insert("b");
  const NodeError error = RunFailing(kFailing);
  EXPECT_EQ(error.node_id(), "b");
  EXPECT_EQ(error.exit_code(), ExitCode::kInternal);
  EXPECT_NE(std::string(error.what()).find("stage 'b': test failure requested"), std::string::npos);
  EXPECT_EQ(Hooks().Runs("c"), 0);
  EXPECT_EQ(Hooks().Runs("d"), 1);  // independent work is not thrown away
  RunStore store(dir_ / "run");
  EXPECT_TRUE(store.Find("d").has_value());
  EXPECT_FALSE(store.Find("b").has_value());
}

TEST_F(FlowGraphRunnerTest, AStageRejectsItsInputAsSoonAsItExistsAndTheUpstreamResultIsKept) {
  //   s1 (3) ──► s2 (+2) ──► s3 (sink, max 4): s3 rejects s2's 5 before it could start.
  const char* text = R"(name: checked
stages:
  - {id: s1, type: source, value: 3}
  - {id: s2, type: add, add: 2}
  - {id: s3, type: sink, max: 4}
)";
  RunSummary summary;
  const NodeError error = RunFailing(text, {}, &summary);
  EXPECT_EQ(error.node_id(), "s3");
  EXPECT_EQ(error.exit_code(), ExitCode::kBadInput);
  EXPECT_NE(std::string(error.what()).find("stage 's3': its input 5 is over max 4"), std::string::npos) << error.what();
  ASSERT_EQ(summary.stages.size(), 3u);
  EXPECT_EQ(summary.stages[1].outcome, StageOutcome::kRan);
  EXPECT_EQ(summary.stages[2].outcome, StageOutcome::kFailed);
  EXPECT_EQ(Hooks().Runs("s3"), 0);
  // With a max that fits, only s3 runs: s2's result was kept.
  Run(text, {}, {"stages.s3.max=5"});
  EXPECT_EQ(Hooks().Runs("s1"), 1);
  EXPECT_EQ(Hooks().Runs("s2"), 1);
  EXPECT_EQ(Hooks().sunk.at("s3"), 5);
}

TEST_F(FlowGraphRunnerTest, ASweepPointThatFailsLeavesTheOtherPointsRunning) {
  //   s1 (3) ──► s2 (+2) ──► s3@max4 (rejects 5: fails alone), s3@max10 (takes it: runs).
  const char* text = R"(name: sweep
stages:
  - {id: s1, type: source, value: 3}
  - {id: s2, type: add, add: 2}
  - {id: s3, type: sink, max: 4}
sweep:
  matrix:
    stages.s3.max: [4, 10]
)";
  RunSummary summary;
  const NodeError error = RunFailing(text, {}, &summary);
  EXPECT_EQ(error.node_id(), "s3@max4");
  EXPECT_EQ(error.exit_code(), ExitCode::kBadInput);
  ASSERT_EQ(summary.stages.size(), 4u);
  EXPECT_EQ(summary.stages[1].outcome, StageOutcome::kRan);
  EXPECT_EQ(summary.stages[2].id, "s3@max4");
  EXPECT_EQ(summary.stages[2].outcome, StageOutcome::kFailed);
  EXPECT_NE(summary.stages[2].error.find("its input 5 is over max 4"), std::string::npos) << summary.stages[2].error;
  EXPECT_EQ(summary.stages[3].outcome, StageOutcome::kRan);
  EXPECT_EQ(Hooks().sunk.at("s3@max10"), 5);
  EXPECT_EQ(Hooks().Runs("s3@max4"), 0);
  // The rerun computes only the point that failed before, here with a max that fits.
  Hooks().Reset();
  Run(text, {}, {"sweep.matrix={stages.s3.max: [5, 10]}"});
  EXPECT_EQ(Hooks().Runs("s2"), 0);
  EXPECT_EQ(Hooks().Runs("s3@max10"), 0);
  EXPECT_EQ(Hooks().sunk.at("s3@max5"), 5);
}

TEST_F(FlowGraphRunnerTest, BadInputInAStageIsExitCodeTwo) {
  Hooks().fail_input.insert("s2");
  const NodeError error = RunFailing(kChain);
  EXPECT_EQ(error.node_id(), "s2");
  EXPECT_EQ(error.exit_code(), ExitCode::kBadInput);
}

TEST_F(FlowGraphRunnerTest, ResumeRunsOnlyTheStagesThatDidNotFinish) {
  Hooks().fail.insert("s3");
  RunFailing(kChain);
  EXPECT_EQ(Hooks().Runs("s1"), 1);
  EXPECT_EQ(Hooks().Runs("s2"), 1);
  EXPECT_EQ(Hooks().Runs("s3"), 1);
  EXPECT_EQ(Hooks().Runs("s4"), 0);

  Hooks().Reset();
  const RunSummary summary = Run(kChain);
  EXPECT_EQ(Hooks().Runs("s1"), 0);
  EXPECT_EQ(Hooks().Runs("s2"), 0);
  EXPECT_EQ(Hooks().Runs("s3"), 1);
  EXPECT_EQ(Hooks().Runs("s4"), 1);
  EXPECT_EQ(Hooks().Restores("s2"), 1);  // s3 needs its output, read back from its file
  EXPECT_EQ(summary.stages[1].outcome, StageOutcome::kRestored);
  EXPECT_EQ(Hooks().sunk.at("s4"), 6);

  Hooks().Reset();
  const RunSummary again = Run(kChain);  // everything finished: nothing runs, nothing is read back
  for (const auto& record : again.stages) EXPECT_EQ(record.outcome, StageOutcome::kSkipped) << record.id;
  EXPECT_EQ(Hooks().Restores("s2"), 0);

  Hooks().Reset();
  RunOptions fresh;
  fresh.fresh = true;
  Run(kChain, fresh);
  for (const char* id : {"s1", "s2", "s3", "s4"}) EXPECT_EQ(Hooks().Runs(id), 1) << id;
}

TEST_F(FlowGraphRunnerTest, ADerivedStageRunsResumesAndFeedsItsOwner) {
  const char* derived = kDerivedConfig;
  const RunSummary summary = Run(derived);
  ASSERT_EQ(summary.stages.size(), 4u);
  EXPECT_EQ(summary.stages[3].id, "p.plus");
  EXPECT_EQ(Hooks().sunk.at("s"), 5 + (5 + 3));
  EXPECT_EQ(Hooks().Runs("p.plus"), 1);
  // A derived stage's files are in a folder of its own: an add stage of the config writes beside them.
  EXPECT_TRUE(std::filesystem::exists(dir_ / "run/p.plus/p.plus.txt"));

  Hooks().Reset();
  for (const auto& record : Run(derived).stages) EXPECT_EQ(record.outcome, StageOutcome::kSkipped) << record.id;

  Hooks().Reset();
  Run(derived, {}, {"stages.p.derive_add=4"});
  EXPECT_EQ(Hooks().Runs("a"), 0);
  EXPECT_EQ(Hooks().Runs("p.plus"), 1);
  EXPECT_EQ(Hooks().Runs("p"), 1);
  EXPECT_EQ(Hooks().sunk.at("s"), 5 + (5 + 4));
}

TEST_F(FlowGraphRunnerTest, ChangedOptionRerunsThatStageAndItsDependants) {
  Run(kChain);
  Hooks().Reset();
  Run(kChain, {}, {"stages.s3.add=4"});
  EXPECT_EQ(Hooks().Runs("s1"), 0);
  EXPECT_EQ(Hooks().Runs("s2"), 0);
  EXPECT_EQ(Hooks().Runs("s3"), 1);
  EXPECT_EQ(Hooks().Runs("s4"), 1);
  EXPECT_EQ(Hooks().sunk.at("s4"), 7);
}

TEST_F(FlowGraphRunnerTest, DamagedOutputFileIsRecomputed) {
  Run(kChain);
  WriteTextFile(dir_ / "run/s2.txt", "99");
  Hooks().Reset();
  Run(kChain);
  EXPECT_EQ(Hooks().Runs("s1"), 0);
  EXPECT_EQ(Hooks().Runs("s2"), 1);
  EXPECT_EQ(ReadTextFile(dir_ / "run/s2.txt"), "3");
}

TEST_F(FlowGraphRunnerTest, SubGraphResumesPerTask) {
  const char* text = R"(name: fan
stages:
  - {id: fan, type: fanout, tasks: 4}
  - {id: out, type: sink}
)";
  Hooks().fail.insert("fan/t2");
  const NodeError error = RunFailing(text);
  EXPECT_EQ(error.node_id(), "fan/t2");  // the sub-task that failed, named through RunTasks
  EXPECT_EQ(Hooks().Runs("fan/t0") + Hooks().Runs("fan/t1") + Hooks().Runs("fan/t3"), 3);

  Hooks().Reset();
  Run(text);
  EXPECT_EQ(Hooks().Runs("fan/t0"), 0);
  EXPECT_EQ(Hooks().Runs("fan/t1"), 0);
  EXPECT_EQ(Hooks().Runs("fan/t2"), 1);
  EXPECT_EQ(Hooks().Runs("fan/t3"), 0);
  EXPECT_EQ(Hooks().sunk.at("out"), 0 + 1 + 4 + 9);
}

/// What an observer saw: stage id → outcome name, and whether outputs came with it.
struct Observed {
  std::map<std::string, std::string> outcome;
  std::map<std::string, bool> with_outputs;
  int calls = 0;
  RunOptions Options() {
    RunOptions options;
    options.observer = [this](const StageRecord& record, const StageOutputs* outputs, const RunStore&) {
      ++calls;
      outcome[record.id] = StageOutcomeName(record.outcome);
      with_outputs[record.id] = outputs != nullptr;
    };
    return options;
  }
};

TEST_F(FlowGraphRunnerTest, ObserverSeesEveryStageAndObservedPortsAreRestored) {
  Observed first;
  Run(kChain, first.Options());
  EXPECT_EQ(first.calls, 4);
  for (const char* id : {"s1", "s2", "s3", "s4"}) {
    EXPECT_EQ(first.outcome[id], "ran") << id;
    EXPECT_TRUE(first.with_outputs[id]) << id;
  }

  // Rerun: nothing needs anything, so every stage is skipped and seen without outputs.
  Hooks().Reset();
  Observed skipped;
  Run(kChain, skipped.Options());
  for (const char* id : {"s1", "s2", "s3", "s4"}) {
    EXPECT_EQ(skipped.outcome[id], "skipped") << id;
    EXPECT_FALSE(skipped.with_outputs[id]) << id;
  }
  EXPECT_EQ(Hooks().Restores("s1") + Hooks().Restores("s3"), 0);

  // Asking for Metrics restores the stages producing them (the sink produces none) and runs nothing.
  Hooks().Reset();
  Observed restored;
  RunOptions options = restored.Options();
  options.observed_ports = {kInt};
  Run(kChain, options);
  for (const char* id : {"s1", "s2", "s3"}) {
    EXPECT_EQ(restored.outcome[id], "restored") << id;
    EXPECT_TRUE(restored.with_outputs[id]) << id;
    EXPECT_EQ(Hooks().Restores(id), 1) << id;
    EXPECT_EQ(Hooks().Runs(id), 0) << id;
  }
  EXPECT_EQ(restored.outcome["s4"], "skipped");
}

TEST_F(FlowGraphRunnerTest, ObserverSeesTheFailedStageAndTheCancelledOnes) {
  Hooks().fail.insert("b");
  Observed seen;
  RunFailing(kFailing, seen.Options());
  EXPECT_EQ(seen.outcome["a"], "ran");
  EXPECT_EQ(seen.outcome["b"], "failed");
  EXPECT_FALSE(seen.with_outputs["b"]);
  EXPECT_EQ(seen.outcome["c"], "cancelled");
  EXPECT_EQ(seen.outcome["d"], "ran");
  EXPECT_EQ(seen.calls, 4);
}

TEST_F(FlowGraphRunnerTest, AFailedRestoreIsReportedLikeAnyFailure) {
  Run(kChain);
  // Rerun asking for the outputs: s2's Restore fails (its file is damaged) and the run says so, naming it.
  Hooks().Reset();
  Hooks().fail_restore.insert("s2");
  Observed seen;
  RunOptions options = seen.Options();
  options.observed_ports = {kInt};
  const NodeError error = RunFailing(kChain, options);
  EXPECT_EQ(error.node_id(), "s2");
  EXPECT_TRUE(error.bad_input());
  EXPECT_NE(std::string(error.what()).find("is damaged"), std::string::npos) << error.what();
  EXPECT_EQ(seen.outcome["s1"], "restored");
  EXPECT_EQ(seen.outcome["s2"], "failed");
  EXPECT_FALSE(seen.with_outputs["s2"]);
  EXPECT_EQ(seen.outcome["s3"], "cancelled");
}

TEST_F(FlowGraphRunnerTest, LockRefusesAConcurrentRun) {
  RunStore holder(dir_ / "run");
  try {
    Run(kChain);
    FAIL() << "second run started";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("in use by another adaflow run"), std::string::npos);
  }
  EXPECT_EQ(Hooks().Runs("s1"), 0);
}

TEST_F(FlowGraphRunnerTest, StopBeforeStartRunsNothingAndSaysSo) {
  std::atomic<bool> stop{true};
  RunOptions options;
  options.stop = &stop;
  EXPECT_THROW(Run(kChain, options), Interrupted);
  EXPECT_EQ(Hooks().Runs("s1"), 0);
}

}  // namespace
}  // namespace adaflow::testing
