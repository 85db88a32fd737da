// Thread shares hold: the run's executor sets each task's intra-op threads (per calling thread) and owns
// OpenBLAS's pool, which the whole process shares, with the thread setters the built-in application
// registers (LibTorch and OpenBLAS themselves, no stand-ins).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <ATen/Parallel.h>

#include "pipeline/executor.h"
#include "pipeline/stage_registry.h"
#include "src/model/torch_runtime.h"
#include "stages/register_builtin_stages.h"

namespace adaflow {
namespace {

/// What a task saw while it ran: the largest OpenBLAS pool and its own intra-op threads.
struct Seen {
  std::atomic<int> blas{0};
  std::atomic<int> intra_op{0};
};

/// Records the pool for `milliseconds` (after `ready`, when given), the largest value seen.
void Watch(Seen& seen, int milliseconds) {
  seen.intra_op = at::get_num_threads();
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(milliseconds);
  while (std::chrono::steady_clock::now() < end) {
    seen.blas = std::max(seen.blas.load(), BlasThreads());
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void Rendezvous(std::atomic<int>& arrived, int count) {
  ++arrived;
  while (arrived.load() < count) std::this_thread::yield();
}

TEST(ThreadBudgetTest, SharesHoldForTasksSideBySideAndAlone) {
  ASSERT_NE(BlasThreads(), -1) << "LibTorch's BLAS is not OpenBLAS (scripts/setup.sh installs libopenblas0-pthread)";
  StageRegistry registry;
  RegisterBuiltinStages(registry);
  // Many rounds: before the executor owned the pool, each task set it itself, and whichever started
  // last gave its count to both.
  for (int round = 0; round < 20; ++round) {
    LocalExecutor executor(2, registry.thread_setters());
    Seen alone_before, wide, narrow, alone_after;
    std::atomic<int> arrived{0};
    TaskDag dag;
    //   alone_before (2) ──► wide (2) ──► alone_after (2)
    //                   └──► narrow (1) ┘       wide and narrow side by side
    const std::size_t first = dag.Add("alone_before", [&] { Watch(alone_before, 5); }, 2);
    const std::size_t a = dag.Add("wide", [&] { Rendezvous(arrived, 2); Watch(wide, 20); }, 2);
    const std::size_t b = dag.Add("narrow", [&] { Rendezvous(arrived, 2); Watch(narrow, 20); }, 1);
    const std::size_t last = dag.Add("alone_after", [&] { Watch(alone_after, 5); }, 2);
    dag.Precede(first, a);
    dag.Precede(first, b);
    dag.Precede(a, last);
    dag.Precede(b, last);
    ASSERT_TRUE(executor.Run(dag, nullptr).ok());
    SCOPED_TRACE("round " + std::to_string(round));
    // A task alone gets its whole share, on both pools.
    EXPECT_EQ(alone_before.blas, 2);
    EXPECT_EQ(alone_before.intra_op, 2);
    EXPECT_EQ(alone_after.blas, 2);
    // Side by side, neither gets more than its own share from the shared pool.
    EXPECT_LE(wide.blas, 2);
    EXPECT_EQ(narrow.blas, 1);
    EXPECT_EQ(wide.intra_op, 2);
    EXPECT_EQ(narrow.intra_op, 1);
  }
}

}  // namespace
}  // namespace adaflow
