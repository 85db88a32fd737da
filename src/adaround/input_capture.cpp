#include "src/adaround/input_capture.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <map>
#include <set>
#include <stdexcept>

#include "src/model/graph_capture.h"

namespace adaflow::adaround {

InputCapture::InputCapture(std::shared_ptr<const model::Model> model, const model::LayerGraph& layers,
                           std::size_t layer, const std::vector<std::size_t>& boundary,
                           const std::vector<std::size_t>& ignored)
    : model_(std::move(model)) {
  auto graph = model_->InlinedGraph();
  const auto nodes = model::TopLevelNodes(*graph);
  torch::jit::Value* target = model::Resolve(*graph, nodes, layers.layers.at(layer).input);
  model_inputs_ = graph->inputs().size() - 1;
  for (std::size_t index = 0; index < boundary.size(); ++index) {
    torch::jit::Value* output = nodes.at(layers.layers.at(boundary[index]).node_index)->output(0);
    torch::jit::Value* given = graph->addInput("upstream_" + std::to_string(index));
    given->setType(output->type());
    output->replaceAllUsesWith(given);
    if (target == output) target = given;
  }
  // Layers that must not be computed here: every quantizable layer but the ignored ones.
  std::map<const torch::jit::Node*, std::string> forbidden;
  const std::set<std::size_t> allowed(ignored.begin(), ignored.end());
  for (std::size_t index = 0; index < layers.layers.size(); ++index)
    if (!allowed.count(index)) forbidden[nodes.at(layers.layers[index].node_index)] = layers.layers[index].name;
  model::SliceGraph(*graph, {target});
  for (const torch::jit::Node* node : graph->nodes())
    if (forbidden.count(node))
      throw std::logic_error("the input of layer '" + layers.layers[layer].name + "' depends on layer '" +
                             forbidden.at(node) + "', which is not in its upstream set");
  for (std::size_t index = 1; index <= model_inputs_; ++index)
    uses_model_input_ = uses_model_input_ || !graph->inputs().at(index)->uses().empty();
  for (const torch::jit::Node* node : graph->nodes()) {
    if (node->kind() != c10::prim::GetAttr || node->output()->type()->kind() != c10::TypeKind::TensorType) continue;
    const auto owner = model::ModulePathOf(node->input(0), graph->inputs().at(0));
    if (owner) attributes_.push_back((owner->empty() ? "" : *owner + ".") + node->s(c10::attr::name));
  }
  function_ = std::make_unique<torch::jit::GraphFunction>("input_capture", graph, nullptr);
}

InputCapture::~InputCapture() = default;

torch::Tensor InputCapture::Run(const std::vector<torch::Tensor>& boundary_outputs,
                                const model::Inputs& model_inputs) const {
  torch::NoGradGuard no_grad;
  std::vector<c10::IValue> stack{c10::IValue(model_->module()._ivalue())};
  for (std::size_t index = 0; index < model_inputs_; ++index)
    stack.emplace_back(index < model_inputs.size() ? model::ForCompute(model_inputs[index]) : torch::empty({0}));
  for (const auto& output : boundary_outputs) stack.emplace_back(model::ForCompute(output));
  function_->run(stack);
  return stack.at(0).toTensor();
}

}  // namespace adaflow::adaround
