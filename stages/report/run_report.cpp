#include "stages/report/run_report.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "pipeline/stage_context.h"
#include "pipeline/run_store.h"
#include "stages/metrics_json.h"
#include "stages/report/comparison.h"

namespace adaflow {
namespace {

/// `text` padded to `width` ("%*s", or left-aligned "%-*s" when width < 0).
std::string Pad(const std::string& text, int width) {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, width < 0 ? "%-*s" : "%*s", width < 0 ? -width : width, text.c_str());
  return buffer;
}

/// A number of the report; null stands for infinity (an SQNR of identical outputs), which JSON lacks.
double Number(const nlohmann::ordered_json& value) {
  return value.is_null() ? std::numeric_limits<double>::infinity() : value.get<double>();
}

std::string BitsLabel(int param_bw, int output_bw) {
  if (param_bw <= 0) return "";
  return "W" + std::to_string(param_bw) + "A" + std::to_string(output_bw);
}

/// "round-to-nearest W4A8" for a report.json accuracy entry.
std::string VariantLabel(const std::string& variant, const nlohmann::ordered_json& entry) {
  if (variant == "fp") return "FP32";
  const std::string bitwidths = BitsLabel(entry.value("param_bw", 0), entry.value("output_bw", 0));
  if (variant == "nearest") return "round-to-nearest " + bitwidths;
  if (variant == "adaround") return "AdaRound " + bitwidths;
  if (variant == "exported") return "exported model (" + bitwidths + ", weights only)";
  return variant + " " + bitwidths;
}

std::string ShapeText(const nlohmann::ordered_json& shape) {
  std::string text;
  for (const auto& dim : shape) text += (text.empty() ? "" : "×") + std::to_string(dim.get<std::int64_t>());
  return text;
}

}  // namespace

std::string LayerMsePlotSvg(const std::vector<adaround::LayerReport>& layers) {
  // Geometry: a plot area with a log10 y axis spanning whole decades, two bars per layer.
  const double left = 70, right = 20, top = 40, bottom = 120, plot_height = 260;
  const double group = std::max(28.0, 560.0 / std::max<std::size_t>(1, layers.size()));
  const double plot_width = group * static_cast<double>(layers.size());
  const double width = left + plot_width + right, height = top + plot_height + bottom;
  double low = 1e300, high = 0;
  for (const auto& layer : layers) {
    for (double value : {layer.mse_nearest, layer.mse_adaround}) {
      if (value > 0) low = std::min(low, value);
      high = std::max(high, value);
    }
  }
  if (high <= 0) low = high = 1;
  const int decade_low = static_cast<int>(std::floor(std::log10(low)));
  const int decade_high = std::max(decade_low + 1, static_cast<int>(std::ceil(std::log10(high))));
  auto y_of = [&](double value) {
    const double clamped = std::max(value, std::pow(10.0, decade_low));
    const double fraction = (std::log10(clamped) - decade_low) / (decade_high - decade_low);
    return top + plot_height * (1 - fraction);
  };

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << left << "\" y=\"18\" font-size=\"13\">Per-layer output MSE: round-to-nearest vs AdaRound"
      << " (log scale)</text>\n";
  for (int decade = decade_low; decade <= decade_high; ++decade) {
    const double y = y_of(std::pow(10.0, decade));
    svg << "<line x1=\"" << left << "\" x2=\"" << left + plot_width << "\" y1=\"" << y << "\" y2=\"" << y
        << "\" stroke=\"#ddd\"/>\n<text x=\"" << left - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">1e"
        << decade << "</text>\n";
  }
  svg << "<line x1=\"" << left << "\" x2=\"" << left << "\" y1=\"" << top << "\" y2=\"" << top + plot_height
      << "\" stroke=\"black\"/>\n";
  const char* colors[2] = {"#d95f02", "#1b9e77"};
  for (std::size_t idx = 0; idx < layers.size(); ++idx) {
    const double x = left + group * static_cast<double>(idx);
    const double bar = group * 0.36;
    const double values[2] = {layers[idx].mse_nearest, layers[idx].mse_adaround};
    for (int which = 0; which < 2; ++which) {
      const double y = y_of(values[which]);
      svg << "<rect x=\"" << x + group * 0.12 + bar * which << "\" y=\"" << y << "\" width=\"" << bar
          << "\" height=\"" << top + plot_height - y << "\" fill=\"" << colors[which] << "\"><title>"
          << EscapeXml(layers[idx].name) << (which == 0 ? " nearest " : " AdaRound ") << values[which]
          << "</title></rect>\n";
    }
    const double label_x = x + group / 2, label_y = top + plot_height + 10;
    svg << "<text x=\"" << label_x << "\" y=\"" << label_y << "\" text-anchor=\"end\" transform=\"rotate(-45 "
        << label_x << " " << label_y << ")\">" << EscapeXml(layers[idx].name) << "</text>\n";
  }
  const double legend_y = height - 14;
  svg << "<rect x=\"" << left << "\" y=\"" << legend_y - 9 << "\" width=\"10\" height=\"10\" fill=\"" << colors[0]
      << "\"/><text x=\"" << left + 14 << "\" y=\"" << legend_y << "\">round-to-nearest</text>\n"
      << "<rect x=\"" << left + 130 << "\" y=\"" << legend_y - 9 << "\" width=\"10\" height=\"10\" fill=\""
      << colors[1] << "\"/><text x=\"" << left + 144 << "\" y=\"" << legend_y << "\">AdaRound</text>\n</svg>\n";
  return svg.str();
}

namespace {

/// A swept value as report.json holds it: numbers, booleans and strings as such, lists as arrays.
nlohmann::ordered_json YamlToJson(const YAML::Node& node) {
  if (node.IsSequence()) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& item : node) list.push_back(YamlToJson(item));
    return list;
  }
  if (node.IsMap()) {
    nlohmann::ordered_json map = nlohmann::ordered_json::object();
    for (const auto& kv : node) map[kv.first.Scalar()] = YamlToJson(kv.second);
    return map;
  }
  if (!node.IsScalar()) return nullptr;
  std::int64_t integer = 0;
  double real = 0;
  bool flag = false;
  if (YAML::convert<std::int64_t>::decode(node, integer)) return integer;
  if (YAML::convert<double>::decode(node, real)) return real;
  if (YAML::convert<bool>::decode(node, flag)) return flag;
  return node.Scalar();
}

std::string JsonText(const nlohmann::ordered_json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

/// The sweep of report.json as a comparison: a row per point, a column per swept entry.
Comparison SweepComparison(const nlohmann::ordered_json& sweep) {
  Comparison comparison;
  for (const auto& entry : sweep["entries"]) comparison.columns.push_back(entry.get<std::string>());
  for (const auto& point : sweep["points"]) {
    ComparisonRow row;
    row.label = point["name"].get<std::string>();
    for (auto it = point["values"].begin(); it != point["values"].end(); ++it)
      row.settings.emplace_back(it.key(), JsonText(it.value()));
    row.accuracy = point["accuracy"];
    row.adaround_seconds = point.value("adaround_seconds", -1.0);
    row.weight_bits = point.value("weight_bits", -1.0);
    row.status = point["status"].get<std::string>();
    comparison.rows.push_back(std::move(row));
  }
  return comparison;
}

}  // namespace

RunReport::RunReport(const Plan& plan, const Plan* running) {
  if (running)
    for (const auto& stage : plan.stages)
      if (std::none_of(running->stages.begin(), running->stages.end(), [&](const auto& run) { return run.id == stage.id; }))
        not_running_.push_back(stage.id);
  YAML::Emitter resolved;
  resolved << ResolvedConfig(plan);
  resolved_config_ = resolved.c_str();
  json_["name"] = plan.spec.name;
  json_["accuracy"] = nlohmann::ordered_json::object();
  json_["layers"] = nlohmann::ordered_json::array();
  json_["stages"] = nlohmann::ordered_json::array();
  for (const auto& stage : plan.stages) {
    json_["stages"].push_back(
        {{"id", stage.id}, {"type", stage.type}, {"outcome", "not run"}, {"seconds", 0.0}, {"skipped", false}});
  }
  json_["files"] = nlohmann::ordered_json::array();
  json_["config"] = "config.resolved.yaml";
  const SweepSpec& sweep = plan.spec.sweep;
  if (sweep.empty()) return;
  json_["sweep"]["entries"] = sweep.entries;
  json_["sweep"]["points"] = nlohmann::ordered_json::array();
  for (const auto& point : sweep.points) {
    nlohmann::ordered_json values = nlohmann::ordered_json::object();
    for (const auto& value : point.values) values[value.entry] = YamlToJson(value.value);
    json_["sweep"]["points"].push_back({{"name", point.name},
                                        {"values", values},
                                        {"status", "not run"},
                                        {"accuracy", nlohmann::ordered_json::object()}});
  }
  stages_of_point_.assign(sweep.points.size(), 0);
  finished_of_point_.assign(sweep.points.size(), 0);
  for (const auto& stage : plan.stages) {
    if (stage.point.empty()) continue;
    for (std::size_t idx = 0; idx < sweep.points.size(); ++idx)
      if (sweep.points[idx].name == stage.point) {
        point_of_stage_[stage.id] = idx;
        ++stages_of_point_[idx];
      }
  }
}

void RunReport::UpdatePoint(std::size_t index, const StageRecord& record, const StageOutputs* outputs) {
  auto& point = json_["sweep"]["points"][index];
  const std::string status = point["status"].get<std::string>();
  const bool failed_before = status.rfind("failed", 0) == 0;
  switch (record.outcome) {
    case StageOutcome::kRan:
    case StageOutcome::kRestored:
    case StageOutcome::kSkipped:
      if (record.type == "adaround") point["adaround_seconds"] = std::round(record.computed_seconds * 1000) / 1000;
      ++finished_of_point_[index];
      if (!failed_before) point["status"] = finished_of_point_[index] == stages_of_point_[index] ? "done" : "running";
      break;
    case StageOutcome::kFailed:
      if (!failed_before) point["status"] = "failed in " + record.id + ": " + (record.error.empty() ? "see log.txt" : record.error);
      break;
    case StageOutcome::kCancelled:
    case StageOutcome::kInterrupted:
      if (!failed_before) point["status"] = std::string(StageOutcomeName(record.outcome)) + " before " + record.id;
      break;
    case StageOutcome::kNotRun:
      break;
  }
  const auto metrics = outputs ? std::dynamic_pointer_cast<const MetricsArtifact>(outputs->Find(port::kMetrics))
                               : nullptr;
  if (!metrics) return;
  for (const auto& [variant, result] : metrics->variants) {
    nlohmann::ordered_json entry = EvalResultToJson(result);
    if (variant == "fp" || metrics->param_bw > 0) {
      entry["param_bw"] = variant == "fp" ? 32 : metrics->param_bw;
      entry["output_bw"] = variant == "fp" ? 32 : metrics->output_bw;
    }
    point["accuracy"][variant] = entry;
  }
  if (!metrics->layers.empty()) {
    double bits = 0;
    for (const auto& layer : metrics->layers) {
      double elements = 1;
      for (auto dim : layer.shape) elements *= static_cast<double>(dim);
      bits += elements * layer.bitwidth;
    }
    point["weight_bits"] = bits;
  }
}

std::string RunReport::SweepTable() const {
  if (!json_.contains("sweep")) return "";
  return ComparisonText(SweepComparison(json_["sweep"]));
}

void RunReport::Attach(RunOptions& options) {
  options.observer = [this](const StageRecord& record, const StageOutputs* outputs, const RunStore& store) {
    Update(record, outputs, store);
  };
  options.observed_ports = {port::kMetrics};
}

void RunReport::KeepEarlier(const RunStore& store) {
  kept_earlier_ = true;
  if (not_running_.empty()) return;
  nlohmann::ordered_json earlier;
  try {
    std::ifstream in(store.PathFor(kJsonFile));
    if (!in) return;
    earlier = nlohmann::ordered_json::parse(in);
  } catch (const std::exception&) {
    return;  // no earlier report to keep: the other points read "not run"
  }
  auto not_running = [&](const std::string& id) {
    return std::find(not_running_.begin(), not_running_.end(), id) != not_running_.end();
  };
  for (auto& stage : json_["stages"]) {
    if (!not_running(stage["id"].get<std::string>()) || !earlier.contains("stages")) continue;
    for (const auto& old : earlier["stages"])
      if (old.value("id", "") == stage["id"]) stage = old;
  }
  if (!json_.contains("sweep") || !earlier.contains("sweep")) return;
  for (auto& point : json_["sweep"]["points"]) {
    const std::string name = point["name"].get<std::string>();
    bool runs_now = false;
    for (const auto& [id, index] : point_of_stage_)
      if (json_["sweep"]["points"][index]["name"] == name && !not_running(id)) runs_now = true;
    if (runs_now) continue;
    for (const auto& old : earlier["sweep"].value("points", nlohmann::ordered_json::array()))
      if (old.value("name", "") == name && old.value("values", nlohmann::ordered_json()) == point["values"]) point = old;
  }
}

void RunReport::Update(const StageRecord& record, const StageOutputs* outputs, const RunStore& store) {
  if (!kept_earlier_) KeepEarlier(store);
  for (auto& stage : json_["stages"]) {
    if (stage["id"] != record.id) continue;
    stage["outcome"] = StageOutcomeName(record.outcome);
    stage["seconds"] = std::round(record.computed_seconds * 1000) / 1000;
    stage["cpu_seconds"] = std::round(record.cpu_seconds * 1000) / 1000;
    stage["skipped"] = record.outcome != StageOutcome::kRan;
    if (record.peak_rss_bytes > 0) stage["peak_rss_mib"] = std::round(record.peak_rss_bytes / (1 << 20));
    if (!record.error.empty()) stage["error"] = record.error;
  }
  if (const auto point = point_of_stage_.find(record.id); point != point_of_stage_.end()) {
    UpdatePoint(point->second, record, outputs);
    const auto metrics = outputs ? std::dynamic_pointer_cast<const MetricsArtifact>(outputs->Find(port::kMetrics)) : nullptr;
    if (metrics)
      for (const auto& entry : metrics->files) {
        auto& files = json_["files"];
        if (std::none_of(files.begin(), files.end(), [&](const auto& file) { return file["path"] == entry.first; }))
          files.push_back({{"path", entry.first}, {"what", entry.second}});
      }
    const std::string plot = ComparisonPlotSvg(SweepComparison(json_["sweep"]), "Sweep " + json_["name"].get<std::string>());
    if (!plot.empty()) store.WriteAtomic(kSweepPlotFile, plot);
    store.WriteAtomic(kJsonFile, json_.dump(1) + "\n");
    store.WriteAtomic(kMarkdownFile, Markdown());
    return;
  }
  const auto metrics = outputs ? std::dynamic_pointer_cast<const MetricsArtifact>(outputs->Find(port::kMetrics))
                               : nullptr;
  if (metrics) {
    for (const auto& [variant, result] : metrics->variants) {
      nlohmann::ordered_json entry = EvalResultToJson(result);
      // The bitwidths the variant ran at (32: float; the FP model is float on both sides), when known.
      if (variant == "fp" || metrics->param_bw > 0) {
        entry["param_bw"] = variant == "fp" ? 32 : metrics->param_bw;
        entry["output_bw"] = variant == "fp" ? 32 : metrics->output_bw;
      }
      json_["accuracy"][variant] = entry;
    }
    if (!metrics->layers.empty()) {
      json_["layers"] = nlohmann::ordered_json::array();
      for (const auto& layer : metrics->layers)
        json_["layers"].push_back({{"name", layer.name},
                                   {"shape", layer.shape},
                                   {"bitwidth", layer.bitwidth},
                                   {"objective", NameOf(adaround::kObjectiveNames, layer.objective)},
                                   {"num_iterations", layer.num_iterations},
                                   {"mse_nearest", layer.mse_nearest},
                                   {"mse_adaround", layer.mse_adaround},
                                   {"seconds", layer.seconds},
                                   {"seconds_prepare", layer.seconds_prepare},
                                   {"seconds_optimize", layer.seconds_optimize},
                                   {"seconds_finish", layer.seconds_finish},
                                   {"step_macs", layer.step_macs}});
      store.WriteAtomic(kPlotFile, LayerMsePlotSvg(metrics->layers));
    }
    for (const auto& entry : metrics->files) {
      const std::string& path = entry.first;
      auto& files = json_["files"];
      const bool known = std::any_of(files.begin(), files.end(), [&](const auto& file) { return file["path"] == path; });
      if (!known) files.push_back({{"path", path}, {"what", entry.second}});
    }
  }
  store.WriteAtomic(kJsonFile, json_.dump(1) + "\n");
  store.WriteAtomic(kMarkdownFile, Markdown());
}

namespace {

/// The metrics an accuracy table shows: the metric keys of its first entry, in their order.
std::vector<model::Metric> TableMetrics(const nlohmann::ordered_json& accuracy) {
  std::vector<model::Metric> metrics;
  for (auto it = accuracy.begin()->begin(); it != accuracy.begin()->end(); ++it)
    if (const auto metric = model::MetricOfKey(it.key())) metrics.push_back(*metric);
  return metrics;
}

/// A metric's value as a table shows it ("-" when the entry lacks it); `markdown` drops the padding.
std::string MetricText(const nlohmann::ordered_json& entry, model::Metric metric, bool markdown) {
  const char* key = model::MetricKey(metric);
  if (!entry.contains(key)) return markdown ? "-" : Pad("-", 8);
  const double value = Number(entry[key]);
  const char* format = metric == model::Metric::kCosine ? (markdown ? "%.5f" : "%8.5f")
                       : metric == model::Metric::kMse  ? (markdown ? "%.4g" : "%8.3g")
                       : metric == model::Metric::kPerplexity ? (markdown ? "%.4f" : "%8.4f")
                                                        : (markdown ? "%.2f" : "%8.2f");
  return Format(format, value);
}

}  // namespace

std::string RunReport::AccuracyTable() const {
  const auto& accuracy = json_["accuracy"];
  if (accuracy.empty()) return "";
  const auto metrics = TableMetrics(accuracy);
  std::ostringstream out;
  out << Pad("model", -44);
  for (model::Metric metric : metrics) out << " " << Pad(model::MetricHeading(metric), 8);
  out << "\n";
  for (auto it = accuracy.begin(); it != accuracy.end(); ++it) {
    out << Pad(VariantLabel(it.key(), it.value()), -44);
    for (model::Metric metric : metrics) out << " " << MetricText(it.value(), metric, false);
    out << "\n";
  }
  return out.str();
}

std::string RunReport::Markdown() const {
  std::ostringstream md;
  md << "# Run report: " << json_["name"].get<std::string>() << "\n\n";

  const auto& accuracy = json_["accuracy"];
  if (json_.contains("sweep")) {
    const Comparison sweep = SweepComparison(json_["sweep"]);
    md << "## Sweep\n\n" << ComparisonMarkdown(sweep) << "\n";
    std::string front;
    for (std::size_t idx : ParetoFront(sweep, false)) front += (front.empty() ? "" : ", ") + sweep.rows[idx].label;
    if (!front.empty()) md << "Pareto front (best metric for the bits): " << front << ".\n\n";
    front.clear();
    for (std::size_t idx : ParetoFront(sweep, true)) front += (front.empty() ? "" : ", ") + sweep.rows[idx].label;
    if (!front.empty()) md << "Pareto front (best metric for the AdaRound time): " << front << ".\n\n";
    md << "![The main metric against weight bits and against AdaRound time](" << kSweepPlotFile << ")\n\n"
       << "Each point is a copy of the swept stages and of every stage after them (ids `<stage>@<point>`, files "
          "under `<point>/`); the other stages ran once for all. Weight kbit: elements × bitwidth summed over the "
          "AdaRound layers (grids' scales not counted). AdaRound s: the stage's wall time when it was computed; "
          "points running side by side share the threads.\n\n";
  }
  if (!json_.contains("sweep") || !accuracy.empty()) md << "## Accuracy\n\n";
  if (json_.contains("sweep") && accuracy.empty()) {
  } else if (accuracy.empty()) {
    md << "Nothing evaluated yet.\n\n";
  } else {
    const auto metrics = TableMetrics(accuracy);
    md << "| model |";
    for (model::Metric metric : metrics) md << " " << model::MetricHeading(metric) << " |";
    md << " samples |\n|---|";
    for (std::size_t column = 0; column <= metrics.size(); ++column) md << "---:|";
    md << "\n";
    for (auto it = accuracy.begin(); it != accuracy.end(); ++it) {
      const auto& entry = it.value();
      md << "| " << VariantLabel(it.key(), entry) << " |";
      for (model::Metric metric : metrics) md << " " << MetricText(entry, metric, true) << " |";
      md << " " << entry["samples"].get<std::int64_t>() << " |\n";
    }
    md << "\nFP32 is the prepared model (batch norm folded). Round-to-nearest and AdaRound run in the "
          "quantization simulation (weights on their grid, activations fake-quantized); the exported model "
          "is the saved TorchScript file re-loaded and run as is (weights on their grid, float activations).\n\n";
  }

  const auto& layers = json_["layers"];
  if (!layers.empty()) {
    md << "## AdaRound, layer by layer\n\n![Per-layer output MSE, round-to-nearest vs AdaRound](" << kPlotFile
       << ")\n\n| layer | weight shape | bits | objective | iterations | MSE nearest | MSE AdaRound | ratio | "
          "seconds |\n|---|---|---:|---|---:|---:|---:|---:|---:|\n";
    for (const auto& layer : layers) {
      const double nearest = layer["mse_nearest"].get<double>(), adaround = layer["mse_adaround"].get<double>();
      md << "| " << layer["name"].get<std::string>() << " | " << ShapeText(layer["shape"]) << " | "
         << layer["bitwidth"].get<int>() << " | " << layer["objective"].get<std::string>() << " | "
         << layer["num_iterations"].get<int>() << " | " << Format("%.4g", nearest) << " | " << Format("%.4g", adaround)
         << " | " << (nearest > 0 ? Format("%.2f", adaround / nearest) : std::string("-")) << " | "
         << Format("%.1f", layer["seconds"].get<double>()) << " |\n";
    }
    md << "\nMSE: mean squared error of the layer's output (after its activation) against the FP model's, on "
          "the calibration rows; ratio = AdaRound / nearest.\n\n";
  }

  md << "## Stages\n\n| stage | type | this run | seconds |\n|---|---|---|---:|\n";
  for (const auto& stage : json_["stages"])
    md << "| " << stage["id"].get<std::string>() << " | " << stage["type"].get<std::string>() << " | "
       << stage["outcome"].get<std::string>() << " | " << Format("%.2f", stage["seconds"].get<double>()) << " |\n";
  md << "\nSeconds are the time the stage took when it was computed (for a skipped or restored stage: in the "
        "run that computed it).\n\n";

  md << "## Files\n\n";
  for (const auto& file : json_["files"])
    md << "- `" << file["path"].get<std::string>() << "`: " << file["what"].get<std::string>() << "\n";
  md << "- `report.json`: this report, for scripts\n- `manifest.json`: finished stages and layers with their "
        "content keys\n- `config.resolved.yaml`: the config with every default filled in\n- `log.txt`: the log\n\n";

  md << "## Resolved config\n\n```yaml\n" << resolved_config_ << "\n```\n";
  return md.str();
}

}  // namespace adaflow
