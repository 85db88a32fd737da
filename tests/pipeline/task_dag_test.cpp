#include "pipeline/task_dag.h"

#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <mutex>
#include <stdexcept>

namespace adaflow {
namespace {

TEST(TaskDagTest, RunsInDependencyOrder) {
  //   a ──► b ──► d
  //    └──► c ──┘
  TaskDag dag;
  std::mutex mutex;
  std::vector<std::string> trace;
  auto record = [&](const std::string& id) {
    return [&, id] {
      std::lock_guard<std::mutex> lock(mutex);
      trace.push_back(id);
    };
  };
  const auto a = dag.Add("a", record("a"));
  const auto b = dag.Add("b", record("b"));
  const auto c = dag.Add("c", record("c"));
  const auto d = dag.Add("d", record("d"));
  dag.Precede(a, b);
  dag.Precede(a, c);
  dag.Precede(b, d);
  dag.Precede(c, d);
  tbb::task_arena arena(2);
  TaskDag::Result result;
  arena.execute([&] { result = dag.Run(); });
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(trace.size(), 4u);
  EXPECT_EQ(trace.front(), "a");
  EXPECT_EQ(trace.back(), "d");
}

TEST(TaskDagTest, FailureCancelsOnlyDependants) {
  TaskDag dag;
  bool c_ran = false, d_ran = false;
  const auto a = dag.Add("a", [] {});
  const auto b = dag.Add("b", [] { throw std::runtime_error("boom"); });
  const auto c = dag.Add("c", [&] { c_ran = true; });
  const auto d = dag.Add("d", [&] { d_ran = true; });
  dag.Precede(a, b);
  dag.Precede(b, c);
  dag.Precede(a, d);
  TaskDag::Result result = dag.Run();
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.first_error_id, "b");
  EXPECT_EQ(result.status[b], TaskStatus::kFailed);
  EXPECT_EQ(result.status[c], TaskStatus::kCancelled);
  EXPECT_EQ(result.status[d], TaskStatus::kDone);
  EXPECT_FALSE(c_ran);
  EXPECT_TRUE(d_ran);
}

TEST(TaskDagTest, StopFlagCancelsEverythingNotStarted) {
  TaskDag dag;
  std::atomic<bool> stop{false};
  int runs = 0;
  const auto a = dag.Add("a", [&] { ++runs; stop = true; });
  const auto b = dag.Add("b", [&] { ++runs; });
  dag.Precede(a, b);
  TaskDag::Result result = dag.Run(&stop);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(result.status[b], TaskStatus::kCancelled);
}

}  // namespace
}  // namespace adaflow
