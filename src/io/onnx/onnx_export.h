#pragma once
// ONNX export (opset 13; opset 21 with INT4 weights) of a TorchScript model, from its inlined graph (Model::InlinedGraph): the
// float model as it is, or with QuantizeLinear/DequantizeLinear (QDQ) for a quant-sim's weights and
// activations. Built with Debian's ONNX library (its protobuf ModelProto) and checked with
// onnx::checker before it is returned.
//
// Names (tensor_names.h): the input is "input", the output "output"; a parameter is an initializer named
// by its module path ("layers.0.conv1.weight"), as torch.onnx names them; every other tensor is named by
// the module and op that compute it ("layers.0.conv1/conv2d", "layers.0/relu_1"; never a parameter's
// path), so the names survive saving and loading the model. With QDQ, a quantized weight is an int8 initializer "<param>_quantized" (uint8
// for an asymmetric grid; INT4/UINT4 with int4_weights) read by a DequantizeLinear whose output is "<param>", and a quantized
// activation "<t>" is followed by QuantizeLinear → "<t>_quantized" → DequantizeLinear → "<t>_dequantized",
// which its consumers read. So the float file and the QDQ file share every name an encodings file keys.
//
// Ops: conv 1d/2d (groups, depthwise), transposed conv, linear (Gemm; MatMul + Add above 2-D),
// addmm (Gemm), t, matmul, relu/relu6/hardtanh/clamp, gelu, silu, sigmoid, tanh, hardswish, add/sub/mul/div, max/avg
// pool, global (adaptive 1×1) average pool, batch norm (one no fold took), flatten, view/reshape (sizes constant or `x.size(i)`,
// traced ones too), cat, permute, softmax, mean, dropout and contiguous (identity). Anything else is an
// InputError naming the op and the TorchScript node.
//
// The converter lives in this folder: converter.cpp (the graph, values, arguments), ops.cpp (the op
// table), qdq.cpp (the quantize-dequantize nodes), int4.cpp (4-bit weight storage), tensor_names.cpp
// (the names).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "src/model/layers.h"
#include "src/model/model.h"
#include "src/io/onnx/tensor_names.h"
#include "src/quant/quant_sim.h"

namespace adaflow::io {

/// A quant-sim's weight grids (by layer name) and activation quantizers: what QDQ inserts, and what
/// the float export names (the ONNX tensor of each quantizer's value).
struct OnnxQuantization {
  quant::ParamEncodings params;
  std::vector<quant::ActivationQuantizer> activations;
  bool qdq = false;  ///< insert QuantizeLinear/DequantizeLinear (else only name the tensors)
  /// With qdq: store weights of 4 bits or fewer as INT4 (signed grids) or UINT4 initializers, which makes
  /// the file opset 21, IR version 10 (ONNX 1.16; ONNX Runtime 1.18 and later run it). Else int8/uint8.
  bool int4_weights = false;
};

struct OnnxExport {
  std::string bytes;  ///< a serialized, checked ModelProto
  /// ONNX tensor name of each activation quantizer's value (quantizer name → tensor).
  std::map<std::string, std::string> activation_tensors;
  /// Initializer name of each quantizable layer's weight (layer name → "layers.0.conv1.weight").
  std::map<std::string, std::string> weight_initializers;
};

/// Converts `model` (its input of `input_shape`, batch dimension left free). `layers` names the
/// weights; `quantization` (may be null) names the quantized tensors and, with `qdq`, adds Q/DQ.
/// Throws InputError for an op or argument it cannot express, naming the node.
OnnxExport ExportOnnx(const model::Model& model, const model::LayerGraph& layers,
                      const std::vector<std::int64_t>& input_shape, const OnnxQuantization* quantization,
                      const std::string& graph_name);
/// The same for a model of several inputs (model.inputs): one graph input per input, named as declared,
/// int64 inputs as int64 tensors.
OnnxExport ExportOnnx(const model::Model& model, const model::LayerGraph& layers, const std::vector<TensorSpec>& inputs,
                      const OnnxQuantization* quantization, const std::string& graph_name);

}  // namespace adaflow::io
