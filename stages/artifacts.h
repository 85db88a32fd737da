#pragma once
// The port kinds of the built-in stages and the values that flow on them (wrapping src/ objects).
//
//   load_model ─Model─► prepare ─Model, LayerGraph─► cache_activations ─ActivationCache─► adaround
//   adaround ─Model (rounded), Encodings, Metrics─► quant_sim ─Model (quant-sim)─► calibrate
//   calibrate ─Model (calibrated quant-sim), Encodings─► evaluate ─Metrics─►  export ─Metrics─►
//   (a weights-only quant-sim, default_output_bw 32, feeds evaluate without a calibrate stage)
//
// A Model port carries one of three classes; which one says what happened to the model:
//   ModelArtifact          the FP model: as loaded, or prepared (BatchNorm folded)
//   RoundedModelArtifact   + AdaRound's weights on their grid (adaround)
//   QuantSimArtifact       + a quant-sim of it (quant_sim), calibrated (calibrate)
// The layer graph travels on its own port (LayerGraph) from prepare, to every stage that needs it.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/stage.h"
#include "src/adaround/layer_report.h"
#include "src/model/evaluation.h"
#include "src/model/layers.h"
#include "src/model/model.h"
#include "src/quant/quant_sim.h"

namespace adaflow {

/// The port kinds (registered by RegisterBuiltinVocabulary, stages/stage_common.cpp).
namespace port {
inline constexpr const char* kModel = "Model";
inline constexpr const char* kLayerGraph = "LayerGraph";
inline constexpr const char* kActivationCache = "ActivationCache";
inline constexpr const char* kEncodings = "Encodings";
inline constexpr const char* kMetrics = "Metrics";
}  // namespace port

/// The FP model: as loaded (load_model), or prepared (prepare: BatchNorm folded).
struct ModelArtifact : Artifact {
  std::shared_ptr<const model::Model> fp;
};

/// The FP model with AdaRound's weights, each on its grid (adaround); the grids go on the Encodings port.
struct RoundedModelArtifact : ModelArtifact {
  std::shared_ptr<const model::Model> rounded;
};

/// Which weights a quant-sim holds.
enum class SimWeights {
  kNearest,   ///< every weight rounded to nearest on its grid
  kAdaround,  ///< AdaRound's rounding, its encodings frozen (from the adaround stage or its file)
};
/// The name of the variant a quant-sim with these weights is reported as.
inline const EnumNames<SimWeights> kSimWeightsNames = {{"nearest", SimWeights::kNearest},
                                                       {"adaround", SimWeights::kAdaround}};

/// A quant-sim of the FP model (quant_sim); calibrate passes on a calibrated one (sim->calibrated()).
struct QuantSimArtifact : ModelArtifact {
  std::shared_ptr<const quant::QuantSim> sim;
  SimWeights weights = SimWeights::kNearest;
  /// How the activation ranges were chosen; set by calibrate.
  quant::Scheme calibration_scheme = quant::Scheme::kTfEnhanced;
  /// The file quant_sim read the activation encodings from (its `activation_encodings`), else "".
  std::string activations_from;
};

/// The quantizable layers of the prepared model and their DAG (prepare).
struct LayerGraphArtifact : Artifact {
  std::shared_ptr<const model::LayerGraph> graph;
};

struct EncodingsArtifact : Artifact {
  quant::ParamEncodings params;
  std::vector<quant::ActivationQuantizer> activations;
};

/// The activation cache: /layers/<name>/{input,target} in an HDF5 file of the run directory.
struct ActivationCacheArtifact : Artifact {
  std::string path;
  std::int64_t samples = 0;
  /// The cache's memory_budget: AdaRound holds a layer's x̂ in RAM while all held fits it, and a sampled
  /// layer's rows while they fit it (else streamed from the files).
  double memory_budget_bytes = 0;
};

/// What a stage contributes to the run report (report.json / report.md).
struct MetricsArtifact : Artifact {
  /// Variant name ("fp", "nearest", "adaround", "exported") and its result, in the order compared.
  std::vector<std::pair<std::string, model::EvalResult>> variants;
  /// Default weight / activation bitwidths the quantized variants ran at (0 = not known; 32 = float).
  int param_bw = 0;
  int output_bw = 0;
  /// Set by adaround.
  std::vector<adaround::LayerReport> layers;
  /// Files of the run directory worth pointing a reader at, with what each holds.
  std::vector<std::pair<std::string, std::string>> files;
};

}  // namespace adaflow
