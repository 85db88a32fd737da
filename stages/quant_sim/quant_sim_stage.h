#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"
#include "src/quant/encoding.h"

namespace adaflow {

/// `type: quant_sim` — the model with fake-quant on weights and activations (AIMET default config).
struct QuantSimOptions {
  /// Activation bitwidth; 32 leaves activations float. Default: 8
  int default_output_bw = 8;
  /// Weight bitwidth; 32 leaves weights float. Default: 4
  int default_param_bw = 4;
  /// Scheme for weight encodings not frozen by an earlier stage. Default: tf_enhanced
  quant::Scheme quant_scheme = quant::Scheme::kTfEnhanced;
  /// One weight grid per output channel. Default: false
  bool per_channel = false;
  /// Symmetric weight grids. Default: true
  bool symmetric = true;
  /// Symmetric grids with 2^b − 2 steps (−127…127 at 8 bits). Default: false
  bool strict_symmetric = false;
  /// A symmetric grid of an all-non-negative tensor or channel is [0, max]. Default: false
  bool unsigned_symmetric = false;
  /// Weight bitwidth per layer name (32 = float). Example: {fc: 8}
  std::map<std::string, int> param_bw_override;
  /// Frozen param encodings from a file (AIMET JSON). Example: runs/x/x_adaround.encodings
  std::string param_encodings;
};

class QuantSimStage : public Stage {
 public:
  using Options = QuantSimOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit QuantSimStage(Options options) : options_(std::move(options)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  std::optional<std::vector<std::string>> DataSets() const override { return std::vector<std::string>{}; }
  /// `param_bw_override` names layers of the prepared model: checked when prepare is done.
  void CheckInput(PortType type, const Artifact& value) const override;

 private:
  Options options_;
};

void RegisterQuantSimStage(StageRegistry& registry);

}  // namespace adaflow
