#include "stages/report/comparison.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "common/error.h"
#include "src/model/evaluation.h"

namespace adaflow {
namespace {

std::string PadRight(const std::string& text, std::size_t width) {
  return text + std::string(width > text.size() ? width - text.size() : 0, ' ');
}

std::string PadLeft(const std::string& text, std::size_t width) {
  return std::string(width > text.size() ? width - text.size() : 0, ' ') + text;
}

const char* VariantHeading(const std::string& variant) {
  if (variant == "fp") return "FP32";
  if (variant == "nearest") return "nearest";
  if (variant == "adaround") return "AdaRound";
  if (variant == "exported") return "exported";
  return nullptr;
}

/// The variants and metrics the table shows: every variant any row has (in first-seen order), each
/// with the metrics of the first entry seen.
struct MetricColumns {
  std::vector<std::string> variants;
  std::vector<model::Metric> metrics;
};

MetricColumns ColumnsOf(const Comparison& comparison) {
  MetricColumns columns;
  for (const auto& row : comparison.rows)
    for (auto it = row.accuracy.begin(); it != row.accuracy.end(); ++it) {
      if (std::find(columns.variants.begin(), columns.variants.end(), it.key()) == columns.variants.end())
        columns.variants.push_back(it.key());
      if (columns.metrics.empty())
        for (auto metric = it.value().begin(); metric != it.value().end(); ++metric)
          if (const auto known = model::MetricOfKey(metric.key())) columns.metrics.push_back(*known);
    }
  return columns;
}

std::string MetricCell(const ComparisonRow& row, const std::string& variant, model::Metric metric) {
  if (!row.accuracy.contains(variant)) return "-";
  const auto& entry = row.accuracy[variant];
  const char* key = model::MetricKey(metric);
  if (!entry.contains(key)) return "-";
  if (entry[key].is_null()) return "inf";
  const double value = entry[key].get<double>();
  switch (metric) {
    case model::Metric::kCosine: return Format("%.5f", value);
    case model::Metric::kMse: return Format("%.4g", value);
    case model::Metric::kPerplexity: return Format("%.4f", value);
    default: return Format("%.2f", value);
  }
}

/// Ticks at 1, 2 or 5 × 10^k steps inside [low, high], about five of them.
std::vector<double> NiceTicks(double low, double high) {
  const double raw = (high - low) / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double factor : {2.0, 5.0, 10.0})
    if (raw > step) step = magnitude * factor;
  std::vector<double> ticks;
  for (double tick = std::ceil(low / step) * step; tick <= high + step * 1e-9; tick += step)
    ticks.push_back(std::abs(tick) < step * 1e-9 ? 0.0 : tick);
  return ticks;
}

bool HigherIsBetter(model::Metric metric) {
  return metric != model::Metric::kMse && metric != model::Metric::kPerplexity;
}

/// The main metric: the AdaRound variant's (else the last variant's) first metric.
bool MainMetric(const Comparison& comparison, std::string* variant, model::Metric* metric) {
  const MetricColumns columns = ColumnsOf(comparison);
  if (columns.variants.empty() || columns.metrics.empty()) return false;
  *variant = std::find(columns.variants.begin(), columns.variants.end(), "adaround") != columns.variants.end()
                 ? "adaround"
                 : columns.variants.back();
  *metric = columns.metrics.front();
  return true;
}

bool MainValue(const ComparisonRow& row, const std::string& variant, model::Metric metric, double* value) {
  if (!row.accuracy.contains(variant)) return false;
  const auto& entry = row.accuracy[variant];
  const char* key = model::MetricKey(metric);
  if (!entry.contains(key)) return false;
  *value = entry[key].is_null() ? std::numeric_limits<double>::infinity() : entry[key].get<double>();
  return std::isfinite(*value);
}

/// Header and cells of the whole table, shared by the text and Markdown forms.
std::vector<std::vector<std::string>> Cells(const Comparison& comparison, std::vector<std::string>* header) {
  const MetricColumns columns = ColumnsOf(comparison);
  *header = {"point"};
  for (const auto& column : comparison.columns) header->push_back(column);
  for (const auto& variant : columns.variants)
    for (model::Metric metric : columns.metrics) {
      const char* heading = VariantHeading(variant);
      header->push_back(std::string(model::MetricHeading(metric)) + " " + (heading ? heading : variant.c_str()));
    }
  header->insert(header->end(), {"AdaRound s", "weight kbit", "status"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& row : comparison.rows) {
    std::vector<std::string> cells{row.label};
    for (const auto& column : comparison.columns) {
      std::string value = "-";
      for (const auto& [name, text] : row.settings)
        if (name == column) value = text;
      cells.push_back(value);
    }
    for (const auto& variant : columns.variants)
      for (model::Metric metric : columns.metrics) cells.push_back(MetricCell(row, variant, metric));
    cells.push_back(row.adaround_seconds >= 0 ? Format("%.1f", row.adaround_seconds) : "-");
    cells.push_back(row.weight_bits >= 0 ? Format("%.1f", row.weight_bits / 1000) : "-");
    cells.push_back(row.status);
    rows.push_back(std::move(cells));
  }
  return rows;
}

}  // namespace

std::string Format(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

std::string EscapeXml(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

double WeightBits(const nlohmann::ordered_json& layers) {
  double bits = 0;
  for (const auto& layer : layers) {
    double elements = 1;
    for (const auto& dim : layer["shape"]) elements *= dim.get<double>();
    bits += elements * layer["bitwidth"].get<double>();
  }
  return bits;
}

std::string ComparisonText(const Comparison& comparison) {
  std::vector<std::string> header;
  const auto rows = Cells(comparison, &header);
  std::vector<std::size_t> width(header.size());
  for (std::size_t column = 0; column < header.size(); ++column) {
    width[column] = header[column].size();
    for (const auto& row : rows) width[column] = std::max(width[column], row[column].size());
  }
  std::ostringstream out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t column = 0; column < cells.size(); ++column) {
      const bool last = column + 1 == cells.size();
      const bool numeric = column > comparison.columns.size() && !last;
      out << (column ? "  " : "")
          << (last ? cells[column] : numeric ? PadLeft(cells[column], width[column]) : PadRight(cells[column], width[column]));
    }
    out << "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
  return out.str();
}

std::string ComparisonMarkdown(const Comparison& comparison) {
  std::vector<std::string> header;
  const auto rows = Cells(comparison, &header);
  std::ostringstream out;
  out << "|";
  for (const auto& cell : header) out << " " << cell << " |";
  out << "\n|";
  for (std::size_t column = 0; column < header.size(); ++column)
    out << (column > comparison.columns.size() && column + 1 < header.size() ? "---:|" : "---|");
  out << "\n";
  for (const auto& row : rows) {
    out << "|";
    for (std::size_t column = 0; column < row.size(); ++column) {
      std::string cell = row[column];
      std::replace(cell.begin(), cell.end(), '|', '/');
      std::replace(cell.begin(), cell.end(), '\n', ' ');
      out << " " << (column + 1 == row.size() || column > comparison.columns.size() ? cell : "`" + cell + "`") << " |";
    }
    out << "\n";
  }
  return out.str();
}

std::vector<std::size_t> ParetoFront(const Comparison& comparison, bool by_seconds) {
  std::string variant;
  model::Metric metric{};
  if (!MainMetric(comparison, &variant, &metric)) return {};
  const double sign = HigherIsBetter(metric) ? 1 : -1;
  std::vector<std::size_t> candidates;
  std::vector<double> xs, ys;
  for (std::size_t idx = 0; idx < comparison.rows.size(); ++idx) {
    const auto& row = comparison.rows[idx];
    const double x = by_seconds ? row.adaround_seconds : row.weight_bits;
    double y = 0;
    if (x < 0 || !MainValue(row, variant, metric, &y)) continue;
    candidates.push_back(idx);
    xs.push_back(x);
    ys.push_back(sign * y);
  }
  std::vector<std::size_t> front;
  for (std::size_t a = 0; a < candidates.size(); ++a) {
    bool dominated = false;
    for (std::size_t b = 0; b < candidates.size() && !dominated; ++b)
      dominated = b != a && xs[b] <= xs[a] && ys[b] >= ys[a] && (xs[b] < xs[a] || ys[b] > ys[a]);
    if (!dominated) front.push_back(candidates[a]);
  }
  std::stable_sort(front.begin(), front.end(), [&](std::size_t a, std::size_t b) {
    const auto& ra = comparison.rows[a];
    const auto& rb = comparison.rows[b];
    return (by_seconds ? ra.adaround_seconds : ra.weight_bits) < (by_seconds ? rb.adaround_seconds : rb.weight_bits);
  });
  return front;
}

std::string ComparisonPlotSvg(const Comparison& comparison, const std::string& title) {
  std::string variant;
  model::Metric metric{};
  if (!MainMetric(comparison, &variant, &metric)) return "";
  const double panel_width = 380, panel_height = 280, left = 70, top = 48, gap = 100, bottom = 56;
  const double width = left + 2 * panel_width + gap + 30, height = top + panel_height + bottom;
  const char* heading = VariantHeading(variant);
  const std::string y_label = std::string(model::MetricHeading(metric)) + " " + (heading ? heading : variant.c_str());
  double y_low = 1e300, y_high = -1e300;
  for (const auto& row : comparison.rows) {
    double y = 0;
    if (MainValue(row, variant, metric, &y)) {
      y_low = std::min(y_low, y);
      y_high = std::max(y_high, y);
    }
  }
  if (y_low > y_high) return "";
  if (y_high - y_low < 1e-9) y_low -= 1, y_high += 1;
  const double y_pad = (y_high - y_low) * 0.08;
  y_low -= y_pad;
  y_high += y_pad;

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"" << left << "\" y=\"18\" font-size=\"13\">"
      << EscapeXml(title) << "</text>\n<text x=\"" << left << "\" y=\"34\" fill=\"#555\">" << EscapeXml(y_label)
      << " per point; filled and joined: the Pareto front (no other point is better on both axes)</text>\n";
  for (int panel = 0; panel < 2; ++panel) {
    const bool by_seconds = panel == 1;
    const double x0 = left + panel * (panel_width + gap);
    double x_low = 1e300, x_high = -1e300;
    for (const auto& row : comparison.rows) {
      const double x = by_seconds ? row.adaround_seconds : row.weight_bits / 1000;
      if (x < 0) continue;
      x_low = std::min(x_low, x);
      x_high = std::max(x_high, x);
    }
    if (x_low > x_high) x_low = 0, x_high = 1;
    if (x_high - x_low < 1e-9) x_low -= 1, x_high += 1;
    const double x_pad = (x_high - x_low) * 0.06;
    const double xa = std::max(0.0, x_low - x_pad), xb = x_high + x_pad;
    auto px = [&](double x) { return x0 + panel_width * (x - xa) / (xb - xa); };
    auto py = [&](double y) { return top + panel_height * (1 - (y - y_low) / (y_high - y_low)); };
    svg << "<rect x=\"" << x0 << "\" y=\"" << top << "\" width=\"" << panel_width << "\" height=\"" << panel_height
        << "\" fill=\"none\" stroke=\"#999\"/>\n";
    for (double xv : NiceTicks(xa, xb))
      svg << "<line x1=\"" << px(xv) << "\" x2=\"" << px(xv) << "\" y1=\"" << top << "\" y2=\"" << top + panel_height
          << "\" stroke=\"#eee\"/>\n<text x=\"" << px(xv) << "\" y=\"" << top + panel_height + 16
          << "\" text-anchor=\"middle\">" << Format("%g", xv) << "</text>\n";
    for (double yv : NiceTicks(y_low, y_high))
      svg << "<line x1=\"" << x0 << "\" x2=\"" << x0 + panel_width << "\" y1=\"" << py(yv) << "\" y2=\"" << py(yv)
          << "\" stroke=\"#eee\"/>\n<text x=\"" << x0 - 6 << "\" y=\"" << py(yv) + 4 << "\" text-anchor=\"end\">"
          << Format("%g", yv) << "</text>\n";
    svg << "<text transform=\"translate(" << x0 - 44 << " " << top + panel_height / 2 << ") rotate(-90)\" "
        << "text-anchor=\"middle\">" << EscapeXml(y_label) << "</text>\n";
    svg << "<text x=\"" << x0 + panel_width / 2 << "\" y=\"" << top + panel_height + 36 << "\" text-anchor=\"middle\">"
        << (by_seconds ? "AdaRound seconds" : "AdaRound layers' weights (kbit)") << "</text>\n";
    const auto front = ParetoFront(comparison, by_seconds);
    std::string path;
    for (std::size_t idx : front) {
      const auto& row = comparison.rows[idx];
      double y = 0;
      MainValue(row, variant, metric, &y);
      path += (path.empty() ? "M" : " L") + Format("%.1f", px(by_seconds ? row.adaround_seconds : row.weight_bits / 1000)) +
              "," + Format("%.1f", py(y));
    }
    if (!path.empty()) svg << "<path d=\"" << path << "\" fill=\"none\" stroke=\"#1b9e77\" stroke-width=\"1.5\"/>\n";
    for (std::size_t idx = 0; idx < comparison.rows.size(); ++idx) {
      const auto& row = comparison.rows[idx];
      const double x = by_seconds ? row.adaround_seconds : row.weight_bits / 1000;
      double y = 0;
      if (x < 0 || !MainValue(row, variant, metric, &y)) continue;
      const bool on_front = std::find(front.begin(), front.end(), idx) != front.end();
      svg << "<circle cx=\"" << px(x) << "\" cy=\"" << py(y) << "\" r=\"4\" fill=\"" << (on_front ? "#1b9e77" : "white")
          << "\" stroke=\"" << (on_front ? "#1b9e77" : "#d95f02") << "\"><title>" << EscapeXml(row.label) << ": "
          << Format("%.3f", y) << "</title></circle>\n";
      if (on_front) {
        // Labels alternate above and below along the front; near the right edge they end at the point.
        const std::size_t rank = static_cast<std::size_t>(std::find(front.begin(), front.end(), idx) - front.begin());
        const bool right_edge = px(x) > x0 + panel_width * 0.6;
        svg << "<text x=\"" << px(x) + (right_edge ? -6 : 6) << "\" y=\"" << py(y) + (rank % 2 ? 14 : -7)
            << "\" font-size=\"9\" fill=\"#333\"" << (right_edge ? " text-anchor=\"end\"" : "") << ">"
            << EscapeXml(row.label) << "</text>\n";
      }
    }
  }
  svg << "</svg>\n";
  return svg.str();
}

namespace {

/// "a.b.c" → flow-style YAML text of every scalar or list under `node`.
void Flatten(const YAML::Node& node, const std::string& prefix, std::vector<std::pair<std::string, std::string>>* out) {
  if (node.IsMap()) {
    for (const auto& kv : node) Flatten(kv.second, prefix.empty() ? kv.first.Scalar() : prefix + "." + kv.first.Scalar(), out);
    return;
  }
  YAML::Emitter emitter;
  emitter << YAML::Flow << node;
  out->emplace_back(prefix, emitter.c_str());
}

/// The settings of a resolved config as one point sees them: its own stages ("<id>@<point>", named
/// <id>) and the shared ones; `name` and `threads` say nothing about the result and are left out.
std::vector<std::pair<std::string, std::string>> Settings(const YAML::Node& config, const std::string& point) {
  std::vector<std::pair<std::string, std::string>> settings;
  for (const auto& kv : config) {
    const std::string key = kv.first.Scalar();
    if (key == "name" || key == "threads") continue;
    if (key != "stages") {
      Flatten(kv.second, key, &settings);
      continue;
    }
    for (const auto& stage : kv.second) {
      std::string id = stage["id"].Scalar();
      const auto at = id.find('@');
      if (at != std::string::npos) {
        if (id.substr(at + 1) != point) continue;
        id = id.substr(0, at);
      }
      for (const auto& option : stage) {
        const std::string name = option.first.Scalar();
        if (name == "id" || name == "after") continue;
        Flatten(option.second, "stages." + id + "." + name, &settings);
      }
    }
  }
  return settings;
}

std::string StatusOfStages(const nlohmann::ordered_json& stages, const std::string& point) {
  std::size_t pending = 0;
  for (const auto& stage : stages) {
    const std::string id = stage.value("id", "");
    const auto at = id.find('@');
    if (at != std::string::npos && id.substr(at + 1) != point) continue;
    const std::string outcome = stage.value("outcome", "not run");
    if (outcome == "failed") return "failed in " + id + (stage.contains("error") ? ": " + stage["error"].get<std::string>() : "");
    if (outcome == "not run" || outcome == "cancelled" || outcome == "interrupted") ++pending;
  }
  return pending ? std::to_string(pending) + " stages not run" : "done";
}

}  // namespace

std::vector<ComparisonRow> ReadRunRows(const std::string& run_dir) {
  namespace fs = std::filesystem;
  const fs::path report_path = fs::path(run_dir) / "report.json";
  const fs::path config_path = fs::path(run_dir) / "config.resolved.yaml";
  if (!fs::is_directory(run_dir)) throw InputError(run_dir + ": not a directory (give run directories, e.g. runs/NAME)");
  if (!fs::exists(report_path) || !fs::exists(config_path))
    throw InputError(run_dir + ": not a run directory (it has no report.json and config.resolved.yaml; run a config first)");
  nlohmann::ordered_json report;
  YAML::Node config;
  try {
    std::ifstream in(report_path);
    report = nlohmann::ordered_json::parse(in);
    config = YAML::LoadFile(config_path.string());
  } catch (const std::exception& error) {
    throw InputError(run_dir + ": cannot read its report.json or config.resolved.yaml: " + error.what());
  }
  const std::string name = report.value("name", fs::path(run_dir).filename().string());
  const nlohmann::ordered_json stages = report.value("stages", nlohmann::ordered_json::array());
  std::vector<ComparisonRow> rows;
  if (report.contains("sweep")) {
    for (const auto& point : report["sweep"]["points"]) {
      ComparisonRow row;
      const std::string point_name = point["name"].get<std::string>();
      row.label = name + "/" + point_name;
      row.settings = Settings(config, point_name);
      row.accuracy = point.value("accuracy", nlohmann::ordered_json::object());
      row.adaround_seconds = point.value("adaround_seconds", -1.0);
      row.weight_bits = point.value("weight_bits", -1.0);
      row.status = point.value("status", "");
      rows.push_back(std::move(row));
    }
    return rows;
  }
  ComparisonRow row;
  row.label = name;
  row.settings = Settings(config, "");
  row.accuracy = report.value("accuracy", nlohmann::ordered_json::object());
  for (const auto& stage : stages)
    if (stage.value("type", "") == "adaround" && stage.value("outcome", "") != "not run")
      row.adaround_seconds = std::max(0.0, row.adaround_seconds) + stage.value("seconds", 0.0);
  if (report.contains("layers") && !report["layers"].empty()) row.weight_bits = WeightBits(report["layers"]);
  row.status = StatusOfStages(stages, "");
  rows.push_back(std::move(row));
  return rows;
}

Comparison CompareRuns(const std::vector<std::string>& run_dirs) {
  Comparison comparison;
  std::vector<std::vector<ComparisonRow>> rows_of_dir;
  std::vector<std::string> names;
  for (const auto& dir : run_dirs) {
    rows_of_dir.push_back(ReadRunRows(dir));
    const auto& rows = rows_of_dir.back();
    names.push_back(rows.empty() ? dir : rows.front().label.substr(0, rows.front().label.find('/')));
  }
  for (std::size_t idx = 0; idx < run_dirs.size(); ++idx) {
    // One run: its points alone. Runs of one name (a config run twice, to two directories): by directory.
    const bool shared_name = std::count(names.begin(), names.end(), names[idx]) > 1;
    std::string dir = std::filesystem::path(run_dirs[idx]).lexically_normal().string();
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    for (auto& row : rows_of_dir[idx]) {
      const auto slash = row.label.find('/');
      const std::string point = slash == std::string::npos ? "" : row.label.substr(slash + 1);
      if (run_dirs.size() == 1) row.label = point.empty() ? row.label : point;
      else if (shared_name) row.label = point.empty() ? dir : dir + "/" + point;
      comparison.rows.push_back(std::move(row));
    }
  }
  // The columns: every setting whose value is not the same in all rows (missing counts as a value).
  std::vector<std::string> keys;
  for (const auto& row : comparison.rows)
    for (const auto& [key, value] : row.settings)
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  for (const auto& key : keys) {
    std::string first;
    bool differs = false;
    for (std::size_t idx = 0; idx < comparison.rows.size(); ++idx) {
      std::string value = "-";
      for (const auto& [name, text] : comparison.rows[idx].settings)
        if (name == key) value = text;
      if (idx == 0) first = value;
      else if (value != first) differs = true;
    }
    if (differs) comparison.columns.push_back(key);
  }
  return comparison;
}

}  // namespace adaflow
