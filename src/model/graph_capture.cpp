#include "src/model/graph_capture.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <stdexcept>

namespace adaflow::model {

std::vector<torch::jit::Node*> TopLevelNodes(torch::jit::Graph& graph) {
  return std::vector<torch::jit::Node*>(graph.nodes().begin(), graph.nodes().end());
}

torch::jit::Value* Resolve(torch::jit::Graph& graph, const std::vector<torch::jit::Node*>& nodes, const ValueRef& ref) {
  if (ref.node == ValueRef::kInput) return graph.inputs().at(1);
  if (ref.node >= nodes.size() || ref.output >= nodes[ref.node]->outputs().size())
    throw std::out_of_range("graph value reference out of range");
  return nodes[ref.node]->output(ref.output);
}

GraphCapture::GraphCapture(std::shared_ptr<const Model> model, std::vector<ValueRef> values) : model_(std::move(model)) {
  auto graph = model_->InlinedGraph();
  const auto nodes = TopLevelNodes(*graph);
  std::vector<torch::jit::Value*> wanted;
  for (const auto& ref : values) wanted.push_back(Resolve(*graph, nodes, ref));
  torch::jit::WithInsertPoint guard(graph->return_node());
  torch::jit::Value* tuple = graph->insertNode(graph->createTuple(wanted))->output();
  while (!graph->outputs().empty()) graph->eraseOutput(0);
  graph->registerOutput(tuple);
  torch::jit::EliminateDeadCode(graph);
  function_ = std::make_unique<torch::jit::GraphFunction>("capture", graph, nullptr);
}

GraphCapture::~GraphCapture() = default;

std::vector<torch::Tensor> GraphCapture::Run(const torch::Tensor& input) const {
  torch::NoGradGuard no_grad;
  std::vector<c10::IValue> stack{c10::IValue(model_->module()._ivalue()), input};
  function_->run(stack);
  std::vector<torch::Tensor> out;
  for (const auto& element : stack.at(0).toTupleRef().elements()) out.push_back(element.toTensor());
  return out;
}

}  // namespace adaflow::model
