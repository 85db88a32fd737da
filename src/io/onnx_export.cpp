#include "src/io/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

#include "common/error.h"
#include "src/model/graph_capture.h"

namespace adaflow::io {
namespace {

using torch::jit::Node;
using torch::jit::Value;

constexpr int kOpset = 13;

/// What a TorchScript value stands for while the graph is converted.
struct Item {
  enum class Kind { kTensor, kParameter, kConstant, kList, kModule, kSize };
  Kind kind = Kind::kConstant;
  std::string name;          ///< kTensor: the ONNX tensor; kParameter: the initializer's name; kModule: its path
  torch::Tensor parameter;   ///< kParameter, made an initializer when first read
  c10::IValue constant;      ///< kConstant
  std::vector<Value*> list;  ///< kList
  std::string of;            ///< kSize: the tensor whose dimension `dim` it is
  std::int64_t dim = 0;
};

std::string NodeText(const Node* node) {
  std::ostringstream out;
  out << *node;
  std::string text = out.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

void SetTensor(onnx::TensorProto& proto, const std::string& name, const torch::Tensor& values) {
  const torch::Tensor data = values.contiguous();
  proto.set_name(name);
  for (auto size : data.sizes()) proto.add_dims(size);
  switch (data.scalar_type()) {
    case torch::kFloat32: proto.set_data_type(onnx::TensorProto::FLOAT); break;
    case torch::kInt64: proto.set_data_type(onnx::TensorProto::INT64); break;
    case torch::kInt8: proto.set_data_type(onnx::TensorProto::INT8); break;
    case torch::kUInt8: proto.set_data_type(onnx::TensorProto::UINT8); break;
    default: throw std::logic_error("onnx export: tensor '" + name + "' has an unsupported type");
  }
  proto.set_raw_data(std::string(static_cast<const char*>(data.data_ptr()), data.nbytes()));
}

class Converter {
 public:
  Converter(const model::Model& model, const model::LayerGraph& layers, const OnnxQuantization* quantization)
      : model_(model), quantization_(quantization) {
    for (const auto& layer : layers.layers) layer_at_[layer.node_index] = &layer;
    if (quantization_)
      for (const auto& quantizer : quantization_->activations) quantizer_at_[quantizer.value] = &quantizer;
  }

  OnnxExport Run(const std::vector<std::int64_t>& input_shape, const std::string& graph_name) {
    auto graph = model_.InlinedGraph();
    const auto nodes = model::TopLevelNodes(*graph);
    onnx::ModelProto proto;
    proto.set_ir_version(7);  // the IR version opset 13 needs, not the build library's newest
    proto.set_producer_name("adaflow");
    proto.add_opset_import()->set_version(kOpset);
    graph_ = proto.mutable_graph();
    graph_->set_name(graph_name);

    DeclareTensor(graph_->add_input(), "input", input_shape);
    used_.insert("input");
    used_.insert("output");
    Item self;
    self.kind = Item::Kind::kModule;  // the root module: name ""
    items_[graph->inputs().at(0)] = self;
    items_[graph->inputs().at(1)] = TensorItem("input");
    Quantize(model::ValueRef{}, graph->inputs().at(1));

    // Parameters keep their module paths: no other tensor may take one first.
    for (const auto& attribute : model_.module().named_attributes(/*recurse=*/true))
      if (attribute.value.isTensor()) used_.insert(attribute.name);
    ranks_ = InputRanks(*graph, nodes, input_shape);
    const std::set<const Node*> needed = Needed(*graph, nodes);
    for (std::size_t index = 0; index < nodes.size(); ++index) {
      Node* node = nodes[index];
      if (!needed.count(node)) continue;
      node_index_ = index;
      Convert(node);
      for (std::size_t output = 0; output < node->outputs().size(); ++output)
        Quantize(model::ValueRef{index, output}, node->output(output));
      // An in-place op (`y.relu_()`): every later read of its input sees its result.
      if (IsInPlace(node)) items_[node->input(0)] = items_.at(node->output());
    }

    Value* result = graph->outputs().at(0);
    if (result->node()->kind() == c10::prim::TupleConstruct) result = result->node()->input(0);
    AddNode("Identity", {TensorOf(result, result->node())}, {"output"});
    // The output's shape, from one forward pass on a zero sample; the batch dimension stays free.
    std::vector<std::int64_t> probe_shape = input_shape;
    if (!probe_shape.empty()) probe_shape[0] = 1;
    DeclareTensor(graph_->add_output(), "output", model_.Forward(torch::zeros(probe_shape)).sizes().vec());

    try {
      onnx::checker::check_model(proto);
    } catch (const std::exception& error) {
      throw std::logic_error(std::string("the ONNX model adaflow made fails onnx::checker: ") + error.what());
    }
    OnnxExport out;
    out.activation_tensors = std::move(activation_tensors_);
    out.weight_initializers = std::move(weight_initializers_);
    if (!proto.SerializeToString(&out.bytes)) throw std::runtime_error("the ONNX model could not be serialized");
    return out;
  }

 private:
  /// A float graph input or output of `shape`, its first (batch) dimension left free.
  static void DeclareTensor(onnx::ValueInfoProto* info, const std::string& name, const std::vector<std::int64_t>& shape) {
    info->set_name(name);
    auto* type = info->mutable_type()->mutable_tensor_type();
    type->set_elem_type(onnx::TensorProto::FLOAT);
    for (std::size_t dim = 0; dim < shape.size(); ++dim) {
      auto* shape_dim = type->mutable_shape()->add_dim();
      if (dim == 0) shape_dim->set_dim_param("batch");
      else shape_dim->set_dim_value(shape[dim]);
    }
  }

  Item TensorItem(const std::string& name) {
    Item item;
    item.kind = Item::Kind::kTensor;
    item.name = name;
    return item;
  }

  /// A new tensor name based on `base`, unique in the graph.
  std::string Fresh(const std::string& base) {
    std::string name = base;
    for (int suffix = 1; used_.count(name); ++suffix) name = base + "_" + std::to_string(suffix);
    used_.insert(name);
    return name;
  }

  std::string AddInitializer(const std::string& base, const torch::Tensor& values) {
    const std::string name = Fresh(base);
    SetTensor(*graph_->add_initializer(), name, values);
    return name;
  }
  std::string Ints(const std::vector<std::int64_t>& values) {
    return AddInitializer("const", torch::tensor(values, torch::kInt64));
  }
  std::string Scalar(double value) {
    return AddInitializer("const", torch::tensor(static_cast<float>(value), torch::kFloat32));
  }

  onnx::NodeProto* AddNode(const std::string& op, const std::vector<std::string>& inputs,
                           const std::vector<std::string>& outputs) {
    onnx::NodeProto* proto = graph_->add_node();
    proto->set_op_type(op);
    proto->set_name(Fresh(op + "_" + std::to_string(graph_->node_size())));
    for (const auto& input : inputs) proto->add_input(input);
    for (const auto& output : outputs) proto->add_output(output);
    return proto;
  }
  static void Attr(onnx::NodeProto* node, const std::string& name, std::int64_t value) {
    auto* attr = node->add_attribute();
    attr->set_name(name);
    attr->set_type(onnx::AttributeProto::INT);
    attr->set_i(value);
  }
  static void Attr(onnx::NodeProto* node, const std::string& name, const std::vector<std::int64_t>& values) {
    auto* attr = node->add_attribute();
    attr->set_name(name);
    attr->set_type(onnx::AttributeProto::INTS);
    for (auto value : values) attr->add_ints(value);
  }
  static void AttrFloat(onnx::NodeProto* node, const std::string& name, double value) {
    auto* attr = node->add_attribute();
    attr->set_name(name);
    attr->set_type(onnx::AttributeProto::FLOAT);
    attr->set_f(static_cast<float>(value));
  }

  [[noreturn]] void Fail(const Node* node, const std::string& why) const {
    throw InputError("ONNX export: " + why + " (TorchScript node " + NodeText(node) + ")");
  }

  const Item& ItemOf(Value* value, const Node* user) {
    auto it = items_.find(value);
    if (it == items_.end()) {
      const Node* producer = value->node();
      if (producer->kind() == c10::prim::Constant) {
        Item item;
        item.constant = torch::jit::toIValue(value).value();
        return items_[value] = item;
      }
      Fail(user, "an input comes from " + std::string(producer->kind().toQualString()) + ", which was not converted");
    }
    return it->second;
  }

  /// The ONNX tensor of `value`: a tensor, a parameter (made an initializer on first use) or a
  /// constant tensor or number (an initializer).
  std::string TensorOf(Value* value, const Node* user) {
    Item& item = const_cast<Item&>(ItemOf(value, user));
    switch (item.kind) {
      case Item::Kind::kTensor: return item.name;
      case Item::Kind::kParameter:
        // A parameter read more than once (a module called twice) is one initializer.
        if (!emitted_parameters_.count(item.name)) {
          SetTensor(*graph_->add_initializer(), item.name, item.parameter.to(torch::kFloat32));
          emitted_parameters_.insert(item.name);
        }
        item.kind = Item::Kind::kTensor;
        return item.name;
      case Item::Kind::kConstant:
        if (item.constant.isTensor()) return AddInitializer("const", item.constant.toTensor().to(torch::kFloat32));
        if (item.constant.isDouble() || item.constant.isInt()) return Scalar(item.constant.toScalar().toDouble());
        break;
      default: break;
    }
    Fail(user, "an input is not a tensor ONNX can take");
  }

  bool IsNone(Value* value, const Node* user) {
    const Item& item = ItemOf(value, user);
    return item.kind == Item::Kind::kConstant && item.constant.isNone();
  }
  double Number(Value* value, const Node* user) {
    const Item& item = ItemOf(value, user);
    if (item.kind != Item::Kind::kConstant || !(item.constant.isDouble() || item.constant.isInt() || item.constant.isBool()))
      Fail(user, "an argument is not a constant number");
    return item.constant.isBool() ? item.constant.toBool() : item.constant.toScalar().toDouble();
  }
  std::int64_t Int(Value* value, const Node* user) { return static_cast<std::int64_t>(Number(value, user)); }
  std::vector<std::int64_t> IntList(Value* value, const Node* user) {
    const Item& item = ItemOf(value, user);
    if (item.kind == Item::Kind::kConstant && item.constant.isIntList()) return item.constant.toIntVector();
    if (item.kind == Item::Kind::kConstant && item.constant.isInt()) return {item.constant.toInt()};
    if (item.kind == Item::Kind::kList) {
      std::vector<std::int64_t> values;
      for (Value* element : item.list) values.push_back(Int(element, user));
      return values;
    }
    Fail(user, "an argument is not a constant list of integers");
  }
  std::string StringArg(Value* value, const Node* user) {
    const Item& item = ItemOf(value, user);
    if (item.kind != Item::Kind::kConstant || !item.constant.isString()) Fail(user, "an argument is not a constant string");
    return item.constant.toStringRef();
  }

  /// The name of node output `value`: "<module path>/<op>" ("layers.0.conv1/conv2d"; "relu" at the root),
  /// made unique in graph order (relu, relu_1, …). Built from the model's structure, not TorchScript's
  /// debug names, so a model saved and loaded again (model_adaround.pt) gets the same names.
  std::string OutputName(Value* value) {
    const Node* node = value->node();
    std::string op = node->kind().toUnqualString();
    while (!op.empty() && op.back() == '_') op.pop_back();  // in place: relu_
    while (!op.empty() && op.front() == '_') op.erase(0, 1);  // traced: _convolution
    const std::string path = model::ModuleOf(model_.module(), node).path;
    std::string base = path.empty() ? op : path + "/" + op;
    if (node->outputs().size() > 1) base += "." + std::to_string(value->offset());
    return Fresh(base);
  }
  void Produce(Value* value, const std::string& name) { items_[value] = TensorItem(name); }

  // ---- the op table ----

  void Convert(Node* node) {
    const std::string kind = node->kind().toQualString();
    using Handler = void (Converter::*)(Node*);
    static const std::unordered_map<std::string, Handler> kHandlers = {
        {"prim::Constant", &Converter::Constant},
        {"prim::GetAttr", &Converter::GetAttr},
        {"prim::ListConstruct", &Converter::List},
        {"prim::TupleConstruct", &Converter::Skip},
        {"aten::size", &Converter::Size},
        {"prim::NumToTensor", &Converter::PassThrough},
        {"aten::Int", &Converter::PassThrough},
        {"aten::conv1d", &Converter::Conv},
        {"aten::conv2d", &Converter::Conv},
        {"aten::_convolution", &Converter::Conv},
        {"aten::conv_transpose1d", &Converter::Conv},
        {"aten::conv_transpose2d", &Converter::Conv},
        {"aten::linear", &Converter::Linear},
        {"aten::matmul", &Converter::Binary},
        {"aten::addmm", &Converter::Addmm},
        {"aten::t", &Converter::Shape},
        {"aten::add", &Converter::Binary},
        {"aten::add_", &Converter::Binary},
        {"aten::sub", &Converter::Binary},
        {"aten::sub_", &Converter::Binary},
        {"aten::mul", &Converter::Binary},
        {"aten::mul_", &Converter::Binary},
        {"aten::div", &Converter::Binary},
        {"aten::div_", &Converter::Binary},
        {"aten::relu", &Converter::Activation},
        {"aten::relu_", &Converter::Activation},
        {"aten::relu6", &Converter::Activation},
        {"aten::relu6_", &Converter::Activation},
        {"aten::hardtanh", &Converter::Activation},
        {"aten::hardtanh_", &Converter::Activation},
        {"aten::clamp", &Converter::Activation},
        {"aten::clamp_", &Converter::Activation},
        {"aten::sigmoid", &Converter::Activation},
        {"aten::sigmoid_", &Converter::Activation},
        {"aten::tanh", &Converter::Activation},
        {"aten::tanh_", &Converter::Activation},
        {"aten::silu", &Converter::Activation},
        {"aten::silu_", &Converter::Activation},
        {"aten::hardswish", &Converter::Activation},
        {"aten::hardswish_", &Converter::Activation},
        {"aten::hardsigmoid", &Converter::Activation},
        {"aten::hardsigmoid_", &Converter::Activation},
        {"aten::gelu", &Converter::Activation},
        {"aten::max_pool1d", &Converter::Pool},
        {"aten::max_pool2d", &Converter::Pool},
        {"aten::avg_pool1d", &Converter::Pool},
        {"aten::avg_pool2d", &Converter::Pool},
        {"aten::adaptive_avg_pool1d", &Converter::Pool},
        {"aten::adaptive_avg_pool2d", &Converter::Pool},
        {"aten::flatten", &Converter::Shape},
        {"aten::view", &Converter::Shape},
        {"aten::reshape", &Converter::Shape},
        {"aten::cat", &Converter::Shape},
        {"aten::permute", &Converter::Shape},
        {"aten::softmax", &Converter::Reduce},
        {"aten::log_softmax", &Converter::Reduce},
        {"aten::mean", &Converter::Reduce},
        {"aten::dropout", &Converter::Identity},
        {"aten::dropout_", &Converter::Identity},
        {"aten::feature_dropout", &Converter::Identity},
        {"aten::contiguous", &Converter::Identity},
    };
    auto it = kHandlers.find(kind);
    if (it == kHandlers.end()) Fail(node, kind + " has no ONNX conversion in adaflow");
    (this->*(it->second))(node);
  }

  void Skip(Node*) {}

  /// Traced shape arithmetic (`x.size(0)` as a tensor, then back to an int): the size as it was. Only
  /// sizes and integer constants pass (int() of a run-time tensor would truncate what ONNX keeps).
  void PassThrough(Node* node) {
    const Item& item = ItemOf(node->input(0), node);
    const bool integer = item.kind == Item::Kind::kConstant && item.constant.isInt();
    if (item.kind != Item::Kind::kSize && !integer) Fail(node, "a number computed from a tensor at run time");
    items_[node->output()] = item;
  }

  void Constant(Node* node) {
    Item item;
    item.constant = torch::jit::toIValue(node->output()).value();
    items_[node->output()] = item;
  }

  void GetAttr(Node* node) {
    const Item& owner = ItemOf(node->input(0), node);
    if (owner.kind != Item::Kind::kModule) Fail(node, "an attribute of something other than a module");
    const std::string name = node->s(c10::attr::name);
    const std::string path = owner.name.empty() ? name : owner.name + "." + name;
    const torch::jit::Module module = owner.name.empty() ? model_.module() : model_.Submodule(owner.name);
    const c10::IValue value = module.attr(name);
    Item item;
    if (value.isModule()) {
      item.kind = Item::Kind::kModule;
      item.name = path;
    } else if (value.isTensor()) {
      item.kind = Item::Kind::kParameter;
      item.name = path;
      item.parameter = value.toTensor().detach();
      used_.insert(path);
    } else {
      item.constant = value;
    }
    items_[node->output()] = item;
  }

  void List(Node* node) {
    Item item;
    item.kind = Item::Kind::kList;
    for (Value* input : node->inputs()) item.list.push_back(input);
    items_[node->output()] = item;
  }

  void Size(Node* node) {
    if (node->inputs().size() != 2) Fail(node, "x.size() without a dimension");
    Item item;
    item.kind = Item::Kind::kSize;
    item.of = TensorOf(node->input(0), node);
    item.dim = Int(node->input(1), node);
    items_[node->output()] = item;
  }

  /// The weight of the layer at this node: its float initializer, or with QDQ its integers on the
  /// grid and a DequantizeLinear that gives the initializer's name.
  std::string Weight(Value* value, Node* node) {
    const auto layer_it = layer_at_.find(node_index_);
    const Item& item = ItemOf(value, node);
    if (layer_it == layer_at_.end() || item.kind != Item::Kind::kParameter) return TensorOf(value, node);
    const std::string& layer = layer_it->second->name;
    weight_initializers_[layer] = item.name;
    if (!quantization_ || !quantization_->qdq || emitted_parameters_.count(item.name)) return TensorOf(value, node);
    const auto encoding_it = quantization_->params.find(layer);
    if (encoding_it == quantization_->params.end()) return TensorOf(value, node);
    const quant::TensorEncoding& encoding = encoding_it->second;
    bool signed_grid = true;
    for (const auto& channel : encoding.channels) {
      if (channel.bitwidth > 8) return TensorOf(value, node);  // 16-bit weights stay float (on their grid)
      signed_grid = signed_grid && channel.symmetric && channel.offset < 0;
    }
    const torch::Tensor weight = item.parameter.to(torch::kFloat64).contiguous();
    const std::int64_t count = static_cast<std::int64_t>(encoding.channels.size());
    std::vector<double> scales, offsets;
    for (const auto& channel : encoding.channels) {
      scales.push_back(channel.scale);
      offsets.push_back(static_cast<double>(channel.offset));
    }
    std::vector<std::int64_t> view(static_cast<std::size_t>(weight.dim()), 1);
    if (count > 1) view[static_cast<std::size_t>(encoding.axis)] = count;
    const torch::Tensor scale = torch::tensor(scales, torch::kFloat64).view(view);
    const torch::Tensor offset = torch::tensor(offsets, torch::kFloat64).view(view);
    // On its grid the weight is Δ·(q + o): signed grids store q + o (zero point 0), others q (zero point −o).
    torch::Tensor levels = torch::round(weight / scale);
    if (!signed_grid) levels = levels - offset;
    const std::string quantized =
        AddInitializer(item.name + "_quantized", levels.to(signed_grid ? torch::kInt8 : torch::kUInt8));
    const std::string scale_name = AddInitializer(item.name + "_scale", torch::tensor(scales).to(torch::kFloat32).view(count > 1 ? std::vector<std::int64_t>{count} : std::vector<std::int64_t>{}));
    torch::Tensor zero = signed_grid ? torch::zeros({count}, torch::TensorOptions().dtype(torch::kInt8))
                                     : (-torch::tensor(offsets, torch::kFloat64)).to(torch::kUInt8);
    if (count == 1) zero = zero.reshape(std::vector<std::int64_t>{});  // (view({}) would reinterpret the dtype)
    const std::string zero_name = AddInitializer(item.name + "_zero_point", zero);
    used_.insert(item.name);
    auto* dequantize = AddNode("DequantizeLinear", {quantized, scale_name, zero_name}, {item.name});
    if (count > 1) Attr(dequantize, "axis", encoding.axis);
    emitted_parameters_.insert(item.name);
    const_cast<Item&>(item).kind = Item::Kind::kTensor;
    return item.name;
  }

  void Conv(Node* node) {
    const std::string kind = node->kind().toQualString();
    const auto in = node->inputs();
    std::vector<std::int64_t> stride, padding, dilation, output_padding;
    std::int64_t groups = 1;
    bool transposed = kind == "aten::conv_transpose1d" || kind == "aten::conv_transpose2d";
    if (kind == "aten::_convolution") {
      stride = IntList(in[3], node), padding = IntList(in[4], node), dilation = IntList(in[5], node);
      transposed = Number(in[6], node) != 0;
      output_padding = IntList(in[7], node);
      groups = Int(in[8], node);
    } else if (transposed) {
      stride = IntList(in[3], node), padding = IntList(in[4], node), output_padding = IntList(in[5], node);
      groups = Int(in[6], node), dilation = IntList(in[7], node);
    } else {
      const Item& pad = ItemOf(in[4], node);
      if (pad.kind == Item::Kind::kConstant && pad.constant.isString())
        Fail(node, "padding='" + pad.constant.toStringRef() + "' (give the padding as numbers)");
      stride = IntList(in[3], node), padding = IntList(in[4], node), dilation = IntList(in[5], node);
      groups = Int(in[6], node);
    }
    std::vector<std::string> inputs = {TensorOf(in[0], node), Weight(in[1], node)};
    if (!IsNone(in[2], node)) inputs.push_back(TensorOf(in[2], node));
    const std::string out = OutputName(node->output());
    auto* conv = AddNode(transposed ? "ConvTranspose" : "Conv", inputs, {out});
    std::vector<std::int64_t> pads = padding;
    pads.insert(pads.end(), padding.begin(), padding.end());
    Attr(conv, "strides", stride);
    Attr(conv, "pads", pads);
    Attr(conv, "dilations", dilation);
    Attr(conv, "group", groups);
    if (transposed && !output_padding.empty()) Attr(conv, "output_padding", output_padding);
    Produce(node->output(), out);
  }

  void Linear(Node* node) {
    const auto in = node->inputs();
    const std::string input = TensorOf(in[0], node), weight = Weight(in[1], node);
    const std::string out = OutputName(node->output());
    const auto rank = ranks_.find(node_index_);
    if (rank != ranks_.end() && rank->second == 2) {
      std::vector<std::string> inputs = {input, weight};
      if (!IsNone(in[2], node)) inputs.push_back(TensorOf(in[2], node));
      Attr(AddNode("Gemm", inputs, {out}), "transB", 1);
    } else {
      const std::string transposed = Fresh(out + "_weight_t");
      Attr(AddNode("Transpose", {weight}, {transposed}), "perm", std::vector<std::int64_t>{1, 0});
      if (IsNone(in[2], node)) {
        AddNode("MatMul", {input, transposed}, {out});
      } else {
        const std::string product = Fresh(out + "_matmul");
        AddNode("MatMul", {input, transposed}, {product});
        AddNode("Add", {product, TensorOf(in[2], node)}, {out});
      }
    }
    Produce(node->output(), out);
  }

  void Binary(Node* node) {
    const std::string kind = node->kind().toQualString();
    const std::string base = kind.substr(6, kind.back() == '_' ? kind.size() - 7 : std::string::npos);
    static const std::map<std::string, std::string> kOps = {
        {"add", "Add"}, {"sub", "Sub"}, {"mul", "Mul"}, {"div", "Div"}, {"matmul", "MatMul"}};
    if ((base == "add" || base == "sub") && node->inputs().size() > 2 && Number(node->input(2), node) != 1.0)
      Fail(node, "alpha other than 1");
    if (base == "div" && node->inputs().size() > 2) Fail(node, "a rounding mode");
    const std::string out = OutputName(node->output());
    AddNode(kOps.at(base), {TensorOf(node->input(0), node), TensorOf(node->input(1), node)}, {out});
    Produce(node->output(), out);
  }

  /// addmm(input, mat1, mat2, beta, alpha) = beta·input + alpha·mat1·mat2 (older exported linear layers).
  void Addmm(Node* node) {
    const auto in = node->inputs();
    const std::string out = OutputName(node->output());
    auto* gemm = AddNode("Gemm", {TensorOf(in[1], node), TensorOf(in[2], node), TensorOf(in[0], node)}, {out});
    AttrFloat(gemm, "beta", in.size() > 3 ? Number(in[3], node) : 1.0);
    AttrFloat(gemm, "alpha", in.size() > 4 ? Number(in[4], node) : 1.0);
    Produce(node->output(), out);
  }

  void Activation(Node* node) {
    std::string kind = node->kind().toQualString();
    if (kind.back() == '_') kind.pop_back();
    const std::string x = TensorOf(node->input(0), node);
    const std::string out = OutputName(node->output());
    auto clip = [&](std::optional<double> low, std::optional<double> high) {
      AddNode("Clip", {x, low ? Scalar(*low) : "", high ? Scalar(*high) : ""}, {out});
    };
    if (kind == "aten::relu") {
      AddNode("Relu", {x}, {out});
    } else if (kind == "aten::relu6") {
      clip(0.0, 6.0);
    } else if (kind == "aten::hardtanh") {
      clip(Number(node->input(1), node), Number(node->input(2), node));
    } else if (kind == "aten::clamp") {
      auto bound = [&](Value* value) -> std::optional<double> {
        if (IsNone(value, node)) return std::nullopt;
        return Number(value, node);
      };
      clip(bound(node->input(1)), bound(node->input(2)));
    } else if (kind == "aten::sigmoid") {
      AddNode("Sigmoid", {x}, {out});
    } else if (kind == "aten::tanh") {
      AddNode("Tanh", {x}, {out});
    } else if (kind == "aten::silu") {
      const std::string gate = Fresh(out + "_sigmoid");
      AddNode("Sigmoid", {x}, {gate});
      AddNode("Mul", {x, gate}, {out});
    } else if (kind == "aten::hardsigmoid" || kind == "aten::hardswish") {
      // hardsigmoid(x) = clip(x/6 + 1/2, 0, 1); hardswish(x) = x · hardsigmoid(x).
      const std::string gate = kind == "aten::hardsigmoid" ? out : Fresh(out + "_hardsigmoid");
      auto* node_proto = AddNode("HardSigmoid", {x}, {gate});
      AttrFloat(node_proto, "alpha", 1.0 / 6.0);
      AttrFloat(node_proto, "beta", 0.5);
      if (kind == "aten::hardswish") AddNode("Mul", {x, gate}, {out});
    } else if (kind == "aten::gelu") {
      const std::string approximate = node->inputs().size() > 1 ? StringArg(node->input(1), node) : "none";
      const std::string half = Fresh(out + "_half"), inner = Fresh(out + "_inner"), plus = Fresh(out + "_plus");
      AddNode("Mul", {x, Scalar(0.5)}, {half});
      if (approximate == "none") {
        // x/2 · (1 + erf(x/√2))
        const std::string scaled = Fresh(out + "_scaled");
        AddNode("Div", {x, Scalar(std::sqrt(2.0))}, {scaled});
        AddNode("Erf", {scaled}, {inner});
      } else {
        // x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³)))
        const std::string cube = Fresh(out + "_cube"), term = Fresh(out + "_term"), sum = Fresh(out + "_sum"),
                          arg = Fresh(out + "_arg");
        AddNode("Pow", {x, Scalar(3.0)}, {cube});
        AddNode("Mul", {cube, Scalar(0.044715)}, {term});
        AddNode("Add", {x, term}, {sum});
        AddNode("Mul", {sum, Scalar(std::sqrt(2.0 / 3.14159265358979323846))}, {arg});
        AddNode("Tanh", {arg}, {inner});
      }
      AddNode("Add", {inner, Scalar(1.0)}, {plus});
      AddNode("Mul", {half, plus}, {out});
    }
    Produce(node->output(), out);
  }

  void Pool(Node* node) {
    const std::string kind = node->kind().toQualString();
    const auto in = node->inputs();
    const std::string x = TensorOf(in[0], node), out = OutputName(node->output());
    if (kind.find("adaptive") != std::string::npos) {
      for (auto size : IntList(in[1], node))
        if (size != 1) Fail(node, "adaptive pooling to a size other than 1");
      AddNode("GlobalAveragePool", {x}, {out});
      Produce(node->output(), out);
      return;
    }
    const std::vector<std::int64_t> kernel = IntList(in[1], node);
    std::vector<std::int64_t> stride = IntList(in[2], node);
    if (stride.empty()) stride = kernel;
    const std::vector<std::int64_t> padding = IntList(in[3], node);
    std::vector<std::int64_t> pads = padding;
    pads.insert(pads.end(), padding.begin(), padding.end());
    const bool max = kind.find("max_pool") != std::string::npos;
    auto* pool = AddNode(max ? "MaxPool" : "AveragePool", {x}, {out});
    Attr(pool, "kernel_shape", kernel);
    Attr(pool, "strides", stride);
    Attr(pool, "pads", pads);
    if (max) {
      Attr(pool, "dilations", IntList(in[4], node));
      Attr(pool, "ceil_mode", Int(in[5], node));
    } else {
      Attr(pool, "ceil_mode", Int(in[4], node));
      Attr(pool, "count_include_pad", Int(in[5], node));
      if (in.size() > 6 && !IsNone(in[6], node)) Fail(node, "divisor_override");
    }
    Produce(node->output(), out);
  }

  void Shape(Node* node) {
    const std::string kind = node->kind().toQualString();
    const auto in = node->inputs();
    const std::string out = OutputName(node->output());
    if (kind == "aten::cat") {
      const Item& list = ItemOf(in[0], node);
      if (list.kind != Item::Kind::kList) Fail(node, "a tensor list that is not built in the graph");
      std::vector<std::string> inputs;
      for (Value* element : list.list) inputs.push_back(TensorOf(element, node));
      Attr(AddNode("Concat", inputs, {out}), "axis", Int(in[1], node));
    } else if (kind == "aten::flatten") {
      if (Int(in[1], node) != 1 || Int(in[2], node) != -1) Fail(node, "flatten other than flatten(x, 1)");
      Attr(AddNode("Flatten", {TensorOf(in[0], node)}, {out}), "axis", 1);
    } else if (kind == "aten::t") {
      if (InputRank(node) == 2)
        Attr(AddNode("Transpose", {TensorOf(in[0], node)}, {out}), "perm", std::vector<std::int64_t>{1, 0});
      else
        AddNode("Identity", {TensorOf(in[0], node)}, {out});  // t() of a 0-D or 1-D tensor is itself
    } else if (kind == "aten::permute") {
      std::vector<std::int64_t> perm = IntList(in[1], node);
      for (auto& dim : perm)
        if (dim < 0) dim += InputRank(node);  // ONNX's perm takes no negative dims
      Attr(AddNode("Transpose", {TensorOf(in[0], node)}, {out}), "perm", perm);
    } else {
      // view / reshape: constant sizes, or x.size(i) at position i (ONNX's 0: keep that dimension).
      const std::string x = TensorOf(in[0], node);
      const Item& sizes = ItemOf(in[1], node);
      std::vector<std::int64_t> shape;
      if (sizes.kind == Item::Kind::kList) {
        for (std::size_t position = 0; position < sizes.list.size(); ++position) {
          const Item& element = ItemOf(sizes.list[position], node);
          if (element.kind == Item::Kind::kSize && element.of == x && element.dim == static_cast<std::int64_t>(position))
            shape.push_back(0);
          else
            shape.push_back(Int(sizes.list[position], node));
        }
      } else {
        shape = IntList(in[1], node);
      }
      AddNode("Reshape", {x, Ints(shape)}, {out});
    }
    Produce(node->output(), out);
  }

  void Reduce(Node* node) {
    const std::string kind = node->kind().toQualString();
    const auto in = node->inputs();
    const std::string x = TensorOf(in[0], node), out = OutputName(node->output());
    if (kind == "aten::mean") {
      if (in.size() < 3) Fail(node, "mean over every dimension");
      if (in.size() > 3 && !IsNone(in[3], node)) Fail(node, "a dtype argument");
      auto* mean = AddNode("ReduceMean", {x}, {out});
      Attr(mean, "axes", IntList(in[1], node));
      Attr(mean, "keepdims", Int(in[2], node));
    } else {
      if (in.size() > 2 && !IsNone(in[2], node)) Fail(node, "a dtype argument");
      Attr(AddNode(kind == "aten::softmax" ? "Softmax" : "LogSoftmax", {x}, {out}), "axis", Int(in[1], node));
    }
    Produce(node->output(), out);
  }

  void Identity(Node* node) {
    const std::string kind = node->kind().toQualString();
    if (kind != "aten::contiguous" && node->inputs().size() > 2 && Number(node->input(2), node) != 0)
      Fail(node, "dropout in training mode");
    const std::string out = OutputName(node->output());
    AddNode("Identity", {TensorOf(node->input(0), node)}, {out});
    Produce(node->output(), out);
  }

  /// With QDQ: Q/DQ after the quantized value at `ref`; its consumers read the dequantized tensor.
  void Quantize(const model::ValueRef& ref, Value* value) {
    if (!quantization_) return;
    auto it = quantizer_at_.find(ref);
    if (it == quantizer_at_.end()) return;
    const quant::ActivationQuantizer& quantizer = *it->second;
    const quant::Encoding& encoding = quantizer.encoding;
    const std::string tensor = TensorOf(value, value->node());
    activation_tensors_[quantizer.name] = tensor;
    if (!quantization_->qdq) return;
    if (encoding.bitwidth > 8)
      throw InputError("ONNX export: activation quantizer '" + quantizer.name + "' has " +
                       std::to_string(encoding.bitwidth) + " bits; onnx_qdq holds up to 8 (opset 13)");
    const std::string scale = AddInitializer(tensor + "_scale", torch::tensor(static_cast<float>(encoding.scale)));
    const std::string zero =
        AddInitializer(tensor + "_zero_point", torch::tensor(static_cast<std::int64_t>(-encoding.offset)).to(torch::kUInt8));
    const std::string quantized = Fresh(tensor + "_quantized"), dequantized = Fresh(tensor + "_dequantized");
    AddNode("QuantizeLinear", {tensor, scale, zero}, {quantized});
    if (encoding.bitwidth == 8) {
      AddNode("DequantizeLinear", {quantized, scale, zero}, {dequantized});
    } else {
      // Fewer than 8 bits: uint8 saturates at 255, so the grid's own ends are kept with a Clip.
      const std::string wide = Fresh(tensor + "_dequantized_uint8");
      AddNode("DequantizeLinear", {quantized, scale, zero}, {wide});
      const double low = encoding.scale * static_cast<double>(encoding.offset);
      const double high = encoding.scale * static_cast<double>(encoding.offset + encoding.steps());
      AddNode("Clip", {wide, Scalar(low), Scalar(high)}, {dequantized});
    }
    items_[value] = TensorItem(dequantized);
  }

  static bool IsInPlace(const Node* node) {
    const std::string kind = node->kind().toQualString();
    return kind.rfind("aten::", 0) == 0 && kind.back() == '_' && node->inputs().size() >= 1 && node->outputs().size() == 1;
  }

  /// The nodes the output depends on (shape checks and other dead ends are left out), and the in-place
  /// ops on values it depends on, whose results are read through their input.
  std::set<const Node*> Needed(torch::jit::Graph& graph, const std::vector<Node*>& nodes) const {
    std::set<const Node*> needed;
    std::vector<const Node*> stack;
    auto mark = [&]() {
      while (!stack.empty()) {
        const Node* node = stack.back();
        stack.pop_back();
        if (node->kind() == c10::prim::Param || !needed.insert(node).second) continue;
        for (const Value* input : node->inputs()) stack.push_back(input->node());
      }
    };
    for (const Value* output : graph.outputs()) stack.push_back(output->node());
    mark();
    for (bool grew = true; grew;) {
      grew = false;
      for (const Node* node : nodes) {
        const Node* target = IsInPlace(node) ? node->input(0)->node() : nullptr;
        if (!target || needed.count(node) || !(needed.count(target) || target->kind() == c10::prim::Param)) continue;
        stack.push_back(node);
        mark();
        grew = true;
      }
    }
    return needed;
  }

  /// The rank of the tensor input of the node being converted (see InputRanks).
  std::int64_t InputRank(const Node* node) const {
    const auto rank = ranks_.find(node_index_);
    if (rank == ranks_.end()) Fail(node, "the rank of the input is not known");
    return rank->second;
  }

  /// The rank of the input of each aten::linear (Gemm takes 2-D inputs only), aten::permute (its
  /// negative dims) and aten::t, by node index, from one run on a zero sample.
  std::map<std::size_t, std::int64_t> InputRanks(torch::jit::Graph& graph, const std::vector<Node*>& nodes,
                                                 const std::vector<std::int64_t>& input_shape) const {
    std::map<const Value*, model::ValueRef> refs;
    refs[graph.inputs().at(1)] = model::ValueRef{};
    for (std::size_t index = 0; index < nodes.size(); ++index)
      for (std::size_t output = 0; output < nodes[index]->outputs().size(); ++output)
        refs[nodes[index]->output(output)] = model::ValueRef{index, output};
    std::vector<std::size_t> indices;
    std::vector<model::ValueRef> wanted;
    for (std::size_t index = 0; index < nodes.size(); ++index) {
      const auto kind = nodes[index]->kind();
      if (kind != c10::Symbol::aten("linear") && kind != c10::Symbol::aten("permute") && kind != c10::Symbol::aten("t"))
        continue;
      const auto it = refs.find(nodes[index]->input(0));
      if (it == refs.end()) continue;
      indices.push_back(index);
      wanted.push_back(it->second);
    }
    std::map<std::size_t, std::int64_t> ranks;
    if (wanted.empty()) return ranks;
    std::vector<std::int64_t> shape = input_shape;
    if (!shape.empty()) shape[0] = 1;
    const auto shared = std::shared_ptr<const model::Model>(&model_, [](const model::Model*) {});
    const auto values = model::GraphCapture(shared, wanted).Run(torch::zeros(shape));
    for (std::size_t idx = 0; idx < indices.size(); ++idx) ranks[indices[idx]] = values[idx].dim();
    return ranks;
  }

  const model::Model& model_;
  const OnnxQuantization* quantization_;
  std::map<std::size_t, const model::Layer*> layer_at_;
  std::map<model::ValueRef, const quant::ActivationQuantizer*> quantizer_at_;
  onnx::GraphProto* graph_ = nullptr;
  std::unordered_map<const Value*, Item> items_;
  std::set<std::string> used_;
  std::map<std::size_t, std::int64_t> ranks_;
  std::size_t node_index_ = 0;
  std::map<std::string, std::string> activation_tensors_;
  std::map<std::string, std::string> weight_initializers_;
  std::set<std::string> emitted_parameters_;  ///< module paths whose tensor is in the graph (named by the path)
};

}  // namespace

OnnxExport ExportOnnx(const model::Model& model, const model::LayerGraph& layers,
                      const std::vector<std::int64_t>& input_shape, const OnnxQuantization* quantization,
                      const std::string& graph_name) {
  return Converter(model, layers, quantization).Run(input_shape, graph_name);
}

}  // namespace adaflow::io
