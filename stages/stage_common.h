#pragma once
// Helpers shared by the built-in stages.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "pipeline/options.h"
#include "pipeline/pipeline_spec.h"
#include "src/quant/encoding.h"
#include "src/quant/quantsim_config.h"

namespace adaflow {

class StageRegistry;

/// The top-level `model:` section of a config.
struct ModelSection {
  /// TorchScript file, relative to the current directory. Example: examples/models/resnet8_fmnist.pt
  std::string path;
  /// Shape of one model input, batch first. Example: [1, 1, 28, 28]
  std::vector<std::int64_t> input_shape;
  /// Several named inputs instead (token ids, masks), in the forward's order.
  /// Example: [{name: input_ids, shape: [1, 12], dtype: int64}, {name: attention_mask, shape: [1, 12], dtype: int64}]
  std::vector<TensorSpec> inputs;
};
const Schema<ModelSection>& ModelSectionSchema();

/// The config's `model:` section; InputError when it has none, or when it gives both input_shape and inputs.
ModelSection ModelSectionOf(const PipelineSpec& spec);
/// The model's inputs: model.inputs, or one float32 input "input" of model.input_shape ({} when neither).
std::vector<TensorSpec> ModelInputsOf(const PipelineSpec& spec);

/// What the built-in stages teach the framework besides their types: the port kinds (stages/artifacts.h),
/// the `model:` section and the data set names `calibration` and `evaluation`.
void RegisterBuiltinVocabulary(StageRegistry& registry);

/// AIMET's rule for a bitwidth option: 2..16, or 32 for "leave as float".
inline void CheckBitwidthOption(int bitwidth, const std::string& key) {
  if (bitwidth != 32 && (bitwidth < 2 || bitwidth > 16))
    throw InputError("'" + key + "' must be in [2, 16] or 32 (float), got " + std::to_string(bitwidth));
}

/// Stages that read the model need the top-level `model:` section.
inline void RequireModel(const PipelineSpec& spec, const std::string& type) {
  if (!spec.FindSection("model")) throw InputError("stage type '" + type + "' needs the top-level 'model:' section (path, input_shape)");
}

/// The weight-grid options (quant::WeightGridOptions) of a stage whose options derive from them: one
/// declaration for `adaround` and `quant_sim`. `schemes`: the quant_scheme values the stage allows.
template <class O>
void AddWeightGridOptions(Schema<O>& s, const std::vector<quant::Scheme>& schemes) {
  s.template Enum<quant::Scheme>("quant_scheme", &O::quant_scheme, Subset(quant::kSchemeNames, schemes),
                                 "how weight grids are chosen (those not frozen upstream)");
  s.Bool("per_channel", &O::per_channel, "one weight grid per output channel");
  s.Bool("symmetric", &O::symmetric, "symmetric weight grids");
  s.Bool("strict_symmetric", &O::strict_symmetric, "symmetric grids with 2^b - 2 steps (AIMET's strict_symmetric)");
  s.Bool("unsigned_symmetric", &O::unsigned_symmetric,
         "symmetric grid [0, max] for an all-non-negative tensor or channel (AIMET's unsigned_symmetric)");
}

/// A stage's quantsim config option (quant_sim's `config_file`, adaround's `default_config_file`), read at
/// plan time: nullopt when empty (the built-in default, with the stage's weight-grid options as its
/// defaults). With a file, the file decides per_channel, symmetric, strict_symmetric and
/// unsigned_symmetric: setting them too is an InputError naming both.
std::optional<quant::QuantsimConfigFile> ReadConfigOption(const std::string& path, const std::string& key,
                                                          const quant::WeightGridOptions& grid);

}  // namespace adaflow
