// The AdaRound optimizer step on one block of output channels at ImageNet shapes (ResNet-18's layers),
// on synthetic data: seconds per iteration and GFLOP/s against a 1024×1024 sgemm on the same single
// thread. The stage runs each block as one task on one thread, so one thread is what matters here.
// Not a test: timings on shared machines are noisy; compare ratios printed by one run.
//
// Usage: ./build/bench/block_bench [iterations, default 20]
//        ./build/bench/block_bench sgemm   (prints the one-thread sgemm GFLOP/s only)
//        ./build/bench/block_bench rows [iterations]   (the Gram step by block rows, interleaved rounds)

#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "src/adaround/block_optimizer.h"
#include "bench/bench_common.h"
#include "src/model/torch_runtime.h"

namespace {

using namespace adaflow;

using bench::Seconds;
using bench::SgemmGflops;

model::Layer Conv(std::int64_t out, std::int64_t in, std::int64_t kernel, bool relu) {
  model::Layer layer;
  layer.name = "conv" + std::to_string(out) + "x" + std::to_string(in) + "x" + std::to_string(kernel);
  layer.kind = model::LayerKind::kConv2d;
  layer.weight_shape = {out, in, kernel, kernel};
  layer.stride = {1, 1};
  layer.padding = {kernel / 2, kernel / 2};
  layer.dilation = {1, 1};
  layer.output_padding = {0, 0};
  if (relu) layer.activation.kind = model::Activation::kRelu;
  return layer;
}

adaround::Grid GridFor(const torch::Tensor& weight) {
  const double scale = weight.abs().max().item<double>() / 8.0;
  return {torch::full({1}, scale), torch::full({1}, -8.0), torch::full({1}, 15.0)};
}

adaround::GramForm RandomGram(std::int64_t out, std::int64_t depth) {
  const torch::Tensor patches = torch::randn({depth, 4 * depth});
  adaround::GramForm form;
  form.hh = (torch::mm(patches, patches.t()) / patches.size(1)).unsqueeze(0).contiguous();
  form.cross = torch::zeros({1, out, depth});
  return form;
}

// The Gram step's rate by block rows (what BlocksFor's row counts rest on): the candidates of one layer
// shape are timed in turn, five rounds, best of each, so that the machine's drift hits them alike.
int GramRows(int iterations) {
  torch::manual_seed(0);
  adaround::Hyper hyper;
  hyper.num_iterations = iterations;
  hyper.warm_start = 0.0;
  const double sgemm = SgemmGflops();
  std::printf("sgemm 1024x1024, 1 thread: %.1f GFLOP/s; %d iterations, best of 5 rounds\n", sgemm, iterations);
  std::printf("%-18s %6s %6s %10s %8s %8s\n", "layer", "depth", "rows", "ms/row-it", "GFLOP/s", "of sgemm");
  const std::vector<std::int64_t> candidates = {32, 64, 128, 256};
  for (const auto& [out, in] : std::vector<std::pair<std::int64_t, std::int64_t>>{{128, 64}, {256, 128}, {512, 256}}) {
    const model::Layer layer = Conv(out, in, 3, true);
    const torch::Tensor weight = torch::randn({out, in, 3, 3}) * 0.05;
    const std::int64_t depth = in * 9;
    const adaround::GramForm form = RandomGram(out, depth);
    std::vector<double> best(candidates.size(), 1e30);
    for (int round = 0; round < 5; ++round)
      for (std::size_t c = 0; c < candidates.size(); ++c) {
        if (candidates[c] > out) continue;
        const adaround::ChannelBlock block{0, candidates[c]};
        best[c] = std::min(best[c], Seconds([&] {
                             adaround::OptimizeGramBlock(layer, block, weight, GridFor(weight), form, 1.0, hyper,
                                                         nullptr, nullptr);
                           }));
      }
    for (std::size_t c = 0; c < candidates.size(); ++c) {
      if (candidates[c] > out) continue;
      const double flops = 2.0 * static_cast<double>(candidates[c]) * depth * depth * iterations;
      std::printf("%-18s %6ld %6ld %10.3f %8.1f %7.0f%%\n", layer.name.c_str(), depth, candidates[c],
                  1e3 * best[c] / iterations / static_cast<double>(candidates[c]), flops / best[c] / 1e9,
                  100 * flops / best[c] / 1e9 / sgemm);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  SetIntraOpThreads(1);
  SetBlasThreads(1);
  if (argc > 1 && std::string(argv[1]) == "sgemm") {  // the reference rate alone (bench/imagenet/run.sh)
    std::printf("%.1f\n", SgemmGflops());
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "rows") return GramRows(argc > 2 ? std::atoi(argv[2]) : 20);
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 20;
  torch::manual_seed(0);
  const double sgemm = SgemmGflops();
  std::printf("sgemm 1024x1024, 1 thread: %.1f GFLOP/s; %d iterations per row\n", sgemm, iterations);
  std::printf("%-18s %-8s %7s %6s %10s %8s %8s\n", "layer", "objective", "map", "blocks", "ms/iter", "GFLOP/s",
              "of sgemm");
  adaround::Hyper hyper;
  hyper.num_iterations = iterations;
  hyper.warm_start = 0.0;  // the regulariser on in every step, as in 80 % of a real run
  struct Case {
    std::int64_t out, in, map;
  };
  // Gram: the step is independent of the map; ResNet-18's 3×3 layers by width.
  for (const Case& c : {Case{64, 64, 56}, Case{128, 128, 28}, Case{256, 128, 14}, Case{256, 256, 14}, Case{512, 256, 7}}) {
    const model::Layer layer = Conv(c.out, c.in, 3, true);
    const torch::Tensor weight = torch::randn({c.out, c.in, 3, 3}) * 0.05;
    const std::int64_t depth = c.in * 9;
    const adaround::GramForm form = RandomGram(c.out, depth);
    const auto blocks = adaround::BlocksFor(layer, adaround::Objective::kGram);
    const auto& block = blocks.front();
    const double seconds = Seconds([&] {
      adaround::OptimizeGramBlock(layer, block, weight, GridFor(weight), form, 1.0, hyper, nullptr, nullptr);
    });
    const double flops = 2.0 * static_cast<double>(block.size()) * depth * depth * iterations;
    std::printf("%-18s %-8s %7s %6zu %10.2f %8.1f %7.0f%%\n", layer.name.c_str(), "gram", "-", blocks.size(),
                1e3 * seconds / iterations, flops / seconds / 1e9, 100 * flops / seconds / 1e9 / sgemm);
  }
  // Sampled: ResNet-18's layer4 (7×7 maps) and, for comparison, layer3 (14×14).
  for (const Case& c : {Case{512, 512, 7}, Case{256, 256, 14}}) {
    const model::Layer layer = Conv(c.out, c.in, 3, true);
    const torch::Tensor weight = torch::randn({c.out, c.in, 3, 3}) * 0.05;
    const std::int64_t samples = 256;
    adaround::SampledData data;
    data.input = torch::randn({samples, c.in, c.map, c.map});
    data.target = torch::relu(at::conv2d(data.input.All(), weight, {}, {1, 1}, {1, 1}));
    data.denominator = static_cast<double>(c.map * c.map);
    const auto blocks = adaround::BlocksFor(layer, adaround::Objective::kSampled);
    const auto& block = blocks.front();
    const double seconds = Seconds([&] {
      adaround::OptimizeSampledBlock(layer, block, weight, torch::Tensor(), GridFor(weight), data, hyper, 1, nullptr,
                                     nullptr);
    });
    // Forward and weight gradient: two products of [32·positions, in·9] and [in·9, block].
    const double flops =
        2.0 * 2.0 * hyper.batch_size * c.map * c.map * static_cast<double>(c.in) * 9 * block.size() * iterations;
    std::printf("%-18s %-8s %4ldx%-2ld %6zu %10.2f %8.1f %7.0f%%\n", layer.name.c_str(), "sampled", c.map, c.map,
                blocks.size(), 1e3 * seconds / iterations, flops / seconds / 1e9, 100 * flops / seconds / 1e9 / sgemm);
  }
  return 0;
}
