#pragma once
// AdaRound for one layer (Nagel et al., "Up or Down? Adaptive Rounding for Post-Training
// Quantization", ICML 2020), with AIMET's defaults and formulas (DESIGN §6):
//
//   h(α) = clamp(σ(α)(ζ − γ) + γ, 0, 1),  ζ = 1.1, γ = −0.1
//   α₀   = −log((ζ − γ)/(r − γ) − 1),  r = w/Δ − floor(w/Δ)   (so h(α₀) = r: the soft weight starts at w)
//   W̃    = Δ·(clamp(floor(w/Δ) + h(α) − o, 0, N) + o)
//   loss = mean over rows of Σ_channels (f(W̃x̂ + b) − f(Wx + b))² + λ·Σ(1 − |2h − 1|^β)
//   β    = β_end + ½(β_start − β_end)(1 + cos(π·rel)),  rel = (t − w·T)/(T − w·T); no regulariser for t < w·T
//
// Two objectives: `sampled` (AIMET's: each step, `batch_size` random samples, all their output
// positions) and `gram` (gram.h), the exact reconstruction error over every row without the
// activation. The loop itself runs per block of output channels (block_optimizer.h), and a whole layer,
// or a model's layers, as the engine's tasks (engine.h). Final weights are hard-rounded (h = [α ≥ 0]):
// exactly on the grid.

#include <torch/script.h>

#include <cstdint>
#include <string>

#include "src/adaround/gram.h"
#include "src/adaround/objective.h"
#include "src/model/layers.h"
#include "src/quant/tensor_quant.h"

namespace adaflow::adaround {

constexpr double kZeta = 1.1;
constexpr double kGamma = -0.1;

struct Hyper {
  int num_iterations = 10000;
  double reg_param = 0.01;
  double beta_start = 20.0;
  double beta_end = 2.0;
  double warm_start = 0.2;
  double learning_rate = 1e-3;
  int batch_size = 32;
  /// Output positions per sample in a sampled step of an ungrouped 2-D convolution (0: all, AIMET).
  int positions_per_sample = 0;
};

/// AIMET's default iteration count, one for the whole model: 15000 when any layer's weights are below
/// 8 bits, else 10000 (adaround_weight.py, Adaround._adaround_model).
int DefaultIterations(const std::vector<int>& bitwidths);

/// The regulariser exponent at `iteration` (AIMET's cosine schedule).
double Beta(const Hyper& hyper, int iteration);
/// False during the warm start (t < warm_start·T).
bool RegularizerActive(const Hyper& hyper, int iteration);

torch::Tensor RectifiedSigmoid(const torch::Tensor& alpha);

/// Δ, o and N of a weight's encoding, shaped to broadcast against the weight.
struct Grid {
  torch::Tensor scale;
  torch::Tensor offset;
  torch::Tensor steps;
};
Grid MakeGrid(const torch::Tensor& weight, const quant::TensorEncoding& encoding);

/// floor(w/Δ) and α₀.
torch::Tensor FloorIndex(const torch::Tensor& weight, const Grid& grid);
torch::Tensor InitialAlpha(const torch::Tensor& weight, const Grid& grid);
/// W̃ for a rounding `h` in [0, 1] (soft) or {0, 1} (hard).
torch::Tensor RoundedWeight(const torch::Tensor& floor_index, const torch::Tensor& h, const Grid& grid);
/// λ·Σ(1 − |2h − 1|^β).
torch::Tensor Regularizer(const torch::Tensor& h, double reg_param, double beta);

/// The layer's op (conv/linear/transposed conv) and the activation after it.
torch::Tensor LayerForward(const model::Layer& layer, const torch::Tensor& input, const torch::Tensor& weight,
                           const torch::Tensor& bias);
torch::Tensor ApplyActivation(const model::Layer& layer, const torch::Tensor& output);

/// AIMET's reconstruction loss: the squared error summed over dim 1, averaged over the rest.
torch::Tensor RowMse(const torch::Tensor& output, const torch::Tensor& target);
/// AIMET's loss over the per-row error (Σ over output channels, mean over rows): 1, except for a
/// Linear on ≥ 3-D inputs, where AIMET sums over dim 1 (size(1) / out_features).
double LossScale(const model::Layer& layer, const std::vector<std::int64_t>& input_shape);


/// AIMET's loss denominator per sample: the elements of one sample's output over the size of its
/// dim 1 (AIMET averages over every dim but 1).
double LossDenominator(const std::vector<std::int64_t>& target_shape);

/// Per-step cost estimates in multiply-adds, for `objective: auto` and the benchmarks. `target_shape`:
/// the layer's cached output, [N, …].
double SampledStepCost(const model::Layer& layer, const std::vector<std::int64_t>& target_shape, int batch_size,
                       int positions_per_sample = 0);
/// Whether `positions_per_sample` applies to the layer's sampled step (an ungrouped 2-D convolution
/// with an element-wise activation, whose step is two GEMMs on channels-last patches).
bool SamplesPositions(const model::Layer& layer);
double GramStepCost(const model::Layer& layer);

/// How often a block's optimizer reports its progress (BlockProgress).
constexpr int kProgressEvery = 250;

}  // namespace adaflow::adaround
