#pragma once
// One block of a layer's output channels as a self-contained problem, in bytes: what the engine hands
// to another process (common/remote.h). A layer's problem (weight, grid, Gram form or sampled rows,
// hyper-parameters, seed) goes to a worker once; each block then costs a request of two numbers and a
// reply of its rounded rows. The engine solves its local blocks with the same SolveBlock, on the same
// values: where a block ran never changes its bytes.

#include <torch/script.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/remote.h"
#include "src/adaround/block_optimizer.h"
#include "src/adaround/objective.h"

namespace adaflow::adaround {

/// The RemoteHandler kind of a block.
inline constexpr const char* kRemoteBlockKind = "adaround.block";

/// Everything a block's optimizer reads of its layer.
struct BlockProblem {
  model::Layer layer;  ///< its op's hyper-parameters and activation (no graph positions)
  Objective objective = Objective::kGram;
  torch::Tensor weight, bias;
  Grid grid;
  GramForm form;  ///< hh and cross (the Gram objective)
  double loss_scale = 1;
  SampledData sampled;  ///< rows in RAM (the sampled objective)
  Hyper hyper;
  std::uint64_t seed = 0;
};

/// Solves one block (OptimizeGramBlock or OptimizeSampledBlock).
BlockResult SolveBlock(const BlockProblem& problem, const ChannelBlock& block, const BlockProgress& progress,
                       const std::atomic<bool>* stop);

/// Bytes of a problem (tensors with their strides, so the worker computes on the same layout). Sampled
/// rows streamed from a file are read whole.
std::string SaveBlockProblem(const BlockProblem& problem);
std::shared_ptr<const BlockProblem> LoadBlockProblem(const std::string& bytes);

std::string SaveBlockRequest(const ChannelBlock& block, bool progress);
std::string SaveBlockResult(const BlockResult& result);
BlockResult LoadBlockResult(const std::string& bytes);
/// A progress message: (iteration, loss).
std::pair<int, double> LoadBlockProgress(const std::string& bytes);

/// The worker's side: parse a problem, solve a request (progress at most every `progress_seconds`).
RemoteHandler BlockHandler(double progress_seconds = 5.0);

}  // namespace adaflow::adaround
