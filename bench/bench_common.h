#pragma once
// What the benchmark programs share: a wall-clock timer and the reference rate, a 1024×1024 sgemm on one
// thread (LibTorch's and OpenBLAS's threads set to 1 first).

#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "src/model/torch_runtime.h"

namespace adaflow::bench {

inline double Seconds(const std::function<void()>& body) {
  const auto start = std::chrono::steady_clock::now();
  body();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// GFLOP/s of a 1024×1024 sgemm on one thread, the best of five rounds (the machine is shared).
inline double SgemmGflops() {
  SetIntraOpThreads(1);
  SetBlasThreads(1);
  const torch::Tensor a = torch::randn({1024, 1024}), b = torch::randn({1024, 1024});
  torch::mm(a, b);
  const int repeats = 10;
  double best = 0;
  for (int round = 0; round < 5; ++round) {
    const double seconds = Seconds([&] {
      for (int r = 0; r < repeats; ++r) torch::mm(a, b);
    });
    best = std::max(best, 2.0 * 1024.0 * 1024.0 * 1024.0 * repeats / seconds / 1e9);
  }
  return best;
}

}  // namespace adaflow::bench
