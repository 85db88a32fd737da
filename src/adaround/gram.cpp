#include "src/adaround/gram.h"

#include <algorithm>

namespace adaflow::adaround {
namespace {

bool IsLinear(const model::Layer& layer) { return layer.kind == model::LayerKind::kLinear; }
std::int64_t Groups(const model::Layer& layer) { return IsLinear(layer) ? 1 : layer.groups; }

/// Patches of more than this many floats are built in pieces (a 224×224 input's im2col is large).
constexpr std::int64_t kPatchFloats = std::int64_t{16} << 20;

}  // namespace

bool GramSupported(const model::Layer& layer) {
  return layer.kind == model::LayerKind::kLinear || layer.kind == model::LayerKind::kConv1d ||
         layer.kind == model::LayerKind::kConv2d;
}

torch::Tensor GroupedWeight(const model::Layer& layer, const torch::Tensor& weight) {
  const std::int64_t groups = Groups(layer);
  return weight.reshape({groups, weight.size(0) / groups, -1});
}

torch::Tensor GroupPatches(const model::Layer& layer, const torch::Tensor& input) {
  if (IsLinear(layer)) return input.reshape({-1, input.size(-1)}).t().unsqueeze(0);
  torch::Tensor x = input;
  std::vector<std::int64_t> kernel(layer.weight_shape.begin() + 2, layer.weight_shape.end());
  std::vector<std::int64_t> stride = layer.stride, padding = layer.padding, dilation = layer.dilation;
  if (layer.kind == model::LayerKind::kConv1d) {
    x = x.unsqueeze(2);
    kernel.insert(kernel.begin(), 1);
    stride.insert(stride.begin(), 1);
    padding.insert(padding.begin(), 0);
    dilation.insert(dilation.begin(), 1);
  }
  const std::int64_t groups = layer.groups;
  const torch::Tensor columns = at::im2col(x, kernel, dilation, padding, stride);  // [n, C·k, L]
  const std::int64_t samples = columns.size(0), positions = columns.size(2);
  const std::int64_t depth = columns.size(1) / groups;
  // [n, G, D, L] → [G, D, n, L] → [G, D, n·L]
  return columns.view({samples, groups, depth, positions}).permute({1, 2, 0, 3}).reshape({groups, depth, -1});
}

GramAccumulator::GramAccumulator(const model::Layer& layer, bool cross) : layer_(layer), cross_(cross) {}

void GramAccumulator::Add(const torch::Tensor& quant_input, const torch::Tensor& fp_input) {
  torch::NoGradGuard no_grad;
  const std::int64_t samples = quant_input.size(0);
  if (samples == 0) return;
  // Samples per piece: the im2col of one sample has in·k·positions floats.
  const torch::Tensor probe = GroupPatches(layer_, quant_input.narrow(0, 0, 1));
  const std::int64_t per_sample = std::max<std::int64_t>(1, probe.numel());
  const std::int64_t piece = std::max<std::int64_t>(1, kPatchFloats / per_sample);
  auto add = [](torch::Tensor& total, const torch::Tensor& product) {
    const torch::Tensor wide = product.to(torch::kFloat64);
    if (total.defined()) total.add_(wide);
    else total = wide;
  };
  for (std::int64_t start = 0; start < samples; start += piece) {
    const std::int64_t count = std::min(piece, samples - start);
    const torch::Tensor p_hat = GroupPatches(layer_, quant_input.narrow(0, start, count));
    rows_ += static_cast<double>(p_hat.size(2));
    add(hh_, torch::bmm(p_hat, p_hat.transpose(1, 2)));
    if (cross_) {
      const torch::Tensor p = GroupPatches(layer_, fp_input.narrow(0, start, count));
      add(hf_, torch::bmm(p_hat, p.transpose(1, 2)));
      add(ff_, torch::bmm(p, p.transpose(1, 2)));
    }
  }
}

void GramAccumulator::Merge(const GramAccumulator& other) {
  auto merge = [](torch::Tensor& total, const torch::Tensor& part) {
    if (!part.defined()) return;
    if (total.defined()) total.add_(part);
    else total = part.clone();
  };
  merge(hh_, other.hh_);
  merge(hf_, other.hf_);
  merge(ff_, other.ff_);
  rows_ += other.rows_;
}

GramStats GramAccumulator::Finish() const {
  GramStats stats;
  stats.rows = rows_;
  stats.hh = hh_ / rows_;
  stats.hf = cross_ ? hf_ / rows_ : stats.hh;
  stats.ff = cross_ ? ff_ / rows_ : stats.hh;
  return stats;
}

GramForm PrepareGram(const GramStats& stats, const model::Layer& layer, const torch::Tensor& fp_weight) {
  torch::NoGradGuard no_grad;
  const torch::Tensor w = GroupedWeight(layer, fp_weight.detach()).to(torch::kFloat64);
  const torch::Tensor m = stats.hh - stats.hf;                                          // (1/R)Σ p̂ δᵀ
  const torch::Tensor d = stats.hh - stats.hf - stats.hf.transpose(1, 2) + stats.ff;  // (1/R)Σ δδᵀ
  GramForm form;
  form.hh64 = stats.hh;
  form.cross64 = torch::bmm(w, m.transpose(1, 2));
  form.hh = form.hh64.to(torch::kFloat32).contiguous();
  form.cross = form.cross64.to(torch::kFloat32).contiguous();
  form.constant = (torch::bmm(w, d) * w).sum().item<double>();
  return form;
}

torch::Tensor GramLoss(const GramForm& form, const model::Layer& layer, const torch::Tensor& weight,
                       const torch::Tensor& fp_weight) {
  const torch::Tensor error = GroupedWeight(layer, weight - fp_weight.detach());
  return (torch::bmm(error, form.hh) * error).sum() + 2.0 * (error * form.cross).sum() + form.constant;
}

double GramError(const GramForm& form, const model::Layer& layer, const torch::Tensor& weight,
                 const torch::Tensor& fp_weight) {
  torch::NoGradGuard no_grad;
  const torch::Tensor error =
      GroupedWeight(layer, weight.detach().to(torch::kFloat64) - fp_weight.detach().to(torch::kFloat64));
  const double value = (torch::bmm(error, form.hh64) * error).sum().item<double>() +
                       2.0 * (error * form.cross64).sum().item<double>() + form.constant;
  return std::max(0.0, value);
}

}  // namespace adaflow::adaround
