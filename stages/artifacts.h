#pragma once
// Values passed between the built-in stages (wrapping src/ objects).
//
//   load_model ─Model─► prepare ─Model, LayerSet─► quant_sim ─Model─► calibrate ─Model, Encodings─► evaluate ─Metrics─►

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/stage.h"
#include "src/model/evaluation.h"
#include "src/model/layers.h"
#include "src/model/model.h"
#include "src/quant/quant_sim.h"

namespace adaflow {

/// How a quant-sim's activations were (or are to be) calibrated, so evaluate can rebuild a variant.
struct CalibrationSpec {
  quant::Scheme scheme = quant::Scheme::kTfEnhanced;
  double percentile = 100.0;
  std::int64_t num_batches = 0;
};

/// Which weights a quant-sim holds.
enum class SimWeights {
  kNone,      ///< no quant-sim yet
  kNearest,   ///< every weight rounded to nearest on its grid
  kAdaround,  ///< AdaRound's rounding, its encodings frozen (from the adaround stage or its file)
};
/// "fp", "nearest", "adaround": the name of the variant a model with these weights is reported as.
inline const char* SimWeightsName(SimWeights weights) {
  switch (weights) {
    case SimWeights::kNone: return "fp";
    case SimWeights::kNearest: return "nearest";
    case SimWeights::kAdaround: return "adaround";
  }
  return "?";
}

struct ModelArtifact : Artifact {
  /// The FP model: as loaded, or prepared (BatchNorm folded) once prepare ran.
  std::shared_ptr<const model::Model> fp;
  /// Quantizable layers; set by prepare.
  std::shared_ptr<const model::LayerGraph> layers;
  /// The quant-sim; set by quant_sim (uncalibrated) and calibrate (calibrated).
  std::shared_ptr<const quant::QuantSim> sim;
  /// The model with AdaRound's weights (on their grid); set by adaround.
  std::shared_ptr<const model::Model> rounded;
  /// Which weights `sim` holds; kNone while there is no quant-sim.
  SimWeights sim_weights = SimWeights::kNone;
  /// Set by calibrate.
  CalibrationSpec calibration;
};

struct LayerSetArtifact : Artifact {
  std::shared_ptr<const model::LayerGraph> layers;
};

struct EncodingsArtifact : Artifact {
  quant::ParamEncodings params;
  std::vector<quant::ActivationQuantizer> activations;
};

/// The activation cache: /layers/<name>/{input,target} in an HDF5 file of the run directory.
struct ActivationCacheArtifact : Artifact {
  std::string path;
  std::int64_t samples = 0;
  /// A layer whose rows need more bytes than this is streamed from the file instead of held in RAM.
  double memory_budget_bytes = 0;
};

/// One AdaRound layer's summary (the per-layer table of the report).
struct LayerReport {
  std::string name;
  std::vector<std::int64_t> shape;
  int bits = 0;
  std::string objective;
  int iterations = 0;
  double mse_nearest = 0;
  double mse_adaround = 0;
  double seconds = 0;             ///< wall time from the layer's first task to its last
  /// Thread-seconds in each phase: x̂ and statistics (prepare + stats), optimizer steps, the rest (finish).
  double seconds_prepare = 0;
  double seconds_optimize = 0;
  double seconds_finish = 0;
  double step_macs = 0;  ///< multiply-adds of one optimizer step (benchmarks: GFLOP/s of the steps)
};

/// What a stage contributes to the run report (report.json / report.md).
struct MetricsArtifact : Artifact {
  /// Variant name ("fp", "nearest", "adaround", "exported") and its result, in the order compared.
  std::vector<std::pair<std::string, model::EvalResult>> variants;
  /// Default weight / activation bitwidths the quantized variants ran at (0 = not known; 32 = float).
  int param_bw = 0;
  int output_bw = 0;
  /// Set by adaround.
  std::vector<LayerReport> layers;
  /// Files of the run directory worth pointing a reader at, with what each holds.
  std::vector<std::pair<std::string, std::string>> files;
};

}  // namespace adaflow
