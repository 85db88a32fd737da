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
/// Help, default and range of each field: GetSchema() (`adaflow describe quant_sim`), declared once.
struct QuantSimOptions {
  int default_output_bw = 8;
  int default_param_bw = 4;
  quant::Scheme quant_scheme = quant::Scheme::kTfEnhanced;
  bool per_channel = false;
  bool symmetric = true;
  bool strict_symmetric = false;
  bool unsigned_symmetric = false;
  std::map<std::string, int> param_bw_override;
  std::string param_encodings;
  std::string activation_encodings;
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
  void CheckInput(const std::string& input, const Artifact& value) const override;

 private:
  Options options_;
};

void RegisterQuantSimStage(StageRegistry& registry);

}  // namespace adaflow
