#pragma once
// How the application's tensor library is told how many threads to use. The framework knows no tensor
// library: the application registers these (StageRegistry::SetThreadSetters) and the run's executor is
// the only caller.

#include <functional>

namespace adaflow {

/// Both are called with the executor's lock held, from task threads and destructors: they must not throw.
struct ThreadSetters {
  /// Sets the intra-op threads of the calling thread (LibTorch under OpenMP keeps one count per thread).
  std::function<void(int threads)> calling_thread;
  /// Sets a thread pool the whole process shares (OpenBLAS's). A count set by one task holds for every
  /// task running beside it, so the executor alone sets it, to what every running task's share allows.
  std::function<void(int threads)> process_pool;
};

}  // namespace adaflow
