#pragma once
// The op types an AIMET quantsim config names (its `op_type` keys and supergroups), for the ops of a
// TorchScript graph. AIMET's PyTorch quant-sim types a module two ways (aimet_torch/onnx_utils.py
// map_torch_types_to_onnx, translation_mapping.py aimet_op_to_backend_op_name_map): by ONNX op types
// (nn.Linear: Gemm, MatMul) and by a backend type (FullyConnected); a config entry for the backend type
// wins, else the ONNX types' entries apply in order. adaflow types an aten op as AIMET types the module its
// model preparer makes of it.

#include <string>
#include <vector>

#include "src/model/layers.h"

namespace torch::jit {
struct Node;
}

namespace adaflow::quant {

struct OpTypes {
  std::string backend;            ///< e.g. "Conv2d", "FullyConnected", "ElementWiseAdd"; "" when none
  std::vector<std::string> onnx;  ///< e.g. {"Gemm", "MatMul"}; empty for an op AIMET has no type for
  /// Whether `type` is one of them (supergroup patterns match either kind).
  bool Matches(const std::string& type) const;
  /// "Gemm" (the first ONNX type), else the backend type, else "?": for messages.
  std::string Name() const;
};

/// The types of a top-level node of an inlined graph (its kind, and for aten::_convolution whether it
/// is transposed).
OpTypes OpTypesOf(const torch::jit::Node* node);
/// The types of a quantizable layer's op.
OpTypes OpTypesOf(const model::Layer& layer);

/// Every op type a config may name: ONNX's operators and the names AIMET's connected graph and backend
/// mapping use (LayerNorm, GroupNorm, FullyConnected, …). A config naming another one is a typo.
const std::vector<std::string>& KnownOpTypes();

}  // namespace adaflow::quant
