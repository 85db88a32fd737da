// AdaRound on one large layer of the example model (layers.2.conv2, [64, 64, 3, 3] on 7x7 maps), through
// the engine the adaround stage runs (src/adaround/engine.h: x̂ and statistics, channel blocks, error
// passes), with 1 and 2 threads on the run's executor, against this machine's one-thread sgemm rate.
// Prints, per objective and thread count: the layer's wall time, the optimizer's thread-seconds per
// iteration and its GFLOP/s per thread. Not a test: timings on shared machines are noisy; compare ratios.
//
// Usage: ./build/bench/adaround_bench [iterations]   (from the repository root)

#include <torch/script.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <unistd.h>

#include "pipeline/executor.h"
#include "src/adaround/engine.h"
#include "src/data/dataset.h"
#include "src/io/activation_cache_writer.h"
#include "src/model/batch_norm_fold.h"
#include "src/model/layers.h"
#include "bench/bench_common.h"
#include "src/model/torch_runtime.h"
#include "stages/adaround/layer_store.h"

namespace {

using namespace adaflow;

using bench::Seconds;
using bench::SgemmGflops;

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 300;
  const std::string target = "layers.2.conv2";
  auto model = model::FoldBatchNorm(*model::Model::Load("examples/models/resnet8_fmnist.pt", {1, 1, 28, 28}));
  const auto layers = model::DiscoverLayers(*model);
  data::IdxDataOptions options;
  options.images = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
  options.num_samples = 1024;
  options.scale = 1.0 / 255.0;
  const auto calibration = data::LoadIdx("calibration", options);
  const auto folder = std::filesystem::temp_directory_path() / ("adaround_bench_" + std::to_string(getpid()));
  std::filesystem::create_directories(folder);
  const std::string cache_path = (folder / "activations.h5").string();
  {
    io::ActivationCache cache(cache_path, true);
    io::ActivationCacheWriter(model, layers, *calibration).Write(cache, 64, io::StoreDtype::kFloat32, "bench");
    cache.Close();
  }
  auto cache = std::make_shared<const io::ActivationCache>(cache_path, false);
  adaround::EngineOptions engine_options;
  engine_options.num_iterations = iterations;
  for (const auto& layer : layers.layers)
    if (layer.name != target) engine_options.ignore.push_back(layer.name);  // the engine on one layer

  const double sgemm = SgemmGflops();
  std::printf("layer %s %s, %lld calibration samples, %d iterations; sgemm, 1 thread: %.1f GFLOP/s\n",
              target.c_str(), model::ShapeString(layers.Find(target)->weight_shape).c_str(),
              static_cast<long long>(calibration->size()), iterations, sgemm);
  std::printf("%-8s %10s %8s %10s %14s %12s %10s\n", "threads", "objective", "blocks", "layer s", "optimizer s/it",
              "GFLOP/s/thr", "of sgemm");
  for (auto objective : {adaround::Objective::kSampled, adaround::Objective::kGram}) {
    for (int threads : {1, 2}) {
      engine_options.objective = objective;
      adaround::MemoryLayerStore store;
      adaround::EngineCallbacks callbacks;
      callbacks.layer_seed = [](const std::string&) { return std::uint64_t{1}; };
      adaround::Engine engine(engine_options, model, layers, cache, store, callbacks,
                              {1024.0 * 1024 * 1024, (folder / "xhat.h5").string(), threads});
      LocalExecutor executor(threads, {SetIntraOpThreads, SetBlasThreads});
      TaskDag dag = EngineDag(engine);
      const double seconds = Seconds([&] {
        const auto result = executor.Run(dag, nullptr);
        if (!result.ok()) std::rethrow_exception(result.first_error);
      });
      const adaround::LayerReport report = engine.Results().layers.at(0);
      std::size_t blocks = 0;
      for (const auto& task : engine.tasks()) blocks += task.id.rfind("optimize/", 0) == 0 ? 1 : 0;
      const double per_iteration = report.seconds_optimize / iterations;
      const double gflops = 2.0 * report.step_macs * iterations / report.seconds_optimize / 1e9;
      std::printf("%-8d %10s %8zu %10.3f %14.6f %12.2f %9.1f%%\n", threads,
                  NameOf(adaround::kObjectiveNames, report.objective), blocks, seconds, per_iteration, gflops,
                  100.0 * gflops / sgemm);
    }
  }
  std::filesystem::remove_all(folder);
  return 0;
}
