#pragma once
// nn.MultiheadAttention made quantizable, as AIMET's prepare_pt_transformer_for_quantsim does with its
// QuantizableMultiheadAttention (aimet_torch/transformers/activation.py): the packed input projection
// (`in_proj_weight`, or `q_proj_weight`/`k_proj_weight`/`v_proj_weight`) becomes three Linear
// submodules `linear_Q`, `linear_K`, `linear_V` beside `out_proj`, so AdaRound learns them as layers and
// the quant-sim quantizes their outputs, the scaled query, both matmuls and the softmax.
//
// The three forms TorchScript gives a MultiheadAttention in PyTorch 1.13:
//  - scripted: a forward with the fast path (`aten::_native_multi_head_attention`) under branches on
//    the data; it is replaced by `quantizable_attention` (below), with the same signature;
//  - traced under torch.no_grad() (the fast path taken): the fused op is replaced by a call of
//    `quantizable_attention`;
//  - traced with gradients on: F.multi_head_attention_forward's ops; the packed projection
//    (`linear(x, in_proj_weight, in_proj_bias).chunk(3, -1)`) is replaced by the three Linear calls, and
//    a boolean mask turned into an additive -inf mask for `baddbmm` by a masked_fill of the scores.
// `quantizable_attention` computes what PyTorch's does in eval mode (no dropout), in AIMET's order:
// q = linear_Q(query) / √head_dim, softmax(q·kᵀ masked)·v, out_proj. Masks fill -inf, boolean or
// float (added), key padding (N, S) and attention (L, S) or (N·heads, L, S) masks alike.
// Not supported (InputError naming the module): add_bias_kv, add_zero_attn, a traced cross-attention
// with gradients on (script it), a form of the module none of the above matches.
//
// F.scaled_dot_product_attention (PyTorch 2.0) is an op LibTorch 1.13 does not have: a model saved by
// PyTorch 2 that calls it would not load. RegisterScaledDotProductAttention (Model::Load calls it)
// registers it with PyTorch's schema and math (softmax(q·kᵀ·scale + mask)·v, scale 1/√E by default, a
// boolean mask True where attention is allowed, is_causal the lower triangle; no dropout: inference), and
// MakeAttentionQuantizable replaces each call by those ops, whose matmuls, scaling and softmax the
// quant-sim quantizes.

#include <memory>
#include <string>
#include <vector>

#include "src/model/model.h"

namespace adaflow::model {

struct AttentionRewrite {
  std::string module;  ///< the MultiheadAttention's path, e.g. "encoder.0.attn"
  std::string form;    ///< "scripted", "traced, fused", "traced" or "scaled_dot_product_attention"
};

/// "MultiheadAttention encoder.0.attn (scripted): in_proj split into linear_Q, linear_K, linear_V", or for
/// scaled_dot_product_attention "… in encoder.0.attn: decomposed into matmul, scale, softmax, matmul".
std::string Describe(const AttentionRewrite& rewrite);

/// A copy of `model` with every nn.MultiheadAttention split and every scaled_dot_product_attention call
/// decomposed as above (`model` is left alone), and what was rewritten (a decomposed call by the module
/// whose code holds it). A model without either comes back as it is, `rewrites` empty.
std::shared_ptr<const Model> MakeAttentionQuantizable(const std::shared_ptr<const Model>& model,
                                                       std::vector<AttentionRewrite>* rewrites = nullptr);

/// aten::scaled_dot_product_attention's math (see above); throws when dropout_p > 0.
at::Tensor ScaledDotProductAttention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                                     const c10::optional<at::Tensor>& attn_mask, double dropout_p, bool is_causal,
                                     c10::optional<double> scale);

/// Registers aten::scaled_dot_product_attention with the TorchScript runtime (once per process).
void RegisterScaledDotProductAttention();

}  // namespace adaflow::model
