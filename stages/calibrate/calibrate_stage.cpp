#include "stages/calibrate/calibrate_stage.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "pipeline/pipeline_spec.h"
#include "stages/artifacts.h"
#include "stages/data/data_types.h"
#include "stages/encoding_json.h"
#include "stages/stage_common.h"

namespace adaflow {
namespace {

constexpr const char* kEncodingsFile = "activation_encodings.json";

/// A fresh quant-sim with the same weights as `upstream`'s (its param encodings, frozen).
std::shared_ptr<quant::QuantSim> Rebuild(const ModelArtifact& upstream) {
  if (!upstream.sim || !upstream.layers)
    throw InputError("calibrate needs a quant-sim upstream (a quant_sim stage before it)");
  return std::make_shared<quant::QuantSim>(upstream.sim->source(), *upstream.layers, upstream.sim->config(),
                                           upstream.sim->param_encodings());
}

StageOutputs Outputs(const ModelArtifact& upstream, std::shared_ptr<quant::QuantSim> sim, const CalibrationSpec& spec) {
  auto artifact = std::make_shared<ModelArtifact>(upstream);
  artifact->sim = sim;
  artifact->calibration = spec;
  auto encodings = std::make_shared<EncodingsArtifact>();
  encodings->params = sim->param_encodings();
  encodings->activations = sim->quantizers();
  StageOutputs outputs;
  outputs.Set(PortType::kModel, artifact);
  outputs.Set(PortType::kEncodings, encodings);
  return outputs;
}

}  // namespace

const Schema<CalibrateOptions>& CalibrateStage::GetSchema() {
  static const Schema<CalibrateOptions> schema = [] {
    using O = CalibrateOptions;
    Schema<O> s("calibrate");
    s.Enum("quant_scheme", &O::quant_scheme,
           {{"tf_enhanced", quant::Scheme::kTfEnhanced}, {"tf", quant::Scheme::kTf},
            {"percentile", quant::Scheme::kPercentile}},
           "how activation ranges are chosen");
    s.Float("percentile", &O::percentile, "percentile for quant_scheme: percentile (100 = the histogram's range, AIMET's default)").Range(90, 100);
    s.Int("num_batches", &O::num_batches, "calibration batches to use; 0 = all").Min(0);
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> CalibrateStage::Make(const Options& options, const PipelineSpec& spec) {
  RequireData(spec, "calibration", "calibrate");
  return std::make_unique<CalibrateStage>(options);
}

StageOutputs CalibrateStage::Run(const StageInputs& inputs, StageContext& ctx) {
  const auto& upstream = inputs.Get<ModelArtifact>(PortType::kModel);
  auto sim = Rebuild(upstream);
  const auto data = RunDataSet(ctx, "calibration");
  const CalibrationSpec spec{options_.quant_scheme, options_.percentile, options_.num_batches};
  sim->Calibrate(*data, spec.scheme, spec.percentile, spec.num_batches);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& quantizer : sim->quantizers()) {
    nlohmann::json item = EncodingToJson(quantizer.encoding);
    item["name"] = quantizer.name;
    item["op"] = quantizer.op;
    list.push_back(item);
  }
  ctx.WriteFile(kEncodingsFile, nlohmann::json{{"activation_encodings", list}}.dump(1) + "\n");
  ctx.log().info("calibrated {} activation quantizers on {} samples", sim->quantizers().size(),
                 std::min<std::int64_t>(data->size(), spec.num_batches > 0 ? spec.num_batches * data->batch_size()
                                                                           : data->size()));
  return Outputs(upstream, sim, spec);
}

StageOutputs CalibrateStage::Restore(const StageInputs& inputs, StageContext& ctx) {
  const auto& upstream = inputs.Get<ModelArtifact>(PortType::kModel);
  auto sim = Rebuild(upstream);
  std::ifstream in(ctx.PathFor(kEncodingsFile));
  std::vector<quant::Encoding> encodings;
  try {
    const nlohmann::json json = nlohmann::json::parse(in);
    for (const auto& item : json.at("activation_encodings")) encodings.push_back(EncodingFromJson(item));
  } catch (const nlohmann::json::exception& error) {
    throw InputError(ctx.PathFor(kEncodingsFile) + " is damaged (" + error.what() + "); rerun with --fresh");
  }
  sim->SetActivationEncodings(encodings);
  const CalibrationSpec spec{options_.quant_scheme, options_.percentile, options_.num_batches};
  return Outputs(upstream, sim, spec);
}

void RegisterCalibrateStage(StageRegistry& registry) {
  registry.Add(DefineStage<CalibrateStage>("calibrate", "compute activation encodings from the calibration data",
                                           {{PortType::kModel}}, {PortType::kModel, PortType::kEncodings}));
}

}  // namespace adaflow
