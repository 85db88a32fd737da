#include "src/model/layers.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "common/by_name.h"
#include "common/error.h"
#include "common/suggest.h"

namespace adaflow::model {
namespace {

using torch::jit::Node;
using torch::jit::Value;

const c10::Symbol kGetAttr = c10::Symbol::prim("GetAttr");
const c10::Symbol kListConstruct = c10::Symbol::prim("ListConstruct");

std::optional<std::vector<std::int64_t>> ToIntList(const c10::IValue& value) {
  if (value.isIntList()) return value.toIntVector();
  if (value.isInt()) return std::vector<std::int64_t>{value.toInt()};
  if (value.isTuple()) {
    std::vector<std::int64_t> list;
    for (const auto& item : value.toTupleRef().elements()) {
      if (!item.isInt()) return std::nullopt;
      list.push_back(item.toInt());
    }
    return list;
  }
  return std::nullopt;
}

/// A constant integer list argument; when the graph computes it (scripted ConvTranspose computes its
/// output_padding), the owning module's attribute of the same name.
std::vector<std::int64_t> IntList(Value* value, const torch::jit::Module& owner, const std::string& attribute) {
  if (value->node()->kind() == kListConstruct) {
    std::vector<std::int64_t> list;
    bool constant_items = true;
    for (Value* item : value->node()->inputs()) {
      auto constant = torch::jit::toIValue(item);
      if (!constant || !constant->isInt()) {
        constant_items = false;
        break;
      }
      list.push_back(constant->toInt());
    }
    if (constant_items) return list;
  } else if (auto constant = torch::jit::toIValue(value)) {
    if (auto list = ToIntList(*constant)) return *list;
  }
  if (owner.hasattr(attribute))
    if (auto list = ToIntList(owner.attr(attribute))) return *list;
  throw InputError("'" + attribute + "' is not a constant (adaflow needs fixed layer hyper-parameters)");
}

std::int64_t Int(Value* value, const torch::jit::Module& owner, const std::string& attribute) {
  const auto list = IntList(value, owner, attribute);
  if (list.size() != 1) throw InputError("'" + attribute + "' is not a single integer");
  return list[0];
}

bool Bool(Value* value, const std::string& attribute) {
  auto constant = torch::jit::toIValue(value);
  if (!constant || !constant->isBool()) throw InputError("'" + attribute + "' is not a constant");
  return constant->toBool();
}

/// "layers.0.conv1" for a weight read as prim::GetAttr[weight](GetAttr[conv1](GetAttr[0](GetAttr[layers](self)))).
bool ModulePath(Value* weight, const torch::jit::Graph& graph, std::string& path) {
  Node* node = weight->node();
  if (node->kind() != kGetAttr || node->s(c10::attr::name) != "weight") return false;
  std::vector<std::string> parts;
  Value* owner = node->input(0);
  while (owner->node()->kind() == kGetAttr) {
    parts.push_back(owner->node()->s(c10::attr::name));
    owner = owner->node()->input(0);
  }
  if (owner != graph.inputs()[0]) return false;
  std::reverse(parts.begin(), parts.end());
  path.clear();
  for (const auto& part : parts) path += (path.empty() ? "" : ".") + part;
  return true;
}

bool IsDataUse(const torch::jit::Use& use) {
  for (Value* output : use.user->outputs())
    if (output->type()->kind() == c10::TypeKind::TensorType) return true;
  return false;
}

bool IsLayerNode(const Node* node) {
  static const std::set<std::string> kKinds = {"aten::linear", "aten::conv1d", "aten::conv2d", "aten::conv_transpose1d",
                                               "aten::conv_transpose2d", "aten::_convolution"};
  return kKinds.count(node->kind().toQualString()) > 0;
}

/// Reads the layer's kind and hyper-parameters from its node.
void ParseLayerNode(Node* node, const torch::jit::Module& owner, Layer& layer) {
  const std::string kind = node->kind().toQualString();
  if (kind == "aten::linear") {
    layer.kind = LayerKind::kLinear;
  } else if (kind == "aten::conv1d" || kind == "aten::conv2d") {
    layer.kind = kind == "aten::conv1d" ? LayerKind::kConv1d : LayerKind::kConv2d;
    layer.stride = IntList(node->input(3), owner, "stride");
    layer.padding = IntList(node->input(4), owner, "padding");
    layer.dilation = IntList(node->input(5), owner, "dilation");
    layer.groups = Int(node->input(6), owner, "groups");
  } else if (kind == "aten::conv_transpose1d" || kind == "aten::conv_transpose2d") {
    layer.kind = kind == "aten::conv_transpose1d" ? LayerKind::kConvTranspose1d : LayerKind::kConvTranspose2d;
    layer.stride = IntList(node->input(3), owner, "stride");
    layer.padding = IntList(node->input(4), owner, "padding");
    layer.output_padding = IntList(node->input(5), owner, "output_padding");
    layer.groups = Int(node->input(6), owner, "groups");
    layer.dilation = IntList(node->input(7), owner, "dilation");
  } else {  // aten::_convolution (traced)
    layer.stride = IntList(node->input(3), owner, "stride");
    layer.padding = IntList(node->input(4), owner, "padding");
    layer.dilation = IntList(node->input(5), owner, "dilation");
    const bool transposed = Bool(node->input(6), "transposed");
    layer.output_padding = IntList(node->input(7), owner, "output_padding");
    layer.groups = Int(node->input(8), owner, "groups");
    const bool one_d = layer.stride.size() == 1;
    layer.kind = transposed ? (one_d ? LayerKind::kConvTranspose1d : LayerKind::kConvTranspose2d)
                            : (one_d ? LayerKind::kConv1d : LayerKind::kConv2d);
  }
}

/// The activation that is the first data use of the layer's output, as AIMET's act_func (the first
/// consumer, when it is an activation).
void FindActivation(Node* node, const std::map<const Node*, std::size_t>& index_of, const torch::jit::Graph& graph,
                    const torch::jit::Module& module, Layer& layer) {
  Node* first = nullptr;
  for (const auto& use : node->output(0)->uses()) {
    if (!IsDataUse(use)) continue;
    if (!first || use.user->isBefore(first)) first = use.user;
  }
  if (!first) return;
  auto parsed = ParseActivation(first, graph.inputs()[0], module);
  if (!parsed || first->inputs()[0] != node->output(0)) return;
  // An activation inside a nested block cannot be captured on its own: treat the layer as plain.
  auto found = index_of.find(first);
  if (found == index_of.end()) return;
  layer.activation = std::move(*parsed);
  layer.activation_output = ValueRef{found->second, 0};
}

/// " at model.py:12:8" for a node with a source location, else "".
std::string SourceLocation(const Node* node) {
  const auto location = node->sourceRange().file_line_col();
  if (!location) return "";
  const auto& [file, line, column] = *location;
  return " at " + file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

/// A quantizable layer inside a branch or loop that constant folding could not resolve runs or not
/// depending on the data: its inputs, its place in the layer DAG and its quantizers are not defined.
void CheckNoLayerInControlFlow(torch::jit::Graph& graph, const Model& model) {
  std::function<void(torch::jit::Block*)> visit = [&](torch::jit::Block* block) {
    for (Node* node : block->nodes()) {
      std::string name;
      if (block != graph.block() && IsLayerNode(node) && ModulePath(node->input(1), graph, name)) {
        const Node* owner = block->owningNode();
        throw InputError("model '" + model.source() + "': layer '" + name + "' (" + node->kind().toQualString() +
                         ") is inside a " + owner->kind().toQualString() + SourceLocation(owner) +
                         " whose condition depends on the data; adaflow needs every quantizable layer to run on "
                         "every input (make the condition a module attribute or a constant, or trace the model)");
      }
      for (torch::jit::Block* inner : node->blocks()) visit(inner);
    }
  };
  visit(graph.block());
}

}  // namespace

const char* LayerKindName(LayerKind kind) {
  switch (kind) {
    case LayerKind::kConv1d: return "Conv1d";
    case LayerKind::kConv2d: return "Conv2d";
    case LayerKind::kConvTranspose1d: return "ConvTranspose1d";
    case LayerKind::kConvTranspose2d: return "ConvTranspose2d";
    case LayerKind::kLinear: return "Linear";
  }
  return "?";
}

const Layer* LayerGraph::Find(const std::string& name) const { return FindByName(layers, name); }

std::vector<std::string> LayerGraph::Names() const { return NamesOf(layers); }

void LayerGraph::CheckNames(const std::vector<std::string>& names, const std::string& key) const {
  for (const auto& name : names)
    if (!Find(name))
      throw InputError("'" + key + "' names '" + name + "', which is not a quantizable layer" +
                       DidYouMean(name, Names()) + " (adaflow inspect lists them)");
}

void LayerGraph::CheckNames(const std::map<std::string, int>& by_name, const std::string& key) const {
  std::vector<std::string> names;
  for (const auto& entry : by_name) names.push_back(entry.first);
  CheckNames(names, key);
}

std::string LayerGraph::Describe() const {
  std::size_t name_width = 5, shape_width = 12;
  for (const auto& layer : layers) {
    name_width = std::max(name_width, layer.name.size());
    shape_width = std::max(shape_width, ShapeString(layer.weight_shape).size());
  }
  auto pad = [](const std::string& text, std::size_t width) {
    return text + std::string(width > text.size() ? width - text.size() : 0, ' ');
  };
  std::ostringstream out;
  out << "  #   " << pad("layer", name_width) << "  " << pad("kind", 15) << "  " << pad("weight shape", shape_width)
      << "  groups  bias  " << pad("activation", 10) << "  after\n";
  for (std::size_t idx = 0; idx < layers.size(); ++idx) {
    const Layer& layer = layers[idx];
    std::string after;
    for (std::size_t up : layer.upstream) after += (after.empty() ? "" : ", ") + layers[up].name;
    out << "  " << pad(std::to_string(idx), 3) << " " << pad(layer.name, name_width) << "  "
        << pad(LayerKindName(layer.kind), 15) << "  " << pad(ShapeString(layer.weight_shape), shape_width) << "  "
        << pad(std::to_string(layer.groups), 6) << "  " << pad(layer.has_bias ? "yes" : "no", 4) << "  "
        << pad(layer.activation.Describe(), 10) << "  " << (after.empty() ? "(input)" : after) << "\n";
  }
  return out.str();
}

LayerGraph DiscoverLayers(const Model& model) {
  auto graph = model.InlinedGraph();
  std::vector<Node*> nodes(graph->nodes().begin(), graph->nodes().end());
  std::map<const Node*, std::size_t> index_of;
  for (std::size_t idx = 0; idx < nodes.size(); ++idx) index_of[nodes[idx]] = idx;

  CheckNoLayerInControlFlow(*graph, model);
  LayerGraph result;
  std::map<const Node*, std::size_t> layer_of;
  for (std::size_t idx = 0; idx < nodes.size(); ++idx) {
    Node* node = nodes[idx];
    if (!IsLayerNode(node)) continue;
    Layer layer;
    if (!ModulePath(node->input(1), *graph, layer.name)) continue;  // a computed weight is not a parameter
    const torch::jit::Module owner = model.Submodule(layer.name);
    try {
      ParseLayerNode(node, owner, layer);
    } catch (const InputError& error) {
      throw InputError("model '" + model.source() + "': layer '" + layer.name + "' (" + node->kind().toQualString() +
                       "): " + error.what());
    }
    const torch::Tensor weight = owner.attr("weight").toTensor();
    layer.weight_shape = weight.sizes().vec();
    const c10::IValue bias = owner.hasattr("bias") ? owner.attr("bias") : c10::IValue();
    layer.has_bias = bias.isTensor();
    layer.node_index = idx;
    Node* producer = node->input(0)->node();
    layer.input = producer == graph->param_node() ? ValueRef{ValueRef::kInput, node->input(0)->offset() - 1}
                                                  : ValueRef{index_of.at(producer), node->input(0)->offset()};
    layer.output = ValueRef{idx, 0};
    layer.activation_output = layer.output;
    FindActivation(node, index_of, *graph, model.module(), layer);
    layer_of[node] = result.layers.size();
    result.layers.push_back(std::move(layer));
  }

  // Nearest upstream layers, through any chain of other ops (memoized per node). A prim::If or
  // prim::Loop left after constant folding depends on everything computed inside its blocks: a
  // superset of the true data flow, never less of it.
  std::map<const Node*, std::set<std::size_t>> memo;
  std::function<const std::set<std::size_t>&(Node*)> upstream_of = [&](Node* node) -> const std::set<std::size_t>& {
    auto found = memo.find(node);
    if (found != memo.end()) return found->second;
    std::set<std::size_t> result_set;
    memo[node] = result_set;  // breaks cycles through loops
    auto add_value = [&](Value* input) {
      Node* producer = input->node();
      if (producer->kind() == kGetAttr || producer->kind() == c10::prim::Constant || producer == graph->param_node())
        return;
      if (producer->kind() == c10::prim::Param) producer = producer->owningBlock()->owningNode();  // loop-carried
      if (!producer) return;
      auto layer = layer_of.find(producer);
      if (layer != layer_of.end()) {
        result_set.insert(layer->second);
      } else {
        const auto& further = upstream_of(producer);
        result_set.insert(further.begin(), further.end());
      }
    };
    for (Value* input : node->inputs()) add_value(input);
    for (torch::jit::Block* block : node->blocks()) {
      for (Node* inner : block->nodes()) {
        const auto& further = upstream_of(inner);
        result_set.insert(further.begin(), further.end());
      }
      for (Value* output : block->outputs()) add_value(output);
    }
    return memo[node] = result_set;
  };
  for (auto& [node, index] : layer_of) {
    const auto& ups = upstream_of(const_cast<Node*>(node));
    result.layers[index].upstream.assign(ups.begin(), ups.end());
  }
  return result;
}

}  // namespace adaflow::model
