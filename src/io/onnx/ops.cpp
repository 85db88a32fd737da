#include "src/io/onnx/converter.h"

#include <cmath>
#include <optional>

#include "common/error.h"

namespace adaflow::io::onnx_internal {

void Converter::Convert(Node* node) {
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
      {"aten::batch_norm", &Converter::BatchNorm},
      {"aten::dropout", &Converter::Identity},
      {"aten::dropout_", &Converter::Identity},
      {"aten::feature_dropout", &Converter::Identity},
      {"aten::contiguous", &Converter::Identity},
  };
  auto it = kHandlers.find(kind);
  if (it == kHandlers.end()) Fail(node, kind + " has no ONNX conversion in adaflow");
  (this->*(it->second))(node);
}

void Converter::PassThrough(Node* node) {
  const Item& item = ItemOf(node->input(0), node);
  const bool integer = item.kind == Item::Kind::kConstant && item.constant.isInt();
  if (item.kind != Item::Kind::kSize && !integer) Fail(node, "a number computed from a tensor at run time");
  items_[node->output()] = item;
}

void Converter::Constant(Node* node) {
  Item item;
  item.constant = torch::jit::toIValue(node->output()).value();
  items_[node->output()] = item;
}

void Converter::GetAttr(Node* node) {
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

void Converter::List(Node* node) {
  Item item;
  item.kind = Item::Kind::kList;
  for (Value* input : node->inputs()) item.list.push_back(input);
  items_[node->output()] = item;
}

void Converter::Size(Node* node) {
  if (node->inputs().size() != 2) Fail(node, "x.size() without a dimension");
  Item item;
  item.kind = Item::Kind::kSize;
  item.of = TensorOf(node->input(0), node);
  item.dim = Int(node->input(1), node);
  items_[node->output()] = item;
}

void Converter::Conv(Node* node) {
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

void Converter::Linear(Node* node) {
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

void Converter::Binary(Node* node) {
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

void Converter::Addmm(Node* node) {
  const auto in = node->inputs();
  const std::string out = OutputName(node->output());
  auto* gemm = AddNode("Gemm", {TensorOf(in[1], node), TensorOf(in[2], node), TensorOf(in[0], node)}, {out});
  AttrFloat(gemm, "beta", in.size() > 3 ? Number(in[3], node) : 1.0);
  AttrFloat(gemm, "alpha", in.size() > 4 ? Number(in[4], node) : 1.0);
  Produce(node->output(), out);
}

void Converter::Activation(Node* node) {
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

void Converter::Pool(Node* node) {
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

void Converter::Shape(Node* node) {
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

void Converter::Reduce(Node* node) {
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

void Converter::BatchNorm(Node* node) {
  // batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled):
  // a BatchNorm no fold took, in eval mode.
  const auto in = node->inputs();
  if (Number(in[5], node) != 0) Fail(node, "batch norm in training mode");
  if (IsNone(in[3], node) || IsNone(in[4], node)) Fail(node, "batch norm without running statistics");
  const Item& statistics = ItemOf(in[3], node);
  if (statistics.kind != Item::Kind::kParameter) Fail(node, "batch norm statistics that are not module attributes");
  const std::int64_t channels = statistics.parameter.size(0);
  const std::string x = TensorOf(in[0], node), out = OutputName(node->output());
  const std::string scale = IsNone(in[1], node) ? AddInitializer("batch_norm_scale", torch::ones({channels}))
                                                : TensorOf(in[1], node);
  const std::string shift = IsNone(in[2], node) ? AddInitializer("batch_norm_shift", torch::zeros({channels}))
                                                : TensorOf(in[2], node);
  auto* batch_norm = AddNode("BatchNormalization", {x, scale, shift, TensorOf(in[3], node), TensorOf(in[4], node)}, {out});
  AttrFloat(batch_norm, "epsilon", Number(in[7], node));
  Produce(node->output(), out);
}

void Converter::Identity(Node* node) {
  const std::string kind = node->kind().toQualString();
  if (kind != "aten::contiguous" && node->inputs().size() > 2 && Number(node->input(2), node) != 0)
    Fail(node, "dropout in training mode");
  const std::string out = OutputName(node->output());
  AddNode("Identity", {TensorOf(node->input(0), node)}, {out});
  Produce(node->output(), out);
}

}  // namespace adaflow::io::onnx_internal
