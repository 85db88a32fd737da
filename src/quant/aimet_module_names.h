#pragma once
// The modules of the model AIMET's model preparer would make of a model (aimet_torch/model_preparer.py,
// `prepare_model`), for AIMET's module-keyed encodings (`<name>_torch.encodings`, which its strict
// `load_encodings_to_sim` checks against the prepared model's modules).
//
// The preparer traces the model with torch.fx and, for every node, knows the module whose forward it is in
// (its scope). It makes a module of each functional call it converts (F.relu, x + y, torch.cat,
// F.adaptive_avg_pool2d, ...) named "module_<fx node name>" under that scope ("layers.0.module_relu_1"),
// and a copy of a module called a second time, "module_<child>_<n>" under the module's parent
// ("layer1.0.module_relu_1"), n the suffix torch.fx gave that call's node. torch.fx names a node by its
// function, method or module path and makes it unique over the whole graph by appending _1, _2, ... in
// graph order. adaflow replays this on the inlined TorchScript graph: each torch.nn leaf module call is one
// node (containers are traced through, as fx does), each call of a function (F.relu, from the call stack)
// one node, each other aten op in a forward one node.

#include <torch/csrc/jit/ir/ir.h>

#include <string>
#include <vector>

#include "src/model/model.h"

namespace adaflow::quant {

/// For each of `nodes` (model::TopLevelNodes of the model's inlined graph `graph`), the module of the
/// prepared model that computes it: a leaf module's path (its first call), the copy AIMET makes of a
/// later call, or the module AIMET makes of a converted functional call; "" when the prepared model has
/// no module for it (x.view, torch.flatten, a functional AIMET does not convert) or its module is unknown.
std::vector<std::string> AimetModuleNames(const model::Model& model, torch::jit::Graph& graph,
                                          const std::vector<torch::jit::Node*>& nodes);

}  // namespace adaflow::quant
