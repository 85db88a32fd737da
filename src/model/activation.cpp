#include "src/model/activation.h"

#include <torch/csrc/jit/ir/ir.h>

#include <cmath>
#include <limits>
#include <map>
#include <sstream>

namespace adaflow::model {
namespace {

using torch::jit::Node;
using torch::jit::Value;

constexpr double kInf = std::numeric_limits<double>::infinity();

/// A constant scalar argument; `missing` when it is None; nullopt when it is not a constant.
std::optional<double> Scalar(const Value* value, double missing) {
  auto constant = torch::jit::toIValue(value);
  if (!constant) return std::nullopt;
  if (constant->isNone()) return missing;
  if (constant->isDouble() || constant->isInt() || constant->isBool() || constant->isScalar())
    return constant->toScalar().toDouble();
  return std::nullopt;
}

/// The tensor attribute `value` reads (prim::GetAttr chains from `self`), or an undefined tensor.
torch::Tensor AttributeTensor(const Value* value, const Value* module_input, const torch::jit::Module& model) {
  std::vector<std::string> path;
  const Value* current = value;
  while (current->node()->kind() == c10::prim::GetAttr) {
    path.push_back(current->node()->s(c10::attr::name));
    current = current->node()->input(0);
  }
  if (current != module_input || path.empty()) return {};
  torch::jit::Module owner = model;
  for (auto it = path.rbegin(); it + 1 != path.rend(); ++it) {
    if (!owner.hasattr(*it) || !owner.attr(*it).isModule()) return {};
    owner = owner.attr(*it).toModule();
  }
  if (!owner.hasattr(path.front()) || !owner.attr(path.front()).isTensor()) return {};
  return owner.attr(path.front()).toTensor();
}

/// "aten::relu_" → "relu".
std::string BaseName(const Node* node) {
  std::string name = node->kind().toUnqualString();
  if (!name.empty() && name.back() == '_') name.pop_back();
  return node->kind().ns() == c10::namespaces::aten ? name : "";
}

}  // namespace

const char* ActivationName(Activation activation) {
  switch (activation) {
    case Activation::kNone: return "none";
    case Activation::kRelu: return "relu";
    case Activation::kRelu6: return "relu6";
    case Activation::kHardtanh: return "hardtanh";
    case Activation::kLeakyRelu: return "leaky_relu";
    case Activation::kPrelu: return "prelu";
    case Activation::kElu: return "elu";
    case Activation::kSelu: return "selu";
    case Activation::kCelu: return "celu";
    case Activation::kGelu: return "gelu";
    case Activation::kSilu: return "silu";
    case Activation::kMish: return "mish";
    case Activation::kSigmoid: return "sigmoid";
    case Activation::kLogSigmoid: return "log_sigmoid";
    case Activation::kTanh: return "tanh";
    case Activation::kHardswish: return "hardswish";
    case Activation::kHardsigmoid: return "hardsigmoid";
    case Activation::kSoftplus: return "softplus";
    case Activation::kSoftmax: return "softmax";
    case Activation::kLogSoftmax: return "log_softmax";
    case Activation::kHardshrink: return "hardshrink";
    case Activation::kSoftshrink: return "softshrink";
    case Activation::kThreshold: return "threshold";
  }
  return "?";
}

std::optional<ActivationOp> ParseActivation(const Node* node, const Value* module_input,
                                            const torch::jit::Module& model) {
  const std::string name = BaseName(node);
  if (name.empty() || node->inputs().empty()) return std::nullopt;
  static const std::map<std::string, Activation> kPlain = {
      {"relu", Activation::kRelu},           {"relu6", Activation::kRelu6},         {"selu", Activation::kSelu},
      {"silu", Activation::kSilu},           {"mish", Activation::kMish},           {"sigmoid", Activation::kSigmoid},
      {"log_sigmoid", Activation::kLogSigmoid}, {"tanh", Activation::kTanh},        {"hardswish", Activation::kHardswish},
      {"hardsigmoid", Activation::kHardsigmoid}};
  // Ops whose trailing arguments are constant scalars: (kind, count, value for None).
  struct Scalars {
    Activation kind;
    std::size_t count;
  };
  static const std::map<std::string, Scalars> kWithScalars = {
      {"leaky_relu", {Activation::kLeakyRelu, 1}}, {"elu", {Activation::kElu, 3}},
      {"celu", {Activation::kCelu, 1}},             {"softplus", {Activation::kSoftplus, 2}},
      {"hardshrink", {Activation::kHardshrink, 1}}, {"softshrink", {Activation::kSoftshrink, 1}},
      {"threshold", {Activation::kThreshold, 2}}};
  ActivationOp op;
  if (auto plain = kPlain.find(name); plain != kPlain.end()) {
    op.kind = plain->second;
    return op;
  }
  if (auto scalars = kWithScalars.find(name); scalars != kWithScalars.end()) {
    if (node->inputs().size() < scalars->second.count + 1) return std::nullopt;
    op.kind = scalars->second.kind;
    for (std::size_t idx = 1; idx <= scalars->second.count; ++idx) {
      auto value = Scalar(node->input(idx), 0.0);
      if (!value) return std::nullopt;
      op.args.push_back(*value);
    }
    return op;
  }
  if (name == "hardtanh" || name == "clamp" || name == "clamp_min" || name == "clamp_max") {
    std::optional<double> low = -kInf, high = kInf;
    if (name == "clamp_min") {
      low = Scalar(node->input(1), -kInf);
    } else if (name == "clamp_max") {
      high = Scalar(node->input(1), kInf);
    } else if (node->inputs().size() >= 3) {
      low = Scalar(node->input(1), -kInf);
      high = Scalar(node->input(2), kInf);
    }
    // A clamp by tensors, or by nothing at all, is not an activation.
    if (!low || !high || (std::isinf(*low) && std::isinf(*high))) return std::nullopt;
    op.kind = *low == 0.0 && *high == 6.0 ? Activation::kRelu6 : Activation::kHardtanh;
    if (op.kind == Activation::kHardtanh) op.args = {*low, *high};
    return op;
  }
  if (name == "gelu") {
    op.kind = Activation::kGelu;
    if (node->inputs().size() >= 2) {
      auto approximate = torch::jit::toIValue(node->input(1));
      if (!approximate || !approximate->isString()) return std::nullopt;
      op.approximate = approximate->toStringRef();
    }
    return op;
  }
  if (name == "softmax" || name == "log_softmax") {
    if (node->inputs().size() < 2) return std::nullopt;
    auto dim = torch::jit::toIValue(node->input(1));
    if (!dim || !dim->isInt()) return std::nullopt;
    if (node->inputs().size() >= 3) {
      auto dtype = torch::jit::toIValue(node->input(2));
      if (!dtype || !dtype->isNone()) return std::nullopt;  // a cast inside the activation
    }
    op.kind = name == "softmax" ? Activation::kSoftmax : Activation::kLogSoftmax;
    op.dim = dim->toInt();
    return op;
  }
  if (name == "prelu" && node->inputs().size() == 2) {
    op.weight = AttributeTensor(node->input(1), module_input, model);
    if (!op.weight.defined()) return std::nullopt;
    op.kind = Activation::kPrelu;
    return op;
  }
  return std::nullopt;
}

torch::Tensor ActivationOp::Apply(const torch::Tensor& x) const {
  switch (kind) {
    case Activation::kNone: return x;
    case Activation::kRelu: return at::relu(x);
    case Activation::kRelu6: return at::hardtanh(x, 0.0, 6.0);
    case Activation::kHardtanh:
      if (std::isinf(args[0]) || std::isinf(args[1]))
        return at::clamp(x, std::isinf(args[0]) ? c10::optional<c10::Scalar>() : c10::Scalar(args[0]),
                         std::isinf(args[1]) ? c10::optional<c10::Scalar>() : c10::Scalar(args[1]));
      return at::hardtanh(x, args[0], args[1]);
    case Activation::kLeakyRelu: return at::leaky_relu(x, args[0]);
    case Activation::kPrelu: return at::prelu(x, weight.detach());
    case Activation::kElu: return at::elu(x, args[0], args[1], args[2]);
    case Activation::kSelu: return at::selu(x);
    case Activation::kCelu: return at::celu(x, args[0]);
    case Activation::kGelu: return at::gelu(x, approximate);
    case Activation::kSilu: return at::silu(x);
    case Activation::kMish: return at::mish(x);
    case Activation::kSigmoid: return at::sigmoid(x);
    case Activation::kLogSigmoid: return at::log_sigmoid(x);
    case Activation::kTanh: return at::tanh(x);
    case Activation::kHardswish: return at::hardswish(x);
    case Activation::kHardsigmoid: return at::hardsigmoid(x);
    case Activation::kSoftplus: return at::softplus(x, args[0], args[1]);
    case Activation::kSoftmax: return at::softmax(x, dim);
    case Activation::kLogSoftmax: return at::log_softmax(x, dim);
    case Activation::kHardshrink: return at::hardshrink(x, args[0]);
    case Activation::kSoftshrink: return at::softshrink(x, args[0]);
    case Activation::kThreshold: return at::threshold(x, args[0], args[1]);
  }
  return x;
}

std::string ActivationOp::Describe() const {
  std::ostringstream out;
  out << ActivationName(kind);
  if (kind == Activation::kGelu && approximate != "none") out << "(" << approximate << ")";
  if (kind == Activation::kSoftmax || kind == Activation::kLogSoftmax) out << "(dim " << dim << ")";
  if (!args.empty()) {
    out << "(";
    for (std::size_t idx = 0; idx < args.size(); ++idx) out << (idx ? ", " : "") << args[idx];
    out << ")";
  }
  return out.str();
}

}  // namespace adaflow::model
