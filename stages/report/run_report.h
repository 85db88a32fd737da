#pragma once
// The run report: report.json (a public interface, read by scripts), report.md (for people) and
// layer_mse.svg (per-layer MSE, nearest vs AdaRound, which report.md embeds). It is rewritten each
// time a stage finishes, is restored or is skipped, so it holds whatever results exist so far —
// also when a later stage fails or the run is interrupted.
//
// report.json:
//   {"name": "fmnist_resnet8_w4a8",
//    "accuracy": {"fp": {"top1": 92.04, "top5": 99.8, "samples": 10000, "param_bw": 32, "output_bw": 32},
//                 "nearest": {..., "param_bw": 4, "output_bw": 8}, "adaround": {..., "param_bw": 4, "output_bw": 8},
//                 "exported": {..., "param_bw": 4, "output_bw": 32}},
//    "layers": [{"name": "layers.0.conv1", "shape": [16, 16, 3, 3], "bitwidth": 4, "objective": "gram",
//                "num_iterations": 2000, "mse_nearest": 0.0123, "mse_adaround": 0.0045, "seconds": 1.9,
//                "seconds_prepare": 0.2, "seconds_optimize": 3.1, "seconds_finish": 0.1, "step_macs": 1.2e6}],
//    "stages": [{"id": "adaround", "type": "adaround", "outcome": "ran", "seconds": 41.2, "cpu_seconds": 75.0,
//                "skipped": false, "peak_rss_mib": 612}],
//    "files": [{"path": "model_adaround.pt", "what": "..."}], "config": "config.resolved.yaml"}
// Unlabelled evaluation data gives "sqnr_db" and "cosine" instead of "top1" and "top5"; an SQNR of
// outputs identical to the FP model's is infinite, written as null.

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

#include "pipeline/flow_graph_runner.h"
#include "stages/artifacts.h"

namespace adaflow {

/// An SVG bar chart of each layer's reconstruction MSE, round-to-nearest vs AdaRound (log scale).
std::string LayerMsePlotSvg(const std::vector<adaround::LayerReport>& layers);

class RunReport {
 public:
  static constexpr const char* kJsonFile = "report.json";
  static constexpr const char* kMarkdownFile = "report.md";
  static constexpr const char* kPlotFile = "layer_mse.svg";

  explicit RunReport(const Plan& plan);

  /// Makes `options` keep this report up to date while the run goes (sets its observer).
  void Attach(RunOptions& options);

  /// Takes in a stage's record and outputs (null when skipped), then rewrites the report files.
  void Update(const StageRecord& record, const StageOutputs* outputs, const RunStore& store);

  const nlohmann::ordered_json& json() const { return json_; }
  std::string Markdown() const;
  /// The accuracy table as plain text, for the console; empty when nothing was evaluated.
  std::string AccuracyTable() const;

 private:
  std::string resolved_config_;
  nlohmann::ordered_json json_;
};

}  // namespace adaflow
