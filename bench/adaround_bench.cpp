// AdaRound optimizer throughput on one large layer of the example model (layers.2.conv2,
// [64, 64, 3, 3] on 7x7 maps), against this machine's sgemm rate, with 1 and 2 intra-op threads.
// Prints GFLOP/s per objective. Not a test: timings on shared machines are noisy; compare ratios.
//
// Usage: ./build/bench/adaround_bench [iterations]   (from the repository root)

#include <torch/script.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "src/adaround/adaround.h"
#include "src/data/dataset.h"
#include "src/model/graph_capture.h"
#include "src/model/layers.h"
#include "src/model/torch_runtime.h"

namespace {

double Seconds(const std::function<void()>& body) {
  const auto start = std::chrono::steady_clock::now();
  body();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double SgemmGflops(int threads) {
  adaflow::SetIntraOpThreads(threads);
  const torch::Tensor a = torch::randn({1024, 1024}), b = torch::randn({1024, 1024});
  torch::mm(a, b);  // warm up
  const int repeats = 20;
  const double seconds = Seconds([&] {
    for (int r = 0; r < repeats; ++r) torch::mm(a, b);
  });
  return 2.0 * 1024.0 * 1024.0 * 1024.0 * repeats / seconds / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace adaflow;
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 300;
  auto model = model::FoldBatchNorm(*model::Model::Load("examples/models/resnet8_fmnist.pt", {1, 1, 28, 28}));
  const auto layers = model::DiscoverLayers(*model);
  const model::Layer& layer = *layers.Find("layers.2.conv2");
  data::IdxDataOptions options;
  options.images = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
  options.num_samples = 1024;
  options.scale = 1.0 / 255.0;
  const auto calibration = data::LoadIdx("calibration", options);
  model::GraphCapture capture(model, {layer.input, layer.activation_output});
  std::vector<torch::Tensor> inputs, targets;
  for (std::int64_t batch = 0; batch < calibration->num_batches(); ++batch) {
    const auto values = capture.Run(calibration->GetBatch(batch).inputs);
    inputs.push_back(values[0]);
    targets.push_back(values[1]);
  }
  adaround::LayerData data;
  data.layer = layer;
  data.weight = model->Submodule(layer.name).attr("weight").toTensor().detach();
  data.bias = model->Submodule(layer.name).attr("bias").toTensor().detach();
  data.input = torch::cat(inputs);
  data.target = torch::cat(targets);
  const auto encoding = quant::ComputeTensorEncoding(data.weight, quant::Scheme::kTfEnhanced,
                                                     quant::GridSpec{4, true}, false, 0);
  adaround::Hyper hyper;
  hyper.num_iterations = iterations;

  std::printf("layer %s %s, %lld calibration samples, %d iterations\n", layer.name.c_str(),
              model::ShapeString(layer.weight_shape).c_str(), static_cast<long long>(data.input.size()), iterations);
  std::printf("%-8s %-8s %10s %12s %10s %12s\n", "threads", "sgemm", "objective", "s/iteration", "GFLOP/s",
              "of sgemm");
  for (int threads : {1, 2}) {
    const double sgemm = SgemmGflops(threads);
    for (auto objective : {adaround::Objective::kSampled, adaround::Objective::kGram}) {
      adaflow::SetIntraOpThreads(threads);
      adaround::Result result;
      double setup = 0;
      if (objective == adaround::Objective::kGram)
        setup = Seconds([&] { adaround::ComputeGram(data); });
      const double seconds = Seconds([&] { result = adaround::Optimize(data, encoding, hyper, objective, 1); });
      // Optimize also computes the Gram statistics (gram) and two full-data MSEs; time them apart.
      const double mse_seconds = Seconds([&] {
        adaround::ReconstructionMse(data, data.weight, false);
        adaround::ReconstructionMse(data, data.weight, false);
      });
      const double loop = std::max(1e-9, seconds - setup - mse_seconds);
      const double macs = objective == adaround::Objective::kGram ? adaround::GramStepCost(layer)
                                                                  : adaround::SampledStepCost(layer, data.target.shape(), hyper.batch_size);
      const double gflops = 2.0 * macs * iterations / loop / 1e9;
      std::printf("%-8d %-8.1f %10s %12.6f %10.2f %11.1f%%\n", threads, sgemm, adaround::ObjectiveName(objective),
                  loop / iterations, gflops, 100.0 * gflops / sgemm);
    }
  }
  return 0;
}
