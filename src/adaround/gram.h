#pragma once
// The exact full-data objective (`objective: gram`). Without an activation in the loss, the
// reconstruction error over all R rows (sample × output position) is a quadratic form in the weight:
//   (1/R)·Σ‖W̃p̂ − Wp‖² = tr(W̃ Ĥ W̃ᵀ) − 2·tr(W̃ C Wᵀ) + tr(W G Wᵀ),
//   Ĥ = P̂P̂ᵀ/R, C = P̂Pᵀ/R, G = PPᵀ/R over the im2col patches p̂ (the quantized model's input) and p
// (the FP input), per convolution group. The statistics are gathered once, in chunks of samples that
// can run side by side; a step then costs one product with Ĥ.

#include <torch/script.h>

#include <cstdint>

#include "src/model/layers.h"

namespace adaflow::adaround {

/// Whether the Gram form applies (convolutions and linear layers; not transposed convolutions).
bool GramSupported(const model::Layer& layer);

/// [rows, D] patches of every group at once: [groups, D, rows] (linear layers: one group, rows of the
/// last dim; convolutions: im2col).
torch::Tensor GroupPatches(const model::Layer& layer, const torch::Tensor& input);

/// Ĥ, C and G of the Gram form, [groups, D, D], float64, and the row count R.
struct GramStats {
  torch::Tensor hh;  ///< P̂P̂ᵀ/R
  torch::Tensor hf;  ///< P̂Pᵀ/R
  torch::Tensor ff;  ///< PPᵀ/R
  double rows = 0;
};

/// Sums of the Gram statistics over chunks of samples. Products in float32 (BLAS), sums in float64.
/// Partial accumulators of disjoint chunks merge in a fixed order, so the result does not depend on
/// which thread added which chunk.
class GramAccumulator {
 public:
  /// `cross`: the quantized input differs from the FP input (C and G are needed).
  GramAccumulator(const model::Layer& layer, bool cross);
  /// A chunk of samples: x̂ and (when `cross`) x, [n, …] each. Large chunks are split to bound memory.
  void Add(const torch::Tensor& quant_input, const torch::Tensor& fp_input);
  void Merge(const GramAccumulator& other);
  /// The averages (divided by R).
  GramStats Finish() const;

 private:
  model::Layer layer_;
  bool cross_;
  torch::Tensor hh_, hf_, ff_;
  double rows_ = 0;
};

/// The Gram form in terms of E = W̃ − W, which keeps float32 accurate (no cancellation between large
/// terms): with δ = p̂ − p, (1/R)·Σ‖Ep̂ + Wδ‖² = tr(E Ĥ Eᵀ) + 2·Σ E ⊙ K + c per group, K = W(Ĥ − C)ᵀ,
/// c = tr(W D Wᵀ), D = (1/R)Σδδᵀ. Prepared once per layer.
struct GramForm {
  torch::Tensor hh;       ///< Ĥ, float32, [groups, D, D]
  torch::Tensor cross;    ///< K in group layout, float32, [groups, out/groups, D]
  double constant = 0.0;  ///< c
  torch::Tensor hh64;     ///< Ĥ in float64, for exact error values
  torch::Tensor cross64;  ///< K in float64
};
GramForm PrepareGram(const GramStats& stats, const model::Layer& layer, const torch::Tensor& fp_weight);

/// (1/R)·Σ‖W̃p̂ − Wp‖², differentiable in `weight` (autograd; tests and small uses).
torch::Tensor GramLoss(const GramForm& form, const model::Layer& layer, const torch::Tensor& weight,
                       const torch::Tensor& fp_weight);
/// The same value in float64, for any weight (the MSE of nearest and AdaRound rounding in the report).
double GramError(const GramForm& form, const model::Layer& layer, const torch::Tensor& weight,
                 const torch::Tensor& fp_weight);

/// The weight as [groups, out/groups, D].
torch::Tensor GroupedWeight(const model::Layer& layer, const torch::Tensor& weight);

}  // namespace adaflow::adaround
