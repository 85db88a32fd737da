#include "stages/estimate.h"

#include <cstdio>

#include "src/model/attention.h"
#include "src/model/batch_norm_fold.h"
#include "src/model/graph_capture.h"
#include "src/model/layers.h"
#include "src/model/model.h"
#include "stages/data/data_types.h"
#include "stages/stage_common.h"

namespace adaflow {

ModelShapes ProbeShapes(const PipelineSpec& spec) {
  ModelShapes shapes;
  const ModelSection section = ModelSectionOf(spec);
  const std::vector<TensorSpec> inputs = ModelInputsOf(spec);
  const auto model =
      model::FoldBatchNorm(*model::MakeAttentionQuantizable(model::Model::LoadWithInputs(section.path, inputs)));
  const model::LayerGraph layers = model::DiscoverLayers(*model);
  std::vector<model::ValueRef> refs;
  for (const auto& layer : layers.layers) {
    refs.push_back(layer.input);
    refs.push_back(layer.activation_output);
  }
  const auto values = model::GraphCapture(model, refs).Run(model::ExampleInputs(inputs, 1));
  for (std::size_t index = 0; index < layers.layers.size(); ++index)
    shapes.layers.push_back({layers.layers[index].name, layers.layers[index].weight_shape,
                             values[2 * index].sizes().vec(), values[2 * index + 1].sizes().vec()});
  const auto calibration = LoadDataSet(spec, "calibration");
  shapes.samples = calibration->size();
  shapes.batch_size = calibration->batch_size();
  return shapes;
}

std::string FormatBytes(double bytes) {
  char text[32];
  if (bytes >= 1073741824.0) std::snprintf(text, sizeof(text), "%.1f GiB", bytes / 1073741824.0);
  else std::snprintf(text, sizeof(text), "%.0f MiB", bytes / 1048576.0);
  return text;
}

}  // namespace adaflow
