#include "src/model/batch_norm_fold.h"

#include <torch/csrc/jit/ir/ir.h>

#include <functional>
#include <map>
#include <optional>
#include <set>

#include "src/model/graph_capture.h"
#include "src/model/layers.h"

namespace adaflow::model {
namespace {

using torch::jit::Node;
using torch::jit::Value;

std::string Join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

std::optional<torch::Tensor> TensorAttr(const torch::jit::Module& module, const std::string& name) {
  if (!module.hasattr(name)) return std::nullopt;
  const c10::IValue value = module.attr(name);
  if (!value.isTensor()) return std::nullopt;
  return value.toTensor();
}

/// A BatchNorm1d/2d call of the inlined graph that a fold could take.
struct BatchNormCall {
  std::string path;
  Node* node = nullptr;
  double eps = 0.0;
  std::string unfoldable;  ///< why no fold can take it ("" when one can)
  /// A BatchNorm1d/2d module's call in eval mode with a constant eps: one AIMET would convert if it stays.
  bool convertible = false;
};

/// Every aten::batch_norm of the inlined graph, by node.
std::map<const Node*, BatchNormCall> FindBatchNorms(const torch::jit::Module& root, torch::jit::Graph& graph,
                                                   const std::vector<Node*>& nodes) {
  std::map<const Node*, BatchNormCall> calls;
  std::map<std::string, int> count;
  for (Node* node : nodes) {
    if (node->kind() != c10::Symbol::aten("batch_norm")) continue;
    BatchNormCall call;
    call.node = node;
    const Value* mean = node->input(3);
    std::optional<std::string> path;
    if (mean->node()->kind() == c10::prim::GetAttr) path = ModulePathOf(mean->node()->input(0), graph.inputs().at(0));
    const auto training = torch::jit::toIValue(node->input(5));
    const auto eps = torch::jit::toIValue(node->input(7));
    const auto module = path ? FindSubmodule(root, *path) : std::nullopt;
    const std::string type = module ? module->type()->name()->qualifiedName() : "";
    const bool batch_norm_type = type.find("torch.nn.modules.batchnorm.") != std::string::npos &&
                                 (type.size() > 12 && (type.compare(type.size() - 12, 12, ".BatchNorm1d") == 0 ||
                                                       type.compare(type.size() - 12, 12, ".BatchNorm2d") == 0));
    call.path = path ? *path : "batch_norm";
    if (!module) call.unfoldable = "not a BatchNorm module's call";
    else if (!batch_norm_type) call.unfoldable = "not a BatchNorm1d or BatchNorm2d (AIMET folds only those)";
    else if (!training || !training->isBool() || training->toBool()) call.unfoldable = "not in eval mode";
    else if (!eps || !eps->isDouble()) call.unfoldable = "its eps is not a constant";
    if (eps && eps->isDouble()) call.eps = eps->toDouble();
    call.convertible = call.unfoldable.empty();
    ++count[call.path];
    calls[node] = call;
  }
  for (auto& [node, call] : calls)
    if (call.unfoldable.empty() && count[call.path] > 1) call.unfoldable = "the model calls it more than once";
  return calls;
}

/// The prim::CallMethod nodes, in every method of every module of `root`, that call a module's forward,
/// by the called module's path. Modules of one class share their methods' graphs: a node is then
/// listed under every instance's path.
std::map<std::string, std::vector<Node*>> ForwardCalls(const torch::jit::Module& root) {
  std::map<std::string, std::vector<Node*>> calls;
  for (const auto& named : root.named_modules()) {
    for (const auto& method : named.value.get_methods()) {
      const auto graph = method.graph();
      std::function<void(torch::jit::Block*)> walk = [&](torch::jit::Block* block) {
        for (Node* node : block->nodes()) {
          for (torch::jit::Block* inner : node->blocks()) walk(inner);
          if (node->kind() != c10::prim::CallMethod || node->s(c10::attr::name) != "forward") continue;
          const auto relative = ModulePathOf(node->input(0), graph->inputs().at(0));
          if (relative && !relative->empty()) calls[Join(named.name, *relative)].push_back(node);
        }
      };
      walk(graph->block());
    }
  }
  return calls;
}

/// s = γ / √(σ² + ε) of a BatchNorm module, and its γ, β, μ and the 1/√(σ² + ε) it is made of.
struct BatchNormParams {
  torch::Tensor gamma, beta, mean, inv_std;
};

BatchNormParams ParamsOf(const torch::jit::Module& batch_norm, double eps) {
  BatchNormParams p;
  p.mean = *TensorAttr(batch_norm, "running_mean");
  const torch::Tensor var = *TensorAttr(batch_norm, "running_var");
  p.gamma = TensorAttr(batch_norm, "weight").value_or(torch::ones_like(p.mean));
  p.beta = TensorAttr(batch_norm, "bias").value_or(torch::zeros_like(p.mean));
  p.inv_std = at::rsqrt(var + eps);
  return p;
}

/// AIMET's convert_standalone_batchnorms: a BatchNorm that stays computes y = w·x + b with w = γ/√(σ² + ε)
/// and b = β − μ·w, so that the quant-sim quantizes w, as AIMET's does. Its running mean becomes 0 and its
/// running variance 1 − ε (AIMET sets ε to 0 and the variance to 1; here ε is a constant of the forward's
/// code), so its forward computes the same to float rounding. False (nothing changed) for a BatchNorm
/// without an affine weight and bias or running statistics.
bool ConvertStandalone(torch::jit::Module batch_norm, double eps) {
  for (const char* name : {"weight", "bias", "running_mean", "running_var"})
    if (!TensorAttr(batch_norm, name)) return false;
  torch::NoGradGuard no_grad;
  const BatchNormParams p = ParamsOf(batch_norm, eps);
  const torch::Tensor weight = p.gamma * p.inv_std;
  batch_norm.setattr("weight", weight.contiguous());
  batch_norm.setattr("bias", (p.beta - p.mean * weight).contiguous());
  batch_norm.setattr("running_mean", torch::zeros_like(p.mean));
  batch_norm.setattr("running_var", torch::full_like(p.mean, 1.0 - eps));
  return true;
}

/// Gives `layer` (a module whose forward reads its weight) the bias `bias`. A module whose bias is not an
/// Optional[Tensor] attribute gets one, and each of its layer ops that took None reads it; other modules of
/// its class share that code and keep None there.
void SetBias(const torch::jit::Module& root, torch::jit::Module layer, const torch::Tensor& bias) {
  const auto type = layer.type();
  const auto optional_tensor = c10::OptionalType::create(c10::TensorType::get());
  std::vector<c10::intrusive_ptr<c10::ivalue::Object>> instances;
  for (const auto& named : root.named_modules())
    if (named.value.type() == type) instances.push_back(named.value._ivalue());
  const bool none_typed = type->hasAttribute("bias") && type->getAttribute("bias")->kind() == c10::TypeKind::NoneType;
  if (none_typed) {
    // (A NoneType parameter cannot change its type in place: it goes, and comes back as Optional[Tensor].)
    for (const auto& instance : instances) instance->unsafeRemoveAttr("bias");
    type->unsafeRemoveAttribute("bias");
  }
  if (!type->hasAttribute("bias")) {
    const std::size_t slot = type->addAttribute("bias", optional_tensor, /*is_parameter=*/true);
    for (const auto& instance : instances)
      if (instance->slots().size() <= slot) instance->setSlot(slot, c10::IValue());
  }
  static const std::set<std::string> layer_ops = {"aten::linear", "aten::conv1d", "aten::conv2d", "aten::conv_transpose1d",
                                                  "aten::conv_transpose2d", "aten::_convolution"};
  for (const auto& method : layer.get_methods()) {
    const auto graph = method.graph();
    Value* self = graph->inputs().at(0);
    for (Node* node : graph->nodes()) {
      if (!layer_ops.count(node->kind().toQualString()) || node->inputs().size() < 3) continue;
      const auto kind = node->input(2)->type()->kind();
      if (kind != c10::TypeKind::NoneType) continue;
      torch::jit::WithInsertPoint point(node);
      Value* read = graph->insertGetAttr(self, "bias");
      read->setType(optional_tensor);
      node->replaceInput(2, read);
    }
  }
  layer._ivalue()->setAttr("bias", bias);
}

/// Folds a BatchNorm that follows `layer` into it (the fold of LibTorch's FoldConvBatchNorm and AIMET's
/// fold_backward, in LibTorch's operation order).
void FoldBackward(torch::jit::Module& root, const Layer& layer, const BatchNormParams& p) {
  torch::jit::Module module = *FindSubmodule(root, layer.name);
  torch::NoGradGuard no_grad;
  const torch::Tensor weight = *TensorAttr(module, "weight");
  const torch::Tensor bias = TensorAttr(module, "bias").value_or(torch::zeros_like(p.mean));
  const torch::Tensor scale = p.gamma * p.inv_std;
  torch::Tensor folded;
  if (layer.transposed()) {
    // [in, out/groups, k...]: output channel g·(out/groups) + j is [group g's inputs, j].
    const std::int64_t groups = layer.groups, per_group = weight.size(1);
    std::vector<std::int64_t> grouped = {groups, weight.size(0) / groups, per_group};
    std::vector<std::int64_t> scale_shape = {groups, 1, per_group};
    for (std::int64_t dim = 2; dim < weight.dim(); ++dim) {
      grouped.push_back(weight.size(dim));
      scale_shape.push_back(1);
    }
    folded = (weight.reshape(grouped) * scale.reshape(scale_shape)).reshape(weight.sizes());
  } else {
    std::vector<std::int64_t> sizes(static_cast<std::size_t>(weight.dim()), 1);
    sizes[0] = -1;
    folded = weight * scale.reshape(sizes);
  }
  module.register_parameter("weight", folded, /*is_buffer=*/false);
  SetBias(root, module, (bias - p.mean) * p.inv_std * p.gamma + p.beta);
}

/// Folds a BatchNorm that precedes `layer` (padding 0, groups 1) into it (AIMET's forward fold).
void FoldForward(torch::jit::Module& root, const Layer& layer, const BatchNormParams& p) {
  torch::jit::Module module = *FindSubmodule(root, layer.name);
  torch::NoGradGuard no_grad;
  const torch::Tensor weight = *TensorAttr(module, "weight");
  const std::int64_t out_channels = weight.size(0);
  const torch::Tensor bias = TensorAttr(module, "bias").value_or(torch::zeros({out_channels}, weight.options()));
  const torch::Tensor scale = p.gamma * p.inv_std;
  const torch::Tensor shift = p.beta - p.mean * scale;
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(weight.dim()), 1);
  sizes[1] = -1;
  // The BatchNorm's shift, through the weight: Σ over input channels and taps of W·shift.
  const torch::Tensor per_channel = weight.reshape({out_channels, weight.size(1), -1}).sum(2);
  module.register_parameter("weight", weight * scale.reshape(sizes), /*is_buffer=*/false);
  SetBias(root, module, bias + at::matmul(per_channel, shift));
}

/// Removes the call of a BatchNorm from its caller: its output becomes its input.
void RemoveCall(Node* call) {
  Node* module = call->input(0)->node();
  call->output()->replaceAllUsesWith(call->input(1));
  call->destroy();
  while (module->kind() == c10::prim::GetAttr && module->output()->uses().empty()) {
    Node* owner = module->input(0)->node();
    module->destroy();
    module = owner;
  }
}

/// The rank of each requested value on ExampleInputs(inputs).
std::map<ValueRef, std::int64_t> Ranks(const Model& model, const std::vector<ValueRef>& values,
                                       const std::vector<TensorSpec>& inputs) {
  std::map<ValueRef, std::int64_t> ranks;
  if (values.empty() || inputs.empty()) return ranks;
  // The capture needs shared ownership; `model` outlives it here.
  const GraphCapture capture(std::shared_ptr<const Model>(std::shared_ptr<const Model>(), &model), values);
  const auto tensors = capture.Run(ExampleInputs(inputs));
  for (std::size_t index = 0; index < values.size(); ++index) ranks[values[index]] = tensors[index].dim();
  return ranks;
}

struct Plan {
  struct Pair {
    const Layer* layer;
    const BatchNormCall* batch_norm;
    bool forward;
  };
  std::vector<Pair> pairs;
  std::map<std::string, std::string> why_not;  ///< BatchNorm path → why it stays
};

bool LayerCalledOnce(const LayerGraph& layers, const Layer& layer) {
  int calls = 0;
  for (const auto& other : layers.layers) calls += other.name == layer.name;
  return calls == 1;
}

/// Why AIMET does not fold a BatchNorm after `layer` into it ("" where it does).
std::string BackwardRefusal(const Layer& layer) {
  if (layer.kind == LayerKind::kConvTranspose1d) return "AIMET folds no ConvTranspose1d";
  if (layer.kind == LayerKind::kConvTranspose2d && layer.groups != 1 && layer.groups != layer.weight_shape[0])
    return layer.name + " is a grouped transposed convolution (AIMET folds groups 1 or depthwise)";
  return "";
}

/// Why AIMET does not fold a BatchNorm before `layer` into it ("" where it does).
std::string ForwardRefusal(const Layer& layer) {
  if (layer.transposed()) return "AIMET folds no BatchNorm into a transposed convolution after it";
  bool padded = false;
  for (auto pad : layer.padding) padded = padded || pad != 0;
  if (layer.kind != LayerKind::kLinear && (padded || layer.groups != 1))
    return layer.name + " after it has padding or groups (its zero padding would not see the BatchNorm's shift)";
  return "";
}

/// AIMET's choice of folds, then the conditions for an exact fold.
Plan Choose(const Model& model, const LayerGraph& layers, const std::vector<Node*>& nodes,
            const std::map<const Node*, BatchNormCall>& batch_norms, const std::vector<TensorSpec>& inputs,
            const FoldOptions& options) {
  Plan plan;
  // A Linear's data rank decides whether a BatchNorm1d normalizes its features.
  std::vector<ValueRef> wanted;
  for (const auto& layer : layers.layers)
    if (layer.kind == LayerKind::kLinear) {
      wanted.push_back(layer.input);
      wanted.push_back(layer.output);
    }
  const auto ranks = Ranks(model, wanted, inputs);
  auto linear_2d = [&](const Layer& layer, const ValueRef& value, const std::string& batch_norm) {
    if (layer.kind != LayerKind::kLinear) return true;
    const auto rank = ranks.find(value);
    if (rank == ranks.end()) plan.why_not[batch_norm] = "the input shape is not known, so neither is " + layer.name + "'s data rank";
    else if (rank->second != 2) plan.why_not[batch_norm] = layer.name + "'s data is " + std::to_string(rank->second) + "-D: a BatchNorm1d on it normalizes dim 1, not the features";
    else return true;
    return false;
  };
  std::set<const Node*> picked;
  // Whether `value` is read by anything but `reader` and the BatchNorm's own code. Reads of its shape
  // (a scripted BatchNorm checks its input's dim) see the same after a fold.
  auto read_elsewhere = [&](Value* value, const BatchNormCall& batch_norm, const Node* reader) {
    static const std::set<std::string> shape_reads = {"aten::dim", "aten::size", "aten::numel", "prim::shape"};
    for (const auto& use : value->uses()) {
      if (use.user == reader || use.user == batch_norm.node || shape_reads.count(use.user->kind().toQualString())) continue;
      if (ModuleOf(model.module(), use.user).path != batch_norm.path) return true;
    }
    return false;
  };
  // The BatchNorm a fold could take at `value` (the layer's output, or with `forward` its input), if any.
  auto candidate = [&](Value* value, const Node* layer_node, bool forward) -> const BatchNormCall* {
    const BatchNormCall* found = nullptr;
    if (forward) {
      const auto it = batch_norms.find(value->node());
      if (it != batch_norms.end()) found = &it->second;
    } else {
      for (const auto& use : value->uses()) {
        const auto it = batch_norms.find(use.user);
        if (it != batch_norms.end() && use.offset == 0) found = &it->second;
      }
    }
    if (!found || picked.count(found->node) || !found->unfoldable.empty()) return nullptr;
    if (read_elsewhere(value, *found, forward ? layer_node : found->node)) {
      plan.why_not.emplace(found->path, "the value between it and its layer is read elsewhere too");
      return nullptr;
    }
    return found;
  };
  for (const auto& layer : layers.layers) {  // backward folds, in graph order
    const BatchNormCall* batch_norm = candidate(nodes[layer.node_index]->output(0), nodes[layer.node_index], false);
    if (!batch_norm) continue;
    if (const std::string refused = BackwardRefusal(layer); !refused.empty()) {
      plan.why_not[batch_norm->path] = refused;
      continue;
    }
    if (!LayerCalledOnce(layers, layer) || !linear_2d(layer, layer.output, batch_norm->path)) continue;
    plan.pairs.push_back({&layer, batch_norm, false});
    picked.insert(batch_norm->node);
  }
  for (const auto& layer : layers.layers) {  // then forward folds
    if (!options.forward) break;
    Node* node = nodes[layer.node_index];
    const BatchNormCall* batch_norm = candidate(node->input(0), node, true);
    if (!batch_norm) continue;
    if (const std::string refused = ForwardRefusal(layer); !refused.empty()) {
      plan.why_not[batch_norm->path] = refused;
      continue;
    }
    if (!LayerCalledOnce(layers, layer) || !linear_2d(layer, layer.input, batch_norm->path)) continue;
    plan.pairs.push_back({&layer, batch_norm, true});
    picked.insert(batch_norm->node);
  }
  for (const auto& [node, call] : batch_norms) {
    if (picked.count(node)) continue;
    if (!call.unfoldable.empty()) plan.why_not[call.path] = call.unfoldable;
    else plan.why_not.emplace(call.path, "standalone: no convolution or linear layer folds it");
  }
  return plan;
}

}  // namespace

std::shared_ptr<Model> FoldBatchNorm(const Model& model, const std::vector<std::int64_t>& given_shape,
                                     const FoldOptions& options, BatchNormFolds* report) {
  const std::vector<TensorSpec> inputs = given_shape.empty() ? model.inputs() : SingleInput(given_shape);
  auto graph = model.InlinedGraph();
  const std::vector<Node*> nodes = TopLevelNodes(*graph);
  const auto batch_norms = FindBatchNorms(model.module(), *graph, nodes);
  const LayerGraph layers = DiscoverLayers(model);
  Plan plan = Choose(model, layers, nodes, batch_norms, inputs, options);

  torch::jit::Module folded = model.module().clone();
  const auto calls = ForwardCalls(folded);
  // A BatchNorm's call must be one node of its caller's code, and every module that shares that code
  // (same class) must fold its BatchNorm there too.
  std::map<const Node*, std::set<std::string>> sharing;
  for (const auto& [path, sites] : calls)
    for (const Node* site : sites) sharing[site].insert(path);
  std::set<std::string> folding;
  for (const auto& pair : plan.pairs) folding.insert(pair.batch_norm->path);
  for (bool changed = true; changed;) {
    changed = false;
    for (auto pair = plan.pairs.begin(); pair != plan.pairs.end();) {
      const std::string& path = pair->batch_norm->path;
      const auto site = calls.find(path);
      std::string reason;
      if (site == calls.end() || site->second.size() != 1) reason = "its call is not one call of a module's forward";
      for (const auto& other : site == calls.end() ? std::set<std::string>() : sharing[site->second[0]])
        if (reason.empty() && !folding.count(other)) reason = "it shares its caller's code with " + other + ", which stays";
      if (reason.empty()) {
        ++pair;
        continue;
      }
      plan.why_not[path] = reason;
      folding.erase(path);
      pair = plan.pairs.erase(pair);
      changed = true;
    }
  }

  std::set<Node*> removed;
  BatchNormFolds result;
  for (const auto& pair : plan.pairs) {
    const BatchNormParams params = ParamsOf(*FindSubmodule(folded, pair.batch_norm->path), pair.batch_norm->eps);
    if (pair.forward) FoldForward(folded, *pair.layer, params);
    else FoldBackward(folded, *pair.layer, params);
    Node* site = calls.at(pair.batch_norm->path)[0];
    if (removed.insert(site).second) RemoveCall(site);
    result.folded.push_back({pair.layer->name, pair.batch_norm->path, pair.forward});
  }
  for (const auto& [path, reason] : plan.why_not)
    if (!folding.count(path)) result.left.emplace_back(path, reason);
  std::set<std::string> converted;
  for (const Node* node : nodes) {  // in graph order
    const auto call = batch_norms.find(node);
    if (call == batch_norms.end() || !call->second.convertible || folding.count(call->second.path)) continue;
    if (converted.insert(call->second.path).second && ConvertStandalone(*FindSubmodule(folded, call->second.path), call->second.eps))
      result.converted.push_back(call->second.path);
  }
  if (report) *report = std::move(result);
  auto out = std::make_shared<Model>(std::move(folded), model.source());
  out->SetInputs(inputs);
  return out;
}

}  // namespace adaflow::model
