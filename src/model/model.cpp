#include "src/model/model.h"

#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/lower_tuples.h>
#include <torch/csrc/jit/api/function_impl.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>

#include "common/error.h"
#include "src/model/attention.h"

namespace adaflow::model {
namespace {

/// The informative line of a LibTorch message: the Python-side error a scripted op raised
/// ("RuntimeError: Given groups=1, ..."), else the first line (the rest is a stack trace).
std::string FirstLine(const std::string& text) {
  for (const char* marker : {"RuntimeError: ", "ValueError: ", "TypeError: ", "IndexError: "}) {
    const auto found = text.rfind(marker);
    if (found != std::string::npos) {
      const auto start = found + std::string(marker).size();
      const auto end = text.find('\n', start);
      return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    }
  }
  // The first line with something on it (TorchScript's compile errors start with a newline).
  const auto start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return "";
  const auto end = text.find('\n', start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

/// The module a prim::GetAttr chain from `self` reaches, or nullopt.
std::optional<torch::jit::Module> OwnerModule(const torch::jit::Value* value, const torch::jit::Value* self,
                                              const torch::jit::Module& root) {
  std::vector<std::string> path;
  while (value != self) {
    if (value->node()->kind() != c10::prim::GetAttr) return std::nullopt;
    path.push_back(value->node()->s(c10::attr::name));
    value = value->node()->input(0);
  }
  torch::jit::Module module = root;
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    if (!module.hasattr(*it) || !module.attr(*it).isModule()) return std::nullopt;
    module = module.attr(*it).toModule();
  }
  return module;
}

void CollectNodes(torch::jit::Block* block, std::vector<torch::jit::Node*>& out) {
  for (torch::jit::Node* node : block->nodes()) {
    out.push_back(node);
    for (torch::jit::Block* inner : node->blocks()) CollectNodes(inner, out);
  }
}

/// Replaces reads of a module's plain attributes (bools, numbers, strings: `self.training`,
/// `self.use_res_connect`) by constants, so ConstantPropagation can fold the branches they decide.
/// Attributes the forward itself assigns are left alone.
void SpecializeAttributes(torch::jit::Graph& graph, const torch::jit::Module& root) {
  std::vector<torch::jit::Node*> nodes;
  CollectNodes(graph.block(), nodes);
  std::set<std::string> assigned;
  for (torch::jit::Node* node : nodes)
    if (node->kind() == c10::prim::SetAttr) assigned.insert(node->s(c10::attr::name));
  torch::jit::Value* self = graph.inputs().at(0);
  for (torch::jit::Node* node : nodes) {
    if (node->kind() != c10::prim::GetAttr || assigned.count(node->s(c10::attr::name))) continue;
    const auto owner = OwnerModule(node->input(0), self, root);
    if (!owner || !owner->hasattr(node->s(c10::attr::name))) continue;
    const c10::IValue value = owner->attr(node->s(c10::attr::name));
    if (!(value.isBool() || value.isInt() || value.isDouble() || value.isString() || value.isNone())) continue;
    torch::jit::WithInsertPoint guard(node);
    node->output()->replaceAllUsesWith(graph.insertConstant(value));
  }
}

/// Whether `node` is `x.dim()` or `x.dtype`: what a tensor's rank and type are does not depend on the
/// batch size or the data.
bool IsRankOrDtype(const torch::jit::Node* node) {
  return (node->kind() == c10::aten::dim || node->kind() == c10::prim::dtype) && node->inputs().size() == 1;
}

/// Replaces `x.dim()` and `x.dtype` of the tensors the forward computes by their values on
/// ExampleInputs(inputs), then folds the branches that decided on them (a scripted attention's
/// `mask.dtype == torch.bool`); repeated while a folded branch brings more of them to the top level.
void SpecializeRanks(std::shared_ptr<torch::jit::Graph>& graph, const torch::jit::Module& root,
                     const std::vector<TensorSpec>& inputs) {
  for (int round = 0; round < 16; ++round) {
    std::vector<torch::jit::Node*> dims;
    for (torch::jit::Node* node : graph->nodes())
      if (IsRankOrDtype(node)) dims.push_back(node);
    if (dims.empty()) return;
    // A copy that returns every rank (one tuple): run once on zeros.
    auto probe = graph->copy();
    std::vector<torch::jit::Value*> ranks;
    for (torch::jit::Node* node : probe->nodes())
      if (IsRankOrDtype(node)) ranks.push_back(node->output());
    while (!probe->outputs().empty()) probe->eraseOutput(0);
    {
      torch::jit::WithInsertPoint guard(probe->return_node());
      probe->registerOutput(probe->insertNode(probe->createTuple(ranks))->output());
    }
    std::vector<c10::IValue> stack{c10::IValue(root._ivalue())};
    for (const auto& input : ExampleInputs(inputs)) stack.emplace_back(ForCompute(input));
    try {
      torch::NoGradGuard no_grad;
      torch::jit::GraphFunction("rank_probe", probe, nullptr).run(stack);
    } catch (const std::exception&) {
      return;  // the branches stay; the forward itself reports the problem when it runs
    }
    const auto& values = stack.at(0).toTupleRef().elements();
    if (values.size() != dims.size()) return;
    for (std::size_t index = 0; index < dims.size(); ++index) {
      torch::jit::WithInsertPoint guard(dims[index]);
      dims[index]->output()->replaceAllUsesWith(graph->insertConstant(values[index].toInt()));
    }
    torch::jit::ConstantPropagation(graph);
    torch::jit::EliminateDeadCode(graph);
  }
}

}  // namespace

std::vector<TensorSpec> SingleInput(const std::vector<std::int64_t>& shape) {
  if (shape.empty()) return {};
  return {TensorSpec{"input", shape, "float32"}};
}

Inputs ExampleInputs(const std::vector<TensorSpec>& inputs, std::int64_t batch) {
  Inputs tensors;
  for (const auto& input : inputs) {
    std::vector<std::int64_t> shape = input.shape;
    if (batch > 0 && !shape.empty()) shape[0] = batch;
    tensors.push_back(torch::zeros(shape, input.integer() ? torch::kInt64 : torch::kFloat32));
  }
  return tensors;
}

bool IsIntegerInput(const std::vector<TensorSpec>& inputs, std::size_t index) {
  return index < inputs.size() && inputs[index].integer();
}

std::string ShapeString(const std::vector<std::int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (std::size_t idx = 0; idx < shape.size(); ++idx) out << (idx ? ", " : "") << shape[idx];
  out << "]";
  return out.str();
}

torch::Tensor ForCompute(const torch::Tensor& input) {
  return input.dim() == 4 ? input.contiguous(at::MemoryFormat::ChannelsLast) : input;
}

Model::Model(torch::jit::Module module, std::string source) : module_(std::move(module)), source_(std::move(source)) {
  module_.eval();
  // 4-D weights channels-last, as ForCompute lays out inputs: every convolution then runs oneDNN's
  // NHWC kernel without reordering its operands. Values are untouched.
  torch::NoGradGuard no_grad;
  for (torch::Tensor parameter : module_.parameters(/*recurse=*/true))
    if (parameter.dim() == 4) parameter.set_data(parameter.contiguous(at::MemoryFormat::ChannelsLast));
}

namespace {

void CheckFinite(const std::string& path, const std::string& name, const torch::Tensor& values) {
  if (!values.is_floating_point() || values.numel() == 0) return;
  const torch::Tensor bad = values.detach().isfinite().logical_not();
  const std::int64_t count = bad.sum().item<std::int64_t>();
  if (count == 0) return;
  const torch::Tensor first = bad.flatten().nonzero()[0][0];
  const double value = values.detach().flatten()[first.item<std::int64_t>()].item<double>();
  const std::string what = std::isnan(value) ? "NaN" : (value > 0 ? "Inf" : "-Inf");
  std::vector<std::int64_t> index(static_cast<std::size_t>(values.dim()));
  std::int64_t flat = first.item<std::int64_t>();
  for (std::int64_t axis = values.dim() - 1; axis >= 0; --axis) {
    index[static_cast<std::size_t>(axis)] = flat % values.size(axis);
    flat /= values.size(axis);
  }
  throw InputError("model '" + path + "': '" + name + "' holds " + std::to_string(count) +
                   " value(s) that are NaN or infinite (the first, " + what + ", at " + ShapeString(index) +
                   "); quantization needs finite weights: check the training run that made the model");
}

/// "input_ids [1, 12] int64, attention_mask [1, 12] int64"
std::string InputsString(const std::vector<TensorSpec>& inputs) {
  std::string text;
  for (const auto& input : inputs)
    text += (text.empty() ? "" : ", ") + input.name + " " + ShapeString(input.shape) + " " + input.dtype;
  return text;
}

/// The forward must take one argument per declared input; when its argument names are the declared
/// names in another order, the config lists them wrongly (the data would reach the wrong argument).
void CheckForwardArguments(const std::string& path, const torch::jit::Module& module,
                           const std::vector<TensorSpec>& inputs) {
  if (inputs.empty()) return;
  const auto& arguments = module.get_method("forward").function().getSchema().arguments();
  std::vector<std::string> names;
  for (std::size_t index = 1; index < arguments.size(); ++index) names.push_back(arguments[index].name());
  std::string list;
  for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
  if (names.size() != inputs.size())
    throw InputError("model '" + path + "': forward takes " + std::to_string(names.size()) + " input(s) (" + list +
                     "), but the config declares " + std::to_string(inputs.size()) + " (" + InputsString(inputs) +
                     "); list each in model.inputs");
  std::vector<std::string> declared;
  for (const auto& input : inputs) declared.push_back(input.name);
  if (declared != names && std::is_permutation(declared.begin(), declared.end(), names.begin()))
    throw InputError("model '" + path + "': model.inputs lists " + InputsString(inputs) +
                     ", but forward takes them in the order " + list + "; list them in that order");
}

}  // namespace

std::shared_ptr<Model> Model::Load(const std::string& path, const std::vector<std::int64_t>& input_shape) {
  return LoadWithInputs(path, SingleInput(input_shape));
}

std::shared_ptr<Model> Model::LoadWithInputs(const std::string& path, const std::vector<TensorSpec>& inputs) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError("model '" + path + "' is a directory; model.path names the TorchScript file");
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError("model '" + path + "' does not exist");
  torch::jit::Module module;
  try {
    RegisterScaledDotProductAttention();  // PyTorch 2's models may call it
    module = torch::jit::load(path);
  } catch (const c10::Error& error) {
    throw InputError("model '" + path + "' is not a TorchScript model (save it with torch.jit.script or "
                     "torch.jit.trace, then .save()): " + FirstLine(error.what_without_backtrace()));
  } catch (const std::exception& error) {
    throw InputError("model '" + path + "' cannot be loaded (a damaged file, or one saved by a newer PyTorch): " +
                     FirstLine(error.what()));
  }
  if (!module.find_method("forward")) throw InputError("model '" + path + "' has no forward method");
  // A NaN or infinite weight or BatchNorm statistic (a diverged training run, a damaged file) would make
  // every grid and loss NaN far downstream; it is named here instead. Other buffers may hold -inf on
  // purpose (attention masks).
  for (const auto& item : module.named_parameters(/*recurse=*/true)) CheckFinite(path, item.name, item.value);
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    const std::string& name = item.name;
    const bool statistic = name.size() >= 12 && (name.compare(name.size() - 12, 12, "running_mean") == 0 ||
                                                 name.compare(name.size() - 11, 11, "running_var") == 0);
    if (statistic) CheckFinite(path, name, item.value);
  }
  CheckForwardArguments(path, module, inputs);
  auto model = std::make_shared<Model>(std::move(module), path);
  model->inputs_ = inputs;
  if (!inputs.empty()) {
    const std::string given = inputs.size() == 1 && inputs[0].name == "input" && !inputs[0].integer()
                                  ? "an input of shape " + ShapeString(inputs[0].shape) + " (model.input_shape)"
                                  : "the inputs " + InputsString(inputs) + " (model.inputs)";
    try {
      model->Forward(ExampleInputs(inputs));
    } catch (const InputError&) {
      throw;
    } catch (const c10::Error& error) {
      throw InputError("model '" + path + "' does not accept " + given + ": " + FirstLine(error.what_without_backtrace()));
    } catch (const std::exception& error) {
      throw InputError("model '" + path + "' does not accept " + given + ": " + FirstLine(error.what()));
    }
  }
  return model;
}

std::shared_ptr<Model> Model::Clone() const {
  auto copy = std::make_shared<Model>(module_.clone(), source_);
  copy->inputs_ = inputs_;
  return copy;
}

torch::Tensor Model::Forward(const Inputs& inputs) const {
  torch::NoGradGuard no_grad;
  // forward is not const in LibTorch's API, but running it does not change the module.
  auto& module = const_cast<torch::jit::Module&>(module_);
  std::vector<c10::IValue> arguments;
  for (const auto& input : inputs) arguments.emplace_back(ForCompute(input));
  const c10::IValue output = module.forward(std::move(arguments));
  if (output.isTensor()) return output.toTensor();
  if (output.isTuple() && !output.toTupleRef().elements().empty() && output.toTupleRef().elements()[0].isTensor())
    return output.toTupleRef().elements()[0].toTensor();
  throw InputError("model '" + source_ + "' forward returns " + output.tagKind() + ", expected a tensor");
}

void Model::SetInputs(std::vector<TensorSpec> inputs) {
  std::lock_guard<std::mutex> lock(inlined_mutex_);
  inputs_ = std::move(inputs);
  inlined_.reset();
}

std::shared_ptr<torch::jit::Graph> Model::InlinedGraph() const {
  std::lock_guard<std::mutex> lock(inlined_mutex_);
  if (inlined_) return inlined_->copy();
  auto graph = module_.get_method("forward").graph()->copy();
  torch::jit::Inline(*graph);
  // A tuple a callee returns and its caller unpacks (`out, _ = self.attn(x, x, x)`) becomes its values,
  // so what the caller drops is dead code, not a dependency of what it keeps.
  torch::jit::LowerSimpleTuples(graph);
  // Scripted code branches on constant flags (F.relu's `inplace`, a block's `self.use_res_connect`,
  // `self.training`); folding those branches puts the ops they guard at the top level, where layer
  // discovery, its DAG and quant-sim see them.
  SpecializeAttributes(*graph, module_);
  torch::jit::ConstantPropagation(graph);
  torch::jit::EliminateDeadCode(graph);
  if (!inputs_.empty()) SpecializeRanks(graph, module_, inputs_);
  inlined_ = graph;
  return inlined_->copy();
}

std::optional<torch::jit::Module> FindSubmodule(const torch::jit::Module& root, const std::string& path) {
  torch::jit::Module current = root;
  std::stringstream parts(path);
  for (std::string part; std::getline(parts, part, '.');) {
    if (part.empty()) continue;
    if (!current.hasattr(part) || !current.attr(part).isModule()) return std::nullopt;
    current = current.attr(part).toModule();
  }
  return current;
}

torch::jit::Module Model::Submodule(const std::string& path) const {
  auto found = FindSubmodule(module_, path);
  if (!found) throw std::out_of_range("no submodule '" + path + "' in model '" + source_ + "'");
  return *found;
}

int CountBatchNorms(const Model& model) {
  int count = 0;
  const auto graph = model.InlinedGraph();  // keep it alive while iterating
  for (const auto* node : graph->nodes())
    if (node->kind() == c10::Symbol::aten("batch_norm")) ++count;
  return count;
}

}  // namespace adaflow::model
