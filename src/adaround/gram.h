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

/// The Gram form in terms of E = W̃ − W, which keeps float32 accurate (no cancellation between large
/// terms): with δ = p̂ − p, (1/R)·Σ‖Ep̂ + Wδ‖² = tr(E Ĥ Eᵀ) + 2·Σ E ⊙ K + c per group, with
///   Ĥ = (1/R)Σ p̂p̂ᵀ,   K = (1/R)Σ (Wδ) p̂ᵀ,   c = (1/R)Σ‖Wδ‖².
/// Wδ is the layer's op (no bias) applied to x̂ − x: K and c cost out·D per row, not D² as the cross and
/// FP Gram matrices would. In fp mode (x̂ = x) K and c are 0.
struct GramForm {
  torch::Tensor hh;       ///< Ĥ, float32, [groups, D, D]
  torch::Tensor cross;    ///< K in group layout, float32, [groups, out/groups, D]
  double constant = 0.0;  ///< c
  torch::Tensor hh64;     ///< Ĥ in float64, for exact error values
  torch::Tensor cross64;  ///< K in float64
  double rows = 0;        ///< R
};

/// What a GramAccumulator has summed (float64), as it travels between processes.
struct GramSums {
  torch::Tensor hh, k;  ///< Σ p̂p̂ᵀ and Σ (Wδ)p̂ᵀ per group; undefined before the first rows (k: without `cross`)
  double c = 0;         ///< Σ‖Wδ‖²
  double rows = 0;
};

/// Sums of the Gram form over chunks of samples. Products in float32 (BLAS), sums in float64. Partial
/// accumulators of disjoint chunks merge in a fixed order, so the result does not depend on which
/// thread added which chunk.
class GramAccumulator {
 public:
  /// `cross`: the quantized input differs from the FP input (K and c are needed). `fp_weight`: W.
  GramAccumulator(const model::Layer& layer, const torch::Tensor& fp_weight, bool cross);
  /// One whose sums are `sums` (a chunk another process added).
  GramAccumulator(const model::Layer& layer, const torch::Tensor& fp_weight, bool cross, GramSums sums);
  /// A chunk of samples: x̂ and (when `cross`) x, [n, …] each. Large chunks are split to bound memory.
  void Add(const torch::Tensor& quant_input, const torch::Tensor& fp_input);
  void Merge(const GramAccumulator& other);
  /// The averages (divided by R).
  GramForm Finish() const;
  const GramSums& sums() const { return sums_; }

 private:
  model::Layer layer_;
  torch::Tensor weight_;
  bool cross_;
  GramSums sums_;
};

/// (1/R)·Σ‖W̃p̂ − Wp‖², differentiable in `weight` (autograd; tests and small uses).
torch::Tensor GramLoss(const GramForm& form, const model::Layer& layer, const torch::Tensor& weight,
                       const torch::Tensor& fp_weight);
/// The same value in float64, for any weight (the MSE of nearest and AdaRound rounding in the report).
double GramError(const GramForm& form, const model::Layer& layer, const torch::Tensor& weight,
                 const torch::Tensor& fp_weight);

/// The weight as [groups, out/groups, D].
torch::Tensor GroupedWeight(const model::Layer& layer, const torch::Tensor& weight);

}  // namespace adaflow::adaround
