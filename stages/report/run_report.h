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
// outputs identical to the FP model's is infinite, written as null. A stage that failed has "error".
//
// A run with a `sweep:` has no top-level accuracy and layers; each point has them instead:
//   "sweep": {"entries": ["stages.*.default_param_bw", ...],
//             "points": [{"name": "w4-gram-per_tensor", "values": {"stages.*.default_param_bw": 4, ...},
//                         "status": "done" | "running" | "not run" | "failed in <stage>: <why>" | ...,
//                         "accuracy": {...as above...}, "adaround_seconds": 12.3, "weight_bits": 312000}]}
// and report.md a sweep table and sweep.svg (the main metric against bits and time, Pareto front).

#include <nlohmann/json.hpp>

#include <map>
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
  static constexpr const char* kSweepPlotFile = "sweep.svg";

  /// `plan`: what the report lists. `running` (optional): the part of it that runs now (one sweep point
  /// with `--point`); the rest is taken from the run directory's earlier report where it has it.
  explicit RunReport(const Plan& plan, const Plan* running = nullptr);

  /// Makes `options` keep this report up to date while the run goes (sets its observer).
  void Attach(RunOptions& options);

  /// Takes in a stage's record and outputs (null when skipped), then rewrites the report files.
  void Update(const StageRecord& record, const StageOutputs* outputs, const RunStore& store);

  const nlohmann::ordered_json& json() const { return json_; }
  std::string Markdown() const;
  /// The accuracy table as plain text, for the console; empty when nothing was evaluated.
  std::string AccuracyTable() const;
  /// The sweep table as plain text, for the console; empty without a sweep.
  std::string SweepTable() const;

 private:
  void UpdatePoint(std::size_t point, const StageRecord& record, const StageOutputs* outputs);
  /// Copies from the earlier report.json what this run does not compute (see the constructor).
  void KeepEarlier(const RunStore& store);

  std::string resolved_config_;
  nlohmann::ordered_json json_;
  std::map<std::string, std::size_t> point_of_stage_;  ///< a sweep point's stages → its index
  std::vector<std::size_t> stages_of_point_, finished_of_point_;
  std::vector<std::string> not_running_;  ///< ids of the listed stages this run does not run
  bool kept_earlier_ = false;
};

}  // namespace adaflow
