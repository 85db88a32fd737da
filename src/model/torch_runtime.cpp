#include "src/model/torch_runtime.h"

#include <ATen/Parallel.h>

#include <algorithm>

namespace adaflow {

void SetIntraOpThreads(int threads) { at::set_num_threads(std::max(1, threads)); }

int GetIntraOpThreads() { return at::get_num_threads(); }

}  // namespace adaflow
