#include "src/quant/quant_sim.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "common/error.h"
#include "src/model/graph_capture.h"
#include "src/quant/aimet_module_names.h"
#include "src/quant/module_params.h"
#include "src/quant/op_types.h"

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

/// Ops whose output an AIMET-prepared model quantizes (its config permitting): torch.nn leaf modules and
/// the functionals its model preparer makes modules of (model_preparer.py), the tensor–scalar
/// arithmetic among them (`x * 0.5`, `x + 3`: operator.mul / operator.add to torch.fx).
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
      "aten::matmul", "aten::bmm",
      // Normalizations, lookups, resampling (nn.GroupNorm / InstanceNorm / Embedding / Upsample, F.interpolate).
      "aten::group_norm", "aten::instance_norm", "aten::embedding", "aten::upsample_nearest1d",
      "aten::upsample_nearest2d", "aten::upsample_linear1d", "aten::upsample_bilinear2d", "aten::upsample_bicubic2d",
      // Functionals AIMET's preparer converts: reductions, exp / pow / rsqrt, masked ops, addmm / baddbmm.
      "aten::mean", "aten::sum", "aten::exp", "aten::pow", "aten::rsqrt", "aten::square", "aten::norm",
      "aten::cumsum", "aten::where", "aten::masked_fill", "aten::masked_fill_", "aten::addmm", "aten::baddbmm"};
  return ops;
}

/// Element-wise arithmetic: between two tensors, or a tensor and a scalar (AIMET's preparer makes a
/// module of either: x + y, x * 0.5, 1 - x).
const std::set<std::string>& BinaryOps() {
  static const std::set<std::string> ops = {"aten::add", "aten::add_", "aten::sub", "aten::sub_", "aten::rsub",
                                            "aten::mul", "aten::mul_", "aten::div", "aten::div_",
                                            "aten::floor_divide"};
  return ops;
}

/// masked_fill(x, mask, ±inf), the masking of attention scores: its finite values are x's, already on x's
/// grid, and an infinite one has none (AIMET's analyzer would widen the range to ±FLT_MAX and leave no
/// step for the scores). AIMET's QuantizableMultiheadAttention fills in place, after its matmul's
/// quantizer, and so quantizes neither; nor does adaflow.
bool FillsInfinity(const Node* node) {
  if (node->kind() != c10::aten::masked_fill && node->kind() != c10::aten::masked_fill_) return false;
  const auto value = torch::jit::toIValue(node->input(2));
  return value && value->isDouble() && std::isinf(value->toDouble());
}

/// Whether `value` holds integers (indices, shapes, masks), which have no activation grid: its type says
/// so (traced graphs), or it comes from an op that returns them, or from arithmetic on them only.
bool IsIntegral(const Value* value, std::map<const Value*, bool>& memo) {
  if (const auto found = memo.find(value); found != memo.end()) return found->second;
  memo[value] = false;  // cycles (loop-carried values): not integral
  bool integral = false;
  if (const auto tensor = value->type()->cast<c10::TensorType>(); tensor && tensor->scalarType()) {
    integral = !c10::isFloatingType(*tensor->scalarType()) && !c10::isComplexType(*tensor->scalarType());
  } else if (value->type()->kind() != c10::TypeKind::TensorType) {
    integral = value->type()->kind() == c10::TypeKind::IntType || value->type()->kind() == c10::TypeKind::BoolType;
  } else {
    static const std::set<std::string> produce = {
        "prim::NumToTensor", "aten::argmax", "aten::argmin", "aten::nonzero", "aten::eq", "aten::ne", "aten::lt",
        "aten::le", "aten::gt", "aten::ge", "aten::logical_and", "aten::logical_or", "aten::logical_not",
        "aten::isnan", "aten::isinf", "aten::bitwise_and", "aten::bitwise_or", "aten::bitwise_not", "aten::__and__",
        "aten::__or__", "aten::bucketize", "aten::searchsorted"};
    static const std::set<std::string> keep = {
        "aten::add", "aten::add_", "aten::sub", "aten::sub_", "aten::rsub", "aten::mul", "aten::mul_",
        "aten::remainder", "aten::floor_divide", "aten::neg", "aten::abs", "aten::clamp", "aten::view",
        "aten::reshape", "aten::flatten", "aten::squeeze", "aten::unsqueeze", "aten::permute", "aten::transpose",
        "aten::contiguous", "aten::expand", "aten::select", "aten::slice", "aten::index", "aten::cat", "aten::stack"};
    const Node* node = value->node();
    const std::string kind = node->kind().toQualString();
    // Division with a rounding mode keeps integers integers (a traced `embed_dim // num_heads`).
    const bool rounded_division = node->kind() == c10::aten::div && node->inputs().size() == 3 &&
                                  node->input(2)->type()->kind() == c10::TypeKind::StringType;
    if (node->kind() == c10::prim::Constant) {
      // A traced constant (`n * self.heads` records heads as a 0-D tensor): its own dtype decides.
      const auto constant = torch::jit::toIValue(value);
      integral = constant && constant->isTensor() && !c10::isFloatingType(constant->toTensor().scalar_type()) &&
                 !c10::isComplexType(constant->toTensor().scalar_type());
    } else if (produce.count(kind)) {
      integral = true;
    } else if (keep.count(kind) || rounded_division) {
      // Integral when every tensor it reads is (a list's tensors for cat / stack); a float scalar makes floats.
      integral = true;
      bool any = false;
      for (const Value* input : node->inputs()) {
        if (input->type()->kind() == c10::TypeKind::FloatType) integral = false;
        if (input->type()->kind() == c10::TypeKind::TensorType) {
          any = true;
          integral = integral && IsIntegral(input, memo);
        } else if (input->node()->kind() == c10::prim::ListConstruct) {
          for (const Value* item : input->node()->inputs()) {
            any = true;
            integral = integral && IsIntegral(item, memo);
          }
        }
      }
      integral = integral && any;
    }
  }
  memo[value] = integral;
  return integral;
}

/// The nodes whose output a supergroup of `rules` keeps unquantized: every op of a matched chain but its
/// last. A chain is ops of the pattern's types in order, each the single data user of the one before.
std::set<const Node*> SupergroupInteriors(const std::vector<Node*>& nodes, const QuantsimConfigFile& rules) {
  std::set<const Node*> interior;
  for (Node* head : nodes) {
    for (const auto& pattern : rules.supergroups) {
      std::vector<const Node*> chain = {head};
      while (chain.size() < pattern.size() && OpTypesOf(chain.back()).Matches(pattern[chain.size() - 1])) {
        const auto users = DataUsers(chain.back()->output(0));
        if (users.size() != 1) break;
        chain.push_back(users[0]);
      }
      if (chain.size() != pattern.size() || !OpTypesOf(chain.back()).Matches(pattern.back())) continue;
      interior.insert(chain.begin(), chain.end() - 1);
    }
  }
  return interior;
}

/// Fills each quantizer's `module` (see ActivationQuantizer) with the module AIMET's model preparer
/// would make of its op (aimet_module_names.h): a quantizer on an op's output by that op's module, on the
/// model input or an op's input by its reader's; when the prepared model has no module for the op, or
/// the module is taken, by the quantizer's name. The first claim of a module output wins.
void AssignModules(std::vector<ActivationQuantizer>& quantizers, const model::Model& model,
                   const std::vector<Node*>& nodes, torch::jit::Graph& graph,
                   const std::map<std::size_t, std::size_t>& consumer_of) {
  const std::vector<std::string> aimet = AimetModuleNames(model, graph, nodes);
  std::set<std::pair<std::string, bool>> taken;
  for (std::size_t position = 0; position < quantizers.size(); ++position) {
    ActivationQuantizer& quantizer = quantizers[position];
    std::string module;
    if (const auto consumer = consumer_of.find(position); consumer != consumer_of.end()) {
      // An op's input quantizer (is_input_quantized): that op's module's input.
      quantizer.module_input = true;
      module = aimet[consumer->second];
    } else if (quantizer.value.node == model::ValueRef::kInput) {
      quantizer.module_input = true;
      const Value* input = graph.inputs().at(1 + quantizer.value.output);
      for (std::size_t index = 0; index < nodes.size(); ++index) {
        const auto reads = nodes[index]->inputs();
        if (std::find(reads.begin(), reads.end(), input) == reads.end()) continue;
        module = aimet[index];
        break;  // the first reader in graph order
      }
    } else {
      module = aimet[quantizer.value.node];
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

namespace {

/// Places the activation quantizers of one model by a config (FindActivationQuantizers).
class Placement {
 public:
  Placement(const model::Model& model, const model::LayerGraph& layers, const QuantsimConfigFile& rules, int bitwidth)
      : model_(model), rules_(rules), bitwidth_(bitwidth), graph_(model.InlinedGraph()),
        nodes_(model::TopLevelNodes(*graph_)) {
    for (const auto& layer : layers.layers) {
      layer_at_[layer.node_index] = layer.name;
      if (!layer.activation.none())
        activation_at_[layer.activation_output.node] = layer.name + "." + model::ActivationName(layer.activation.kind);
    }
    for (std::size_t index = 0; index < nodes_.size(); ++index) index_of_[nodes_[index]] = index;
  }

  std::vector<ActivationQuantizer> Run() {
    // Token ids and 0/1 masks are integers: no grid, and what is computed from them only is integral too.
    const auto& inputs = model_.inputs();
    for (std::size_t index = 0; index < inputs.size(); ++index)
      if (inputs[index].integer()) integral_[graph_->inputs().at(1 + index)] = true;
    if (rules_.model_input_quantized.value_or(false))
      for (std::size_t index = 1; index < graph_->inputs().size(); ++index)
        if (!model::IsIntegerInput(inputs, index - 1)) AddInput(graph_->inputs().at(index), OpTypes{}, nullptr);
    const auto interior = SupergroupInteriors(nodes_, rules_);
    const Value* output = graph_->outputs().at(0);
    if (output->node()->kind() == c10::prim::TupleConstruct) output = output->node()->input(0);
    for (std::size_t idx = 0; idx < nodes_.size(); ++idx) {
      Node* node = nodes_[idx];
      const std::string kind = node->kind().toQualString();
      const bool binary = BinaryOps().count(kind) && TensorInputs(node) >= 1;
      if (!(ComputeOps().count(kind) || binary) || !HasTensorOutput(node) || IsIntegral(node->output(0), integral_) ||
          FillsInfinity(node))
        continue;
      const OpTypes types = OpTypesOf(node);
      if (rules_.InputQuantized(types))
        for (const Value* input : node->inputs())
          if (input->type()->kind() == c10::TypeKind::TensorType && !IsIntegral(input, integral_))
            AddInput(input, types, node);
      bool quantize = rules_.OutputQuantized(types) && !interior.count(node);
      if (node->output(0) == output && rules_.model_output_quantized) quantize = *rules_.model_output_quantized;
      if (quantize) AddOutput(idx, kind, types);
    }
    AssignModules(quantizers_, model_, nodes_, *graph_, consumer_of_);
    return std::move(quantizers_);
  }

 private:
  /// A unique name: "input", the layer, "<layer>.<activation>", or "<op>_<n>"; a layer called twice
  /// has two outputs to quantize: the second is "<layer>_1".
  std::string Unique(const std::string& base) {
    std::string name = base;
    for (int suffix = 1; names_.count(name); ++suffix) name = base + "_" + std::to_string(suffix);
    names_.insert(name);
    return name;
  }

  void AddOutput(std::size_t idx, const std::string& kind, const OpTypes& types) {
    std::string base;
    if (layer_at_.count(idx)) base = layer_at_[idx];
    else if (activation_at_.count(idx)) base = activation_at_[idx];
    else base = ShortOp(kind) + "_" + std::to_string(counters_[ShortOp(kind)]++);
    ActivationQuantizer quantizer;
    quantizer.name = Unique(base);
    quantizer.value = model::ValueRef{idx, 0};
    quantizer.op = kind;
    quantizer.grid = rules_.ActivationGrid(types, bitwidth_);
    quantizer.fixed_range = rules_.Constraints(types);
    quantized_.insert(nodes_[idx]->output(0));
    quantizers_.push_back(std::move(quantizer));
  }

  /// A quantizer on `value` read by `consumer` (the model input when `consumer` is null), unless the
  /// value has one: an op's input quantizer is its producer's output quantizer when there is one.
  void AddInput(const Value* value, const OpTypes& consumer_types, Node* consumer) {
    if (quantized_.count(value)) return;
    model::ValueRef ref;
    std::string base = "input";
    if (value->node() == graph_->param_node()) {
      // A model input: "input" for a one-input model, else the input's name.
      ref = model::ValueRef{model::ValueRef::kInput, value->offset() - 1};
      if (graph_->inputs().size() > 2 && ref.output < model_.inputs().size()) base = model_.inputs()[ref.output].name;
    } else {
      const auto producer = index_of_.find(value->node());
      if (producer == index_of_.end()) return;  // a constant or a parameter, not an activation
      ref = model::ValueRef{producer->second, value->offset()};
      base = ShortOp(consumer->kind().toQualString()) + "_input_" + std::to_string(counters_["<input>"]++);
    }
    ActivationQuantizer quantizer;
    quantizer.name = Unique(base);
    quantizer.value = ref;
    quantizer.op = consumer ? consumer->kind().toQualString() : "input";
    quantizer.grid = rules_.ActivationGrid(consumer_types, bitwidth_);
    if (consumer) consumer_of_[quantizers_.size()] = index_of_.at(consumer);
    quantized_.insert(value);
    quantizers_.push_back(std::move(quantizer));
  }

  const model::Model& model_;
  const QuantsimConfigFile& rules_;
  int bitwidth_;
  std::shared_ptr<torch::jit::Graph> graph_;
  std::vector<Node*> nodes_;
  std::map<std::size_t, std::string> layer_at_, activation_at_;
  std::map<const Node*, std::size_t> index_of_;
  std::vector<ActivationQuantizer> quantizers_;
  std::set<const Value*> quantized_;
  std::map<std::size_t, std::size_t> consumer_of_;  ///< input quantizer position → its consumer's node index
  std::map<std::string, int> counters_;
  std::set<std::string> names_;
  std::map<const Value*, bool> integral_;
};

}  // namespace

std::vector<ActivationQuantizer> FindActivationQuantizers(const model::Model& model, const model::LayerGraph& layers,
                                                          const QuantsimConfigFile& rules, int bitwidth) {
  return Placement(model, layers, rules, bitwidth).Run();
}

std::vector<OpLeftFloat> OpsLeftFloat(const model::Model& model) {
  // Ops that move or select values (their outputs are on their input's grid), and what a forward only
  // reads: no quantizer is needed there.
  static const std::set<std::string> kMoves = {
      "aten::view", "aten::reshape", "aten::flatten", "aten::permute", "aten::transpose", "aten::t",
      "aten::contiguous", "aten::expand", "aten::expand_as", "aten::select", "aten::slice", "aten::unbind",
      "aten::chunk", "aten::split", "aten::split_with_sizes", "aten::squeeze", "aten::unsqueeze", "aten::stack",
      "aten::dropout", "aten::dropout_", "aten::feature_dropout", "aten::alpha_dropout", "aten::clone",
      "aten::detach", "aten::to", "aten::type_as", "aten::index", "aten::index_select", "aten::gather",
      "aten::repeat", "aten::tile", "aten::flip", "aten::roll", "aten::pixel_shuffle", "aten::pixel_unshuffle",
      "aten::channel_shuffle", "aten::narrow", "aten::zeros", "aten::zeros_like", "aten::ones", "aten::ones_like",
      "aten::full", "aten::full_like", "aten::arange", "aten::__getitem__", "aten::max_pool2d_with_indices",
      "aten::adaptive_max_pool2d", "aten::max_pool3d", "aten::identity", "aten::tril", "aten::triu"};
  auto graph = model.InlinedGraph();
  const auto nodes = model::TopLevelNodes(*graph);
  std::map<const Value*, bool> integral;
  std::vector<OpLeftFloat> left;
  for (const Node* node : nodes) {
    const std::string kind = node->kind().toQualString();
    if (FillsInfinity(node)) {
      left.push_back({kind, model::ModuleOf(model.module(), node).path,
                      "fills -inf (attention masking): its other values keep its input's grid, -inf has none"});
      continue;
    }
    if (ComputeOps().count(kind) || BinaryOps().count(kind) || kMoves.count(kind)) continue;
    bool float_output = false;
    for (const Value* output : node->outputs())
      float_output = float_output || (output->type()->kind() == c10::TypeKind::TensorType && !IsIntegral(output, integral));
    if (!float_output) continue;
    std::string reason = "adaflow has no quantizer rule for " + kind;
    if (node->kind() == c10::prim::If || node->kind() == c10::prim::Loop)
      reason = "a branch or loop adaflow cannot resolve (on the data, or on the input's rank when no input shape is given): the ops inside it are not quantized";
    else if (kind.rfind("prim::", 0) == 0)
      continue;  // lists, tuples, constants, attribute reads
    left.push_back({kind, model::ModuleOf(model.module(), node).path, reason});
  }
  return left;
}

QuantSim::QuantSim(std::shared_ptr<const model::Model> fp, const model::LayerGraph& layers, QuantSimConfig config,
                   const ParamEncodings& frozen)
    : fp_(std::move(fp)), config_(std::move(config)) {
  layers.CheckNames(config_.param_bw_override, "param_bw_override");
  const std::vector<ModuleParam> module_params = FindModuleParams(*fp_, layers);
  ParamEncodings frozen_module_params;
  for (const auto& [name, encoding] : frozen) {
    const model::Layer* layer = layers.Find(name);
    if (!layer) {
      const bool is_param = std::any_of(module_params.begin(), module_params.end(),
                                        [&](const ModuleParam& param) { return param.key() == name; });
      if (!is_param)
        throw InputError("frozen param encodings name '" + name +
                         "', which is neither a quantizable layer nor a parameter of another module");
      frozen_module_params[name] = encoding;
      continue;
    }
    const std::int64_t channels = layer->weight_channels();
    if (encoding.axis_is_channel && static_cast<std::int64_t>(encoding.channels.size()) != channels)
      throw InputError("frozen param encodings of '" + name + "' have " + std::to_string(encoding.channels.size()) +
                       " channels; the layer has " + std::to_string(channels));
  }
  const QuantsimConfigFile rules = config_.Rules();
  weights_model_ = fp_->Clone();
  for (const auto& layer : layers.layers) {
    const auto override_it = config_.param_bw_override.find(layer.name);
    const int bitwidth = override_it == config_.param_bw_override.end() ? config_.param_bw : override_it->second;
    const OpTypes types = OpTypesOf(layer);
    auto frozen_it = frozen.find(layer.name);
    // A frozen encoding wins (AIMET's set_and_freeze_param_encodings); else the config decides.
    if ((bitwidth >= 32 || !rules.ParamQuantized(types, "weight")) && frozen_it == frozen.end()) continue;
    auto owner = weights_model_->Submodule(layer.name);
    const torch::Tensor weight = owner.attr("weight").toTensor();
    TensorEncoding encoding =
        frozen_it != frozen.end()
            ? frozen_it->second
            : ComputeWeightEncoding(weight, rules.WeightGrid(types, config_.param.quant_scheme), bitwidth,
                                    layer.channel_axis());
    owner.setattr("weight", model::ForCompute(QuantizeDequantize(weight, encoding).to(weight.dtype())));
    param_encodings_[layer.name] = std::move(encoding);
  }
  module_param_encodings_ = QuantizeModuleParams(*weights_model_, module_params, rules, config_.param.quant_scheme,
                                                 config_.param_bw, frozen_module_params, config_.float_params);
  quantizers_ = config_.output_bw >= 32 ? std::vector<ActivationQuantizer>{}
                                        : FindActivationQuantizers(*weights_model_, layers, rules, config_.output_bw);
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
      module_param_encodings_(other.module_param_encodings_),
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
  std::vector<EncodingAnalyzer> analyzers;
  for (const auto& quantizer : quantizers_) {
    if (!quantizer.fixed_range) {
      analyzers.emplace_back(scheme, percentile);
      continue;
    }
    // encoding_constraints: AIMET's TF analyzer on the range alone (tensor_quantizer.py), whatever the data.
    analyzers.emplace_back(Scheme::kTf, percentile);
    const float range[] = {static_cast<float>(quantizer.fixed_range->min), static_cast<float>(quantizer.fixed_range->max)};
    analyzers.back().Update(range, 2);
  }
  const std::int64_t batches = max_batches > 0 ? std::min(max_batches, data.num_batches()) : data.num_batches();
  for (std::int64_t batch = 0; batch < batches; ++batch) {
    const auto values = capture.Run(data.GetBatch(batch).inputs);
    for (std::size_t idx = 0; idx < values.size(); ++idx) {
      if (quantizers_[idx].fixed_range) continue;
      const torch::Tensor contiguous = values[idx].to(torch::kFloat32).contiguous();
      analyzers[idx].Update(contiguous.data_ptr<float>(), static_cast<std::size_t>(contiguous.numel()));
    }
  }
  std::vector<Encoding> encodings;
  for (std::size_t idx = 0; idx < analyzers.size(); ++idx) encodings.push_back(analyzers[idx].Compute(quantizers_[idx].grid));
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

torch::Tensor QuantSim::Forward(const model::Inputs& inputs) const {
  if (!calibrated_) throw std::logic_error("quant-sim forward before calibration");
  torch::NoGradGuard no_grad;
  std::vector<c10::IValue> stack{c10::IValue(weights_model_->module()._ivalue())};
  for (const auto& input : inputs) stack.emplace_back(model::ForCompute(input));
  forward_->run(stack);
  const c10::IValue& output = stack.at(0);
  if (output.isTuple()) return output.toTupleRef().elements().at(0).toTensor();
  return output.toTensor();
}

}  // namespace adaflow::quant
