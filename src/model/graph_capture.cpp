#include "src/model/graph_capture.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <functional>
#include <set>
#include <stdexcept>

namespace adaflow::model {

std::vector<torch::jit::Node*> TopLevelNodes(torch::jit::Graph& graph) {
  return std::vector<torch::jit::Node*>(graph.nodes().begin(), graph.nodes().end());
}

std::optional<std::vector<CallFrame>> CallFramesOf(const torch::jit::Module& root, const torch::jit::Node* node) {
  std::vector<CallFrame> frames;
  const auto stack = node->callstack();
  if (!stack) return frames;
  torch::jit::Module current = root;
  std::string path;
  // One entry per inlined call; a method calling another method of its own module ("SELF", as a
  // scripted Conv2d's forward calls _conv_forward) stays in that module.
  for (const auto& entry : (*stack)->vec()) {
    const auto& instance = std::get<torch::jit::kModuleInstanceInfo>(entry);
    const torch::jit::SourceRange& range = std::get<1>(entry);
    const auto source = range.source();
    const std::string site = (source && source->filename() ? *source->filename() : std::string()) + ":" +
                             std::to_string(range.start()) + "-" + std::to_string(range.end());
    const torch::jit::Function* function = std::get<0>(entry);
    if (!instance) {
      frames.push_back({std::nullopt, function ? function->name() : "", site});
      continue;
    }
    if (instance->instance_name() == "SELF") continue;
    const std::string name = instance->instance_name();
    const std::string type = instance->class_type() ? instance->class_type()->name()->qualifiedName() : "";
    std::string relative;
    if (current.hasattr(name) && current.attr(name).isModule()) {
      relative = name;
    } else {
      // Called through a container it never called (`for block in self.blocks`) or a grandchild
      // (`self.backbone.conv1(x)`): the one descendant of that name and class.
      int found = 0;
      for (const auto& sub : current.named_modules()) {
        const std::string& candidate = sub.name;
        const bool ends_with_name =
            candidate == name || (candidate.size() > name.size() &&
                                  candidate.compare(candidate.size() - name.size(), name.size(), name) == 0 &&
                                  candidate[candidate.size() - name.size() - 1] == '.');
        if (!ends_with_name || sub.value.type()->name()->qualifiedName() != type) continue;
        relative = candidate;
        ++found;
      }
      if (found != 1) return std::nullopt;
    }
    current = *FindSubmodule(current, relative);
    path += (path.empty() ? "" : ".") + relative;
    frames.push_back({ModuleCall{path, type}, "", site});
  }
  return frames;
}

ModuleCall ModuleOf(const torch::jit::Module& root, const torch::jit::Node* node) {
  const auto frames = CallFramesOf(root, node);
  if (!frames) return ModuleCall{};
  ModuleCall call;
  for (const auto& frame : *frames)
    if (frame.module) call = *frame.module;
  return call;
}

torch::jit::Value* Resolve(torch::jit::Graph& graph, const std::vector<torch::jit::Node*>& nodes, const ValueRef& ref) {
  if (ref.node == ValueRef::kInput) return graph.inputs().at(1 + ref.output);
  if (ref.node >= nodes.size() || ref.output >= nodes[ref.node]->outputs().size())
    throw std::out_of_range("graph value reference out of range");
  return nodes[ref.node]->output(ref.output);
}

std::optional<std::string> ModulePathOf(const torch::jit::Value* value, const torch::jit::Value* self) {
  std::vector<std::string> names;
  while (value != self) {
    const torch::jit::Node* node = value->node();
    if (node->kind() != c10::prim::GetAttr) return std::nullopt;
    names.push_back(node->s(c10::attr::name));
    value = node->input(0);
  }
  std::string path;
  for (auto name = names.rbegin(); name != names.rend(); ++name) path += (path.empty() ? "" : ".") + *name;
  return path;
}

void SliceGraph(torch::jit::Graph& graph, const std::vector<torch::jit::Value*>& outputs) {
  using torch::jit::Node;
  while (!graph.outputs().empty()) graph.eraseOutput(0);
  if (outputs.size() == 1) {
    graph.registerOutput(outputs[0]);
  } else {
    torch::jit::WithInsertPoint guard(graph.return_node());
    graph.registerOutput(graph.insertNode(graph.createTuple(outputs))->output());
  }
  auto top_level = [&graph](Node* node) {
    while (node->owningBlock() != graph.block()) node = node->owningBlock()->owningNode();
    return node;
  };
  std::set<Node*> needed;
  std::vector<Node*> pending;
  // A list is filled by the ops that mutate it (scripted F.interpolate appends its scale factors in a
  // loop): a needed list needs them too.
  static const std::set<std::string> list_writes = {"aten::append", "aten::extend", "aten::insert", "aten::_set_item",
                                                    "aten::clear", "aten::pop", "aten::remove", "aten::reverse",
                                                    "aten::add_", "aten::sort"};
  std::set<const torch::jit::Value*> lists;
  std::function<void(torch::jit::Value*)> need_value = [&](torch::jit::Value* value) {
    Node* producer = value->node();
    if (producer == graph.param_node()) return;
    if (producer->kind() == c10::prim::Param) producer = producer->owningBlock()->owningNode();
    producer = top_level(producer);
    if (needed.insert(producer).second) pending.push_back(producer);
    if (value->type()->kind() != c10::TypeKind::ListType || !lists.insert(value).second) return;
    for (const auto& use : value->uses())
      if (list_writes.count(use.user->kind().toQualString())) {
        Node* writer = top_level(use.user);
        if (needed.insert(writer).second) pending.push_back(writer);
      }
  };
  std::function<void(torch::jit::Block*)> need_block = [&](torch::jit::Block* block) {
    for (Node* inner : block->nodes()) {
      for (torch::jit::Value* input : inner->inputs()) need_value(input);
      for (torch::jit::Block* nested : inner->blocks()) need_block(nested);
    }
    for (torch::jit::Value* output : block->outputs()) need_value(output);
  };
  for (torch::jit::Value* value : graph.outputs()) need_value(value);
  while (!pending.empty()) {
    Node* node = pending.back();
    pending.pop_back();
    for (torch::jit::Value* input : node->inputs()) need_value(input);
    for (torch::jit::Block* block : node->blocks()) need_block(block);
  }
  // Unneeded nodes only feed later unneeded nodes: remove them from the last one back.
  std::vector<Node*> unneeded;
  for (Node* node : graph.nodes())
    if (!needed.count(node)) unneeded.push_back(node);
  for (auto it = unneeded.rbegin(); it != unneeded.rend(); ++it) (*it)->destroy();
}

GraphCapture::GraphCapture(std::shared_ptr<const Model> model, std::vector<ValueRef> values) : model_(std::move(model)) {
  auto graph = model_->InlinedGraph();
  const auto nodes = TopLevelNodes(*graph);
  std::vector<torch::jit::Value*> wanted;
  for (const auto& ref : values) wanted.push_back(Resolve(*graph, nodes, ref));
  // Always a tuple, even of one value: Run unpacks it.
  torch::jit::Value* tuple;
  {
    torch::jit::WithInsertPoint guard(graph->return_node());
    tuple = graph->insertNode(graph->createTuple(wanted))->output();
  }
  SliceGraph(*graph, {tuple});
  function_ = std::make_unique<torch::jit::GraphFunction>("capture", graph, nullptr);
}

GraphCapture::~GraphCapture() = default;

std::vector<torch::Tensor> GraphCapture::Run(const Inputs& inputs) const {
  torch::NoGradGuard no_grad;
  std::vector<c10::IValue> stack{c10::IValue(model_->module()._ivalue())};
  for (const auto& input : inputs) stack.emplace_back(ForCompute(input));
  function_->run(stack);
  std::vector<torch::Tensor> out;
  for (const auto& element : stack.at(0).toTupleRef().elements()) out.push_back(element.toTensor());
  return out;
}

}  // namespace adaflow::model
