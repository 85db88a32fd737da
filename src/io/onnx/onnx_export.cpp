#include "src/io/onnx/onnx_export.h"

#include "src/io/onnx/converter.h"

namespace adaflow::io {

OnnxExport ExportOnnx(const model::Model& model, const model::LayerGraph& layers,
                      const std::vector<std::int64_t>& input_shape, const OnnxQuantization* quantization,
                      const std::string& graph_name) {
  return ExportOnnx(model, layers, model::SingleInput(input_shape), quantization, graph_name);
}

OnnxExport ExportOnnx(const model::Model& model, const model::LayerGraph& layers, const std::vector<TensorSpec>& inputs,
                      const OnnxQuantization* quantization, const std::string& graph_name) {
  return onnx_internal::Converter(model, layers, quantization).Run(inputs, graph_name);
}

}  // namespace adaflow::io
