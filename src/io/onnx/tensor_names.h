#pragma once
// The names the ONNX export gives a model's tensors, chosen from the model's structure before anything is
// converted: the input is "input" (several inputs: their names), the output "output", a parameter keeps its module path, and every other
// tensor (an op's output) is "<module path>/<op>" ("layers.0.conv1/conv2d"; "relu" at the root), made
// unique in graph order (relu, relu_1, …) and never a parameter's path. Not TorchScript's debug names, so a
// model saved and loaded again (model_adaround.pt) gets the same names. Needs no ONNX library: a quant-sim
// learns the names its encodings files use without converting anything.

#include <torch/csrc/jit/ir/ir.h>

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/model/model.h"
#include "src/quant/quant_sim.h"

namespace adaflow::io {

/// The ONNX tensor of each activation quantizer's value (quantizer name → tensor name), as ExportOnnx
/// names it (OnnxExport::activation_tensors), for any model, whether its ops convert or not.
std::map<std::string, std::string> OnnxActivationTensorNames(const model::Model& model,
                                                             const std::vector<quant::ActivationQuantizer>& quantizers);

/// The ONNX graph input of the model's input `index`: "input" for a model loaded with one shape
/// (model.input_shape), else the input's name from model.inputs.
std::string OnnxInputName(const model::Model& model, std::size_t index);

namespace onnx_internal {

/// An in-place op (`y.relu_()`): its result is what later reads of its input see.
bool IsInPlace(const torch::jit::Node* node);

/// The top-level nodes the graph's output depends on (shape checks and other dead ends are left out), and
/// the in-place ops on values it depends on, whose results are read through their input.
std::set<const torch::jit::Node*> NeededNodes(torch::jit::Graph& graph, const std::vector<torch::jit::Node*>& nodes);

struct TensorNames {
  std::unordered_map<const torch::jit::Value*, std::string> of;  ///< every needed node output that is a tensor
  std::set<std::string> used;  ///< the inputs, "output", every parameter path and every name in `of`
};

/// Names the outputs of the needed nodes among `nodes` (model::TopLevelNodes of `graph`, the model's
/// inlined graph), in graph order.
TensorNames NameTensors(const model::Model& model, torch::jit::Graph& graph, const std::vector<torch::jit::Node*>& nodes);

}  // namespace onnx_internal
}  // namespace adaflow::io
