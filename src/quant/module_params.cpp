#include "src/quant/module_params.h"

#include <torch/csrc/jit/ir/ir.h>

#include <algorithm>
#include <optional>
#include <set>

#include "common/error.h"
#include "src/model/graph_capture.h"

namespace adaflow::quant {
namespace {

bool IsParameter(const torch::jit::Module& module, const std::string& name) {
  for (const auto& parameter : module.named_parameters(/*recurse=*/false))
    if (parameter.name == name) return true;
  return false;
}

}  // namespace

std::vector<ModuleParam> FindModuleParams(const model::Model& model, const model::LayerGraph& layers) {
  const auto graph = model.InlinedGraph();
  const torch::jit::Value* self = graph->inputs().at(0);
  std::vector<ModuleParam> params;
  std::set<std::string> seen;
  for (const torch::jit::Node* node : model::TopLevelNodes(*graph)) {
    if (node->kind().is_prim()) continue;  // attribute reads, lists, constants: not the op that uses it
    for (const torch::jit::Value* input : node->inputs()) {
      const torch::jit::Node* read = input->node();
      if (read->kind() != c10::prim::GetAttr) continue;
      const auto path = model::ModulePathOf(read->input(0), self);
      if (!path || path->empty() || layers.Find(*path)) continue;
      const auto owner = model::FindSubmodule(model.module(), *path);
      const std::string name = read->s(c10::attr::name);
      if (!owner || owner->named_children().size() != 0 || !IsParameter(*owner, name)) continue;
      ModuleParam param{*path, name, node->kind().toQualString(), OpTypesOf(node), {}};
      if (!seen.insert(param.key()).second) continue;
      const torch::Tensor tensor = owner->attr(name).toTensor();
      param.shape.assign(tensor.sizes().begin(), tensor.sizes().end());
      params.push_back(std::move(param));
    }
  }
  return params;
}

std::map<std::string, TensorEncoding> QuantizeModuleParams(model::Model& model, const std::vector<ModuleParam>& params,
                                                           const QuantsimConfigFile& rules, Scheme scheme, int bitwidth,
                                                           const std::map<std::string, TensorEncoding>& frozen,
                                                           const std::vector<std::string>& left_float) {
  std::map<std::string, TensorEncoding> encodings;
  for (const ModuleParam& param : params) {
    const std::string key = param.key();
    if (std::find(left_float.begin(), left_float.end(), key) != left_float.end()) continue;
    const auto frozen_it = frozen.find(key);
    // A frozen encoding wins (AIMET's set_and_freeze_param_encodings); else the config decides.
    if (frozen_it == frozen.end() && (bitwidth >= 32 || !rules.ParamQuantized(param.types, param.name))) continue;
    auto owner = model.Submodule(param.module);
    const torch::Tensor value = owner.attr(param.name).toTensor();
    TensorEncoding encoding;
    if (frozen_it != frozen.end()) {
      encoding = frozen_it->second;
      const std::int64_t channels = param.shape.empty() ? 1 : param.shape.front();
      if (encoding.axis_is_channel && static_cast<std::int64_t>(encoding.channels.size()) != channels)
        throw InputError("frozen param encodings of '" + key + "' have " + std::to_string(encoding.channels.size()) +
                         " channels; the parameter has " + std::to_string(channels));
    } else {
      // Per channel along axis 0, as AIMET's per-channel quantizer of a parameter that is not a
      // transposed convolution's weight (one grid per element of a 1-D parameter).
      const WeightGridOptions grid = rules.ParamGrid(param.types, param.name, scheme);
      encoding = ComputeTensorEncoding(value, scheme, grid.Grid(bitwidth), grid.per_channel && !param.shape.empty(), 0);
    }
    owner.setattr(param.name, model::ForCompute(QuantizeDequantize(value, encoding).to(value.dtype())));
    encodings[key] = std::move(encoding);
  }
  return encodings;
}

}  // namespace adaflow::quant
