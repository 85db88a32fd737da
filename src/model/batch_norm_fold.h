#pragma once
// Batch-norm folding as AIMET's fold_all_batch_norms does it (aimet_torch/batch_norm_fold.py,
// `_find_foldable_bn_pair_and_bn_picked_for_folding`, `_is_valid_bn_fold`):
//
//  - backward: a BatchNorm1d/2d right after a Conv1d, Conv2d, ConvTranspose2d (groups 1, or depthwise)
//    or Linear goes into that layer's weight and bias: W·s per output channel, (b − μ)·s + β, with
//    s = γ / √(σ² + ε). Layers are visited in graph order, and backward folds come first;
//  - forward: a BatchNorm right before a Conv1d/Conv2d with padding 0 and groups 1, or a Linear, not
//    taken by a backward fold, goes into that layer: W·s per input channel, b + Σ W·(β − μ·s)
//    (zero padding would see the shift where the BatchNorm's output had none);
//  - every other BatchNorm stays (AIMET's "standalone" ones), its parameters rewritten as AIMET's
//    convert_standalone_batchnorms does: weight γ/√(σ² + ε), bias β − μγ/√(σ² + ε), running mean 0 and
//    running variance 1 − ε (the same output to float rounding; the quant-sim then quantizes γ/σ).
//
// Beyond AIMET's rules, a fold also needs what makes it exact: the value between the two is read by
// nothing else, a Linear's data is 2-D (a BatchNorm1d on [N, L, F] normalizes L, not the features), and
// the model calls each of the two modules once. Works on scripted and traced models: the analysis on the
// inlined graph, the folding on the modules (a BatchNorm's call is removed from its caller's method; a
// layer without a bias gets one).

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "src/model/model.h"

namespace adaflow::model {

struct BatchNormFolds {
  struct Fold {
    std::string layer;       ///< the convolution or linear layer it went into
    std::string batch_norm;  ///< the BatchNorm module
    bool forward = false;    ///< the BatchNorm came before the layer
  };
  std::vector<Fold> folded;  ///< backward folds first, each kind in graph order
  /// The BatchNorms left in the model, each with the reason.
  std::vector<std::pair<std::string, std::string>> left;
  /// Those of them whose parameters were rewritten (AIMET's convert_standalone_batchnorms).
  std::vector<std::string> converted;
};

struct FoldOptions {
  /// Fold a BatchNorm into the layer after it (AIMET does). Default: true
  bool forward = true;
};

/// A copy of `model` with its BatchNorms folded (see above); `model` is left alone. `input_shape`
/// (empty: the model's input_shape(); unknown when that is empty too) tells the rank of a Linear's
/// data, without which no Linear is folded.
std::shared_ptr<Model> FoldBatchNorm(const Model& model, const std::vector<std::int64_t>& input_shape = {},
                                     const FoldOptions& options = {}, BatchNormFolds* report = nullptr);

}  // namespace adaflow::model
