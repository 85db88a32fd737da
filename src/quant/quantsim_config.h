#pragma once
// AIMET's quantsim config file (aimet_common/quantsim_config, its JSON schema of AIMET 1.3x): which
// tensors a quant-sim quantizes and how.
//
//   {"defaults":    {"ops": {"is_input_quantized", "is_output_quantized", "is_symmetric"},
//                    "params": {"is_quantized", "is_symmetric"},
//                    "strict_symmetric", "unsigned_symmetric", "per_channel_quantization",
//                    "hw_version", "supported_kernels"},
//    "params":      {"<param>": {"is_quantized", "is_symmetric"}},            (weight, bias, …)
//    "op_type":     {"<type>": {"is_input_quantized", "is_output_quantized", "is_symmetric",
//                               "per_channel_quantization", "encoding_constraints": {"min", "max"},
//                               "params": {"<param>": {…}}, "supported_kernels"}},
//    "supergroups": [{"op_list": ["Conv", "Relu"]}, …],
//    "model_input": {"is_input_quantized"}, "model_output": {"is_output_quantized"}}
//
// Settings are the strings "True" and "False". Reading is strict: an unknown key, an op type that no
// operator set or AIMET mapping knows (op_types.h), a setting of the wrong type, a missing section: an
// InputError naming the file and the JSON path. Settings apply as AIMET applies them, from the least
// specific to the most: defaults, params, op_type (QuantsimConfigFile's accessors), then supergroups and
// the model's input and output (the quant-sim's placement of quantizers).

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "src/quant/encoding.h"
#include "src/quant/op_types.h"

namespace adaflow::quant {

/// A "True"/"False" setting, or not given.
using Setting = std::optional<bool>;

struct ParamRule {
  Setting is_quantized;
  Setting is_symmetric;
};

/// encoding_constraints: the quantizer's grid is computed from this range, not from the data.
struct FixedRange {
  double min = 0;
  double max = 0;
};

struct OpRule {
  Setting is_input_quantized;
  Setting is_output_quantized;
  Setting is_symmetric;
  Setting per_channel_quantization;  ///< op_type entries only
  std::optional<FixedRange> encoding_constraints;
  std::map<std::string, ParamRule> params;
};

struct QuantsimConfigFile {
  std::string source;  ///< the file, for messages and reports
  OpRule default_ops;
  ParamRule default_params;
  Setting strict_symmetric;
  Setting unsigned_symmetric;
  Setting per_channel_quantization;
  std::string hw_version;  ///< informational
  std::map<std::string, ParamRule> params;
  std::map<std::string, OpRule> op_type;
  std::vector<std::vector<std::string>> supergroups;
  Setting model_input_quantized;
  Setting model_output_quantized;

  /// The op_type entries that apply to an op of `types`: its backend type's alone when the config has
  /// one, else its ONNX types' in order (a later one's settings win), as AIMET applies them.
  std::vector<const OpRule*> RulesFor(const OpTypes& types) const;

  bool OutputQuantized(const OpTypes& types) const;
  bool InputQuantized(const OpTypes& types) const;
  /// Whether the op's activation grids are symmetric.
  bool Symmetric(const OpTypes& types) const;
  std::optional<FixedRange> Constraints(const OpTypes& types) const;
  /// Per output channel: an ONNX type's entry set True wins, one set False keeps it per tensor, else the default.
  bool PerChannel(const OpTypes& types) const;
  bool ParamQuantized(const OpTypes& types, const std::string& param) const;
  bool ParamSymmetric(const OpTypes& types, const std::string& param) const;
  bool StrictSymmetric() const { return strict_symmetric.value_or(false); }
  bool UnsignedSymmetric() const { return unsigned_symmetric.value_or(false); }
  /// The grid of an op's activations of `bitwidth` (symmetric, strict and unsigned as the config says).
  GridSpec ActivationGrid(const OpTypes& types, int bitwidth) const;
  /// The grid options of parameter `param` of an op of `types`, with the quant scheme `scheme`.
  WeightGridOptions ParamGrid(const OpTypes& types, const std::string& param, Scheme scheme) const;
  /// The grid options of the weight of a layer of `types`: ParamGrid(types, "weight", scheme).
  WeightGridOptions WeightGrid(const OpTypes& types, Scheme scheme) const { return ParamGrid(types, "weight", scheme); }

 private:
  bool ParamSetting(const OpTypes& types, const std::string& param, Setting ParamRule::*setting) const;
};

/// Parses `text` (a config file's content; `source` names it in messages). Throws InputError naming
/// `source` and the JSON path of what is wrong.
QuantsimConfigFile ParseQuantsimConfig(const std::string& text, const std::string& source);
/// Reads and parses the file at `path` (InputError when it is missing or wrong).
QuantsimConfigFile ReadQuantsimConfig(const std::string& path);
/// AIMET's default config (configs/quantsim/default_config.json, built into the binary and parsed by
/// ParseQuantsimConfig like any file).
const QuantsimConfigFile& DefaultQuantsimConfig();
/// The default config with its `defaults` set from adaflow's weight-grid options (per_channel, symmetric,
/// strict_symmetric, unsigned_symmetric): what a quant_sim or adaround stage without a config file uses.
QuantsimConfigFile DefaultQuantsimConfig(const WeightGridOptions& grid);

}  // namespace adaflow::quant
