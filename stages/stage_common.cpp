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
    return s;
  }();
  return schema;
}

ModelSection ModelSectionOf(const PipelineSpec& spec) {
  const SectionSpec* section = spec.FindSection("model");
  if (!section) throw InputError("the config has no top-level 'model:' section (path, input_shape)");
  return ModelSectionSchema().Bind(section->options);
}

void RegisterBuiltinVocabulary(StageRegistry& registry) {
  registry.AddPortKind({port::kModel, "a model: FP, with AdaRound's weights, or a quant-sim of it"});
  registry.AddPortKind({port::kLayerGraph, "the quantizable layers of the prepared model and their DAG"});
  registry.AddPortKind({port::kActivationCache, "every layer's FP input and target over the calibration set (HDF5)"});
  registry.AddPortKind({port::kEncodings, "param (and activation) encodings"});
  registry.AddPortKind({port::kMetrics, "what a stage adds to the run report"});
  registry.AddSection({"model", "the TorchScript model and the shape of one input", &ModelSectionSchema().erased()});
  registry.AddDataSetName({"calibration", "the data AdaRound and calibration read"});
  registry.AddDataSetName({"evaluation", "the data evaluate and export's check read"});
}

}  // namespace adaflow
