#pragma once
// Results side by side: one row per point of a sweep (report.md's sweep table) or per finished run
// (`adaflow compare RUN_DIR...`, a sweep run giving a row per point). A row holds the values that tell
// it apart from the others, each evaluated metric of each variant (fp, nearest, adaround), AdaRound's
// time and the size of the AdaRound layers' weights in bits. ComparisonPlotSvg draws the main metric
// (the AdaRound variant's first) against bits and against time, with the Pareto front marked.

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace adaflow {

struct ComparisonRow {
  std::string label;                                          ///< the point, or "run" / "run/point"
  std::vector<std::pair<std::string, std::string>> settings;  ///< column → value, as the table shows it
  nlohmann::ordered_json accuracy = nlohmann::ordered_json::object();  ///< variant → report.json entry
  double adaround_seconds = -1;  ///< -1: no AdaRound stage finished
  double weight_bits = -1;       ///< Σ elements × bitwidth over the AdaRound layers; -1: unknown
  std::string status;            ///< "done", "running", "failed in <stage>: <why>", ...
};

struct Comparison {
  std::vector<std::string> columns;  ///< the settings shown, in order
  std::vector<ComparisonRow> rows;
};

/// `value` printed with a printf format ("%.2f"), for the reports' tables and plots.
std::string Format(const char* format, double value);

/// `text` with the characters XML gives a meaning (< > & ") escaped, for the SVG plots.
std::string EscapeXml(const std::string& text);

/// Σ elements × bitwidth over report.json's "layers" entries ({"shape": [...], "bitwidth": b}).
double WeightBits(const nlohmann::ordered_json& layers);

/// Plain text for the console, and a Markdown table.
std::string ComparisonText(const Comparison& comparison);
std::string ComparisonMarkdown(const Comparison& comparison);

/// The rows on the Pareto front of (x lower is better, main metric better): indices into `rows`, by
/// growing x; x is AdaRound's seconds when `by_seconds`, else the weight bits. Rows without the main
/// metric or x are left out.
std::vector<std::size_t> ParetoFront(const Comparison& comparison, bool by_seconds);

/// Two panels, main metric against weight bits and against AdaRound seconds, Pareto front marked.
/// Empty when fewer than one row has the metric.
std::string ComparisonPlotSvg(const Comparison& comparison, const std::string& title);

/// The rows of a run directory (its report.json and config.resolved.yaml): one, or one per sweep
/// point. Throws InputError naming `run_dir` when it holds no run report.
std::vector<ComparisonRow> ReadRunRows(const std::string& run_dir);

/// The rows of every directory; columns: the config values (stages.<id>.<option>, model, data, seed)
/// that differ between rows.
Comparison CompareRuns(const std::vector<std::string>& run_dirs);

}  // namespace adaflow
