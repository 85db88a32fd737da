#include "stages/adaround/layer_store.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <stdexcept>

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

/// `key`, or in a file written before it was renamed, `old_key`.
const nlohmann::json& Renamed(const nlohmann::json& json, const char* key, const char* old_key) {
  return json.contains(key) ? json.at(key) : json.at(old_key);
}

adaround::LayerReport ReportFromJson(const nlohmann::json& json, const model::Layer& layer) {
  adaround::LayerReport report;
  report.name = layer.name;
  report.shape = layer.weight_shape;
  report.bitwidth = Renamed(json, "bitwidth", "bits").get<int>();
  const std::string objective_name = json.at("objective").get<std::string>();
  const auto objective = ValueOf(adaround::kObjectiveNames, objective_name);
  if (!objective) throw std::invalid_argument("unknown objective '" + objective_name + "'");
  report.objective = *objective;
  report.num_iterations = Renamed(json, "num_iterations", "iterations").get<int>();
  report.mse_nearest = json.at("mse_nearest").get<double>();
  report.mse_adaround = json.at("mse_adaround").get<double>();
  report.seconds = json.at("seconds").get<double>();
  report.seconds_prepare = json.value("seconds_prepare", 0.0);
  report.seconds_optimize = json.value("seconds_optimize", 0.0);
  report.seconds_finish = json.value("seconds_finish", 0.0);
  report.step_macs = json.value("step_macs", 0.0);
  return report;
}

}  // namespace

bool SubTaskLayerStore::IsDone(const model::Layer& layer) {
  auto& sub = subs_[layer.name];
  sub = std::make_unique<SubTask>(ctx_.MakeSubTask(layer.name));
  return sub->IsDone();
}

void SubTaskLayerStore::Write(const model::Layer& layer, const adaround::LayerResult& result) {
  SubTask& sub = *subs_.at(layer.name);
  const torch::Tensor data = result.weight.detach().to(torch::kFloat32).contiguous();
  sub.WriteFile(WeightFile(layer.name),
                std::string(reinterpret_cast<const char*>(data.data_ptr<float>()),
                            static_cast<std::size_t>(data.numel()) * sizeof(float)));
  const adaround::LayerReport& report = result.report;
  const nlohmann::json json = {{"layer", layer.name},
                               {"bitwidth", report.bitwidth},
                               {"objective", NameOf(adaround::kObjectiveNames, report.objective)},
                               {"num_iterations", report.num_iterations},
                               {"mse_nearest", report.mse_nearest},
                               {"mse_adaround", report.mse_adaround},
                               {"seconds", report.seconds},
                               {"seconds_prepare", report.seconds_prepare},
                               {"seconds_optimize", report.seconds_optimize},
                               {"seconds_finish", report.seconds_finish},
                               {"step_macs", report.step_macs},
                               {"encoding", TensorEncodingToJson(result.encoding)}};
  sub.WriteFile(ResultFile(layer.name), json.dump(1) + "\n");
  sub.Commit(report.seconds);
}

adaround::LayerResult SubTaskLayerStore::Read(const model::Layer& layer) {
  const SubTask& sub = *subs_.at(layer.name);
  adaround::LayerResult result;
  const std::string bytes = sub.ReadFile(WeightFile(layer.name));
  result.weight = torch::empty(layer.weight_shape, torch::kFloat32);
  if (bytes.size() != static_cast<std::size_t>(result.weight.numel()) * sizeof(float))
    throw InputError("'" + sub.PathFor(WeightFile(layer.name)) + "' is damaged (" + std::to_string(bytes.size()) +
                     " bytes for a weight of shape " + model::ShapeString(layer.weight_shape) + "); rerun with --fresh");
  std::memcpy(result.weight.data_ptr<float>(), bytes.data(), bytes.size());
  try {
    const nlohmann::json json = nlohmann::json::parse(sub.ReadFile(ResultFile(layer.name)));
    result.encoding = TensorEncodingFromJson(json.at("encoding"));
    result.report = ReportFromJson(json, layer);
  } catch (const nlohmann::json::exception& error) {
    throw InputError("'" + sub.PathFor(ResultFile(layer.name)) + "' is damaged (" + error.what() +
                     "); rerun with --fresh");
  } catch (const std::invalid_argument& error) {
    throw InputError("'" + sub.PathFor(ResultFile(layer.name)) + "' is damaged (" + error.what() +
                     "); rerun with --fresh");
  }
  return result;
}

TaskDag EngineDag(const adaround::Engine& engine) {
  TaskDag dag;
  for (const adaround::EngineTask& task : engine.tasks()) {
    const std::size_t index = dag.Add(task.id, task.body, task.threads, task.remote);
    for (std::size_t before : task.after) dag.Precede(before, index);
  }
  return dag;
}

}  // namespace adaflow
