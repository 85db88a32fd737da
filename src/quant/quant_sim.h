#pragma once
// Quantization simulation (AIMET's QuantizationSimModel): weights of every layer quantize-dequantized on
// their grid, and fake-quant on activations, placed by an AIMET quantsim config (quantsim_config.h; the
// built-in default is AIMET's default_config.json): the model input, the outputs of ops whose type the
// config quantizes, but only the last output of a supergroup (the default's Conv + ReLU, ConvTranspose +
// ReLU, Conv + Clip (ReLU6, hardtanh, constant clamp), Add + ReLU, Linear + ReLU), inputs of op types with
// is_input_quantized, fixed grids for encoding_constraints. The parameters of other leaf modules
// (LayerNorm, GroupNorm, Embedding, PReLU, an unfolded BatchNorm: module_params.h) are quantized as the
// config says, by the key "<module>.<param>"; the biases of quantizable layers stay float. A bitwidth of
// 32 leaves that side float.
//
// Rounding: weights round half away from zero (AIMET); activations get the values of LibTorch's
// fake_quantize_per_tensor_affine (computed as element-wise ops), which rounds half to even (ties are
// measure-zero for activations).
// Calibration runs forward passes with quantized weights and float activations, as AIMET's
// compute_encodings does.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/data/dataset.h"
#include "src/model/layers.h"
#include "src/model/model.h"
#include "src/quant/quantsim_config.h"
#include "src/quant/tensor_quant.h"

namespace torch::jit {
class GraphFunction;
}

namespace adaflow::quant {

struct QuantSimConfig {
  /// Activation bitwidth; 32 = float. Default: 8
  int output_bw = 8;
  /// Weight bitwidth; 32 = float. Default: 4
  int param_bw = 4;
  /// How the grids of weights whose encodings are not frozen are chosen: the scheme always; per_channel,
  /// symmetric, strict and unsigned only without `rules` (they set the built-in default config's
  /// defaults). Default: tf_enhanced, signed symmetric, per tensor
  WeightGridOptions param;
  /// An AIMET quantsim config (a file's); nullopt = the built-in default with `param`'s grid settings.
  std::optional<QuantsimConfigFile> rules;
  /// Weight bitwidth per layer name. Example: {fc: 8}
  std::map<std::string, int> param_bw_override;
  /// Parameters of other modules ("ln.weight") left float whatever the config says (an encodings file's
  /// float entries).
  std::vector<std::string> float_params;

  /// The config in force: `rules`, or DefaultQuantsimConfig(param).
  QuantsimConfigFile Rules() const { return rules ? *rules : DefaultQuantsimConfig(param); }
};

/// Weight encodings by layer name (or, for the parameters of other modules, by "<module>.<param>").
using ParamEncodings = std::map<std::string, TensorEncoding>;

struct ActivationQuantizer {
  std::string name;       ///< "input", a layer name, "<layer>.<activation>", or "<op>_<n>"
  model::ValueRef value;  ///< the quantized value in Model::InlinedGraph()
  std::string op;         ///< the op producing it ("aten::relu"; "input" for the model input)
  Encoding encoding;      ///< set by Calibrate / SetActivationEncodings
  /// Where AIMET's module-keyed layout (`<name>_torch.encodings`) puts it: the output (or, for the
  /// model input and an op's input quantizer, the input) of this module of the model AIMET's model
  /// preparer would make (aimet_module_names.h): `layers.0.conv2`, `layers.0.module_relu_1`,
  /// `module_fc_1`; `name` when that model has no module for it (an op AIMET leaves functional).
  std::string module;
  bool module_input = false;
  /// The grid its encoding is computed on (bitwidth, symmetric or not: the config's, per op type).
  GridSpec grid;
  /// encoding_constraints of its op type: the encoding is computed from this range, not the data.
  std::optional<FixedRange> fixed_range;
};

class QuantSim {
 public:
  /// `fp` is the model whose weights are quantized (the prepared FP model, or one whose weights
  /// AdaRound already put on the grid). `frozen` encodings are used as given (AIMET's
  /// set_and_freeze_param_encodings), by layer name or "<module>.<param>"; a key that matches neither a
  /// layer nor another module's parameter, or a channel count that does not match, is an InputError.
  QuantSim(std::shared_ptr<const model::Model> fp, const model::LayerGraph& layers, QuantSimConfig config,
           const ParamEncodings& frozen = {});
  ~QuantSim();

  const QuantSimConfig& config() const { return config_; }
  /// The model whose weights were quantized (as given to the constructor).
  std::shared_ptr<const model::Model> source() const { return fp_; }
  /// The quantized layers' weight encodings, by layer name.
  const ParamEncodings& param_encodings() const { return param_encodings_; }
  /// The quantized parameters of other modules, by "<module>.<param>" ("ln.weight").
  const ParamEncodings& module_param_encodings() const { return module_param_encodings_; }
  const std::vector<ActivationQuantizer>& quantizers() const { return quantizers_; }
  /// The model with weights on their grid and float activations.
  std::shared_ptr<const model::Model> weights_model() const { return weights_model_; }
  bool calibrated() const { return calibrated_; }

  /// The activation encodings of this quant-sim on the data (`max_batches` 0 = all batches), in the
  /// order of quantizers(); the quant-sim itself is left as it is.
  std::vector<Encoding> ComputeActivationEncodings(const data::Dataset& data, Scheme scheme, double percentile,
                                                   std::int64_t max_batches) const;
  /// A calibrated quant-sim: this one's weights (shared, not quantized again) with these activation
  /// encodings (same order as quantizers()).
  std::shared_ptr<const QuantSim> WithActivationEncodings(const std::vector<Encoding>& encodings) const;
  /// Calibrates this quant-sim in place: ComputeActivationEncodings, then SetActivationEncodings.
  void Calibrate(const data::Dataset& data, Scheme scheme, double percentile, std::int64_t max_batches);
  /// Restores encodings computed before (same order as quantizers()).
  void SetActivationEncodings(const std::vector<Encoding>& encodings);

  /// Forward with quantized weights and fake-quant activations. Thread-safe; needs calibration
  /// unless activations are float (output_bw 32).
  torch::Tensor Forward(const model::Inputs& inputs) const;
  torch::Tensor Forward(const torch::Tensor& input) const { return Forward(model::Inputs{input}); }

 private:
  struct ShareWeights {};
  QuantSim(const QuantSim& other, ShareWeights);
  void BuildForward();

  std::shared_ptr<const model::Model> fp_;
  QuantSimConfig config_;
  ParamEncodings param_encodings_;
  ParamEncodings module_param_encodings_;
  std::shared_ptr<model::Model> weights_model_;
  std::vector<ActivationQuantizer> quantizers_;
  bool calibrated_ = false;
  std::unique_ptr<torch::jit::GraphFunction> forward_;
};

/// The activation quantizers of `bitwidth` that `rules` place in `model` (see the file comment).
std::vector<ActivationQuantizer> FindActivationQuantizers(const model::Model& model, const model::LayerGraph& layers,
                                                          const QuantsimConfigFile& rules, int bitwidth);

/// An op whose output holds float values that no activation quantizer can cover: its output stays float
/// whatever a config says (where an AIMET-prepared model may have a quantizer). `adaflow inspect` lists them.
struct OpLeftFloat {
  std::string op;      ///< "aten::erf"
  std::string module;  ///< the module it ran in ("" for the root)
  std::string reason;
};
std::vector<OpLeftFloat> OpsLeftFloat(const model::Model& model);

}  // namespace adaflow::quant
