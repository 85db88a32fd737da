#pragma once
// Evaluation results as JSON, for the files stages write to restore themselves on resume
// (evaluate's metrics.json, export's export_metrics.json). JSON has no infinity: an infinite SQNR
// (outputs identical to the reference) is written as null and read back as infinity.

#include <nlohmann/json.hpp>

#include <fstream>
#include <limits>
#include <memory>
#include <string>

#include "common/error.h"
#include "pipeline/stage_context.h"
#include "stages/artifacts.h"

namespace adaflow {

/// Each computed metric by its key ("top1", "top5", "sqnr_db", "cosine", "mse"; in the result's order),
/// then "samples" (also the accuracy entries of report.json).
inline nlohmann::ordered_json EvalResultToJson(const model::EvalResult& result) {
  nlohmann::ordered_json json;
  for (model::Metric metric : result.metrics) json[model::MetricKey(metric)] = result.Value(metric);
  json["samples"] = result.samples;
  return json;
}

inline std::string MetricsToJson(const MetricsArtifact& metrics) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& [name, result] : metrics.variants) {
    nlohmann::ordered_json item = {{"name", name}};
    item.update(EvalResultToJson(result));
    list.push_back(item);
  }
  return nlohmann::ordered_json{{"variants", list}, {"param_bw", metrics.param_bw}, {"output_bw", metrics.output_bw}}
             .dump(1) +
         "\n";
}

/// Reads what MetricsToJson wrote into `metrics` (variants and bitwidths). Throws InputError naming the
/// file when it is damaged.
inline void MetricsFromJsonFile(const std::string& path, MetricsArtifact& metrics) {
  try {
    std::ifstream in(path);
    const nlohmann::ordered_json json = nlohmann::ordered_json::parse(in);
    for (const auto& item : json.at("variants")) {
      model::EvalResult result;
      result.samples = item.at("samples").get<std::int64_t>();
      for (auto field = item.begin(); field != item.end(); ++field) {
        const auto metric = model::MetricOfKey(field.key());
        if (!metric) continue;
        result.metrics.push_back(*metric);
        // (An infinite SQNR is written as null.)
        const double value = field->is_null() ? std::numeric_limits<double>::infinity() : field->get<double>();
        result.SetValue(*metric, value);
      }
      result.labelled = item.contains("top1") || item.contains("top5") || item.contains("token_accuracy") ||
                        item.contains("perplexity");
      metrics.variants.emplace_back(item.at("name").get<std::string>(), result);
    }
    metrics.param_bw = json.value("param_bw", 0);
    metrics.output_bw = json.value("output_bw", 0);
  } catch (const nlohmann::json::exception& error) {
    throw InputError(path + " is damaged (" + error.what() + "); rerun with --fresh");
  }
}

/// Writes `metrics` to `file` of the stage (MetricsToJson) and returns it as the stage's Metrics output.
inline StageOutputs WriteMetricsOutput(StageContext& ctx, const std::string& file,
                                       std::shared_ptr<const MetricsArtifact> metrics) {
  ctx.WriteFile(file, MetricsToJson(*metrics));
  StageOutputs outputs;
  outputs.Set(port::kMetrics, std::move(metrics));
  return outputs;
}

/// The Metrics a stage wrote to `file` when it finished before (for Restore).
inline std::shared_ptr<MetricsArtifact> ReadMetricsFile(const StageContext& ctx, const std::string& file) {
  auto metrics = std::make_shared<MetricsArtifact>();
  MetricsFromJsonFile(ctx.PathFor(file), *metrics);
  return metrics;
}

}  // namespace adaflow
