#pragma once
// AdaRound's optimizer loop for one block of a layer's output channels.
//
// Rounding decisions of different output channels are independent problems: the loss sums over
// output channels (AIMET sums the squared error over dim 1, the channels, and averages over the rest),
// the regulariser and Adam are element-wise, and a weight grid is per tensor or per output channel. A
// layer is therefore split into blocks of output channels (whole groups for grouped convolutions),
// each optimized by its own task on one thread: a chain of layers keeps every core busy, and the
// result does not depend on how many threads ran the blocks or in which order.
//
// A step computes the soft weight W̃(α), the gradient of the objective with respect to W̃ (one matrix
// product for the Gram form; the layer's op with autograd for the sampled form), then the chain to α
// (rectified sigmoid, clamps, regulariser) and Adam in one pass over the block's weights.

#include <torch/script.h>

#include <atomic>
#include <cstdint>
#include <functional>

#include "src/adaround/adaround.h"
#include "src/adaround/gram.h"
#include "src/adaround/rows.h"

namespace adaflow::adaround {

/// The output channels [begin, end) of a layer (weight axis 0), aligned to whole groups when the
/// layer is grouped.
struct ChannelBlock {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t size() const { return end - begin; }
};

/// How a layer's output channels are split: blocks of ≥ `min_rows` channels (whole groups), at most
/// `max_blocks`; one block when the channels are coupled (softmax over channels, transposed
/// convolutions whose output channels are weight axis 1). A function of the layer only, so results do
/// not depend on the thread count.
std::vector<ChannelBlock> SplitChannels(const model::Layer& layer, int max_blocks = 8, int min_rows = 8);

/// The blocks the stage uses for an objective: a Gram step packs Ĥ (D²) for its product, so its blocks
/// keep ≥ 32 rows (≥ 64 where D ≥ 1024) to amortize that, except that a layer of 16–63 rows gets two
/// blocks; a sampled step of an ungrouped 2-D convolution builds its patch matrix per block (blocks of
/// up to 256 rows, two at least); other sampled steps have no such cost (≥ 8 rows). `blocks_per_layer` > 0
/// asks for that many blocks instead, of ≥ 8 rows each (fewer when the layer is narrower), whatever they
/// cost: more tasks for more MPI ranks on a quant chain.
std::vector<ChannelBlock> BlocksFor(const model::Layer& layer, Objective objective, int blocks_per_layer = 0);

/// The sampled objective's data for a block: x̂ rows (whole samples) and the target's rows.
struct SampledData {
  Rows input;           ///< x̂, [N, …]
  Rows target;          ///< f(Wx + b), [N, out, …] (all channels; the block takes its own)
  double denominator = 1;  ///< elements of the full output / size(dim 1): AIMET's mean over the rest
};

/// The soft weight, its gradient and Adam's state for one block, with the step's element-wise math.
class BlockState {
 public:
  BlockState(const torch::Tensor& weight, const Grid& grid, const Hyper& hyper);

  /// W̃(α) (soft) and the error E = W̃ − W into the state's buffers.
  void Forward();
  /// Adds the regulariser (when active at `iteration`) to `grad_weight` = ∂loss/∂W̃ and takes one Adam step.
  void Backward(const torch::Tensor& grad_weight, int iteration);
  /// λ·Σ(1 − |2h − 1|^β) at `iteration` (0 in the warm start), for progress reports.
  double RegularizerValue(int iteration) const;

  const torch::Tensor& soft_weight() const { return soft_; }
  /// ∂loss/∂α of the last Backward.
  const torch::Tensor& grad_alpha() const { return grad_alpha_; }
  const torch::Tensor& error() const { return error_; }
  const torch::Tensor& alpha() const { return alpha_; }
  /// Hard rounding: h = [α ≥ 0].
  torch::Tensor HardWeight() const;

 private:
  Hyper hyper_;
  double steps_;
  torch::Tensor weight_, floor_, scale_, offset_;  ///< same shape as the block's weight
  torch::Tensor alpha_, moment_, second_;
  torch::Tensor sigmoid_, rectified_, soft_, error_, power_, grad_alpha_;
  int step_ = 0;
};

/// Called from the block's thread every `kProgressEvery` iterations.
using BlockProgress = std::function<void(int iteration, double loss)>;

struct BlockResult {
  torch::Tensor weight;  ///< hard-rounded rows of the block
  torch::Tensor alpha;
};

/// Optimizes the block with the Gram form (`form` of the whole layer; the block's rows are taken).
BlockResult OptimizeGramBlock(const model::Layer& layer, const ChannelBlock& block, const torch::Tensor& weight,
                              const Grid& grid, const GramForm& form, double loss_scale, const Hyper& hyper,
                              const BlockProgress& progress, const std::atomic<bool>* stop);

/// Optimizes the block with AIMET's sampled loss: `batch_size` random samples per step (the same
/// sequence for every block of the layer: `seed`), the activation in the loss.
BlockResult OptimizeSampledBlock(const model::Layer& layer, const ChannelBlock& block, const torch::Tensor& weight,
                                 const torch::Tensor& bias, const Grid& grid, const SampledData& data,
                                 const Hyper& hyper, std::uint64_t seed, const BlockProgress& progress,
                                 const std::atomic<bool>* stop);

/// A 2-D convolution's input as im2col rows in channels-last order: [n·OH·OW, kh·kw·C], columns ordered
/// (kh, kw, C), so that patches · W.permute(0, 2, 3, 1).reshape(out, −1)ᵀ is the convolution's output
/// as [n·OH·OW, out]. The sampled step of an ungrouped 2-D convolution is two GEMMs on it.
torch::Tensor ChannelsLastPatches(const model::Layer& layer, const torch::Tensor& input);

/// The rows of ChannelsLastPatches for `positions` ([B, P] flat output positions y·OW + x) of the samples
/// `samples` ([B] indices into `input`, [N, C, H, W]), read straight from `input`: [B·P, kh·kw·C].
torch::Tensor PatchesAt(const model::Layer& layer, const torch::Tensor& input, const torch::Tensor& samples,
                        const torch::Tensor& positions);

/// The block's rows of a per-layer tensor shaped like the weight (axis 0 = output channels).
torch::Tensor BlockRows(const torch::Tensor& tensor, const ChannelBlock& block);
/// The layer restricted to the block: its weight shape, groups and activation (PReLU's slopes).
model::Layer BlockLayer(const model::Layer& layer, const ChannelBlock& block);
/// The block's slice of a layer input: the input channels of its groups (all of them when ungrouped).
torch::Tensor BlockInput(const model::Layer& layer, const ChannelBlock& block, const torch::Tensor& input);

}  // namespace adaflow::adaround
