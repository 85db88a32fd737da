#include "src/model/model.h"

#include <torch/csrc/jit/passes/fold_conv_bn.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <filesystem>
#include <sstream>

#include "common/error.h"

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
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

}  // namespace

std::string ShapeString(const std::vector<std::int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (std::size_t idx = 0; idx < shape.size(); ++idx) out << (idx ? ", " : "") << shape[idx];
  out << "]";
  return out.str();
}

Model::Model(torch::jit::Module module, std::string source) : module_(std::move(module)), source_(std::move(source)) {
  module_.eval();
}

std::shared_ptr<Model> Model::Load(const std::string& path, const std::vector<std::int64_t>& input_shape) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError("model '" + path + "' does not exist");
  torch::jit::Module module;
  try {
    module = torch::jit::load(path);
  } catch (const c10::Error& error) {
    throw InputError("model '" + path + "' is not a TorchScript model (save it with torch.jit.script or "
                     "torch.jit.trace, then .save()): " + FirstLine(error.what_without_backtrace()));
  } catch (const std::exception& error) {
    throw InputError("model '" + path + "' cannot be loaded: " + FirstLine(error.what()));
  }
  if (!module.find_method("forward")) throw InputError("model '" + path + "' has no forward method");
  auto model = std::make_shared<Model>(std::move(module), path);
  if (!input_shape.empty()) {
    try {
      model->Forward(torch::zeros(input_shape));
    } catch (const InputError&) {
      throw;
    } catch (const c10::Error& error) {
      throw InputError("model '" + path + "' does not accept an input of shape " + ShapeString(input_shape) +
                       " (model.input_shape): " + FirstLine(error.what_without_backtrace()));
    } catch (const std::exception& error) {
      throw InputError("model '" + path + "' does not accept an input of shape " + ShapeString(input_shape) +
                       " (model.input_shape): " + FirstLine(error.what()));
    }
  }
  return model;
}

std::shared_ptr<Model> Model::Clone() const { return std::make_shared<Model>(module_.clone(), source_); }

torch::Tensor Model::Forward(const torch::Tensor& input) const {
  torch::NoGradGuard no_grad;
  // forward is not const in LibTorch's API, but running it does not change the module.
  auto& module = const_cast<torch::jit::Module&>(module_);
  const c10::IValue output = module.forward({input});
  if (output.isTensor()) return output.toTensor();
  if (output.isTuple() && !output.toTupleRef().elements().empty() && output.toTupleRef().elements()[0].isTensor())
    return output.toTupleRef().elements()[0].toTensor();
  throw InputError("model '" + source_ + "' forward returns " + output.tagKind() + ", expected a tensor");
}

std::shared_ptr<torch::jit::Graph> Model::InlinedGraph() const {
  auto graph = module_.get_method("forward").graph()->copy();
  torch::jit::Inline(*graph);
  // Scripted functionals branch on constant flags (F.relu's `inplace`); folding those branches puts
  // the ops they guard at the top level, where discovery and quant-sim look for them.
  torch::jit::ConstantPropagation(graph);
  return graph;
}

torch::jit::Module Model::Submodule(const std::string& path) const {
  torch::jit::Module current = module_;
  std::stringstream parts(path);
  for (std::string part; std::getline(parts, part, '.');) {
    if (part.empty()) continue;
    if (!current.hasattr(part) || !current.attr(part).isModule())
      throw std::out_of_range("no submodule '" + path + "' in model '" + source_ + "'");
    current = current.attr(part).toModule();
  }
  return current;
}

std::shared_ptr<Model> FoldBatchNorm(const Model& model, int* folded) {
  const int before = CountBatchNorms(model);
  auto result = std::make_shared<Model>(torch::jit::FoldConvBatchNorm(model.module()), model.source());
  if (folded) *folded = before - CountBatchNorms(*result);
  return result;
}

int CountBatchNorms(const Model& model) {
  int count = 0;
  const auto graph = model.InlinedGraph();  // keep it alive while iterating
  for (const auto* node : graph->nodes())
    if (node->kind() == c10::Symbol::aten("batch_norm")) ++count;
  return count;
}

}  // namespace adaflow::model
