#pragma once
// Quantizable layers of a model and the DAG between them, found in the inlined forward graph:
// aten::conv1d / conv2d / conv_transpose1d / conv_transpose2d / linear (scripted models) and
// aten::_convolution (traced models), whose weight is a module attribute.

#include <cstdint>
#include <string>
#include <vector>

#include "src/model/model.h"
#include "src/model/value_ref.h"

namespace adaflow::model {

enum class LayerKind { kConv1d, kConv2d, kConvTranspose1d, kConvTranspose2d, kLinear };
const char* LayerKindName(LayerKind kind);

/// The activation that directly follows a layer (its output's only data use), folded into the
/// layer's reconstruction loss by AdaRound and into its supergroup by quant-sim.
enum class Activation { kNone, kRelu, kRelu6, kHardtanh, kGelu, kSilu, kSigmoid, kTanh };
const char* ActivationName(Activation activation);

struct Layer {
  std::string name;                       ///< module path, e.g. "layers.0.conv1"
  LayerKind kind = LayerKind::kConv2d;
  std::vector<std::int64_t> weight_shape;
  bool has_bias = false;
  std::int64_t groups = 1;
  std::vector<std::int64_t> stride, padding, dilation, output_padding;  ///< convolutions
  Activation activation = Activation::kNone;
  double clamp_min = 0.0, clamp_max = 0.0;  ///< bounds of a hardtanh / relu6
  std::vector<std::size_t> upstream;        ///< nearest quantizable layers feeding this one
  std::size_t node_index = 0;               ///< position in InlinedGraph()->nodes()
  ValueRef input;                           ///< the layer's data input
  ValueRef output;                          ///< the layer's output (before the activation)
  ValueRef activation_output;               ///< the activation's output (== output when there is none)

  bool transposed() const { return kind == LayerKind::kConvTranspose1d || kind == LayerKind::kConvTranspose2d; }
  /// Output-channel axis of the weight: 1 for transposed convolutions, else 0.
  int channel_axis() const { return transposed() ? 1 : 0; }
  /// Size of the weight along channel_axis(): how many grids a per-channel encoding has.
  std::int64_t weight_channels() const { return weight_shape.at(static_cast<std::size_t>(channel_axis())); }
};

struct LayerGraph {
  std::vector<Layer> layers;  ///< in graph (topological) order

  const Layer* Find(const std::string& name) const;
  std::vector<std::string> Names() const;
  /// The table `adaflow inspect` prints.
  std::string Describe() const;
};

/// Finds every quantizable layer of `model`. Throws InputError when a layer's hyper-parameters are
/// not constants (e.g. padding="same" in a scripted conv), which adaflow cannot reproduce.
LayerGraph DiscoverLayers(const Model& model);

}  // namespace adaflow::model
