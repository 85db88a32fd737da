#pragma once
// AIMET encodings files (JSON).
//
// Version 0.6.1 (`<name>.encodings`, and `<name>_adaround.encodings` with param_encodings only):
//   {"activation_encodings": {"<tensor>": [entry]}, "excluded_layers": [...],
//    "param_encodings": {"<layer>.weight": [entry, one per channel when per channel]},
//    "quantizer_args": {...}, "version": "0.6.1"}
//   entry: {"bitwidth": 4, "dtype": "int", "is_symmetric": "True", "max": .., "min": .., "offset": -8,
//           "scale": ..}; a float (unquantized) tensor: {"bitwidth": 32, "dtype": "float"}.
// Version 1.0.0: the same sections as lists of {"name", "dtype": "INT", "enc_type": "PER_TENSOR" |
//   "PER_CHANNEL", "bw", "is_sym" (bool), "scale": [..], "offset": [..]}.
// Module-keyed (`<name>_torch.encodings`, version 0.6.1 entries): activation_encodings is
//   {"<module>": {"input": {"0": entry}, "output": {"0": entry}}} (ActivationQuantizer::module), the
//   other sections as in 0.6.1.
// Scale and offset define the grid: a value on it is scale·(q + offset), q an integer in [0, 2^bw − 1].

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "src/model/layers.h"
#include "src/quant/quant_sim.h"
#include "src/quant/tensor_quant.h"

namespace adaflow::io {

/// `{"param_encodings": {"<layer>.weight": [...]}}`, as AIMET's apply_adaround writes it.
std::string ParamEncodingsJson(const std::map<std::string, quant::TensorEncoding>& params);

/// What AIMET records under "quantizer_args".
struct QuantizerArgs {
  int activation_bitwidth = 8;
  int param_bitwidth = 4;
  bool param_symmetric = true;
  bool per_channel = false;
  /// "post_training_tf_enhanced", "post_training_tf" or "post_training_percentile".
  std::string quant_scheme = "post_training_tf_enhanced";
};

/// Everything a quantized model's encodings file holds.
struct ModelEncodings {
  /// Weight encodings by layer name.
  std::map<std::string, quant::TensorEncoding> params;
  /// Encodings of other modules' parameters, by key ("ln.weight"; module_params.h), written after the
  /// layers' weights.
  std::map<std::string, quant::TensorEncoding> module_params;
  /// Activation encodings by quantizer name (or ONNX tensor name), in model order.
  std::vector<std::pair<std::string, quant::Encoding>> activations;
  /// Each activation's key in the module-keyed layout, same order: (module, whether it is the
  /// module's input); see ActivationQuantizer::module.
  std::vector<std::pair<std::string, bool>> activation_modules;
  /// Quantizable layers whose weights stay float.
  std::vector<std::string> excluded_layers;
  QuantizerArgs args;
};

enum class EncodingsVersion { k061, k100 };

std::string EncodingsJson(const ModelEncodings& encodings, EncodingsVersion version);
/// The module-keyed layout (`<name>_torch.encodings`); needs `activation_modules`.
std::string TorchEncodingsJson(const ModelEncodings& encodings);

/// The param_encodings of an AIMET encodings file (version 0.6.1 in either form, `<name>.encodings` or
/// `<name>_adaround.encodings`, or version 1.0.0), by parameter name ("conv1.weight"), each as a list
/// of 0.6.1-style entries (one per channel). Throws InputError naming the file when it is not such a file.
std::map<std::string, nlohmann::json> ParseParamEncodings(const std::string& path);

/// The activation encodings an encodings file gives `quantizers`, in their order. The file may be
/// module-keyed (`_torch.encodings`: by each quantizer's module), or a 0.6.1 / 1.0.0 file keyed by the
/// quantizers' names or by the ONNX tensor names `tensor_names()` gives (quantizer name → tensor; asked
/// for only when the names do not match). Throws InputError naming the file and the quantizer it has no
/// entry for, or an entry no quantizer matches.
std::vector<quant::Encoding> ReadActivationEncodings(
    const std::string& path, const std::vector<quant::ActivationQuantizer>& quantizers,
    const std::function<std::map<std::string, std::string>()>& tensor_names);

/// The layer a param_encodings key names ("layers.0.conv1.weight" → "layers.0.conv1"), or "" when the
/// key is not a weight's.
std::string LayerOfWeightKey(const std::string& key);

/// One parameter's entries as encodings (scale and offset are authoritative: min and max are
/// recomputed from them, as AIMET does when it loads a file); empty for a float entry. `where` names
/// the file and entry in errors.
std::vector<quant::Encoding> ParamEntryEncodings(const nlohmann::json& entries, const std::string& where);

/// The weight encodings of an AIMET encodings file, checked against a model.
struct ParamEncodingsFile {
  /// By layer name, shaped as quant-sim's frozen encodings (the channel axis from the layer).
  std::map<std::string, quant::TensorEncoding> params;
  /// Quantizable layers whose weight the file leaves float ({"dtype": "float"}).
  std::vector<std::string> float_layers;
  /// Other modules' parameters (LayerNorm, Embedding, PReLU, unfolded BatchNorm…; module_params.h) by
  /// key ("ln.weight"), shaped as quant-sim's frozen encodings (per channel along axis 0).
  std::map<std::string, quant::TensorEncoding> module_params;
  /// Other modules' parameters the file leaves float.
  std::vector<std::string> float_params;
  /// Entries for parameters of the model that adaflow does not quantize (the biases of layers).
  std::vector<std::string> skipped;
};
/// Throws InputError naming the file and the entry for a parameter the model does not have, or a
/// malformed or mismatched entry of a quantizable layer.
ParamEncodingsFile ReadParamEncodings(const std::string& path, const model::LayerGraph& layers,
                                      const model::Model& model);

}  // namespace adaflow::io
