#include "src/model/torch_runtime.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>

namespace adaflow {

void SetIntraOpThreads(int threads) {
  threads = std::max(1, threads);
  // Per calling thread under OpenMP: each worker that runs LibTorch ops must set its own.
  at::set_num_threads(threads);
  // OpenBLAS (Linear layers' sgemm) keeps its own pool; found at run time because the BLAS
  // implementation is chosen by Debian's alternatives, not at link time.
  using SetBlasThreads = void (*)(int);
  static const auto set_blas_threads =
      reinterpret_cast<SetBlasThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set_blas_threads) set_blas_threads(threads);
}

}  // namespace adaflow
