#include "src/quant/op_types.h"

#include <torch/csrc/jit/ir/ir.h>

#include <algorithm>
#include <map>
#include <set>

namespace adaflow::quant {
namespace {

/// aten op (without the in-place '_') → its types, as AIMET types the module its model preparer makes of
/// the op (functional_with_stateful_api / functional_with_stateless_api) or the torch.nn module it is.
const std::map<std::string, OpTypes>& AtenTypes() {
  static const std::map<std::string, OpTypes> types = {
      {"conv1d", {"Conv1d", {"Conv"}}},
      {"conv2d", {"Conv2d", {"Conv"}}},
      {"conv_transpose1d", {"TransposeConv1d", {"ConvTranspose"}}},
      {"conv_transpose2d", {"TransposeConv2d", {"ConvTranspose"}}},
      {"linear", {"FullyConnected", {"Gemm", "MatMul"}}},
      {"addmm", {"", {"Gemm"}}},
      {"matmul", {"MatMul", {"MatMul"}}},
      {"bmm", {"MatMul", {"MatMul"}}},
      {"baddbmm", {"", {"MatMul"}}},
      {"relu", {"Relu", {"Relu"}}},
      {"relu6", {"Relu6", {"Clip"}}},
      {"hardtanh", {"ReluMinMax", {"Clip"}}},
      {"clamp", {"", {"Clip"}}},
      {"clamp_min", {"", {"Clip"}}},
      {"clamp_max", {"", {"Clip"}}},
      {"sigmoid", {"Sigmoid", {"Sigmoid"}}},
      {"tanh", {"Tanh", {"Tanh"}}},
      {"gelu", {"", {"GELU", "Gelu"}}},
      {"silu", {"", {"SiLU"}}},
      {"mish", {"", {"Mish"}}},
      {"hardswish", {"HardSwish", {"HardSwish"}}},
      {"hardsigmoid", {"", {"HardSigmoid"}}},
      {"leaky_relu", {"", {"LeakyRelu"}}},
      {"prelu", {"Prelu", {"PRelu"}}},
      {"elu", {"Elu", {"Elu"}}},
      {"selu", {"", {"Selu"}}},
      {"celu", {"", {"Celu"}}},
      {"softplus", {"ElementWiseSoftplus", {"Softplus"}}},
      {"log_sigmoid", {"", {"LogSigmoid"}}},
      {"softmax", {"Softmax", {"Softmax"}}},
      {"log_softmax", {"LogSoftmax", {"LogSoftmax"}}},
      {"hardshrink", {"", {"Shrink"}}},
      {"softshrink", {"", {"Shrink"}}},
      {"threshold", {"", {"ThresholdedRelu"}}},
      {"max_pool1d", {"", {"MaxPool"}}},
      {"max_pool2d", {"PoolMax2d", {"MaxPool"}}},
      {"avg_pool1d", {"", {"AveragePool"}}},
      {"avg_pool2d", {"PoolAvg2d", {"AveragePool"}}},
      {"adaptive_avg_pool1d", {"", {"GlobalAveragePool", "AveragePool"}}},
      {"adaptive_avg_pool2d", {"", {"GlobalAveragePool", "AveragePool"}}},
      {"batch_norm", {"", {"BatchNormalization"}}},
      {"layer_norm", {"LayerNorm", {"LayerNormalization", "LayerNorm"}}},
      {"group_norm", {"", {"GroupNormalization", "GroupNorm"}}},
      {"instance_norm", {"InstanceNorm", {"InstanceNormalization"}}},
      {"cat", {"Concat", {"Concat"}}},
      {"add", {"ElementWiseAdd", {"Add"}}},
      {"sub", {"ElementWiseSubtract", {"Sub"}}},
      {"mul", {"ElementWiseMultiply", {"Mul"}}},
      {"div", {"ElementWiseDivide", {"Div"}}},
      {"mean", {"ReduceMean", {"ReduceMean"}}},
      {"sum", {"ReduceSum", {"ReduceSum"}}},
      {"pow", {"ElementWisePower", {"Pow"}}},
      {"exp", {"ElementWiseExp", {"Exp"}}},
      {"rsqrt", {"ElementWiseRsqrt", {"Sqrt"}}},
      {"flatten", {"", {"Flatten"}}},
      {"view", {"Reshape", {"Reshape"}}},
      {"reshape", {"Reshape", {"Reshape"}}},
      {"permute", {"Transpose", {"Transpose"}}},
      {"transpose", {"Transpose", {"Transpose"}}},
      {"t", {"Transpose", {"Transpose"}}},
      {"dropout", {"", {"Dropout"}}},
      {"feature_dropout", {"", {"Dropout"}}},
      {"embedding", {"Gather", {"Gather"}}},
      {"upsample_nearest2d", {"Resize", {"Upsample"}}},
      {"upsample_bilinear2d", {"Resize", {"Upsample"}}},
      {"constant_pad_nd", {"Pad", {"Pad"}}},
      {"pad", {"Pad", {"Pad"}}},
      {"squeeze", {"", {"Squeeze"}}},
      {"unsqueeze", {"", {"Unsqueeze"}}},
      {"expand", {"", {"Expand"}}},
      {"to", {"", {"Cast"}}},
      {"split", {"Split", {"Split"}}},
      {"chunk", {"Split", {"Split"}}},
      {"slice", {"", {"Slice"}}},
  };
  return types;
}

}  // namespace

bool OpTypes::Matches(const std::string& type) const {
  return type == backend || std::find(onnx.begin(), onnx.end(), type) != onnx.end();
}

std::string OpTypes::Name() const {
  if (!onnx.empty()) return onnx.front();
  return backend.empty() ? "?" : backend;
}

OpTypes OpTypesOf(const torch::jit::Node* node) {
  std::string kind = node->kind().toUnqualString();
  if (!kind.empty() && kind.back() == '_') kind.pop_back();  // in place: relu_
  if (kind == "_convolution") {
    const auto transposed = torch::jit::toIValue(node->input(6));
    const bool is_transposed = transposed && transposed->isBool() && transposed->toBool();
    // 1-D or 2-D by the length of its stride list (a constant wherever adaflow finds layers).
    const auto stride = torch::jit::toIValue(node->input(3));
    const bool one_d = stride && stride->isIntList() && stride->toIntVector().size() == 1;
    kind = std::string(is_transposed ? "conv_transpose" : "conv") + (one_d ? "1d" : "2d");
  }
  const auto it = AtenTypes().find(kind);
  return it == AtenTypes().end() ? OpTypes{} : it->second;
}

OpTypes OpTypesOf(const model::Layer& layer) {
  switch (layer.kind) {
    case model::LayerKind::kConv1d: return AtenTypes().at("conv1d");
    case model::LayerKind::kConv2d: return AtenTypes().at("conv2d");
    case model::LayerKind::kConvTranspose1d: return AtenTypes().at("conv_transpose1d");
    case model::LayerKind::kConvTranspose2d: return AtenTypes().at("conv_transpose2d");
    case model::LayerKind::kLinear: return AtenTypes().at("linear");
  }
  return {};
}

const std::vector<std::string>& KnownOpTypes() {
  static const std::vector<std::string> types = [] {
    // ONNX's operators (ai.onnx, through opset 21).
    std::set<std::string> names = {
        "Abs", "Acos", "Acosh", "Add", "AffineGrid", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh",
        "AveragePool", "BatchNormalization", "Bernoulli", "BitShift", "BitwiseAnd", "BitwiseNot", "BitwiseOr",
        "BitwiseXor", "BlackmanWindow", "Cast", "CastLike", "Ceil", "Celu", "CenterCropPad", "Clip", "Col2Im",
        "Compress", "Concat", "ConcatFromSequence", "Constant", "ConstantOfShape", "Conv", "ConvInteger",
        "ConvTranspose", "Cos", "Cosh", "CumSum", "DFT", "DeformConv", "DepthToSpace", "DequantizeLinear", "Det",
        "Div", "Dropout", "DynamicQuantizeLinear", "Einsum", "Elu", "Equal", "Erf", "Exp", "Expand", "EyeLike",
        "Flatten", "Floor", "GRU", "Gather", "GatherElements", "GatherND", "Gelu", "Gemm", "GlobalAveragePool",
        "GlobalLpPool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "GridSample", "GroupNormalization",
        "HammingWindow", "HannWindow", "HardSigmoid", "HardSwish", "Hardmax", "Identity", "If", "ImageDecoder",
        "InstanceNormalization", "IsInf", "IsNaN", "LRN", "LSTM", "LayerNormalization", "LeakyRelu", "Less",
        "LessOrEqual", "Log", "LogSoftmax", "Loop", "LpNormalization", "LpPool", "MatMul", "MatMulInteger", "Max",
        "MaxPool", "MaxRoiPool", "MaxUnpool", "Mean", "MeanVarianceNormalization", "MelWeightMatrix", "Min", "Mish",
        "Mod", "Mul", "Multinomial", "Neg", "NegativeLogLikelihoodLoss", "NonMaxSuppression", "NonZero", "Not",
        "OneHot", "Optional", "OptionalGetElement", "OptionalHasElement", "Or", "PRelu", "Pad", "Pow",
        "QLinearConv", "QLinearMatMul", "QuantizeLinear", "RNN", "RandomNormal", "RandomNormalLike",
        "RandomUniform", "RandomUniformLike", "Range", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum",
        "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare",
        "RegexFullMatch", "Relu", "Reshape", "Resize", "ReverseSequence", "RoiAlign", "Round", "STFT", "Scan",
        "Scatter", "ScatterElements", "ScatterND", "Selu", "SequenceAt", "SequenceConstruct", "SequenceEmpty",
        "SequenceErase", "SequenceInsert", "SequenceLength", "SequenceMap", "Shape", "Shrink", "Sigmoid", "Sign",
        "Sin", "Sinh", "Size", "Slice", "Softmax", "SoftmaxCrossEntropyLoss", "Softplus", "Softsign",
        "SpaceToDepth", "Split", "SplitToSequence", "Sqrt", "Squeeze", "StringConcat", "StringNormalizer",
        "StringSplit", "Sub", "Sum", "Tan", "Tanh", "TfIdfVectorizer", "ThresholdedRelu", "Tile", "TopK",
        "Transpose", "Trilu", "Unique", "Unsqueeze", "Upsample", "Where", "Xor"};
    // AIMET's own: connected-graph types of torch modules and the ops its configs list.
    for (const char* name : {"LayerNorm", "GroupNorm", "GELU", "SiLU", "LogSigmoid", "ChannelShuffle",
                             "BatchPermutation", "CropAndResize", "BatchToSpace", "SpaceToBatch", "Conv1d",
                             "InstanceNorm", "Interpolate", "Normalize", "Bmm", "Baddbmm", "Addmm"})
      names.insert(name);
    // Backend types (aimet_op_to_backend_op_name_map).
    for (const auto& [kind, types] : AtenTypes())
      if (!types.backend.empty()) names.insert(types.backend);
    return std::vector<std::string>(names.begin(), names.end());
  }();
  return types;
}

}  // namespace adaflow::quant
