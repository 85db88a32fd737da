#include "src/model/torch_runtime.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>

namespace adaflow {
namespace {

// OpenBLAS is found at run time because the BLAS implementation is chosen by Debian's alternatives,
// not at link time.
template <class F>
F OpenBlasFunction(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
}

}  // namespace

void SetIntraOpThreads(int threads) { at::set_num_threads(std::max(1, threads)); }

void SetBlasThreads(int threads) {
  static const auto set = OpenBlasFunction<void (*)(int)>("openblas_set_num_threads");
  if (set) set(std::max(1, threads));
}

int BlasThreads() {
  static const auto get = OpenBlasFunction<int (*)()>("openblas_get_num_threads");
  return get ? get() : -1;
}

}  // namespace adaflow
