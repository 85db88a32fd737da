#pragma once
// The activation that directly follows a quantizable layer: folded into the layer's reconstruction
// loss by AdaRound (AIMET's act_func: the first consumer of the layer's output, when it is one of its
// ActivationTypes) and into a supergroup by quant-sim (Conv + ReLU / Clip).
//
// Read from the op in the inlined graph with its constant arguments, so the loss applies exactly the
// function the model computes: `gelu(x, approximate='tanh')` stays tanh-GELU, `clamp(x, 0., 6.)`
// (how converted models write ReLU6) is a Clip like hardtanh.

#include <torch/script.h>

#include <optional>
#include <string>
#include <vector>

namespace adaflow::model {

enum class Activation {
  kNone,
  kRelu,
  kRelu6,       ///< hardtanh(0, 6), relu6, clamp(0, 6)
  kHardtanh,    ///< hardtanh / clamp with other constant bounds: args {min, max} (±inf for a missing bound)
  kLeakyRelu,   ///< args {negative_slope}
  kPrelu,       ///< weight: the PReLU module's slope
  kElu,         ///< args {alpha, scale, input_scale}
  kSelu,
  kCelu,        ///< args {alpha}
  kGelu,        ///< approximate: "none" or "tanh"
  kSilu,
  kMish,
  kSigmoid,
  kLogSigmoid,
  kTanh,
  kHardswish,
  kHardsigmoid,
  kSoftplus,    ///< args {beta, threshold}
  kSoftmax,     ///< dim
  kLogSoftmax,  ///< dim
  kHardshrink,  ///< args {lambda}
  kSoftshrink,  ///< args {lambda}
  kThreshold,   ///< args {threshold, value}
};

const char* ActivationName(Activation activation);

/// An activation op with its constant arguments.
struct ActivationOp {
  Activation kind = Activation::kNone;
  std::vector<double> args;
  std::int64_t dim = -1;
  std::string approximate = "none";
  torch::Tensor weight;  ///< PReLU's slope (read from the model when the op was parsed)

  bool none() const { return kind == Activation::kNone; }
  /// Differentiable: AdaRound backpropagates through it.
  torch::Tensor Apply(const torch::Tensor& input) const;
  /// "relu", "gelu(tanh)", "hardtanh(-1, 1)", …
  std::string Describe() const;
};

/// The activation `node` computes on its first input, or nullopt when it is not one or an argument is
/// not a constant. `module_input` is the graph's `self` (PReLU's weight is read through it from `model`).
std::optional<ActivationOp> ParseActivation(const torch::jit::Node* node, const torch::jit::Value* module_input,
                                            const torch::jit::Module& model);

}  // namespace adaflow::model
