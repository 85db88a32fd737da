#pragma once
// The ONNX converter's internals, shared by its files: converter.cpp (the graph, names, values and
// arguments), ops.cpp (the op table: one handler per kind of TorchScript node), qdq.cpp (the
// QuantizeLinear/DequantizeLinear of a quant-sim's weights and activations). onnx_export.h is the
// interface.

#include <onnx/onnx_pb.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/io/onnx/onnx_export.h"
#include "src/io/onnx/tensor_names.h"

namespace adaflow::io::onnx_internal {

using torch::jit::Node;
using torch::jit::Value;

constexpr int kOpset = 13;

/// What a TorchScript value stands for while the graph is converted.
struct Item {
  /// kSize: an integer known only when the ONNX model runs (a dimension that follows the batch size):
  /// dimension `dim` of tensor `of`, or (`of` empty) the 1-element INT64 tensor `name` that holds it.
  /// Dimensions that do not depend on the batch size are kConstant integers.
  enum class Kind { kTensor, kParameter, kConstant, kList, kModule, kSize };
  Kind kind = Kind::kConstant;
  std::string name;          ///< kTensor: the ONNX tensor; kParameter: the initializer's name; kModule: its path
  torch::Tensor parameter;   ///< kParameter, made an initializer when first read
  c10::IValue constant;      ///< kConstant
  std::vector<Value*> list;  ///< kList built in the graph (prim::ListConstruct)
  std::vector<Item> elements;  ///< kList made by the conversion: x.size()'s dimensions, unbind's tensors
  std::string of;            ///< kSize
  std::int64_t dim = 0;
};

/// Converts one model's inlined graph node by node into an ONNX ModelProto. One use per object.
class Converter {
 public:
  Converter(const model::Model& model, const model::LayerGraph& layers, const OnnxQuantization* quantization);

  OnnxExport Run(const std::vector<TensorSpec>& inputs, const std::string& graph_name);

 private:
  /// A float graph input or output of `shape`, its first (batch) dimension left free.
  static void DeclareTensor(onnx::ValueInfoProto* info, const std::string& name, const std::vector<std::int64_t>& shape,
                            bool integer = false);

  Item TensorItem(const std::string& name) {
    Item item;
    item.kind = Item::Kind::kTensor;
    item.name = name;
    return item;
  }

  /// A new tensor name based on `base`, unique in the graph.
  std::string Fresh(const std::string& base);

  std::string AddInitializer(const std::string& base, const torch::Tensor& values);
  /// Makes the checked opset-13 model an opset-21 one (IR version 10) whose 4-bit weights are INT4/UINT4
  /// initializers (int4.cpp): `four_bit_initializers_` packed two a byte, ReduceMean's axes an input.
  void ToInt4Weights(onnx::ModelProto& proto);
  std::string Ints(const std::vector<std::int64_t>& values);
  std::string Scalar(double value);

  onnx::NodeProto* AddNode(const std::string& op, const std::vector<std::string>& inputs,
                           const std::vector<std::string>& outputs);
  static void Attr(onnx::NodeProto* node, const std::string& name, std::int64_t value);
  static void Attr(onnx::NodeProto* node, const std::string& name, const std::vector<std::int64_t>& values);
  static void AttrFloat(onnx::NodeProto* node, const std::string& name, double value);

  [[noreturn]] void Fail(const Node* node, const std::string& why) const;

  const Item& ItemOf(Value* value, const Node* user);

  /// The ONNX tensor of `value`: a tensor, a parameter (made an initializer on first use) or a
  /// constant tensor or number (an initializer).
  std::string TensorOf(Value* value, const Node* user);

  bool IsNone(Value* value, const Node* user);
  /// Whether `item` is an integer (a constant, a traced 0-D integer tensor constant, or a kSize).
  static bool IsInteger(const Item& item) {
    if (item.kind == Item::Kind::kSize || (item.kind == Item::Kind::kConstant && item.constant.isInt())) return true;
    return item.kind == Item::Kind::kConstant && item.constant.isTensor() && item.constant.toTensor().dim() == 0 &&
           !c10::isFloatingType(item.constant.toTensor().scalar_type());
  }
  /// An IsInteger item with a traced tensor constant made an int.
  static Item AsInteger(Item item) {
    if (item.kind == Item::Kind::kConstant && item.constant.isTensor()) item.constant = item.constant.toTensor().item<std::int64_t>();
    return item;
  }
  /// A kSize or integer item as a 1-element INT64 tensor (Shape + Gather for a tensor's dimension).
  std::string SizeTensor(const Item& item);
  /// The elements of a size list argument (`view(n, t, -1)`, `expand(n, -1, -1)`, `zeros([n, t])`).
  std::vector<Item> SizeItems(Value* value, const Node* user);
  /// A shape input for Reshape / Expand from size items: an INT64 initializer when every size is a
  /// constant (or, with `copy_from`, that tensor's own dimension at the same position: ONNX's 0), else the
  /// Concat of their 1-element tensors.
  std::string ShapeInput(const std::vector<Item>& sizes, const std::string& copy_from);
  double Number(Value* value, const Node* user);
  /// An integer argument, read as one (through a double, INT64_MAX, a slice's open end, would overflow).
  std::int64_t Int(Value* value, const Node* user);
  std::vector<std::int64_t> IntList(Value* value, const Node* user);
  std::string StringArg(Value* value, const Node* user);

  /// The name of node output `value` (tensor_names.h).
  const std::string& OutputName(Value* value) const { return names_.of.at(value); }
  void Produce(Value* value, const std::string& name) { items_[value] = TensorItem(name); }

  // ---- the op table (ops.cpp) ----

  void Convert(Node* node);

  void Skip(Node*) {}

  /// Traced shape arithmetic (`x.size(0)` as a tensor, then back to an int): the size as it was. Only
  /// sizes and integer constants pass (int() of a run-time tensor would truncate what ONNX keeps).
  void PassThrough(Node* node);

  void Constant(Node* node);

  void GetAttr(Node* node);

  void List(Node* node);

  void Size(Node* node);

  /// `a, b, c = list` (sizes, unbind's tensors, a built list).
  void ListUnpack(Node* node);

  void GetItem(Node* node);

  /// Integer arithmetic on sizes (`c // heads`, `n * heads`): a constant, or INT64 ops when a size
  /// follows the batch.
  void IntArithmetic(Node* node);

  // ---- quantize-dequantize (qdq.cpp) ----

  /// The weight of the layer at this node: its float initializer, or with QDQ its integers on the
  /// grid and a DequantizeLinear that gives the initializer's name.
  std::string Weight(Value* value, Node* node);
  /// With QDQ: Q/DQ after the quantized value at `ref`; its consumers read the dequantized tensor.
  void Quantize(const model::ValueRef& ref, Value* value);

  // ---- the ops ----

  void Conv(Node* node);

  void Linear(Node* node);

  void Binary(Node* node);

  /// addmm(input, mat1, mat2, beta, alpha) = beta·input + alpha·mat1·mat2 (older exported linear layers).
  void Addmm(Node* node);

  /// baddbmm(input, b1, b2, beta, alpha) = beta·input + alpha·b1·b2; the input is not read when beta is 0.
  void Baddbmm(Node* node);

  /// LayerNorm over the last dimensions, written out (opset 13 has no LayerNormalization):
  /// (x − mean) / √(var + ε) · weight + bias.
  void LayerNorm(Node* node);

  /// transpose, flatten, expand, unbind, select, slice: the tensor-layout ops of transformer code.
  void Layout(Node* node);

  /// zeros(sizes): a constant, or a zero expanded to a shape that follows the batch.
  void Zeros(Node* node);
  void Fold(Node* node);

  void Activation(Node* node);

  void Pool(Node* node);

  void Shape(Node* node);

  void Reduce(Node* node);

  /// A BatchNorm left in the model (eval mode): BatchNormalization on its parameters and statistics.
  void BatchNorm(Node* node);

  void Identity(Node* node);

  /// embedding(weight, ids): Gather of the weight's rows.
  void Embedding(Node* node);

  /// The ops of an attention mask: unsqueeze, eq / ne (compared as floats), masked_fill (Where).
  void Masking(Node* node);

  /// The rank of the tensor input of the node being converted (see InputShapes).
  std::int64_t InputRank(const Node* node) const;
  /// Dimension `dim` of that input (negative counts from the end) when it does not follow the batch size.
  std::optional<std::int64_t> StaticDim(const Node* node, std::int64_t dim) const;

  /// The shapes of the first input of the nodes whose conversion depends on them (aten::linear: Gemm takes
  /// 2-D inputs only; permute, transpose, flatten, size, unbind, ...), by node index, from runs on zero
  /// samples of batch 1 and 2: a dimension that differs between the two follows the batch.
  struct InputShape {
    std::vector<std::int64_t> one, two;
  };
  std::map<std::size_t, InputShape> InputShapes(torch::jit::Graph& graph, const std::vector<Node*>& nodes,
                                                const std::vector<TensorSpec>& inputs) const;

  const model::Model& model_;
  const OnnxQuantization* quantization_;
  std::map<std::size_t, const model::Layer*> layer_at_;
  std::map<model::ValueRef, const quant::ActivationQuantizer*> quantizer_at_;
  onnx::GraphProto* graph_ = nullptr;
  std::unordered_map<const Value*, Item> items_;
  TensorNames names_;          ///< every node output's name, chosen before anything is converted
  std::set<std::string> used_;  ///< every name in the graph: tensors, initializers, nodes
  std::map<std::size_t, InputShape> shapes_;
  std::size_t node_index_ = 0;
  std::map<std::string, std::string> activation_tensors_;
  std::map<std::string, std::string> weight_initializers_;
  std::set<std::string> emitted_parameters_;  ///< module paths whose tensor is in the graph (named by the path)
  std::set<std::string> four_bit_initializers_;  ///< with int4_weights: weights (and zero points) to store in 4 bits
};

}  // namespace adaflow::io::onnx_internal
