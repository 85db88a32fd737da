#include "src/io/onnx/converter.h"

#include <cmath>
#include <limits>
#include <optional>

#include "common/error.h"

namespace adaflow::io::onnx_internal {

// Over 80 lines only because of the op table below: one line per TorchScript op, read as a table.
void Converter::Convert(Node* node) {
  const std::string kind = node->kind().toQualString();
  using Handler = void (Converter::*)(Node*);
  static const std::unordered_map<std::string, Handler> kHandlers = {
      {"prim::Constant", &Converter::Constant},
      {"prim::GetAttr", &Converter::GetAttr},
      {"prim::ListConstruct", &Converter::List},
      {"prim::TupleConstruct", &Converter::Skip},
      {"aten::size", &Converter::Size},
      {"prim::ListUnpack", &Converter::ListUnpack},
      {"aten::__getitem__", &Converter::GetItem},
      {"aten::floordiv", &Converter::IntArithmetic},
      {"aten::floor_divide", &Converter::IntArithmetic},
      {"prim::NumToTensor", &Converter::PassThrough},
      {"aten::Int", &Converter::PassThrough},
      {"aten::conv1d", &Converter::Conv},
      {"aten::conv2d", &Converter::Conv},
      {"aten::_convolution", &Converter::Conv},
      {"aten::conv_transpose1d", &Converter::Conv},
      {"aten::conv_transpose2d", &Converter::Conv},
      {"aten::linear", &Converter::Linear},
      {"aten::matmul", &Converter::Binary},
      {"aten::bmm", &Converter::Binary},
      {"aten::baddbmm", &Converter::Baddbmm},
      {"aten::layer_norm", &Converter::LayerNorm},
      {"aten::transpose", &Converter::Layout},
      {"aten::expand", &Converter::Layout},
      {"aten::unbind", &Converter::Layout},
      {"aten::select", &Converter::Layout},
      {"aten::slice", &Converter::Layout},
      {"aten::zeros", &Converter::Zeros},
      {"aten::Float", &Converter::Fold},
      {"aten::pow", &Converter::Fold},
      {"aten::ones", &Converter::Fold},
      {"aten::tril", &Converter::Fold},
      {"aten::triu", &Converter::Fold},
      {"aten::logical_not", &Converter::Fold},
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
      {"aten::flatten", &Converter::Layout},
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
      {"aten::embedding", &Converter::Embedding},
      {"aten::unsqueeze", &Converter::Masking},
      {"aten::eq", &Converter::Masking},
      {"aten::ne", &Converter::Masking},
      {"aten::masked_fill", &Converter::Masking},
      {"aten::logical_or", &Converter::Masking},
      {"aten::logical_and", &Converter::Masking},
  };
  auto it = kHandlers.find(kind);
  if (it == kHandlers.end()) Fail(node, kind + " has no ONNX conversion in adaflow");
  (this->*(it->second))(node);
}

void Converter::PassThrough(Node* node) {
  const Item& item = ItemOf(node->input(0), node);
  if (!IsInteger(item)) Fail(node, "a number computed from a tensor at run time");
  items_[node->output()] = AsInteger(item);
}

void Converter::Fold(Node* node) {
  // Computed from constants only (a static size, a causal mask of the static token count): the op run
  // here, its value a constant of the ONNX graph.
  torch::jit::Stack stack;
  bool constant = true;
  for (Value* input : node->inputs()) {
    const Item& item = ItemOf(input, node);
    if (item.kind == Item::Kind::kList) {  // a shape: constant when each size is
      c10::List<std::int64_t> sizes;
      const std::size_t count = item.elements.empty() ? item.list.size() : item.elements.size();
      for (std::size_t index = 0; index < count; ++index) {
        const Item size = item.elements.empty() ? ItemOf(item.list[index], node) : item.elements[index];
        constant = constant && size.kind == Item::Kind::kConstant && size.constant.isInt();
        if (constant) sizes.push_back(size.constant.toInt());
      }
      if (constant) stack.emplace_back(sizes);
      continue;
    }
    constant = constant && item.kind == Item::Kind::kConstant;
    if (constant) stack.push_back(item.constant);
  }
  if (constant) {
    node->getOperation()(stack);
    Item item;
    item.constant = stack.at(0);
    items_[node->output()] = item;
    return;
  }
  if (node->kind() != c10::aten::logical_not) Fail(node, "a value computed from sizes known only at run time");
  const std::string out = OutputName(node->output());
  const std::string mask = Fresh(out + "_bool");
  Attr(AddNode("Cast", {TensorOf(node->input(0), node)}, {mask}), "to", std::int64_t{onnx::TensorProto::BOOL});
  AddNode("Not", {mask}, {out});
  Produce(node->output(), out);
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
  const std::string of = TensorOf(node->input(0), node);
  auto size = [&](std::int64_t dim) {
    Item item;
    if (dim < 0) dim += InputRank(node);
    if (const auto value = StaticDim(node, dim)) {
      item.constant = *value;
    } else {
      item.kind = Item::Kind::kSize;
      item.of = of;
      item.dim = dim;
    }
    return item;
  };
  Item item;
  if (node->inputs().size() == 2) {
    item = size(Int(node->input(1), node));
  } else {
    item.kind = Item::Kind::kList;  // x.shape: one item per dimension
    for (std::int64_t dim = 0; dim < InputRank(node); ++dim) item.elements.push_back(size(dim));
  }
  items_[node->output()] = item;
}

void Converter::ListUnpack(Node* node) {
  const Item list = ItemOf(node->input(0), node);
  if (list.kind != Item::Kind::kList) Fail(node, "unpacking something other than a list");
  const std::size_t count = list.elements.empty() ? list.list.size() : list.elements.size();
  if (count != node->outputs().size()) Fail(node, "a list of " + std::to_string(count) + " unpacked into " +
                                                      std::to_string(node->outputs().size()));
  for (std::size_t index = 0; index < count; ++index)
    items_[node->output(index)] = list.elements.empty() ? ItemOf(list.list[index], node) : list.elements[index];
}

void Converter::GetItem(Node* node) {
  const Item list = ItemOf(node->input(0), node);
  if (list.kind != Item::Kind::kList) Fail(node, "indexing something other than a list");
  const std::int64_t count = static_cast<std::int64_t>(list.elements.empty() ? list.list.size() : list.elements.size());
  std::int64_t index = Int(node->input(1), node);
  if (index < 0) index += count;
  if (index < 0 || index >= count) Fail(node, "an index out of the list");
  items_[node->output()] = list.elements.empty() ? ItemOf(list.list[index], node) : list.elements[index];
}

void Converter::IntArithmetic(Node* node) {
  const std::string kind = node->kind().toQualString();
  if (!IsInteger(ItemOf(node->input(0), node)) || !IsInteger(ItemOf(node->input(1), node)))
    Fail(node, "arithmetic on sizes that are not integers");
  const Item a = AsInteger(ItemOf(node->input(0), node)), b = AsInteger(ItemOf(node->input(1), node));
  const std::string op = kind == "aten::add" ? "Add" : kind == "aten::sub" ? "Sub" : kind == "aten::mul" ? "Mul" : "Div";
  Item out;
  if (a.kind == Item::Kind::kConstant && b.kind == Item::Kind::kConstant) {
    const std::int64_t x = a.constant.toInt(), y = b.constant.toInt();
    if (op == "Div" && y == 0) Fail(node, "a division by zero");
    // Python's floor division; sizes are not negative, where it equals ONNX's (truncating) Div.
    const std::int64_t quotient = op == "Div" ? (x / y - ((x % y != 0) && ((x < 0) != (y < 0)))) : 0;
    out.constant = op == "Add" ? x + y : op == "Sub" ? x - y : op == "Mul" ? x * y : quotient;
  } else {
    out.kind = Item::Kind::kSize;
    out.name = Fresh(OutputName(node->output()));
    AddNode(op, {SizeTensor(a), SizeTensor(b)}, {out.name});
  }
  items_[node->output()] = out;
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
  const auto shape = shapes_.find(node_index_);
  if (shape != shapes_.end() && shape->second.one.size() == 2) {
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
  // `embed_dim // heads` traced: div with a rounding mode on sizes (not negative: trunc is floor).
  if (kind == "aten::div" && node->inputs().size() > 2 && IsInteger(ItemOf(node->input(0), node)) &&
      IsInteger(ItemOf(node->input(1), node))) {
    const auto mode = torch::jit::toIValue(node->input(2));
    if (mode && mode->isString() && (mode->toStringRef() == "trunc" || mode->toStringRef() == "floor")) {
      IntArithmetic(node);
      return;
    }
  }
  if (kind != "aten::div" && kind != "aten::matmul" && kind != "aten::bmm" && IsInteger(ItemOf(node->input(0), node)) &&
      IsInteger(ItemOf(node->input(1), node))) {
    IntArithmetic(node);  // traced size arithmetic: `n * heads` on prim::NumToTensor values
    return;
  }
  const std::string base = kind.substr(6, kind.back() == '_' ? kind.size() - 7 : std::string::npos);
  static const std::map<std::string, std::string> kOps = {
      {"add", "Add"}, {"sub", "Sub"}, {"mul", "Mul"}, {"div", "Div"}, {"matmul", "MatMul"}, {"bmm", "MatMul"}};
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
    const Item list = ItemOf(in[0], node);  // a copy: TensorOf below may add items
    if (list.kind != Item::Kind::kList || !list.elements.empty()) Fail(node, "a tensor list that is not built in the graph");
    std::vector<std::string> inputs;
    for (Value* element : list.list) inputs.push_back(TensorOf(element, node));
    Attr(AddNode("Concat", inputs, {out}), "axis", Int(in[1], node));
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
    // view / reshape: constant sizes, x.size(i) at position i (ONNX's 0: keep that dimension), or sizes
    // computed when the model runs.
    const std::string x = TensorOf(in[0], node);
    const std::string shape = ShapeInput(SizeItems(in[1], node), x);
    AddNode("Reshape", {x, shape}, {out});
  }
  Produce(node->output(), out);
}

void Converter::Layout(Node* node) {
  const std::string kind = node->kind().toQualString();
  const auto in = node->inputs();
  const std::string x = TensorOf(in[0], node), out = OutputName(node->output());
  const std::int64_t rank = InputRank(node);
  auto axis = [&](Value* value) {
    std::int64_t dim = Int(value, node);
    if (dim < 0) dim += rank;
    if (dim < 0 || dim >= rank) Fail(node, "dimension " + std::to_string(dim) + " of a rank-" + std::to_string(rank) + " tensor");
    return dim;
  };
  if (kind == "aten::transpose") {
    std::vector<std::int64_t> perm(rank);
    for (std::int64_t dim = 0; dim < rank; ++dim) perm[dim] = dim;
    std::swap(perm[axis(in[1])], perm[axis(in[2])]);
    Attr(AddNode("Transpose", {x}, {out}), "perm", perm);
  } else if (kind == "aten::flatten") {
    const std::int64_t start = axis(in[1]), end = axis(in[2]);
    if (start == 1 && end == rank - 1) {
      Attr(AddNode("Flatten", {x}, {out}), "axis", 1);
    } else {
      // The dimensions before `start` kept (ONNX's 0), those after `end` as they are (constants).
      std::vector<std::int64_t> shape(start, 0);
      shape.push_back(-1);
      for (std::int64_t dim = end + 1; dim < rank; ++dim) {
        const auto size = StaticDim(node, dim);
        if (!size) Fail(node, "flatten before a dimension that follows the batch size");
        shape.push_back(*size);
      }
      AddNode("Reshape", {x, Ints(shape)}, {out});
    }
  } else if (kind == "aten::expand") {
    // torch's -1 (keep) is ONNX's 1 (Expand broadcasts).
    std::vector<Item> sizes = SizeItems(in[1], node);
    for (Item& size : sizes)
      if (size.kind == Item::Kind::kConstant && size.constant.toInt() == -1) size.constant = std::int64_t{1};
    AddNode("Expand", {x, ShapeInput(sizes, "")}, {out});
  } else if (kind == "aten::unbind") {
    // Split into size-1 pieces along the dimension, each squeezed; prim::ListUnpack hands them out.
    const std::int64_t dim = axis(in[1]);
    const auto count = StaticDim(node, dim);
    if (!count) Fail(node, "unbind along a dimension that follows the batch size");
    std::vector<std::string> pieces, squeezed;
    Item list;
    list.kind = Item::Kind::kList;
    for (std::int64_t index = 0; index < *count; ++index) {
      pieces.push_back(Fresh(out + "_split" + std::to_string(index)));
      squeezed.push_back(Fresh(out + "." + std::to_string(index)));
      list.elements.push_back(TensorItem(squeezed.back()));
    }
    Attr(AddNode("Split", {x}, pieces), "axis", dim);
    const std::string axes = Ints({dim});
    for (std::int64_t index = 0; index < *count; ++index) AddNode("Squeeze", {pieces[index], axes}, {squeezed[index]});
    items_[node->output()] = list;
    return;
  } else if (kind == "aten::select") {
    const std::string index = AddInitializer("const", torch::tensor(Int(in[2], node), torch::kInt64));
    Attr(AddNode("Gather", {x, index}, {out}), "axis", axis(in[1]));
  } else {  // slice(x, dim, start, end, step)
    const std::int64_t start = IsNone(in[2], node) ? 0 : Int(in[2], node);
    const std::int64_t end = IsNone(in[3], node) ? std::numeric_limits<std::int64_t>::max() : Int(in[3], node);
    AddNode("Slice", {x, Ints({start}), Ints({end}), Ints({axis(in[1])}), Ints({Int(in[4], node)})}, {out});
  }
  Produce(node->output(), out);
}

void Converter::Zeros(Node* node) {
  const auto in = node->inputs();
  if (!IsNone(in[1], node) && Int(in[1], node) != static_cast<std::int64_t>(c10::ScalarType::Float))
    Fail(node, "zeros of a type other than float");
  const std::vector<Item> sizes = SizeItems(in[0], node);
  const std::string out = OutputName(node->output());
  AddNode("Expand", {Scalar(0.0), ShapeInput(sizes, "")}, {out});
  Produce(node->output(), out);
}

void Converter::Baddbmm(Node* node) {
  const auto in = node->inputs();
  const double beta = in.size() > 3 ? Number(in[3], node) : 1.0, alpha = in.size() > 4 ? Number(in[4], node) : 1.0;
  const std::string out = OutputName(node->output());
  std::string product = Fresh(out + "_matmul");
  AddNode("MatMul", {TensorOf(in[1], node), TensorOf(in[2], node)}, {product});
  if (alpha != 1.0) {
    const std::string scaled = Fresh(out + "_alpha");
    AddNode("Mul", {product, Scalar(alpha)}, {scaled});
    product = scaled;
  }
  if (beta == 0.0) {
    AddNode("Identity", {product}, {out});  // torch ignores the input (NaN and Inf too) when beta is 0
  } else {
    std::string input = TensorOf(in[0], node);
    if (beta != 1.0) {
      const std::string scaled = Fresh(out + "_beta");
      AddNode("Mul", {input, Scalar(beta)}, {scaled});
      input = scaled;
    }
    AddNode("Add", {product, input}, {out});
  }
  Produce(node->output(), out);
}

void Converter::LayerNorm(Node* node) {
  // layer_norm(input, normalized_shape, weight, bias, eps, cudnn_enable)
  const auto in = node->inputs();
  const std::string x = TensorOf(in[0], node), out = OutputName(node->output());
  const auto dims = static_cast<std::int64_t>(IntList(in[1], node).size());
  std::vector<std::int64_t> axes;
  for (std::int64_t dim = -dims; dim < 0; ++dim) axes.push_back(dim);
  const std::string mean = Fresh(out + "_mean"), centred = Fresh(out + "_centred"), square = Fresh(out + "_square"),
                    variance = Fresh(out + "_variance"), shifted = Fresh(out + "_plus_eps"), deviation = Fresh(out + "_std");
  Attr(AddNode("ReduceMean", {x}, {mean}), "axes", axes);
  AddNode("Sub", {x, mean}, {centred});
  AddNode("Mul", {centred, centred}, {square});
  Attr(AddNode("ReduceMean", {square}, {variance}), "axes", axes);
  AddNode("Add", {variance, Scalar(Number(in[4], node))}, {shifted});
  AddNode("Sqrt", {shifted}, {deviation});
  const bool weight = !IsNone(in[2], node), bias = !IsNone(in[3], node);
  std::string result = weight || bias ? Fresh(out + "_normalized") : out;
  AddNode("Div", {centred, deviation}, {result});
  if (weight) {
    const std::string scaled = bias ? Fresh(out + "_scaled") : out;
    AddNode("Mul", {result, TensorOf(in[2], node)}, {scaled});
    result = scaled;
  }
  if (bias) AddNode("Add", {result, TensorOf(in[3], node)}, {out});
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

void Converter::Embedding(Node* node) {
  const std::string out = OutputName(node->output());
  Attr(AddNode("Gather", {TensorOf(node->input(0), node), TensorOf(node->input(1), node)}, {out}), "axis", 0);
  Produce(node->output(), out);
}

void Converter::Masking(Node* node) {
  const std::string kind = node->kind().toQualString();
  const std::string out = OutputName(node->output());
  const std::string x = TensorOf(node->input(0), node);
  if (kind == "aten::unsqueeze") {
    AddNode("Unsqueeze", {x, Ints({Int(node->input(1), node)})}, {out});
  } else if (kind == "aten::masked_fill") {
    // masked_fill(x, mask, value) = where(mask, value, x)
    const std::string mask = Fresh(out + "_mask");
    Attr(AddNode("Cast", {TensorOf(node->input(1), node)}, {mask}), "to", std::int64_t{onnx::TensorProto::BOOL});
    AddNode("Where", {mask, Scalar(Number(node->input(2), node)), x}, {out});
  } else if (kind == "aten::logical_or" || kind == "aten::logical_and") {
    // Two masks merged (a key padding mask and an attention mask), as booleans.
    auto as_bool = [&](const std::string& tensor) {
      const std::string cast = Fresh(tensor + "_bool");
      Attr(AddNode("Cast", {tensor}, {cast}), "to", std::int64_t{onnx::TensorProto::BOOL});
      return cast;
    };
    AddNode(kind == "aten::logical_or" ? "Or" : "And", {as_bool(x), as_bool(TensorOf(node->input(1), node))}, {out});
  } else {
    // eq / ne of an integer or float tensor (a 0/1 mask) and a number or tensor, compared as floats.
    auto as_float = [&](const std::string& tensor) {
      const std::string cast = Fresh(tensor + "_float");
      Attr(AddNode("Cast", {tensor}, {cast}), "to", std::int64_t{onnx::TensorProto::FLOAT});
      return cast;
    };
    Value* other = node->input(1);
    const std::string y = other->type()->kind() == c10::TypeKind::TensorType ? as_float(TensorOf(other, node))
                                                                              : Scalar(Number(other, node));
    if (kind == "aten::eq") {
      AddNode("Equal", {as_float(x), y}, {out});
    } else {
      const std::string equal = Fresh(out + "_equal");
      AddNode("Equal", {as_float(x), y}, {equal});
      AddNode("Not", {equal}, {out});
    }
  }
  Produce(node->output(), out);
}

}  // namespace adaflow::io::onnx_internal
