#include "src/io/onnx/tensor_names.h"

#include "src/model/graph_capture.h"

namespace adaflow::io {
namespace onnx_internal {
namespace {

/// Nodes whose outputs are values of the conversion (numbers, lists, modules, parameters), not tensors of
/// the ONNX graph: they get no name.
bool NamesNoTensor(const torch::jit::Node* node) {
  static const std::set<std::string> kinds = {"prim::Constant",       "prim::GetAttr", "prim::ListConstruct",
                                              "prim::TupleConstruct", "aten::size",    "prim::NumToTensor",
                                              "aten::Int"};
  return kinds.count(node->kind().toQualString()) > 0;
}

std::string Unique(const std::string& base, std::set<std::string>& used) {
  std::string name = base;
  for (int suffix = 1; used.count(name); ++suffix) name = base + "_" + std::to_string(suffix);
  used.insert(name);
  return name;
}

}  // namespace

bool IsInPlace(const torch::jit::Node* node) {
  const std::string kind = node->kind().toQualString();
  return kind.rfind("aten::", 0) == 0 && kind.back() == '_' && node->inputs().size() >= 1 && node->outputs().size() == 1;
}

std::set<const torch::jit::Node*> NeededNodes(torch::jit::Graph& graph, const std::vector<torch::jit::Node*>& nodes) {
  std::set<const torch::jit::Node*> needed;
  std::vector<const torch::jit::Node*> stack;
  auto mark = [&]() {
    while (!stack.empty()) {
      const torch::jit::Node* node = stack.back();
      stack.pop_back();
      if (node->kind() == c10::prim::Param || !needed.insert(node).second) continue;
      for (const torch::jit::Value* input : node->inputs()) stack.push_back(input->node());
    }
  };
  for (const torch::jit::Value* output : graph.outputs()) stack.push_back(output->node());
  mark();
  for (bool grew = true; grew;) {
    grew = false;
    for (const torch::jit::Node* node : nodes) {
      const torch::jit::Node* target = IsInPlace(node) ? node->input(0)->node() : nullptr;
      if (!target || needed.count(node) || !(needed.count(target) || target->kind() == c10::prim::Param)) continue;
      stack.push_back(node);
      mark();
      grew = true;
    }
  }
  return needed;
}

TensorNames NameTensors(const model::Model& model, torch::jit::Graph& graph, const std::vector<torch::jit::Node*>& nodes) {
  TensorNames names;
  names.used = {"input", "output"};
  for (std::size_t index = 0; index < model.inputs().size(); ++index) names.used.insert(OnnxInputName(model, index));
  // Parameters keep their module paths: no other tensor may take one first.
  for (const auto& attribute : model.module().named_attributes(/*recurse=*/true))
    if (attribute.value.isTensor()) names.used.insert(attribute.name);
  const auto needed = NeededNodes(graph, nodes);
  for (const torch::jit::Node* node : nodes) {
    if (!needed.count(node) || NamesNoTensor(node)) continue;
    std::string op = node->kind().toUnqualString();
    while (!op.empty() && op.back() == '_') op.pop_back();    // in place: relu_
    while (!op.empty() && op.front() == '_') op.erase(0, 1);  // traced: _convolution
    const std::string path = model::ModuleOf(model.module(), node).path;
    const std::string base = path.empty() ? op : path + "/" + op;
    for (const torch::jit::Value* value : node->outputs())
      names.of[value] = Unique(node->outputs().size() > 1 ? base + "." + std::to_string(value->offset()) : base,
                               names.used);
  }
  return names;
}

}  // namespace onnx_internal

std::string OnnxInputName(const model::Model& model, std::size_t index) {
  return index < model.inputs().size() ? model.inputs()[index].name : "input";
}

std::map<std::string, std::string> OnnxActivationTensorNames(const model::Model& model,
                                                             const std::vector<quant::ActivationQuantizer>& quantizers) {
  const auto graph = model.InlinedGraph();
  const auto nodes = model::TopLevelNodes(*graph);
  const onnx_internal::TensorNames names = onnx_internal::NameTensors(model, *graph, nodes);
  std::map<std::string, std::string> tensors;
  for (const auto& quantizer : quantizers) {
    if (quantizer.value.node == model::ValueRef::kInput) {
      tensors[quantizer.name] = OnnxInputName(model, quantizer.value.output);
      continue;
    }
    const auto it = names.of.find(nodes.at(quantizer.value.node)->output(quantizer.value.output));
    if (it != names.of.end()) tensors[quantizer.name] = it->second;
  }
  return tensors;
}

}  // namespace adaflow::io
