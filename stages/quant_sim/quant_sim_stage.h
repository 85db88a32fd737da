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
/// Help, default and range of each field: `adaflow describe quant_sim`, declared once in the stage.
struct QuantSimOptions : quant::WeightGridOptions {
  int default_output_bw = 8;
  int default_param_bw = 4;
  std::map<std::string, int> param_bw_override;
  std::string param_encodings;
  std::string activation_encodings;
  std::string config_file;
};

/// The stage's option schema (evaluate derives a quant_sim stage from another one's options).
const Schema<QuantSimOptions>& QuantSimSchema();

void RegisterQuantSimStage(StageRegistry& registry);

}  // namespace adaflow
