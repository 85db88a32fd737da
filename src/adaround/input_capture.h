#pragma once
// x̂ of one layer, linear in depth: the layer's input computed from the outputs of its upstream layers
// (with their rounded weights) and the model input, through only the ops between them. Built from
// the inlined graph: each upstream layer's output becomes a graph input, and everything before those
// inputs is dead code and removed. A layer's x̂ therefore never re-runs the layers before it.

#include <torch/script.h>

#include <memory>
#include <string>
#include <vector>

#include "src/model/layers.h"

namespace torch::jit {
class GraphFunction;
}

namespace adaflow::adaround {

class InputCapture {
 public:
  /// `layer` and `boundary` index `layers`; `boundary`: the layers whose outputs are given at Run
  /// (the nearest layers upstream of `layer` that AdaRound rounds). Layers between the boundary and
  /// `layer` that are not in it (ignored ones) run with `model`'s weights. Throws std::logic_error
  /// when `layer`'s input depends on a quantizable layer outside the boundary.
  InputCapture(std::shared_ptr<const model::Model> model, const model::LayerGraph& layers, std::size_t layer,
               const std::vector<std::size_t>& boundary, const std::vector<std::size_t>& ignored);
  ~InputCapture();

  /// Whether the ops between need a model input too (a residual path from the input, token ids
  /// through an embedding, an attention mask).
  bool uses_model_input() const { return uses_model_input_; }
  /// The tensor attributes the ops between read, as "<module>.<name>" ("ln.weight").
  const std::vector<std::string>& attributes() const { return attributes_; }

  /// The layer's input for a chunk of samples, from the boundary layers' outputs (pre-activation, same
  /// order as `boundary`) and, when uses_model_input(), the model inputs for the same samples (else empty).
  torch::Tensor Run(const std::vector<torch::Tensor>& boundary_outputs, const model::Inputs& model_inputs) const;

 private:
  std::shared_ptr<const model::Model> model_;
  std::unique_ptr<torch::jit::GraphFunction> function_;
  bool uses_model_input_ = false;
  std::size_t model_inputs_ = 1;
  std::vector<std::string> attributes_;
};

}  // namespace adaflow::adaround
