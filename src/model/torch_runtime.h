#pragma once
// LibTorch runtime settings. Debian's LibTorch starts with one intra-op thread; the run's budget
// has to be set explicitly.

namespace adaflow {

/// Sets LibTorch's intra-op thread count on the calling thread (OpenMP keeps one count per thread).
void SetIntraOpThreads(int threads);

/// Sets OpenBLAS's thread pool (Linear layers' sgemm), which the whole process shares: one owner must
/// set it (the run's executor), or tasks side by side overwrite each other's count. No-op when the BLAS
/// LibTorch uses is not OpenBLAS.
void SetBlasThreads(int threads);

/// OpenBLAS's thread count now, or −1 when the BLAS LibTorch uses is not OpenBLAS.
int BlasThreads();

}  // namespace adaflow
