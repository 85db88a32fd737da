#pragma once
// LibTorch runtime settings. Debian's LibTorch starts with one intra-op thread; the run's budget
// has to be set explicitly.

namespace adaflow {

/// Sets LibTorch's intra-op thread count (and so the BLAS threads it drives).
void SetIntraOpThreads(int threads);

}  // namespace adaflow
