#include "stages/quant_sim/quant_sim_stage.h"

#include <filesystem>

#include "pipeline/pipeline_spec.h"
#include "pipeline/stage_context.h"
#include "src/io/aimet_encodings.h"
#include "src/io/onnx/tensor_names.h"
#include "stages/artifacts.h"
#include "stages/stage_common.h"

namespace adaflow {
namespace {

constexpr const char* kType = "quant_sim";

class QuantSimStage : public Stage {
 public:
  using Options = QuantSimOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  QuantSimStage(Options options, std::optional<quant::QuantsimConfigFile> rules)
      : options_(std::move(options)), rules_(std::move(rules)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  /// `param_bw_override` names layers of the prepared model: checked when prepare is done.
  void CheckInput(const std::string& input, const Artifact& value) const override;

 private:
  Options options_;
  std::optional<quant::QuantsimConfigFile> rules_;  ///< config_file's content, read at plan time
};

}  // namespace

const Schema<QuantSimOptions>& QuantSimStage::GetSchema() {
  static const Schema<QuantSimOptions> schema = [] {
    using O = QuantSimOptions;
    Schema<O> s(kType);
    s.Int("default_output_bw", &O::default_output_bw, "activation bitwidth; 32 = float").Range(2, 32);
    s.Int("default_param_bw", &O::default_param_bw, "weight bitwidth; 32 = float").Range(2, 32);
    s.Path("config_file", &O::config_file,
           "AIMET quantsim config (JSON: which tensors are quantized and how; configs/quantsim/); empty = AIMET's "
           "default_config.json, built in, with the weight-grid options below as its defaults");
    AddWeightGridOptions(s, {quant::Scheme::kTfEnhanced, quant::Scheme::kTf, quant::Scheme::kPercentile});
    s.StringIntMap("param_bw_override", &O::param_bw_override, "weight bitwidth per layer name; 32 = float")
        .Range(2, 32);
    s.Path("param_encodings", &O::param_encodings, "frozen param encodings file (AIMET JSON); empty = none");
    s.Path("activation_encodings", &O::activation_encodings,
           "activation encodings file (AIMET JSON: <name>.encodings keyed by quantizer or ONNX tensor names, or "
           "<name>_torch.encodings); the quant-sim comes out calibrated; empty = none (calibrate computes them)");
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> QuantSimStage::Make(const Options& options, const PipelineSpec&) {
  CheckBitwidthOption(options.default_output_bw, "default_output_bw");
  CheckBitwidthOption(options.default_param_bw, "default_param_bw");
  for (const auto& [layer, bitwidth] : options.param_bw_override) CheckBitwidthOption(bitwidth, "param_bw_override." + layer);
  for (const auto& [key, path] : {std::pair{"param_encodings", &options.param_encodings},
                                   std::pair{"activation_encodings", &options.activation_encodings}})
    if (!path->empty() && !std::filesystem::is_regular_file(*path))
      throw InputError(std::string("'") + key + "': '" + *path + "' does not exist");
  if (!options.activation_encodings.empty() && options.default_output_bw >= 32)
    throw InputError("'activation_encodings' is set, but default_output_bw 32 leaves every activation float");
  return std::make_unique<QuantSimStage>(options, ReadConfigOption(options.config_file, "config_file", options));
}

StageOutputs QuantSimStage::Run(const StageInputs& inputs, StageContext& ctx) {
  const auto& upstream = inputs.Get<ModelArtifact>(port::kModel);
  const auto& graph = *inputs.Get<LayerGraphArtifact>(port::kLayerGraph).graph;
  quant::QuantSimConfig config;
  config.output_bw = options_.default_output_bw;
  config.param_bw = options_.default_param_bw;
  config.param = options_;
  config.rules = rules_;
  config.param_bw_override = options_.param_bw_override;
  quant::ParamEncodings frozen;
  SimWeights sim_weights = SimWeights::kNearest;
  std::shared_ptr<const model::Model> weights = upstream.fp;
  const auto rounded = inputs.As<RoundedModelArtifact>(port::kModel);
  if (rounded && inputs.Has(port::kEncodings)) {
    // AIMET's set_and_freeze_param_encodings: AdaRound's weights with AdaRound's encodings.
    frozen = inputs.Get<EncodingsArtifact>(port::kEncodings).params;
    weights = rounded->rounded;
    sim_weights = SimWeights::kAdaround;
  }
  if (!options_.param_encodings.empty()) {
    // AIMET's set_and_freeze_param_encodings from a file: these grids, whatever the weights are.
    auto file = io::ReadParamEncodings(options_.param_encodings, graph, *upstream.fp);
    for (auto& [name, encoding] : file.params) frozen[name] = std::move(encoding);
    for (const auto& name : file.float_layers) {
      config.param_bw_override[name] = 32;
      frozen.erase(name);
    }
    for (auto& [key, encoding] : file.module_params) frozen[key] = std::move(encoding);
    config.float_params = file.float_params;
    if (!file.skipped.empty())
      ctx.log().warn("{}: {} entries for parameters adaflow leaves float were skipped ({}{})", options_.param_encodings,
                     file.skipped.size(), file.skipped.front(), file.skipped.size() > 1 ? ", …" : "");
    // The file comes from AdaRound (its `_adaround.encodings`, used with the model it rounded), so
    // evaluate reports this quant-sim as the AdaRound variant.
    sim_weights = SimWeights::kAdaround;
    ctx.log().info("froze the param encodings of {} layers and {} other parameters from {}",
                   frozen.size() - file.module_params.size(), file.module_params.size(), options_.param_encodings);
  }
  auto artifact = std::make_shared<QuantSimArtifact>();
  artifact->fp = upstream.fp;
  auto sim = std::make_shared<quant::QuantSim>(weights, graph, config, frozen);
  if (!options_.activation_encodings.empty()) {
    // AIMET's load_encodings_to_sim: a calibrated quant-sim without calibration data.
    // A file keyed by ONNX tensor names (`<name>.encodings` written with an ONNX format) is matched through
    // the names the export gives these quantizers' tensors; asked for only when the quantizer names do not match.
    const auto encodings = io::ReadActivationEncodings(options_.activation_encodings, sim->quantizers(), [&] {
      return io::OnnxActivationTensorNames(*sim->weights_model(), sim->quantizers());
    });
    sim->SetActivationEncodings(encodings);
    artifact->activations_from = options_.activation_encodings;
    ctx.log().info("read the encodings of {} activation quantizers from {}", encodings.size(),
                   options_.activation_encodings);
  }
  artifact->sim = std::move(sim);
  artifact->weights = sim_weights;
  ctx.log().info("W{}A{} quant-sim ({} weights): {} weight tensors, {} other parameters, {} activation quantizers",
                 config.param_bw, config.output_bw, NameOf(kSimWeightsNames, sim_weights), artifact->sim->param_encodings().size(),
                 artifact->sim->module_param_encodings().size(), artifact->sim->quantizers().size());
  StageOutputs outputs;
  outputs.Set(port::kModel, artifact);
  return outputs;
}

void QuantSimStage::CheckInput(const std::string& input, const Artifact& value) const {
  if (input != port::kLayerGraph) return;
  dynamic_cast<const LayerGraphArtifact&>(value).graph->CheckNames(options_.param_bw_override, "param_bw_override");
}

const Schema<QuantSimOptions>& QuantSimSchema() { return QuantSimStage::GetSchema(); }

void RegisterQuantSimStage(StageRegistry& registry) {
  registry.Add(DefineStage<QuantSimStage>(kType, "insert fake-quant on weights and activations (AIMET default config)",
      {{port::kModel}, {port::kLayerGraph}, {port::kEncodings, /*optional=*/true}}, {port::kModel},
      std::vector<DataSetUse>{}));
}

}  // namespace adaflow
