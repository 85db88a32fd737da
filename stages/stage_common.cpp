#include "stages/stage_common.h"

#include "pipeline/stage_context.h"
#include "pipeline/stage_registry.h"
#include "stages/artifacts.h"

namespace adaflow {

const Schema<ModelSection>& ModelSectionSchema() {
  static const Schema<ModelSection> schema = [] {
    Schema<ModelSection> s("model");
    s.Path("path", &ModelSection::path, "TorchScript model file").Required().MustExist();
    s.Int64List("input_shape", &ModelSection::input_shape, "shape of one model input, batch first").Min(1);
    s.TensorList("inputs", &ModelSection::inputs,
                 "several named inputs instead, in forward's order: {name, shape (batch first), dtype: float32|int64}");
    return s;
  }();
  return schema;
}

ModelSection ModelSectionOf(const PipelineSpec& spec) {
  const SectionSpec* section = spec.FindSection("model");
  if (!section) throw InputError("the config has no top-level 'model:' section (path, input_shape)");
  ModelSection model = ModelSectionSchema().Bind(section->options);
  if (!model.input_shape.empty() && !model.inputs.empty())
    throw InputError("model: give 'input_shape' (one float input) or 'inputs' (named inputs), not both");
  return model;
}

std::vector<TensorSpec> ModelInputsOf(const PipelineSpec& spec) {
  const ModelSection model = ModelSectionOf(spec);
  if (!model.inputs.empty()) return model.inputs;
  if (model.input_shape.empty()) return {};
  return {TensorSpec{"input", model.input_shape, "float32"}};
}

void RegisterBuiltinVocabulary(StageRegistry& registry) {
  registry.AddPortKind({port::kModel, "a model: FP, with AdaRound's weights, or a quant-sim of it"});
  registry.AddPortKind({port::kLayerGraph, "the quantizable layers of the prepared model and their DAG"});
  registry.AddPortKind({port::kActivationCache, "every layer's FP input and target over the calibration set (HDF5)"});
  registry.AddPortKind({port::kEncodings, "param (and activation) encodings"});
  registry.AddPortKind({port::kMetrics, "what a stage adds to the run report"});
  registry.AddSection({"model", "the TorchScript model and its inputs (input_shape, or inputs with names and dtypes)", &ModelSectionSchema().erased()});
  registry.AddDataSetName({"calibration", "the data AdaRound and calibration read"});
  registry.AddDataSetName({"evaluation", "the data evaluate and export's check read"});
}

std::optional<quant::QuantsimConfigFile> ReadConfigOption(const std::string& path, const std::string& key,
                                                          const quant::WeightGridOptions& grid) {
  if (path.empty()) return std::nullopt;
  const quant::WeightGridOptions defaults;
  for (const auto& [option, given] : {std::pair{"per_channel", grid.per_channel != defaults.per_channel},
                                      std::pair{"symmetric", grid.symmetric != defaults.symmetric},
                                      std::pair{"strict_symmetric", grid.strict_symmetric != defaults.strict_symmetric},
                                      std::pair{"unsigned_symmetric", grid.unsigned_symmetric != defaults.unsigned_symmetric}})
    if (given)
      throw InputError("'" + std::string(option) + "' is set, but '" + key + "' (" + path +
                       ") decides it (its defaults, params and op_type entries): set it in that file, or drop one");
  try {
    return quant::ReadQuantsimConfig(path);
  } catch (const InputError& error) {
    throw InputError("'" + key + "': " + error.what());
  }
}

}  // namespace adaflow
