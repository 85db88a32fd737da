#include "src/io/onnx/converter.h"

#include <onnx/checker.h>
#include <torch/csrc/jit/ir/constants.h>

#include <sstream>

#include "common/error.h"
#include "src/model/graph_capture.h"

namespace adaflow::io::onnx_internal {
namespace {

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

}  // namespace

Converter::Converter(const model::Model& model, const model::LayerGraph& layers, const OnnxQuantization* quantization)
    : model_(model), quantization_(quantization) {
  for (const auto& layer : layers.layers) layer_at_[layer.node_index] = &layer;
  if (quantization_)
    for (const auto& quantizer : quantization_->activations) quantizer_at_[quantizer.value] = &quantizer;
}

OnnxExport Converter::Run(const std::vector<TensorSpec>& inputs, const std::string& graph_name) {
  auto graph = model_.InlinedGraph();
  const auto nodes = model::TopLevelNodes(*graph);
  onnx::ModelProto proto;
  proto.set_ir_version(7);  // the IR version opset 13 needs, not the build library's newest
  proto.set_producer_name("adaflow");
  proto.add_opset_import()->set_version(kOpset);
  graph_ = proto.mutable_graph();
  graph_->set_name(graph_name);

  if (inputs.size() + 1 != graph->inputs().size())
    throw std::logic_error("ONNX export: " + std::to_string(inputs.size()) + " input(s) given for a forward of " +
                           std::to_string(graph->inputs().size() - 1));
  for (std::size_t index = 0; index < inputs.size(); ++index)
    DeclareTensor(graph_->add_input(), OnnxInputName(model_, index), inputs[index].shape, inputs[index].integer());
  // Every tensor's name first (the same names a quant-sim learns from OnnxActivationTensorNames); the
  // helpers' names (initializers, nodes, intermediate tensors) are made unique against them.
  names_ = NameTensors(model_, *graph, nodes);
  used_ = names_.used;
  Item self;
  self.kind = Item::Kind::kModule;  // the root module: name ""
  items_[graph->inputs().at(0)] = self;
  for (std::size_t index = 0; index < inputs.size(); ++index) {
    items_[graph->inputs().at(1 + index)] = TensorItem(OnnxInputName(model_, index));
    Quantize(model::ValueRef{model::ValueRef::kInput, index}, graph->inputs().at(1 + index));
  }

  shapes_ = InputShapes(*graph, nodes, inputs);
  const std::set<const Node*> needed = NeededNodes(*graph, nodes);
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
  DeclareTensor(graph_->add_output(), "output", model_.Forward(model::ExampleInputs(inputs, 1)).sizes().vec());

  try {
    onnx::checker::check_model(proto);
  } catch (const std::exception& error) {
    throw std::logic_error(std::string("the ONNX model adaflow made fails onnx::checker: ") + error.what());
  }
  // (Checked in its opset-13 form: Debian's ONNX library predates INT4.)
  if (!four_bit_initializers_.empty()) ToInt4Weights(proto);
  OnnxExport out;
  out.activation_tensors = std::move(activation_tensors_);
  out.weight_initializers = std::move(weight_initializers_);
  if (!proto.SerializeToString(&out.bytes)) throw std::runtime_error("the ONNX model could not be serialized");
  return out;
}

void Converter::DeclareTensor(onnx::ValueInfoProto* info, const std::string& name, const std::vector<std::int64_t>& shape,
                              bool integer) {
  info->set_name(name);
  auto* type = info->mutable_type()->mutable_tensor_type();
  type->set_elem_type(integer ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT);
  for (std::size_t dim = 0; dim < shape.size(); ++dim) {
    auto* shape_dim = type->mutable_shape()->add_dim();
    if (dim == 0) shape_dim->set_dim_param("batch");
    else shape_dim->set_dim_value(shape[dim]);
  }
}

std::string Converter::Fresh(const std::string& base) {
  std::string name = base;
  for (int suffix = 1; used_.count(name); ++suffix) name = base + "_" + std::to_string(suffix);
  used_.insert(name);
  return name;
}

std::string Converter::AddInitializer(const std::string& base, const torch::Tensor& values) {
  const std::string name = Fresh(base);
  SetTensor(*graph_->add_initializer(), name, values);
  return name;
}

std::string Converter::Ints(const std::vector<std::int64_t>& values) {
  return AddInitializer("const", torch::tensor(values, torch::kInt64));
}

std::string Converter::Scalar(double value) {
  return AddInitializer("const", torch::tensor(static_cast<float>(value), torch::kFloat32));
}

onnx::NodeProto* Converter::AddNode(const std::string& op, const std::vector<std::string>& inputs,
                         const std::vector<std::string>& outputs) {
  onnx::NodeProto* proto = graph_->add_node();
  proto->set_op_type(op);
  proto->set_name(Fresh(op + "_" + std::to_string(graph_->node_size())));
  for (const auto& input : inputs) proto->add_input(input);
  for (const auto& output : outputs) proto->add_output(output);
  return proto;
}

void Converter::Attr(onnx::NodeProto* node, const std::string& name, std::int64_t value) {
  auto* attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INT);
  attr->set_i(value);
}

void Converter::Attr(onnx::NodeProto* node, const std::string& name, const std::vector<std::int64_t>& values) {
  auto* attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INTS);
  for (auto value : values) attr->add_ints(value);
}

void Converter::AttrFloat(onnx::NodeProto* node, const std::string& name, double value) {
  auto* attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::FLOAT);
  attr->set_f(static_cast<float>(value));
}

void Converter::Fail(const Node* node, const std::string& why) const {
  throw InputError("ONNX export: " + why + " (TorchScript node " + NodeText(node) + ")");
}

const Item& Converter::ItemOf(Value* value, const Node* user) {
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

std::string Converter::TensorOf(Value* value, const Node* user) {
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

bool Converter::IsNone(Value* value, const Node* user) {
  const Item& item = ItemOf(value, user);
  return item.kind == Item::Kind::kConstant && item.constant.isNone();
}

double Converter::Number(Value* value, const Node* user) {
  const Item& item = ItemOf(value, user);
  if (item.kind != Item::Kind::kConstant || !(item.constant.isDouble() || item.constant.isInt() || item.constant.isBool()))
    Fail(user, "an argument is not a constant number");
  return item.constant.isBool() ? item.constant.toBool() : item.constant.toScalar().toDouble();
}

std::int64_t Converter::Int(Value* value, const Node* user) {
  const Item& item = ItemOf(value, user);
  if (item.kind == Item::Kind::kConstant && IsInteger(item)) return AsInteger(item).constant.toInt();
  return static_cast<std::int64_t>(Number(value, user));
}

std::vector<std::int64_t> Converter::IntList(Value* value, const Node* user) {
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

std::string Converter::StringArg(Value* value, const Node* user) {
  const Item& item = ItemOf(value, user);
  if (item.kind != Item::Kind::kConstant || !item.constant.isString()) Fail(user, "an argument is not a constant string");
  return item.constant.toStringRef();
}

std::int64_t Converter::InputRank(const Node* node) const {
  const auto shape = shapes_.find(node_index_);
  if (shape == shapes_.end()) Fail(node, "the rank of the input is not known");
  return static_cast<std::int64_t>(shape->second.one.size());
}

std::optional<std::int64_t> Converter::StaticDim(const Node* node, std::int64_t dim) const {
  const auto shape = shapes_.find(node_index_);
  if (shape == shapes_.end()) Fail(node, "the shape of the input is not known");
  const auto rank = static_cast<std::int64_t>(shape->second.one.size());
  if (dim < 0) dim += rank;
  if (dim < 0 || dim >= rank) Fail(node, "dimension " + std::to_string(dim) + " of a rank-" + std::to_string(rank) + " tensor");
  if (shape->second.one[dim] != shape->second.two[dim]) return std::nullopt;
  return shape->second.one[dim];
}

std::string Converter::SizeTensor(const Item& item) {
  if (item.kind == Item::Kind::kConstant) return Ints({item.constant.toInt()});
  if (item.of.empty()) return item.name;
  const std::string shape = Fresh(item.of + "_shape"), size = Fresh(item.of + "_size" + std::to_string(item.dim));
  AddNode("Shape", {item.of}, {shape});
  Attr(AddNode("Gather", {shape, Ints({item.dim})}, {size}), "axis", 0);
  return size;
}

std::vector<Item> Converter::SizeItems(Value* value, const Node* user) {
  const Item sizes = ItemOf(value, user);  // a copy: ItemOf below may add items
  std::vector<Item> items;
  if (sizes.kind == Item::Kind::kList && sizes.elements.empty()) {
    for (Value* element : sizes.list) items.push_back(ItemOf(element, user));
  } else if (sizes.kind == Item::Kind::kList) {
    items = sizes.elements;
  } else {
    for (auto size : IntList(value, user)) {
      Item item;
      item.constant = size;
      items.push_back(item);
    }
  }
  for (Item& item : items) {
    if (!IsInteger(item)) Fail(user, "a size is not an integer");
    item = AsInteger(item);
  }
  return items;
}

std::string Converter::ShapeInput(const std::vector<Item>& sizes, const std::string& copy_from) {
  std::vector<std::int64_t> constant;
  for (std::size_t position = 0; position < sizes.size(); ++position) {
    const Item& size = sizes[position];
    if (size.kind == Item::Kind::kConstant) {
      constant.push_back(size.constant.toInt());
    } else if (!copy_from.empty() && size.of == copy_from && size.dim == static_cast<std::int64_t>(position)) {
      constant.push_back(0);  // ONNX Reshape: keep the input's dimension
    } else {
      break;
    }
  }
  if (constant.size() == sizes.size()) return Ints(constant);
  std::vector<std::string> pieces;
  for (const Item& size : sizes) pieces.push_back(SizeTensor(size));
  const std::string shape = Fresh("shape");
  Attr(AddNode("Concat", pieces, {shape}), "axis", 0);
  return shape;
}

std::map<std::size_t, Converter::InputShape> Converter::InputShapes(torch::jit::Graph& graph,
                                                                    const std::vector<Node*>& nodes,
                                                                    const std::vector<TensorSpec>& inputs) const {
  static const std::set<std::string> kKinds = {"aten::linear",  "aten::permute", "aten::t",      "aten::transpose",
                                               "aten::flatten", "aten::size",    "aten::unbind", "aten::select",
                                               "aten::slice",   "aten::expand"};
  std::map<const Value*, model::ValueRef> refs;
  for (std::size_t index = 1; index < graph.inputs().size(); ++index)
    refs[graph.inputs().at(index)] = model::ValueRef{model::ValueRef::kInput, index - 1};
  for (std::size_t index = 0; index < nodes.size(); ++index)
    for (std::size_t output = 0; output < nodes[index]->outputs().size(); ++output)
      refs[nodes[index]->output(output)] = model::ValueRef{index, output};
  std::vector<std::size_t> indices;
  std::vector<model::ValueRef> wanted;
  for (std::size_t index = 0; index < nodes.size(); ++index) {
    if (!kKinds.count(nodes[index]->kind().toQualString()) || !nodes[index]->input(0)->type()->cast<c10::TensorType>())
      continue;
    const auto it = refs.find(nodes[index]->input(0));
    if (it == refs.end()) continue;
    indices.push_back(index);
    wanted.push_back(it->second);
  }
  std::map<std::size_t, InputShape> shapes;
  if (wanted.empty()) return shapes;
  const auto shared = std::shared_ptr<const model::Model>(&model_, [](const model::Model*) {});
  model::GraphCapture capture(shared, wanted);
  auto probe = [&](std::int64_t batch) { return capture.Run(model::ExampleInputs(inputs, batch)); };
  const auto one = probe(1);
  std::vector<torch::Tensor> two;
  try {
    two = probe(2);
  } catch (const std::exception&) {
    two = one;  // a model that runs at batch 1 only: every dimension is taken as it is
  }
  for (std::size_t idx = 0; idx < indices.size(); ++idx)
    shapes[indices[idx]] = InputShape{one[idx].sizes().vec(), two[idx].sizes().vec()};
  return shapes;
}

}  // namespace adaflow::io::onnx_internal
