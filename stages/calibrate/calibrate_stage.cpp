#include "stages/calibrate/calibrate_stage.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "pipeline/stage_context.h"
#include "pipeline/pipeline_spec.h"
#include "stages/artifacts.h"
#include "stages/data/data_types.h"
#include "stages/encoding_json.h"
#include "stages/stage_common.h"

namespace adaflow {
namespace {

constexpr const char* kEncodingsFile = "activation_encodings.json";

/// The upstream quant-sim; InputError when the Model input is not one.
const QuantSimArtifact& UpstreamSim(const StageInputs& inputs) {
  const auto upstream = inputs.As<QuantSimArtifact>(port::kModel);
  if (!upstream) throw InputError("calibrate needs a quant-sim upstream (a quant_sim stage before it)");
  return *upstream;
}

/// The upstream quant-sim's weights with these activation encodings (nothing quantized again).
StageOutputs Outputs(const QuantSimArtifact& upstream, const std::vector<quant::Encoding>& activations,
                     quant::Scheme scheme) {
  auto artifact = std::make_shared<QuantSimArtifact>(upstream);
  artifact->sim = upstream.sim->WithActivationEncodings(activations);
  artifact->activations_from.clear();
  artifact->calibration_scheme = scheme;
  auto encodings = std::make_shared<EncodingsArtifact>();
  encodings->params = artifact->sim->param_encodings();
  encodings->activations = artifact->sim->quantizers();
  StageOutputs outputs;
  outputs.Set(port::kModel, artifact);
  outputs.Set(port::kEncodings, encodings);
  return outputs;
}

constexpr const char* kType = "calibrate";

class CalibrateStage : public Stage {
 public:
  using Options = CalibrateOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit CalibrateStage(Options options) : options_(std::move(options)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  StageOutputs Restore(const StageInputs& inputs, StageContext& ctx) override;

 private:
  Options options_;
};

}  // namespace

const Schema<CalibrateOptions>& CalibrateStage::GetSchema() {
  static const Schema<CalibrateOptions> schema = [] {
    using O = CalibrateOptions;
    Schema<O> s(kType);
    s.Enum("quant_scheme", &O::quant_scheme, quant::kSchemeNames, "how activation ranges are chosen");
    s.Float("percentile", &O::percentile, "percentile for quant_scheme: percentile (100 = the histogram's range, AIMET's default)").Range(90, 100);
    s.Int("num_batches", &O::num_batches, "calibration batches to use; 0 = all").Min(0);
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> CalibrateStage::Make(const Options& options, const PipelineSpec& spec) {
  return std::make_unique<CalibrateStage>(options);
}

StageOutputs CalibrateStage::Run(const StageInputs& inputs, StageContext& ctx) {
  const QuantSimArtifact& upstream = UpstreamSim(inputs);
  if (!upstream.activations_from.empty())
    ctx.log().warn("the activation encodings quant_sim read from {} are replaced by those calibrate computes",
                   upstream.activations_from);
  const auto data = RunDataSet(ctx, "calibration");
  const auto activations = upstream.sim->ComputeActivationEncodings(*data, options_.quant_scheme, options_.percentile,
                                                                    options_.num_batches);
  const auto& quantizers = upstream.sim->quantizers();
  nlohmann::json list = nlohmann::json::array();
  for (std::size_t index = 0; index < quantizers.size(); ++index) {
    nlohmann::json item = EncodingToJson(activations[index]);
    item["name"] = quantizers[index].name;
    item["op"] = quantizers[index].op;
    list.push_back(item);
  }
  ctx.WriteFile(kEncodingsFile, nlohmann::json{{"activation_encodings", list}}.dump(1) + "\n");
  ctx.log().info("calibrated {} activation quantizers on {} samples", quantizers.size(),
                 std::min<std::int64_t>(data->size(), options_.num_batches > 0
                                                          ? options_.num_batches * data->batch_size()
                                                          : data->size()));
  return Outputs(upstream, activations, options_.quant_scheme);
}

StageOutputs CalibrateStage::Restore(const StageInputs& inputs, StageContext& ctx) {
  const QuantSimArtifact& upstream = UpstreamSim(inputs);
  std::ifstream in(ctx.PathFor(kEncodingsFile));
  std::vector<quant::Encoding> encodings;
  try {
    const nlohmann::json json = nlohmann::json::parse(in);
    for (const auto& item : json.at("activation_encodings")) encodings.push_back(EncodingFromJson(item));
  } catch (const nlohmann::json::exception& error) {
    throw InputError(ctx.PathFor(kEncodingsFile) + " is damaged (" + error.what() + "); rerun with --fresh");
  }
  return Outputs(upstream, encodings, options_.quant_scheme);
}

const Schema<CalibrateOptions>& CalibrateSchema() { return CalibrateStage::GetSchema(); }

void RegisterCalibrateStage(StageRegistry& registry) {
  registry.Add(DefineStage<CalibrateStage>(kType, "compute activation encodings from the calibration data",
                                           {{port::kModel}}, {port::kModel, port::kEncodings},
                                           std::vector<DataSetUse>{{"calibration"}}));
}

}  // namespace adaflow
