#pragma once
// Quantizable layers of a model and the DAG between them, found in the inlined forward graph:
// aten::conv1d / conv2d / conv_transpose1d / conv_transpose2d / linear (scripted models) and
// aten::_convolution (traced models), whose weight is a module attribute.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "src/model/activation.h"
#include "src/model/model.h"
#include "src/model/value_ref.h"

namespace adaflow::model {

enum class LayerKind { kConv1d, kConv2d, kConvTranspose1d, kConvTranspose2d, kLinear };
const char* LayerKindName(LayerKind kind);

struct Layer {
  std::string name;                       ///< module path, e.g. "layers.0.conv1"
  LayerKind kind = LayerKind::kConv2d;
  std::vector<std::int64_t> weight_shape;
  bool has_bias = false;
  std::int64_t groups = 1;
  std::vector<std::int64_t> stride, padding, dilation, output_padding;  ///< convolutions
  /// The activation that is the first data use of the layer's output (AIMET's act_func), if any.
  ActivationOp activation;
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
  /// Throws InputError "'<key>' names '<name>', which is not a quantizable layer; did you mean …" for
  /// the first of `names` that is not a layer here (`key`: the option that holds them).
  void CheckNames(const std::vector<std::string>& names, const std::string& key) const;
  /// The same for the keys of a per-layer map (`param_bw_override`).
  void CheckNames(const std::map<std::string, int>& by_name, const std::string& key) const;
  /// The table `adaflow inspect` prints.
  std::string Describe() const;
};

/// Finds every quantizable layer of `model`. Throws InputError when a layer's hyper-parameters are
/// not constants (e.g. padding="same" in a scripted conv), which adaflow cannot reproduce.
LayerGraph DiscoverLayers(const Model& model);

}  // namespace adaflow::model
