#include "src/adaround/gram.h"

#include <algorithm>

namespace adaflow::adaround {
namespace {

bool IsLinear(const model::Layer& layer) { return layer.kind == model::LayerKind::kLinear; }
std::int64_t Groups(const model::Layer& layer) { return IsLinear(layer) ? 1 : layer.groups; }

/// Patches of more than this many floats (16 MiB) are built in pieces (a 224×224 input's im2col is large).
constexpr std::int64_t kPatchFloats = std::int64_t{4} << 20;

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

GramAccumulator::GramAccumulator(const model::Layer& layer, const torch::Tensor& fp_weight, bool cross)
    : layer_(layer), weight_(fp_weight.detach().to(torch::kFloat32)), cross_(cross) {}

GramAccumulator::GramAccumulator(const model::Layer& layer, const torch::Tensor& fp_weight, bool cross, GramSums sums)
    : GramAccumulator(layer, fp_weight, cross) {
  sums_ = std::move(sums);
}

void GramAccumulator::Add(const torch::Tensor& quant_input, const torch::Tensor& fp_input) {
  torch::NoGradGuard no_grad;
  const std::int64_t samples = quant_input.size(0);
  if (samples == 0) return;
  // Samples per piece: the im2col of one sample has in·k·positions floats.
  const torch::Tensor probe = GroupPatches(layer_, quant_input.narrow(0, 0, 1));
  const std::int64_t per_sample = std::max<std::int64_t>(1, probe.numel());
  const std::int64_t piece = std::max<std::int64_t>(1, kPatchFloats / per_sample);
  const std::int64_t groups = Groups(layer_);
  auto add = [](torch::Tensor& total, const torch::Tensor& product) {
    const torch::Tensor wide = product.to(torch::kFloat64);
    if (total.defined()) total.add_(wide);
    else total = wide;
  };
  for (std::int64_t start = 0; start < samples; start += piece) {
    const std::int64_t count = std::min(piece, samples - start);
    const torch::Tensor x_hat = quant_input.narrow(0, start, count);
    const torch::Tensor p_hat = GroupPatches(layer_, x_hat);  // [G, D, rows]
    sums_.rows += static_cast<double>(p_hat.size(2));
    add(sums_.hh, torch::bmm(p_hat, p_hat.transpose(1, 2)));
    if (!cross_) continue;
    // Wδ: the layer's op without bias on x̂ − x, as [G, out/G, rows] in the patches' row order.
    const torch::Tensor delta = x_hat - fp_input.narrow(0, start, count);
    torch::Tensor y;
    if (IsLinear(layer_)) {
      y = at::linear(delta, weight_).reshape({-1, weight_.size(0)}).t().unsqueeze(0);
    } else {
      const torch::Tensor out = layer_.kind == model::LayerKind::kConv1d
                                    ? at::conv1d(delta, weight_, {}, layer_.stride, layer_.padding, layer_.dilation,
                                                 layer_.groups)
                                    : at::conv2d(delta, weight_, {}, layer_.stride, layer_.padding, layer_.dilation,
                                                 layer_.groups);
      const torch::Tensor flat = out.reshape({out.size(0), groups, out.size(1) / groups, -1});  // [n, G, o, L]
      y = flat.permute({1, 2, 0, 3}).reshape({groups, out.size(1) / groups, -1});
    }
    add(sums_.k, torch::bmm(y, p_hat.transpose(1, 2)));
    sums_.c += y.to(torch::kFloat64).pow(2).sum().item<double>();
  }
}

void GramAccumulator::Merge(const GramAccumulator& other) {
  auto merge = [](torch::Tensor& total, const torch::Tensor& part) {
    if (!part.defined()) return;
    if (total.defined()) total.add_(part);
    else total = part.clone();
  };
  merge(sums_.hh, other.sums_.hh);
  merge(sums_.k, other.sums_.k);
  sums_.c += other.sums_.c;
  sums_.rows += other.sums_.rows;
}

GramForm GramAccumulator::Finish() const {
  GramForm form;
  form.rows = sums_.rows;
  form.hh64 = sums_.hh / sums_.rows;
  form.cross64 = cross_ ? sums_.k / sums_.rows : torch::zeros({form.hh64.size(0), weight_.size(0) / form.hh64.size(0),
                                                     form.hh64.size(1)}, torch::kFloat64);
  form.constant = cross_ ? sums_.c / sums_.rows : 0.0;
  form.hh = form.hh64.to(torch::kFloat32).contiguous();
  form.cross = form.cross64.to(torch::kFloat32).contiguous();
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
