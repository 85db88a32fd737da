#pragma once
// One chunk of a layer's calibration samples as work another process can do (common/remote.h): the
// chunk's Gram sums and its round-to-nearest error, the engine's prepare task. The chunk's FP input
// and target come from the run's activation cache, which a worker opens read-only (the run directory
// lives on a file system every rank shares); x̂, which only rank 0 computes (it runs through the
// upstream layers' rounded weights, kept there), travels with the request. A layer's problem (its op
// and weights) goes to a worker once; a reply is the chunk's sums, D×D per group in float64. The
// engine computes the chunks it keeps with the same PrepareChunk: where a chunk ran never changes the
// layer's statistics, which merge in chunk order either way.

#include <torch/script.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "common/remote.h"
#include "src/adaround/gram.h"
#include "src/model/layers.h"

namespace adaflow::adaround {

/// The RemoteHandler kind of a prepare chunk.
inline constexpr const char* kRemotePrepareKind = "adaround.prepare";

/// What a chunk's statistics read of its layer.
struct PrepareProblem {
  model::Layer layer;     ///< its op and activation (no graph positions)
  torch::Tensor weight;   ///< W (FP)
  torch::Tensor nearest;  ///< W rounded to nearest, for the error pass; undefined without one
  torch::Tensor bias;     ///< for the error pass
  bool gram = false;      ///< the Gram objective: the chunk's Gram sums
  bool cross = false;     ///< x̂ differs from the FP input (quant mode): the cross terms too
};

/// A chunk's share of its layer's statistics.
struct ChunkStats {
  std::unique_ptr<GramAccumulator> gram;  ///< null without the Gram objective
  std::pair<double, double> error{0.0, 0.0};  ///< nearest rounding: (squared error, rows); 0 without an error pass
};

/// The squared error of the layer's activated output against `target`, summed over dim 1 (AIMET's loss),
/// as (sum, rows).
std::pair<double, double> SquaredError(const model::Layer& layer, const torch::Tensor& input,
                                       const torch::Tensor& weight, const torch::Tensor& bias,
                                       const torch::Tensor& target);

/// One chunk: `input` is the layer's input (x̂, or the FP input), `fp_input` the FP input (read when
/// `cross`), `target` reads the chunk's FP target (called for the error pass only).
ChunkStats PrepareChunk(const PrepareProblem& problem, const torch::Tensor& input, const torch::Tensor& fp_input,
                        const std::function<torch::Tensor()>& target);

/// The context of a layer's chunks: its problem and the activation cache the worker reads (an absolute path).
std::string SavePrepareProblem(const PrepareProblem& problem, const std::string& cache_path);
/// Samples [start, start + count); `xhat` their x̂ (undefined: the input is the cached FP input).
std::string SavePrepareRequest(std::int64_t start, std::int64_t count, const torch::Tensor& xhat);
std::string SaveChunkStats(const ChunkStats& stats);
/// `problem`: the layer the chunk belongs to (its Gram sums need the op).
ChunkStats LoadChunkStats(const std::string& bytes, const PrepareProblem& problem);

/// The worker's side: opens the cache named by the context (once per context; a clear error naming the
/// file when this worker cannot read it) and computes a request's chunk.
RemoteHandler PrepareHandler();

}  // namespace adaflow::adaround
