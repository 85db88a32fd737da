#include "src/quant/aimet_module_names.h"

#include <cctype>
#include <map>
#include <set>

#include "src/model/graph_capture.h"

namespace adaflow::quant {
namespace {

/// The functionals AIMET's model preparer makes modules of (model_preparer.py: functional_with_stateful_api,
/// functional_with_special_handling, functional_with_stateless_api), by torch.fx's name for them.
/// ("hardwish" is how AIMET 1.3x spells hardswish: F.hardswish stays a functional there.)
const std::set<std::string>& ConvertedFunctionals() {
  static const std::set<std::string> names = {
      "relu", "relu6", "hardtanh", "hardwish", "elu", "selu", "celu", "leaky_relu", "prelu", "rrelu", "glu",
      "gelu", "logsigmoid", "hardshrink", "tanhshrink", "softsign", "softplus", "softmin", "softmax",
      "softshrink", "log_softmax", "tanh", "sigmoid", "hardsigmoid", "silu", "cat", "conv2d", "_pad", "pad",
      "sum", "add", "subtract", "sub", "mul", "div", "truediv", "floordiv", "matmul", "exp", "interpolate",
      "max_pool2d", "max_pool2d_with_indices", "adaptive_avg_pool2d", "avg_pool2d", "norm", "batch_norm",
      "group_norm", "mean", "pow", "where", "addmm", "bmm", "baddbmm", "cumsum", "masked_fill", "square", "rsqrt"};
  return names;
}

/// Whether the preparer converts the node of this fx name: AIMET splits the name at each "_<digit>"
/// and looks the pieces up.
bool Converted(const std::string& fx_name) {
  std::string piece;
  for (std::size_t index = 0; index < fx_name.size(); ++index) {
    if (fx_name[index] == '_' && index + 1 < fx_name.size() && std::isdigit(static_cast<unsigned char>(fx_name[index + 1]))) {
      if (ConvertedFunctionals().count(piece)) return true;
      piece.clear();
      ++index;  // the digit goes with the separator
      continue;
    }
    piece += fx_name[index];
  }
  return ConvertedFunctionals().count(piece) > 0;
}

/// torch.fx's leaf modules: torch.nn's own, but not its containers (fx traces through Sequential).
/// A scripted model's types read "__torch__.torch.nn.modules.<file>.<Class>"; one made in C++ may lack the prefix.
bool IsLeafModule(const std::string& type) {
  const std::string dotted = "." + type;
  return dotted.find(".torch.nn.modules.") != std::string::npos &&
         dotted.find(".torch.nn.modules.container.") == std::string::npos;
}

/// torch.fx's unique node names (torch/fx/graph.py: _snake_case, _Namespace.create_name).
class FxNames {
 public:
  std::string Create(const std::string& target) {
    std::string candidate;
    for (std::size_t index = 0; index < target.size(); ++index) {
      const char c = target[index];
      if (index > 0 && std::isupper(static_cast<unsigned char>(c)) && std::islower(static_cast<unsigned char>(target[index - 1])))
        candidate += '_';
      candidate += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? static_cast<char>(std::tolower(c)) : '_';
    }
    if (candidate.empty()) candidate = "_unnamed";
    if (std::isdigit(static_cast<unsigned char>(candidate[0]))) candidate = "_" + candidate;
    std::string base = candidate;
    long number = 0;
    const auto underscore = candidate.rfind('_');
    if (underscore != std::string::npos && underscore + 1 < candidate.size() &&
        candidate.find_first_not_of("0123456789", underscore + 1) == std::string::npos) {
      base = candidate.substr(0, underscore);
      number = std::stol(candidate.substr(underscore + 1));
    }
    while (used_.count(candidate) || Illegal(candidate)) candidate = base + "_" + std::to_string(++number);
    used_.insert(candidate);
    return candidate;
  }

 private:
  /// Python keywords and builtins are not node names.
  static bool Illegal(const std::string& name) {
    static const std::set<std::string> reserved = {
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def",
        "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
        "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "abs", "all", "any",
        "ascii", "bin", "bool", "breakpoint", "bytearray", "bytes", "callable", "chr", "classmethod", "compile",
        "complex", "copyright", "credits", "delattr", "dict", "dir", "divmod", "enumerate", "eval", "exec", "exit",
        "filter", "float", "format", "frozenset", "getattr", "globals", "hasattr", "hash", "help", "hex", "id",
        "input", "int", "isinstance", "issubclass", "iter", "len", "license", "list", "locals", "map", "max",
        "memoryview", "min", "next", "object", "oct", "open", "ord", "pow", "print", "property", "quit", "range",
        "repr", "reversed", "round", "set", "setattr", "slice", "sorted", "staticmethod", "str", "sum", "super",
        "tuple", "type", "vars", "zip"};
    return reserved.count(name) > 0;
  }

  std::set<std::string> used_;
};

/// The fx node a TorchScript node belongs to: a leaf module's call, a function's call, or the op itself.
struct FxCall {
  enum class Kind { kModule, kFunction, kOp } kind = Kind::kOp;
  std::string target;  ///< the module's path, the function's name or the op's name
  std::string scope;   ///< the module whose forward the call is in ("" at the root)
  std::string id;      ///< the same id for every node of one call
};

/// `not_leaves`: the paths of modules prepare made of torch.nn leaves (a MultiheadAttention split into
/// Linear layers is AIMET's QuantizableMultiheadAttention, whose submodules and ops are its own).
FxCall CallOf(const std::vector<model::CallFrame>& frames, const torch::jit::Node* node, std::size_t index,
              const std::set<std::string>& not_leaves) {
  FxCall call;
  for (const auto& frame : frames) {
    if (frame.module && IsLeafModule(frame.module->type) && !not_leaves.count(frame.module->path)) {
      call.kind = FxCall::Kind::kModule;
      call.target = frame.module->path;
      call.id = "module|" + call.target + "|" + frame.site;
      return call;
    }
    if (frame.module) {
      call.scope = frame.module->path;
      continue;
    }
    call.kind = FxCall::Kind::kFunction;
    call.target = frame.function;
    call.id = "function|" + call.scope + "|" + frame.function + "|" + frame.site;
    return call;
  }
  // An op written in a forward: `x + y` is "add" to fx; `out += y` too (fx records it as an add). A
  // traced model records a function's ops, not its call: F.interpolate is aten::upsample_* there, 1 - x
  // aten::rsub, x % 8 aten::remainder.
  std::string op = node->kind().toUnqualString();
  static const std::set<std::string> augmented = {"add_", "sub_", "mul_", "div_", "masked_fill_"};
  static const std::map<std::string, std::string> fx_names = {
      {"upsample_nearest1d", "interpolate"}, {"upsample_nearest2d", "interpolate"},
      {"upsample_linear1d", "interpolate"}, {"upsample_bilinear2d", "interpolate"},
      {"upsample_bicubic2d", "interpolate"}, {"rsub", "sub"}, {"remainder", "mod"}};
  if (augmented.count(op)) op.pop_back();
  if (const auto alias = fx_names.find(op); alias != fx_names.end()) op = alias->second;
  call.target = op;
  call.id = "op|" + std::to_string(index);
  return call;
}

}  // namespace

std::vector<std::string> AimetModuleNames(const model::Model& model, torch::jit::Graph& graph,
                                          const std::vector<torch::jit::Node*>& nodes) {
  std::vector<std::string> names(nodes.size());
  FxNames fx;
  // The forward's arguments are fx's first nodes (placeholders, named as the arguments).
  for (std::size_t input = 1; input < graph.inputs().size(); ++input) {
    std::string name = graph.inputs()[input]->debugName();
    if (const auto dot = name.find('.'); dot != std::string::npos) name = name.substr(0, dot);
    fx.Create(name.empty() ? "x" : name);
  }
  std::set<std::string> not_leaves;
  for (const auto& item : model.module().named_modules())
    if (item.value.hasattr("linear_Q") && item.value.attr("linear_Q").isModule()) not_leaves.insert(item.name);
  std::map<std::string, int> module_calls;
  std::string last_id, last_name;
  for (std::size_t index = 0; index < nodes.size(); ++index) {
    const torch::jit::Node* node = nodes[index];
    if (node->kind().is_prim()) continue;  // constants, lists, attributes: no fx node
    const auto frames = model::CallFramesOf(model.module(), node);
    if (!frames) continue;  // a module whose path is unknown
    const FxCall call = CallOf(*frames, node, index, not_leaves);
    if (call.id == last_id) {
      names[index] = last_name;
      continue;
    }
    const std::string fx_name = fx.Create(call.target);
    std::string name;
    if (call.kind == FxCall::Kind::kModule) {
      if (module_calls[call.target]++ == 0) {
        name = call.target;
      } else {
        // A later call: AIMET's copy, "module_<child>_<n>" beside the module.
        const auto dot = call.target.rfind('.');
        const std::string parent = dot == std::string::npos ? "" : call.target.substr(0, dot + 1);
        const std::string child = dot == std::string::npos ? call.target : call.target.substr(dot + 1);
        name = parent + "module_" + child + "_" + fx_name.substr(fx_name.rfind('_') + 1);
      }
    } else if (Converted(fx_name)) {
      name = (call.scope.empty() ? "" : call.scope + ".") + "module_" + fx_name;
    }
    last_id = call.id;
    last_name = name;
    names[index] = name;
  }
  return names;
}

}  // namespace adaflow::quant
