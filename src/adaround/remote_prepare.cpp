#include "src/adaround/remote_prepare.h"

#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "common/kill_point.h"
#include "src/adaround/adaround.h"
#include "src/adaround/wire.h"
#include "src/io/activation_cache.h"

namespace adaflow::adaround {
namespace {

/// A layer's problem on a worker, with the activation cache its chunks read (opened at the first one).
struct PrepareContext {
  PrepareProblem problem;
  std::string cache_path;

  const io::ActivationCache& Cache() const {
    std::lock_guard<std::mutex> lock(mutex);
    if (cache) return *cache;
    // Rank 0 has read this file: what fails here is this rank's view of it.
    const std::string shared =
        ": every rank reads the activation cache from the run directory, which must be on a file system all "
        "ranks share, at the same path (docs/SCALE_OUT.md)";
    std::error_code ec;
    if (!std::filesystem::is_regular_file(cache_path, ec))
      throw std::runtime_error("activation cache '" + cache_path + "' does not exist on this rank" + shared);
    try {
      cache = std::make_shared<const io::ActivationCache>(cache_path, false);
    } catch (const std::exception& error) {
      throw std::runtime_error("cannot open the activation cache '" + cache_path + "' on this rank (" + error.what() +
                               ")" + shared + "; on a file system without file locks, run with "
                               "HDF5_USE_FILE_LOCKING=FALSE in every rank's environment (mpirun -x)");
    }
    return *cache;
  }

  mutable std::mutex mutex;
  mutable std::shared_ptr<const io::ActivationCache> cache;
};

}  // namespace

std::pair<double, double> SquaredError(const model::Layer& layer, const torch::Tensor& input,
                                       const torch::Tensor& weight, const torch::Tensor& bias,
                                       const torch::Tensor& target) {
  const torch::Tensor output = layer.activation.Apply(LayerForward(layer, input, weight, bias));
  const torch::Tensor squared = (output - target).pow(2).sum(layer.kind == model::LayerKind::kLinear ? -1 : 1);
  return {squared.sum().item<double>(), static_cast<double>(squared.numel())};
}

ChunkStats PrepareChunk(const PrepareProblem& problem, const torch::Tensor& input, const torch::Tensor& fp_input,
                        const std::function<torch::Tensor()>& target) {
  KillPoint("prepare:" + problem.layer.name);
  torch::NoGradGuard no_grad;
  ChunkStats stats;
  if (problem.gram) {
    stats.gram = std::make_unique<GramAccumulator>(problem.layer, problem.weight, problem.cross);
    stats.gram->Add(input, problem.cross ? fp_input : torch::Tensor());
  }
  if (problem.nearest.defined()) stats.error = SquaredError(problem.layer, input, problem.nearest, problem.bias, target());
  return stats;
}

std::string SavePrepareProblem(const PrepareProblem& problem, const std::string& cache_path) {
  ByteWriter out;
  PutLayer(out, problem.layer);
  PutTensor(out, problem.weight);
  PutTensor(out, problem.nearest);
  PutTensor(out, problem.bias);
  out.Put<std::uint8_t>(problem.gram);
  out.Put<std::uint8_t>(problem.cross);
  out.Put(cache_path);
  return out.Take();
}

std::string SavePrepareRequest(std::int64_t start, std::int64_t count, const torch::Tensor& xhat) {
  ByteWriter out;
  out.Put(start);
  out.Put(count);
  PutTensor(out, xhat);
  return out.Take();
}

std::string SaveChunkStats(const ChunkStats& stats) {
  ByteWriter out;
  out.Put<std::uint8_t>(stats.gram != nullptr);
  if (stats.gram) {
    const GramSums& sums = stats.gram->sums();
    PutTensor(out, sums.hh);
    PutTensor(out, sums.k);
    out.Put(sums.c);
    out.Put(sums.rows);
  }
  out.Put(stats.error.first);
  out.Put(stats.error.second);
  return out.Take();
}

ChunkStats LoadChunkStats(const std::string& bytes, const PrepareProblem& problem) {
  ByteReader in(bytes);
  ChunkStats stats;
  if (in.Get<std::uint8_t>()) {
    GramSums sums;
    sums.hh = GetTensor(in);
    sums.k = GetTensor(in);
    sums.c = in.Get<double>();
    sums.rows = in.Get<double>();
    stats.gram = std::make_unique<GramAccumulator>(problem.layer, problem.weight, problem.cross, std::move(sums));
  }
  stats.error.first = in.Get<double>();
  stats.error.second = in.Get<double>();
  return stats;
}

RemoteHandler PrepareHandler() {
  RemoteHandler handler;
  handler.parse_context = [](const std::string& bytes) -> std::shared_ptr<const void> {
    ByteReader in(bytes);
    auto context = std::make_shared<PrepareContext>();
    PrepareProblem& problem = context->problem;
    problem.layer = GetLayer(in);
    problem.weight = GetTensor(in);
    problem.nearest = GetTensor(in);
    problem.bias = GetTensor(in);
    problem.gram = in.Get<std::uint8_t>() != 0;
    problem.cross = in.Get<std::uint8_t>() != 0;
    context->cache_path = in.GetString();
    return context;
  };
  handler.run = [](const void* context, const std::string& request, const std::function<void(const std::string&)>&,
                   const std::atomic<bool>*) {
    const auto& prepare = *static_cast<const PrepareContext*>(context);
    const PrepareProblem& problem = prepare.problem;
    ByteReader in(request);
    const auto start = in.Get<std::int64_t>();
    const auto count = in.Get<std::int64_t>();
    const torch::Tensor xhat = GetTensor(in);
    const io::ActivationCache& cache = prepare.Cache();
    const std::string& name = problem.layer.name;
    const torch::Tensor fp_input =
        problem.cross || !xhat.defined() ? cache.Read(name, "input", start, count) : torch::Tensor();
    const ChunkStats stats = PrepareChunk(problem, xhat.defined() ? xhat : fp_input, fp_input,
                                          [&] { return cache.Read(name, "target", start, count); });
    return SaveChunkStats(stats);
  };
  return handler;
}

}  // namespace adaflow::adaround
