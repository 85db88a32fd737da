#include "src/model/attention.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/runtime/custom_operator.h>
#include <torch/jit.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <mutex>
#include <set>

#include "common/error.h"

namespace adaflow::model {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

constexpr const char* kMethod = "quantizable_attention";

/// PyTorch's eval-mode multi-head attention on the Linear submodules (with mask_scores: a boolean or byte
/// mask fills -inf where it is true, a float one is added), in AIMET's order (see the header),
/// batch first inside whatever the module's layout: the projections' inputs and outputs have the batch
/// first, as the activation cache and AdaRound need.
/// Reads the module's num_heads, head_dim and embed_dim (constants once inlined); BATCH_FIRST is
/// written in per class (a constant of the scripted class, True for the fast path), UINT8 and BOOL as
/// the ScalarType codes `x.dtype` gives (the compiler here resolves no torch.<dtype>).
constexpr const char* kAttentionSource = R"(
def quantizable_attention(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Optional[Tensor],
                          need_weights: bool, attn_mask: Optional[Tensor],
                          average_attn_weights: bool) -> Tuple[Tensor, Optional[Tensor]]:
    if not BATCH_FIRST:
        query = query.transpose(0, 1)
        key = key.transpose(0, 1)
        value = value.transpose(0, 1)
    bsz = query.size(0)
    tgt_len = query.size(1)
    src_len = key.size(1)
    heads = self.num_heads
    head_dim = self.head_dim
    q = torch.div(self.linear_Q.forward(query), float(head_dim) ** 0.5)
    k = self.linear_K.forward(key)
    v = self.linear_V.forward(value)
    q = q.view(bsz, tgt_len, heads, head_dim).transpose(1, 2)
    k = k.view(bsz, src_len, heads, head_dim).transpose(1, 2)
    v = v.view(bsz, src_len, heads, head_dim).transpose(1, 2)
    scores = torch.matmul(q, k.transpose(2, 3))
    if attn_mask is not None:
        if attn_mask.dim() == 3:
            attn_mask = attn_mask.view(bsz, heads, tgt_len, src_len)
        scores = self.mask_scores(scores, attn_mask)
    if key_padding_mask is not None:
        scores = self.mask_scores(scores, key_padding_mask.view(bsz, 1, 1, src_len))
    weights = torch.softmax(scores, -1)
    out = torch.matmul(weights, v)
    out = out.transpose(1, 2).reshape(bsz, tgt_len, self.embed_dim)
    out = self.out_proj.forward(out)
    if not BATCH_FIRST:
        out = out.transpose(0, 1)
    if need_weights:
        if average_attn_weights:
            return out, weights.sum(1) / heads
        return out, weights
    return out, None

def mask_scores(self, scores: Tensor, mask: Tensor) -> Tensor:
    if mask.dtype == UINT8:
        mask = mask != 0
    if mask.dtype == BOOL:
        return scores.masked_fill(mask, float("-inf"))
    return torch.add(scores, mask)
)";

/// nn.MultiheadAttention.forward's signature in PyTorch 1.13, on quantizable_attention.
constexpr const char* kForwardSource = R"(
def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Optional[Tensor] = None,
            need_weights: bool = True, attn_mask: Optional[Tensor] = None,
            average_attn_weights: bool = True) -> Tuple[Tensor, Optional[Tensor]]:
    return self.quantizable_attention(query, key, value, key_padding_mask, need_weights, attn_mask,
                                      average_attn_weights)
)";

/// kAttentionSource for a class whose batch_first is `batch_first`.
std::string AttentionSource(bool batch_first, const char* text = kAttentionSource) {
  std::string source = text;
  const std::pair<std::string, std::string> words[] = {
      {"BATCH_FIRST", batch_first ? "True" : "False"},
      {"UINT8", std::to_string(static_cast<int>(c10::ScalarType::Byte))},
      {"BOOL", std::to_string(static_cast<int>(c10::ScalarType::Bool))}};
  for (const auto& [placeholder, word] : words)
    for (auto at = source.find(placeholder); at != std::string::npos; at = source.find(placeholder))
      source.replace(at, placeholder.size(), word);
  return source;
}

/// F.scaled_dot_product_attention as ScaledDotProductAttention computes it, in graph ops the quant-sim
/// places quantizers on (both matmuls, the scaling, the softmax).
constexpr const char* kScaledDotProductSource = R"(
def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Optional[Tensor],
                                 dropout_p: float, is_causal: bool, scale: Optional[float]) -> Tensor:
    if scale is None:
        factor = float(query.size(-1)) ** -0.5
    else:
        factor = scale
    scores = torch.mul(torch.matmul(query, key.transpose(-2, -1)), factor)
    if is_causal:
        causal = torch.ones([query.size(-2), key.size(-2)], dtype=BOOL).tril()
        scores = scores.masked_fill(causal.logical_not(), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == BOOL:
            scores = scores.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            scores = torch.add(scores, attn_mask)
    return torch.matmul(torch.softmax(scores, -1), value)
)";

const c10::Symbol kScaledDotProduct = c10::Symbol::aten("scaled_dot_product_attention");

const std::vector<std::string> kForwardArguments = {"self",         "query",    "key",
                                                    "value",        "key_padding_mask", "need_weights",
                                                    "attn_mask",    "average_attn_weights"};

bool IsMultiheadAttention(const torch::jit::Module& module) {
  const auto name = module.type()->name();
  if (!name) return false;
  const std::string type = name->qualifiedName();
  const std::string suffix = ".MultiheadAttention";
  return type.size() > suffix.size() && type.compare(type.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         module.hasattr("out_proj") && module.attr("out_proj").isModule();
}

std::optional<at::Tensor> TensorAttr(const torch::jit::Module& module, const std::string& name) {
  if (!module.hasattr(name)) return std::nullopt;
  const c10::IValue value = module.attr(name);
  if (!value.isTensor()) return std::nullopt;
  return value.toTensor();
}

std::string LinearForward(bool bias) {
  return std::string("def forward(self, input: Tensor) -> Tensor:\n  return torch.linear(input, self.weight, ") +
         (bias ? "self.bias" : "None") + ")\n";
}

/// The Linear modules linear_Q/K/V: one class type with a bias and one without, shared by every module.
class LinearMaker {
 public:
  explicit LinearMaker(std::shared_ptr<torch::jit::CompilationUnit> unit) : unit_(std::move(unit)) {}

  torch::jit::Module Make(const at::Tensor& weight, const std::optional<at::Tensor>& bias) {
    c10::ClassTypePtr& type = bias ? with_bias_ : without_bias_;
    torch::jit::Module linear = type ? torch::jit::Module(unit_, type)
                                     : torch::jit::Module(c10::QualifiedName("__torch__.torch.nn.modules.linear.Linear"),
                                                          unit_, /*shouldMangle=*/true);
    linear.register_attribute("training", c10::BoolType::get(), false);
    linear.register_parameter("weight", weight.detach().clone().contiguous(), false);
    if (bias) linear.register_parameter("bias", bias->detach().clone().contiguous(), false);
    if (!type) {
      linear.define(LinearForward(bias.has_value()));
      type = linear.type();
    }
    return linear;
  }

 private:
  std::shared_ptr<torch::jit::CompilationUnit> unit_;
  c10::ClassTypePtr with_bias_, without_bias_;
};

class Splitter {
 public:
  Splitter(torch::jit::Module& root, std::string source)
      : source_(std::move(source)), linears_(root._ivalue()->compilation_unit()) {}

  std::string Split(torch::jit::Module& module, const std::string& path) {
    const auto fail = [&](const std::string& why) {
      return InputError("model '" + source_ + "': MultiheadAttention '" + path + "' " + why);
    };
    auto& forward = torch::jit::toGraphFunction(module.get_method("forward").function());
    std::shared_ptr<Graph> graph = forward.graph();
    if (TensorAttr(module, "bias_k") || TensorAttr(module, "bias_v"))
      throw fail("has add_bias_kv=True, which adaflow does not support");
    if (module.hasattr("add_zero_attn") && module.attr("add_zero_attn").isBool() && module.attr("add_zero_attn").toBool())
      throw fail("has add_zero_attn=True, which adaflow does not support");
    AddLinears(module, fail);

    Node* fused = nullptr;
    for (Node* node : graph->nodes())
      if (node->kind() == c10::Symbol::aten("_native_multi_head_attention")) fused = node;
    if (IsScripted(forward)) {
      ReplaceForward(module, fail);
      return "scripted";
    }
    if (fused) {
      ReplaceFused(module, *graph, fused);
      return "traced, fused";
    }
    if (!SplitPackedProjection(*graph))
      throw fail("is traced in a form adaflow cannot split (no linear(x, in_proj_weight, in_proj_bias).chunk(3, -1): "
                 "cross-attention traced with gradients on?); script the model, or trace self-attention");
    FillBooleanMasks(*graph);
    EnsureForward(module.attr("out_proj").toModule());
    ProjectOutputBatchFirst(*graph);
    torch::jit::EliminateDeadCode(graph);
    for (const Node* node : graph->nodes())
      if (node->kind() == c10::prim::GetAttr && !node->output()->uses().empty() &&
          (node->s(c10::attr::name) == "in_proj_weight" || node->s(c10::attr::name).find("_proj_weight") == 1))
        throw fail("still reads " + node->s(c10::attr::name) + " after its projection was split; script the model");
    return "traced";
  }

 private:
  template <typename Fail>
  void AddLinears(torch::jit::Module& module, const Fail& fail) {
    at::Tensor q, k, v;
    if (const auto packed = TensorAttr(module, "in_proj_weight")) {
      const auto parts = packed->chunk(3, 0);
      q = parts[0], k = parts[1], v = parts[2];
    } else {
      const auto qw = TensorAttr(module, "q_proj_weight"), kw = TensorAttr(module, "k_proj_weight"),
                 vw = TensorAttr(module, "v_proj_weight");
      if (!qw || !kw || !vw) throw fail("has neither in_proj_weight nor q/k/v_proj_weight");
      q = *qw, k = *kw, v = *vw;
    }
    std::optional<at::Tensor> bq, bk, bv;
    if (const auto bias = TensorAttr(module, "in_proj_bias")) {
      const auto parts = bias->chunk(3, 0);
      bq = parts[0], bk = parts[1], bv = parts[2];
    }
    for (const char* name : {"linear_Q", "linear_K", "linear_V"})
      if (module.hasattr(name)) throw fail(std::string("already has an attribute ") + name);
    module.register_module("linear_Q", linears_.Make(q, bq));
    module.register_module("linear_K", linears_.Make(k, bk));
    module.register_module("linear_V", linears_.Make(v, bv));
  }

  static bool IsScripted(const torch::jit::GraphFunction& forward) {
    const auto& arguments = forward.getSchema().arguments();
    if (arguments.size() != kForwardArguments.size()) return false;
    for (std::size_t index = 0; index < arguments.size(); ++index)
      if (arguments[index].name() != kForwardArguments[index]) return false;
    return true;
  }

  /// The scripted module's forward (its type's, shared by every instance) becomes kForwardSource.
  template <typename Fail>
  void ReplaceForward(torch::jit::Module& module, const Fail& fail) {
    for (const char* name : {"num_heads", "head_dim", "embed_dim"})
      if (!module.hasattr(name)) throw fail(std::string("has no attribute ") + name);
    const c10::ClassTypePtr type = module.type();
    if (!defined_.insert(type.get()).second) return;
    // batch_first is a constant of the scripted class (nn.MultiheadAttention's __constants__).
    const auto batch_first = type->findConstantSlot("batch_first");
    if (!batch_first || !type->getConstant(*batch_first).isBool()) throw fail("has no constant batch_first");
    const auto unit = module._ivalue()->compilation_unit();
    type->unsafeRemoveMethod("forward");
    unit->unsafeRemoveMethod(c10::QualifiedName(*type->name(), "forward"));
    module.define(AttentionSource(type->getConstant(*batch_first).toBool()));
    module.define(kForwardSource);
  }

  /// aten::_native_multi_head_attention(q, k, v, embed_dim, num_heads, in_proj_weight, in_proj_bias,
  /// out_proj.weight, out_proj.bias, mask, need_weights, average_attn_weights, mask_type) → a call of
  /// quantizable_attention. The fast path runs batch-first only; mask_type 1: key padding, 0: attention.
  void ReplaceFused(torch::jit::Module& module, Graph& graph, Node* fused) {
    const auto constant = [&](std::size_t index) { return torch::jit::toIValue(fused->input(index)); };
    const std::int64_t embed_dim = constant(3)->toInt(), heads = constant(4)->toInt();
    module.register_attribute("embed_dim", c10::IntType::get(), embed_dim);
    module.register_attribute("num_heads", c10::IntType::get(), heads);
    module.register_attribute("head_dim", c10::IntType::get(), embed_dim / heads);
    EnsureForward(module.attr("out_proj").toModule());
    module.define(AttentionSource(/*batch_first=*/true));
    torch::jit::WithInsertPoint guard(fused);
    Value* none = graph.insertConstant(c10::IValue());
    const auto mask_type = constant(12);
    Value* padding = mask_type && mask_type->isInt() && mask_type->toInt() == 1 ? fused->input(9) : none;
    Value* attention = mask_type && mask_type->isInt() && mask_type->toInt() == 0 ? fused->input(9) : none;
    Node* call = graph.insertNode(graph.create(
        c10::prim::CallMethod,
        {graph.inputs().at(0), fused->input(0), fused->input(1), fused->input(2), padding, fused->input(10), attention,
         fused->input(11)},
        1));
    call->s_(c10::attr::name, kMethod);
    call->output()->setType(module.get_method(kMethod).function().getSchema().returns().at(0).type());
    Node* unpack = graph.insertNode(graph.createTupleUnpack(call->output()));
    fused->output(0)->replaceAllUsesWith(unpack->output(0));
    if (fused->output(1)->hasUses()) {  // the weights, as the fused op's Tensor (need_weights=True)
      Node* cast = graph.insertNode(graph.create(c10::prim::unchecked_cast, {unpack->output(1)}, 1));
      cast->output()->setType(c10::TensorType::get());
      fused->output(1)->replaceAllUsesWith(cast->output());
    }
    fused->destroy();
  }

  static bool IsSelfAttr(const Value* value, const Graph& graph, const std::string& name) {
    return value->node()->kind() == c10::prim::GetAttr && value->node()->s(c10::attr::name) == name &&
           value->node()->input(0) == graph.inputs().at(0);
  }

  /// A traced out_proj whose parameters were read, never called (the fast path, F.linear), has no forward.
  static void EnsureForward(torch::jit::Module out_proj) {
    if (!out_proj.find_method("forward")) out_proj.define(LinearForward(TensorAttr(out_proj, "bias").has_value()));
  }

  /// Whether `value` may have `rank` dimensions: its type says so, or does not say (a loaded model's).
  static bool MayHaveRank(const Value* value, std::size_t rank) {
    const auto type = value->type()->cast<c10::TensorType>();
    return type && (!type->dim() || *type->dim() == rank);
  }

  /// F.multi_head_attention_forward's `linear(t.view(L * N, E), out_proj.weight, out_proj.bias).view(L, N, E)`,
  /// the batch folded into the rows, → out_proj(t.view(L, N, E).transpose(0, 1)).transpose(0, 1): the same
  /// values, out_proj called on the batch first.
  static void ProjectOutputBatchFirst(Graph& graph) {
    std::vector<Node*> found;
    for (Node* linear : graph.nodes()) {
      if (linear->kind() != c10::aten::linear || linear->input(0)->node()->kind() != c10::aten::view) continue;
      const Value* weight = linear->input(1);
      if (weight->node()->kind() != c10::prim::GetAttr || weight->node()->s(c10::attr::name) != "weight" ||
          !IsSelfAttr(weight->node()->input(0), graph, "out_proj"))
        continue;
      for (const auto& use : linear->output()->uses())
        if (use.user->kind() == c10::aten::view && use.user->input(1)->node()->kind() == c10::prim::ListConstruct &&
            use.user->input(1)->node()->inputs().size() == 3)
          found.push_back(use.user);
    }
    for (Node* view : found) {
      Node* linear = view->input(0)->node();
      Value* rows = linear->input(0)->node()->input(0);  // (L, N·heads, head_dim), contiguous
      const Node* sizes = view->input(1)->node();
      torch::jit::WithInsertPoint guard(view);
      Value* shape = graph.insertNode(graph.createList(c10::IntType::get(), {sizes->input(0), sizes->input(1),
                                                                            graph.insertConstant(-1)}))->output();
      Value* unfolded = graph.insert(c10::aten::view, {rows, shape});
      Value* batch_first = graph.insert(c10::aten::transpose, {unfolded, 0, 1});
      Value* module = graph.insertGetAttr(graph.inputs().at(0), "out_proj");
      Node* call = graph.insertNode(graph.create(c10::prim::CallMethod, {module, batch_first}, 1));
      call->s_(c10::attr::name, "forward");
      call->output()->setType(c10::TensorType::get());
      view->output()->replaceAllUsesWith(graph.insert(c10::aten::transpose, {call->output(), 0, 1}));
    }
  }

  static bool SwapsFirstTwo(const Node* transpose) {
    const auto a = torch::jit::toIValue(transpose->input(1)), b = torch::jit::toIValue(transpose->input(2));
    return a && b && a->isInt() && b->isInt() && std::min(a->toInt(), b->toInt()) == 0 &&
           std::max(a->toInt(), b->toInt()) == 1;
  }

  /// linear(x, in_proj_weight, in_proj_bias).chunk(3, -1) unpacked → linear_Q(x), linear_K(x), linear_V(x).
  static bool SplitPackedProjection(Graph& graph) {
    struct Match {
      Node *linear, *chunk, *unpack;
    };
    std::vector<Match> matches;
    for (Node* linear : graph.nodes()) {
      if (linear->kind() != c10::aten::linear || !IsSelfAttr(linear->input(1), graph, "in_proj_weight")) continue;
      const auto& uses = linear->output()->uses();
      if (uses.size() != 1 || uses[0].user->kind() != c10::aten::chunk) continue;
      Node* chunk = uses[0].user;
      const auto chunks = torch::jit::toIValue(chunk->input(1)), dim = torch::jit::toIValue(chunk->input(2));
      if (!chunks || chunks->toInt() != 3 || !dim || !(dim->toInt() == -1 || dim->toInt() == 2)) continue;
      const auto& unpacks = chunk->output()->uses();
      if (unpacks.size() != 1 || unpacks[0].user->kind() != c10::prim::ListUnpack) continue;
      if (unpacks[0].user->outputs().size() != 3) continue;
      matches.push_back({linear, chunk, unpacks[0].user});
    }
    const char* names[] = {"linear_Q", "linear_K", "linear_V"};
    for (const Match& match : matches) {
      torch::jit::WithInsertPoint guard(match.unpack);
      // The projections run on the batch first: x sequence first (L, N, E) is projected as
      // x.transpose(0, 1), then transposed back (x = y.transpose(0, 1): y itself).
      Value* input = match.linear->input(0);
      const Node* transpose = input->node();
      const bool swapped = MayHaveRank(input, 3);  // batched; unbatched attention has no batch to put first
      if (swapped && transpose->kind() == c10::aten::transpose && SwapsFirstTwo(transpose))
        input = transpose->input(0);
      else if (swapped)
        input = graph.insert(c10::aten::transpose, {input, 0, 1});
      for (std::size_t index = 0; index < 3; ++index) {
        Value* module = graph.insertGetAttr(graph.inputs().at(0), names[index]);
        Node* call = graph.insertNode(graph.create(c10::prim::CallMethod, {module, input}, 1));
        call->s_(c10::attr::name, "forward");
        call->output()->setType(c10::TensorType::get());
        Value* projected = call->output();
        if (swapped) projected = graph.insert(c10::aten::transpose, {projected, 0, 1});
        match.unpack->output(index)->replaceAllUsesWith(projected);
      }
      match.unpack->destroy();
      match.chunk->destroy();
      match.linear->destroy();
    }
    return !matches.empty();
  }

  /// baddbmm(zeros_like(m).masked_fill_(m, -inf), a, b) → bmm(a, b).masked_fill(m, -inf): the same values,
  /// with the -inf put in after the matmul (whose output is quantized) as AIMET's QuantizableMultiheadAttention
  /// does, not into it.
  static void FillBooleanMasks(Graph& graph) {
    std::vector<Node*> found;
    for (Node* node : graph.nodes()) {
      if (node->kind() != c10::aten::baddbmm) continue;
      const Node* fill = node->input(0)->node();
      if (fill->kind() != c10::aten::masked_fill_ && fill->kind() != c10::aten::masked_fill) continue;
      if (fill->input(0)->node()->kind() != c10::aten::zeros_like) continue;
      const auto value = torch::jit::toIValue(fill->input(2));
      const auto beta = torch::jit::toIValue(node->input(3)), alpha = torch::jit::toIValue(node->input(4));
      if (!value || !value->isDouble() || !(std::isinf(value->toDouble()) && value->toDouble() < 0)) continue;
      if (!beta || !alpha || beta->toScalar().toDouble() != 1.0 || alpha->toScalar().toDouble() != 1.0) continue;
      found.push_back(node);
    }
    for (Node* node : found) {
      const Node* fill = node->input(0)->node();
      torch::jit::WithInsertPoint guard(node);
      Value* product = graph.insert(c10::aten::bmm, {node->input(1), node->input(2)});
      Value* masked = graph.insert(c10::aten::masked_fill, {product, fill->input(1), fill->input(2)});
      node->output()->replaceAllUsesWith(masked);
      node->destroy();
    }
  }

  std::string source_;
  LinearMaker linears_;
  std::set<const c10::ClassType*> defined_;
};

/// Every graph of `module`'s methods and its submodules' (each class once), with their owner's path.
std::vector<std::pair<std::string, std::shared_ptr<Graph>>> MethodGraphs(const torch::jit::Module& module) {
  std::vector<std::pair<std::string, std::shared_ptr<Graph>>> graphs;
  std::set<const c10::ClassType*> seen;
  for (const auto& item : module.named_modules()) {
    if (!seen.insert(item.value.type().get()).second) continue;
    for (torch::jit::Function* method : item.value.type()->methods())
      graphs.emplace_back(item.name, torch::jit::toGraphFunction(*method).graph());
  }
  return graphs;
}

void CollectScaledDotProducts(torch::jit::Block* block, std::vector<Node*>& out) {
  for (Node* node : block->nodes()) {
    if (node->kind() == kScaledDotProduct) out.push_back(node);
    for (torch::jit::Block* inner : node->blocks()) CollectScaledDotProducts(inner, out);
  }
}

/// Each aten::scaled_dot_product_attention in `graph` replaced by kScaledDotProductSource's ops; how many.
std::size_t DecomposeScaledDotProducts(Graph& graph) {
  std::vector<Node*> nodes;
  CollectScaledDotProducts(graph.block(), nodes);
  if (nodes.empty()) return 0;
  static const auto unit = torch::jit::compile(AttentionSource(false, kScaledDotProductSource));
  const auto callee = torch::jit::toGraphFunction(unit->get_function("scaled_dot_product_attention")).graph();
  for (Node* node : nodes) {
    std::vector<Value*> inputs(node->inputs().begin(), node->inputs().end());
    if (inputs.size() == 6) inputs.push_back(graph.insertConstant(c10::IValue()));  // a schema without scale
    torch::jit::WithInsertPoint guard(node);
    const auto outputs = torch::jit::insertGraph(graph, *callee, inputs);
    node->output()->replaceAllUsesWith(outputs.at(0));
    node->destroy();
  }
  return nodes.size();
}

}  // namespace

at::Tensor ScaledDotProductAttention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                                     const c10::optional<at::Tensor>& attn_mask, double dropout_p, bool is_causal,
                                     c10::optional<double> scale) {
  if (dropout_p > 0.0)
    throw std::runtime_error("scaled_dot_product_attention with dropout_p " + std::to_string(dropout_p) +
                             ": adaflow runs models for inference; pass dropout_p=0.0 outside training");
  const double factor = scale ? *scale : std::pow(static_cast<double>(query.size(-1)), -0.5);
  at::Tensor scores = at::mul(at::matmul(query, key.transpose(-2, -1)), factor);
  const double lowest = -std::numeric_limits<double>::infinity();
  if (is_causal)
    scores = scores.masked_fill(at::ones({query.size(-2), key.size(-2)}, at::kBool).tril().logical_not(), lowest);
  if (attn_mask && attn_mask->defined())
    scores = attn_mask->scalar_type() == at::kBool ? scores.masked_fill(attn_mask->logical_not(), lowest)
                                                     : at::add(scores, *attn_mask);
  return at::matmul(at::softmax(scores, -1), value);
}

std::string Describe(const AttentionRewrite& rewrite) {
  const std::string where = rewrite.module.empty() ? "the model" : rewrite.module;
  if (rewrite.form == "scaled_dot_product_attention")
    return "scaled_dot_product_attention in " + where + ": decomposed into matmul, scale, softmax, matmul";
  return "MultiheadAttention " + where + " (" + rewrite.form + "): in_proj split into linear_Q, linear_K, linear_V";
}

void RegisterScaledDotProductAttention() {
  static std::once_flag once;
  std::call_once(once, [] {
    static const torch::jit::RegisterOperators registration({torch::jit::Operator(
        "aten::scaled_dot_product_attention(Tensor query, Tensor key, Tensor value, Tensor? attn_mask=None, "
        "float dropout_p=0.0, bool is_causal=False, *, float? scale=None) -> Tensor",
        [](torch::jit::Stack& stack) {
          const c10::optional<double> scale = torch::jit::pop(stack).toOptional<double>();
          const bool is_causal = torch::jit::pop(stack).toBool();
          const double dropout_p = torch::jit::pop(stack).toDouble();
          const c10::optional<at::Tensor> attn_mask = torch::jit::pop(stack).toOptional<at::Tensor>();
          const at::Tensor value = torch::jit::pop(stack).toTensor();
          const at::Tensor key = torch::jit::pop(stack).toTensor();
          const at::Tensor query = torch::jit::pop(stack).toTensor();
          torch::jit::push(stack, ScaledDotProductAttention(query, key, value, attn_mask, dropout_p, is_causal, scale));
        },
        c10::AliasAnalysisKind::FROM_SCHEMA)});
  });
}

std::shared_ptr<const Model> MakeAttentionQuantizable(const std::shared_ptr<const Model>& model,
                                                      std::vector<AttentionRewrite>* rewrites) {
  bool any = false;
  for (const auto& item : model->module().named_modules()) any = any || IsMultiheadAttention(item.value);
  for (const auto& [path, graph] : MethodGraphs(model->module())) {
    std::vector<Node*> nodes;
    CollectScaledDotProducts(graph->block(), nodes);
    any = any || !nodes.empty();
  }
  if (!any) return model;
  auto copy = model->Clone();
  torch::jit::Module& root = copy->module();
  std::vector<std::pair<std::string, torch::jit::Module>> found;
  for (const auto& item : root.named_modules())
    if (IsMultiheadAttention(item.value)) found.emplace_back(item.name, item.value);
  Splitter splitter(root, model->source());
  for (auto& [path, module] : found) {
    const std::string form = splitter.Split(module, path);
    if (rewrites) rewrites->push_back({path, form});
  }
  for (const auto& [path, graph] : MethodGraphs(root))
    if (DecomposeScaledDotProducts(*graph) > 0 && rewrites) rewrites->push_back({path, "scaled_dot_product_attention"});
  copy->SetInputs(copy->inputs());  // forget any inlined graph made before
  return copy;
}

}  // namespace adaflow::model
