#include "src/quant/quant_sim.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>

#include <algorithm>
#include <set>
#include <utility>

#include "common/error.h"
#include "src/model/graph_capture.h"

namespace adaflow::quant {
namespace {

using torch::jit::Node;
using torch::jit::Value;

bool HasTensorOutput(const Node* node) {
  for (const Value* output : node->outputs())
    if (output->type()->kind() == c10::TypeKind::TensorType) return true;
  return false;
}

int TensorInputs(const Node* node) {
  int count = 0;
  for (const Value* input : node->inputs())
    if (input->type()->kind() == c10::TypeKind::TensorType) ++count;
  return count;
}

std::vector<Node*> DataUsers(const Value* value) {
  std::vector<Node*> users;
  for (const auto& use : value->uses())
    if (HasTensorOutput(use.user)) users.push_back(use.user);
  return users;
}

const std::set<std::string>& ComputeOps() {
  static const std::set<std::string> ops = {
      "aten::conv1d", "aten::conv2d", "aten::conv_transpose1d", "aten::conv_transpose2d", "aten::_convolution",
      "aten::linear", "aten::relu", "aten::relu_", "aten::relu6", "aten::relu6_", "aten::hardtanh", "aten::hardtanh_",
      "aten::clamp", "aten::clamp_", "aten::clamp_min", "aten::clamp_min_", "aten::clamp_max", "aten::clamp_max_",
      "aten::gelu", "aten::silu", "aten::silu_", "aten::sigmoid", "aten::sigmoid_", "aten::tanh", "aten::tanh_",
      "aten::leaky_relu", "aten::leaky_relu_", "aten::prelu", "aten::elu", "aten::elu_", "aten::selu", "aten::selu_",
      "aten::celu", "aten::celu_", "aten::mish", "aten::mish_", "aten::log_sigmoid", "aten::hardswish",
      "aten::hardswish_", "aten::hardsigmoid", "aten::hardsigmoid_", "aten::softplus", "aten::softmax",
      "aten::log_softmax", "aten::hardshrink", "aten::softshrink", "aten::threshold", "aten::threshold_",
      "aten::adaptive_avg_pool1d", "aten::adaptive_avg_pool2d", "aten::avg_pool1d", "aten::avg_pool2d",
      "aten::max_pool1d", "aten::max_pool2d", "aten::batch_norm", "aten::layer_norm", "aten::cat",
      "aten::matmul", "aten::bmm"};
  return ops;
}

/// Element-wise ops between two tensors (a tensor plus a scalar is not a separate op in AIMET).
const std::set<std::string>& BinaryOps() {
  static const std::set<std::string> ops = {"aten::add", "aten::add_", "aten::sub", "aten::sub_", "aten::mul",
                                            "aten::mul_", "aten::div", "aten::div_"};
  return ops;
}

/// The op types of AIMET's default config's supergroups (quantsim_config/default_config.json):
/// Conv+Relu, ConvTranspose+Relu, Conv+Clip, Add+Relu, Gemm+Relu. Clip is what ReLU6, hardtanh and
/// clamp export as.
enum class OpType { kOther, kConv, kConvTranspose, kGemm, kAdd, kRelu, kClip };

OpType TypeOf(const Node* node) {
  const std::string kind = node->kind().toQualString();
  if (kind == "aten::conv1d" || kind == "aten::conv2d") return OpType::kConv;
  if (kind == "aten::conv_transpose1d" || kind == "aten::conv_transpose2d") return OpType::kConvTranspose;
  if (kind == "aten::_convolution") {
    const auto transposed = torch::jit::toIValue(node->input(6));
    return transposed && transposed->isBool() && transposed->toBool() ? OpType::kConvTranspose : OpType::kConv;
  }
  if (kind == "aten::linear") return OpType::kGemm;
  if (kind == "aten::add" || kind == "aten::add_") return OpType::kAdd;
  if (kind == "aten::relu" || kind == "aten::relu_") return OpType::kRelu;
  static const std::set<std::string> clips = {"aten::relu6",     "aten::relu6_",     "aten::hardtanh", "aten::hardtanh_",
                                              "aten::clamp",     "aten::clamp_",     "aten::clamp_min",
                                              "aten::clamp_min_", "aten::clamp_max", "aten::clamp_max_"};
  if (clips.count(kind)) return OpType::kClip;
  return OpType::kOther;
}

/// Whether `head` followed by `tail` is one of the default config's supergroups.
bool IsSupergroup(const Node* head, const Node* tail) {
  const OpType first = TypeOf(head), second = TypeOf(tail);
  if (second == OpType::kRelu)
    return first == OpType::kConv || first == OpType::kConvTranspose || first == OpType::kAdd || first == OpType::kGemm;
  return second == OpType::kClip && first == OpType::kConv;
}

/// The torch.nn module whose own op `node` is (nn.Conv2d, nn.ReLU, …), or "".
std::string TorchNnModuleOf(const torch::jit::Module& root, const Node* node) {
  const model::ModuleCall call = model::ModuleOf(root, node);
  return call.type.find(".torch.nn.modules.") != std::string::npos ? call.path : std::string();
}

/// Fills each quantizer's `module` (see ActivationQuantizer): the first claim of a module output wins.
void AssignModules(std::vector<ActivationQuantizer>& quantizers, const torch::jit::Module& root,
                   const std::vector<Node*>& nodes, const torch::jit::Graph& graph,
                   const std::map<std::size_t, std::string>& layer_at) {
  std::set<std::pair<std::string, bool>> taken;
  for (auto& quantizer : quantizers) {
    std::string module;
    if (quantizer.value.node == model::ValueRef::kInput) {
      quantizer.module_input = true;
      const Value* input = graph.inputs().at(1);
      for (std::size_t index = 0; index < nodes.size() && module.empty(); ++index) {
        const auto reads = nodes[index]->inputs();
        if (std::find(reads.begin(), reads.end(), input) == reads.end()) continue;
        module = layer_at.count(index) ? layer_at.at(index) : TorchNnModuleOf(root, nodes[index]);
        break;  // the first reader in graph order
      }
    } else {
      const auto layer = layer_at.find(quantizer.value.node);
      module = layer != layer_at.end() ? layer->second : TorchNnModuleOf(root, nodes[quantizer.value.node]);
    }
    if (module.empty() || taken.count({module, quantizer.module_input})) module = quantizer.name;
    // (A quantizer name may itself be a module's path: then a suffix.)
    for (int suffix = 1; taken.count({module, quantizer.module_input}); ++suffix)
      module = quantizer.name + "_" + std::to_string(suffix);
    taken.insert({module, quantizer.module_input});
    quantizer.module = module;
  }
}

std::string ShortOp(const std::string& kind) {
  const auto colon = kind.rfind(':');
  std::string op = colon == std::string::npos ? kind : kind.substr(colon + 1);
  if (!op.empty() && op.back() == '_') op.pop_back();
  return op;
}

}  // namespace

std::vector<ActivationQuantizer> FindActivationQuantizers(const model::Model& model, const model::LayerGraph& layers,
                                                          bool quantize_input) {
  auto graph = model.InlinedGraph();
  const auto nodes = model::TopLevelNodes(*graph);
  std::map<std::size_t, std::string> layer_at, activation_at;
  for (const auto& layer : layers.layers) {
    layer_at[layer.node_index] = layer.name;
    if (!layer.activation.none())
      activation_at[layer.activation_output.node] = layer.name + "." + model::ActivationName(layer.activation.kind);
  }
  std::vector<ActivationQuantizer> quantizers;
  if (quantize_input) quantizers.push_back({"input", model::ValueRef{}, "input", {}, "", false});
  std::map<std::string, int> counters;
  std::set<std::string> names = {"input"};
  for (std::size_t idx = 0; idx < nodes.size(); ++idx) {
    Node* node = nodes[idx];
    const std::string kind = node->kind().toQualString();
    const bool binary = BinaryOps().count(kind) && TensorInputs(node) >= 2;
    if (!(ComputeOps().count(kind) || binary) || !HasTensorOutput(node)) continue;
    const auto users = DataUsers(node->output(0));
    if (users.size() == 1 && IsSupergroup(node, users[0])) continue;  // the group's last output is quantized instead
    std::string name;
    if (layer_at.count(idx)) name = layer_at[idx];
    else if (activation_at.count(idx)) name = activation_at[idx];
    else name = ShortOp(kind) + "_" + std::to_string(counters[ShortOp(kind)]++);
    // A layer called twice has two outputs to quantize: the second is "<layer>_1".
    const std::string base = name;
    for (int suffix = 1; names.count(name); ++suffix) name = base + "_" + std::to_string(suffix);
    names.insert(name);
    quantizers.push_back({name, model::ValueRef{idx, 0}, kind, {}, "", false});
  }
  AssignModules(quantizers, model.module(), nodes, *graph, layer_at);
  return quantizers;
}

QuantSim::QuantSim(std::shared_ptr<const model::Model> fp, const model::LayerGraph& layers, QuantSimConfig config,
                   const ParamEncodings& frozen)
    : fp_(std::move(fp)), config_(std::move(config)) {
  layers.CheckNames(config_.param_bw_override, "param_bw_override");
  for (const auto& [name, encoding] : frozen) {
    const model::Layer* layer = layers.Find(name);
    if (!layer) throw InputError("frozen param encodings name '" + name + "', which is not a quantizable layer");
    const std::int64_t channels = layer->weight_channels();
    if (encoding.axis_is_channel && static_cast<std::int64_t>(encoding.channels.size()) != channels)
      throw InputError("frozen param encodings of '" + name + "' have " + std::to_string(encoding.channels.size()) +
                       " channels; the layer has " + std::to_string(channels));
  }
  weights_model_ = fp_->Clone();
  for (const auto& layer : layers.layers) {
    const auto override_it = config_.param_bw_override.find(layer.name);
    const int bitwidth = override_it == config_.param_bw_override.end() ? config_.param_bw : override_it->second;
    auto frozen_it = frozen.find(layer.name);
    if (bitwidth >= 32 && frozen_it == frozen.end()) continue;
    auto owner = weights_model_->Submodule(layer.name);
    const torch::Tensor weight = owner.attr("weight").toTensor();
    TensorEncoding encoding =
        frozen_it != frozen.end()
            ? frozen_it->second
            : ComputeWeightEncoding(weight, config_.param, bitwidth, layer.channel_axis());
    owner.setattr("weight", model::ForCompute(QuantizeDequantize(weight, encoding).to(weight.dtype())));
    param_encodings_[layer.name] = std::move(encoding);
  }
  quantizers_ = config_.output_bw >= 32 ? std::vector<ActivationQuantizer>{}
                                        : FindActivationQuantizers(*weights_model_, layers, config_.quantize_input);
  if (quantizers_.empty()) {
    calibrated_ = true;
    BuildForward();
  }
}

QuantSim::~QuantSim() = default;

QuantSim::QuantSim(const QuantSim& other, ShareWeights)
    : fp_(other.fp_),
      config_(other.config_),
      param_encodings_(other.param_encodings_),
      weights_model_(other.weights_model_),
      quantizers_(other.quantizers_) {}

std::shared_ptr<const QuantSim> QuantSim::WithActivationEncodings(const std::vector<Encoding>& encodings) const {
  std::shared_ptr<QuantSim> sim(new QuantSim(*this, ShareWeights{}));
  sim->SetActivationEncodings(encodings);
  return sim;
}

void QuantSim::Calibrate(const data::Dataset& data, Scheme scheme, double percentile, std::int64_t max_batches) {
  if (quantizers_.empty()) return;
  SetActivationEncodings(ComputeActivationEncodings(data, scheme, percentile, max_batches));
}

std::vector<Encoding> QuantSim::ComputeActivationEncodings(const data::Dataset& data, Scheme scheme, double percentile,
                                                           std::int64_t max_batches) const {
  if (quantizers_.empty()) return {};
  std::vector<model::ValueRef> refs;
  for (const auto& quantizer : quantizers_) refs.push_back(quantizer.value);
  model::GraphCapture capture(weights_model_, refs);
  std::vector<EncodingAnalyzer> analyzers(quantizers_.size(), EncodingAnalyzer(scheme, percentile));
  const std::int64_t batches = max_batches > 0 ? std::min(max_batches, data.num_batches()) : data.num_batches();
  for (std::int64_t batch = 0; batch < batches; ++batch) {
    const auto values = capture.Run(data.GetBatch(batch).inputs);
    for (std::size_t idx = 0; idx < values.size(); ++idx) {
      const torch::Tensor contiguous = values[idx].to(torch::kFloat32).contiguous();
      analyzers[idx].Update(contiguous.data_ptr<float>(), static_cast<std::size_t>(contiguous.numel()));
    }
  }
  const GridSpec grid{config_.output_bw, /*symmetric=*/false, false, false};
  std::vector<Encoding> encodings;
  for (const auto& analyzer : analyzers) encodings.push_back(analyzer.Compute(grid));
  return encodings;
}

void QuantSim::SetActivationEncodings(const std::vector<Encoding>& encodings) {
  if (encodings.size() != quantizers_.size())
    throw InputError("stored activation encodings (" + std::to_string(encodings.size()) + ") do not match the " +
                     std::to_string(quantizers_.size()) + " quantizers of the model");
  for (std::size_t idx = 0; idx < encodings.size(); ++idx) quantizers_[idx].encoding = encodings[idx];
  calibrated_ = true;
  BuildForward();
}

void QuantSim::BuildForward() {
  auto graph = weights_model_->InlinedGraph();
  const auto nodes = model::TopLevelNodes(*graph);
  for (const auto& quantizer : quantizers_) {
    Value* value = model::Resolve(*graph, nodes, quantizer.value);
    Node* after = quantizer.value.node == model::ValueRef::kInput ? graph->param_node() : value->node();
    torch::jit::WithInsertPoint guard(after->next());
    // fake_quantize_per_tensor_affine(x, Δ, z, 0, N) = (clamp(nearbyint(x·(1/Δ)) + z, 0, N) − z)·Δ in float,
    // written as four vectorized element-wise ops: clamp(round(x·(1/Δ)), −z, N − z)·Δ. The same values
    // bit for bit (z is an integer; round is half to even like nearbyint), and about 15× faster than
    // LibTorch 1.13's scalar kernel, which dominated quant-sim evaluation.
    const Encoding& enc = quantizer.encoding;
    const float scale = static_cast<float>(enc.scale);
    const double inverse = static_cast<double>(1.0f / scale);
    const double zero_point = static_cast<double>(-enc.offset);
    auto op = [&](const char* name, std::vector<torch::jit::NamedValue> args) {
      return graph->insert(c10::Symbol::aten(name), args);
    };
    Value* scaled = op("mul", {value, graph->insertConstant(inverse)});
    Value* rounded = op("round_", {scaled});
    Value* clamped = op("clamp_", {rounded, graph->insertConstant(-zero_point),
                                   graph->insertConstant(static_cast<double>(enc.steps()) - zero_point)});
    Value* quantized = op("mul_", {clamped, graph->insertConstant(static_cast<double>(scale))});
    value->replaceAllUsesWith(quantized);
    scaled->node()->replaceInput(0, value);
  }
  forward_ = std::make_unique<torch::jit::GraphFunction>("quant_sim_forward", graph, nullptr);
}

torch::Tensor QuantSim::Forward(const torch::Tensor& input) const {
  if (!calibrated_) throw std::logic_error("quant-sim forward before calibration");
  torch::NoGradGuard no_grad;
  std::vector<c10::IValue> stack{c10::IValue(weights_model_->module()._ivalue()), model::ForCompute(input)};
  forward_->run(stack);
  const c10::IValue& output = stack.at(0);
  if (output.isTuple()) return output.toTupleRef().elements().at(0).toTensor();
  return output.toTensor();
}

}  // namespace adaflow::quant
