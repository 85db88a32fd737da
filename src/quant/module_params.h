#pragma once
// The parameters a quant-sim quantizes besides the weights of quantizable layers: AIMET's quant-sim
// wraps every leaf module of the prepared model and gives each of its parameters a quantizer, which the
// quantsim config enables or not by the module's op type and the parameter's name (the default config:
// every parameter but biases). So LayerNorm's and GroupNorm's weights, an Embedding's table, PReLU's
// slopes and the weight of a BatchNorm left unfolded are quantized too (at the quant-sim's
// default_param_bw, on the grid the config gives that op type), in AdaRound's internal quant-sim as in
// the final one. A parameter of a module with children (a class token on the model itself) is not a
// leaf module's, and stays float as in AIMET.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "src/model/layers.h"
#include "src/model/model.h"
#include "src/quant/encoding.h"
#include "src/quant/op_types.h"
#include "src/quant/quantsim_config.h"
#include "src/quant/tensor_quant.h"

namespace adaflow::quant {

struct ModuleParam {
  std::string module;  ///< the leaf module's path: "blocks.0.norm1"
  std::string name;    ///< the parameter's name in it: "weight", "bias"
  std::string op;      ///< the op that reads it: "aten::layer_norm"
  OpTypes types;       ///< that op's types, which the config's op_type entries match
  std::vector<std::int64_t> shape;

  /// "blocks.0.norm1.weight": its key in param_encodings.
  std::string key() const { return module + "." + name; }
};

/// Every parameter of a leaf module that is not a quantizable layer and that the forward reads, in
/// graph order (layer discovery's layers have their own weights; their biases stay float).
std::vector<ModuleParam> FindModuleParams(const model::Model& model, const model::LayerGraph& layers);

/// Quantize-dequantizes in `model` every one of `params` that `rules` quantizes at `bitwidth` (32 or
/// more: none), or that `frozen` (by key) gives an encoding, and leaves those named in `left_float`
/// float. Returns the encodings used, by key. A frozen encoding whose channel count does not match the
/// parameter is an InputError.
std::map<std::string, TensorEncoding> QuantizeModuleParams(model::Model& model, const std::vector<ModuleParam>& params,
                                                           const QuantsimConfigFile& rules, Scheme scheme, int bitwidth,
                                                           const std::map<std::string, TensorEncoding>& frozen = {},
                                                           const std::vector<std::string>& left_float = {});

}  // namespace adaflow::quant
