#include "stages/adaround/layer_result.h"

#include <nlohmann/json.hpp>

#include <cstring>

#include "stages/encoding_json.h"

namespace adaflow {
namespace {

std::string WeightFile(const std::string& layer) { return "adaround/" + layer + ".weight"; }
std::string ResultFile(const std::string& layer) { return "adaround/" + layer + ".json"; }

nlohmann::json TensorEncodingToJson(const quant::TensorEncoding& encoding) {
  nlohmann::json channels = nlohmann::json::array();
  for (const auto& enc : encoding.channels) channels.push_back(EncodingToJson(enc));
  return {{"axis", encoding.axis}, {"per_channel", encoding.axis_is_channel}, {"channels", channels}};
}

quant::TensorEncoding TensorEncodingFromJson(const nlohmann::json& json) {
  quant::TensorEncoding encoding;
  encoding.axis = json.at("axis").get<int>();
  encoding.axis_is_channel = json.at("per_channel").get<bool>();
  for (const auto& item : json.at("channels")) encoding.channels.push_back(EncodingFromJson(item));
  return encoding;
}

}  // namespace

void WriteLayerResult(SubTask& sub, const model::Layer& layer, const LayerResult& result) {
  const torch::Tensor data = result.weight.detach().to(torch::kFloat32).contiguous();
  sub.WriteFile(WeightFile(layer.name),
                std::string(reinterpret_cast<const char*>(data.data_ptr<float>()),
                            static_cast<std::size_t>(data.numel()) * sizeof(float)));
  const LayerReport& report = result.report;
  const nlohmann::json json = {{"layer", layer.name},
                               {"bits", report.bitwidth},
                               {"objective", report.objective},
                               {"iterations", report.iterations},
                               {"mse_nearest", report.mse_nearest},
                               {"mse_adaround", report.mse_adaround},
                               {"seconds", report.seconds},
                               {"seconds_prepare", report.seconds_prepare},
                               {"seconds_optimize", report.seconds_optimize},
                               {"seconds_finish", report.seconds_finish},
                               {"step_macs", report.step_macs},
                               {"encoding", TensorEncodingToJson(result.encoding)}};
  sub.WriteFile(ResultFile(layer.name), json.dump(1) + "\n");
}

LayerResult ReadLayerResult(const SubTask& sub, const model::Layer& layer) {
  LayerResult result;
  const std::string bytes = sub.ReadFile(WeightFile(layer.name));
  result.weight = torch::empty(layer.weight_shape, torch::kFloat32);
  if (bytes.size() != static_cast<std::size_t>(result.weight.numel()) * sizeof(float))
    throw InputError("'" + sub.PathFor(WeightFile(layer.name)) + "' is damaged (" + std::to_string(bytes.size()) +
                     " bytes for a weight of shape " + model::ShapeString(layer.weight_shape) + "); rerun with --fresh");
  std::memcpy(result.weight.data_ptr<float>(), bytes.data(), bytes.size());
  try {
    const nlohmann::json json = nlohmann::json::parse(sub.ReadFile(ResultFile(layer.name)));
    result.encoding = TensorEncodingFromJson(json.at("encoding"));
    result.report = {layer.name,
                     layer.weight_shape,
                     json.at("bits").get<int>(),
                     json.at("objective").get<std::string>(),
                     json.at("iterations").get<int>(),
                     json.at("mse_nearest").get<double>(),
                     json.at("mse_adaround").get<double>(),
                     json.at("seconds").get<double>(),
                     json.value("seconds_prepare", 0.0),
                     json.value("seconds_optimize", 0.0),
                     json.value("seconds_finish", 0.0),
                     json.value("step_macs", 0.0)};
  } catch (const nlohmann::json::exception& error) {
    throw InputError("'" + sub.PathFor(ResultFile(layer.name)) + "' is damaged (" + error.what() +
                     "); rerun with --fresh");
  }
  return result;
}

}  // namespace adaflow
