#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"
#include "src/adaround/objective.h"
#include "src/quant/encoding.h"

namespace adaflow {

/// `type: adaround` — learns the rounding of every weight, layer by layer (AIMET parameter names).
struct AdaroundOptions {
  /// Weight bitwidth. Default: 4
  int default_param_bw = 4;
  /// Optimizer steps per layer; 0 = AIMET's default for the whole model: 15000 if any layer's weights are
  /// below 8 bits, else 10000. Default: 0
  int num_iterations = 0;
  /// Rounding regulariser weight (lambda). Default: 0.01
  double reg_param = 0.01;
  /// Start and end of the regulariser exponent, annealed by cosine. Default: [20, 2]
  std::vector<double> beta_range = {20.0, 2.0};
  /// Fraction of iterations without the regulariser. Default: 0.2
  double warm_start = 0.2;
  /// Adam learning rate. Default: 0.001
  double learning_rate = 0.001;
  /// Calibration samples per optimizer step. Default: 32
  int batch_size = 32;
  /// Output positions per sample in a sampled step of an ungrouped 2-D convolution, drawn at random
  /// (0: all of them, AIMET). Default: 0
  int positions_per_sample = 0;
  /// How the weight grid is chosen. Default: tf_enhanced
  quant::Scheme quant_scheme = quant::Scheme::kTfEnhanced;
  /// One grid per output channel. Default: false
  bool per_channel = false;
  /// Symmetric weight grid. Default: true
  bool symmetric = true;
  /// Symmetric grids with 2^b − 2 steps (−127…127 at 8 bits). Default: false
  bool strict_symmetric = false;
  /// A symmetric grid of an all-non-negative tensor or channel is [0, max]. Default: false
  bool unsigned_symmetric = false;
  /// Layer inputs from the partly rounded model (quant, AIMET) or the FP model (fp). Default: quant
  adaround::InputSource input_source = adaround::InputSource::kQuant;
  /// Reconstruction loss: sampled rows, exact Gram form, or the cheaper per layer. Default: auto
  adaround::Objective objective = adaround::Objective::kAuto;
  /// Bitwidth per layer name. Example: {fc: 8}
  std::map<std::string, int> param_bw_override;
  /// Layers left at FP. Example: [layers.0.conv1]
  std::vector<std::string> ignore;
};

class AdaroundStage : public Stage {
 public:
  using Options = AdaroundOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit AdaroundStage(Options options) : options_(std::move(options)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  std::optional<std::vector<std::string>> DataSets() const override { return std::vector<std::string>{"calibration"}; }
  StageOutputs Restore(const StageInputs& inputs, StageContext& ctx) override;
  std::string Estimate(const PipelineSpec& spec) const override;
  /// `ignore` and `param_bw_override` name layers of the prepared model: checked when prepare is done.
  void CheckInput(PortType type, const Artifact& value) const override;

 private:
  Options options_;
};

void RegisterAdaroundStage(StageRegistry& registry);

}  // namespace adaflow
