#include "src/adaround/adaround.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "common/error.h"

namespace adaflow::adaround {
namespace {

bool IsLinear(const model::Layer& layer) { return layer.kind == model::LayerKind::kLinear; }
/// AIMET's reconstruction loss sums the squared error over dim 1 (adaround_loss.py, compute_recon_loss:
/// torch.norm(·, dim=1)² then mean): the channels of a convolution, the features of a 2-D Linear
/// output, but the second dim of a Linear on ≥ 3-D inputs (e.g. the tokens of [batch, tokens, features]).
constexpr int kLossDim = 1;

}  // namespace

int DefaultIterations(const std::vector<int>& bitwidths) {
  int lowest = 32;
  for (int bitwidth : bitwidths) lowest = std::min(lowest, bitwidth);
  return lowest < 8 ? 15000 : 10000;
}

double Beta(const Hyper& hyper, int iteration) {
  const double warm_end = hyper.warm_start * hyper.num_iterations;
  const double rel = (iteration - warm_end) / (hyper.num_iterations - warm_end);
  return hyper.beta_end + 0.5 * (hyper.beta_start - hyper.beta_end) * (1.0 + std::cos(rel * M_PI));
}

bool RegularizerActive(const Hyper& hyper, int iteration) {
  return iteration >= hyper.warm_start * hyper.num_iterations;
}

torch::Tensor RectifiedSigmoid(const torch::Tensor& alpha) {
  return torch::clamp(torch::sigmoid(alpha) * (kZeta - kGamma) + kGamma, 0.0, 1.0);
}

Grid MakeGrid(const torch::Tensor& weight, const quant::TensorEncoding& encoding) {
  std::vector<double> scales, offsets;
  for (const auto& channel : encoding.channels) {
    scales.push_back(channel.scale);
    offsets.push_back(static_cast<double>(channel.offset));
  }
  auto shaped = [&](const std::vector<double>& values) {
    torch::Tensor tensor = torch::tensor(values, torch::kFloat64).to(weight.scalar_type());
    if (!encoding.axis_is_channel) return tensor.reshape({});
    std::vector<std::int64_t> shape(static_cast<std::size_t>(weight.dim()), 1);
    shape[static_cast<std::size_t>(encoding.axis)] = -1;
    return tensor.reshape(shape);
  };
  // AIMET v1 clamps the rounded index to [0, 2^b − 1] even on a strict symmetric grid
  // (adaround_wrapper.py, AdaroundWrapper._init_param: clip_max = 2 ** bitwidth - 1).
  const double steps = std::pow(2.0, encoding.channels.at(0).bitwidth) - 1.0;
  return Grid{shaped(scales), shaped(offsets), torch::tensor(steps, torch::kFloat64).to(weight.scalar_type())};
}

torch::Tensor FloorIndex(const torch::Tensor& weight, const Grid& grid) { return torch::floor(weight / grid.scale); }

torch::Tensor InitialAlpha(const torch::Tensor& weight, const Grid& grid) {
  const torch::Tensor scaled = weight / grid.scale;
  const torch::Tensor rest = scaled - torch::floor(scaled);
  return -torch::log((kZeta - kGamma) / (rest - kGamma) - 1.0);
}

torch::Tensor RoundedWeight(const torch::Tensor& floor_index, const torch::Tensor& h, const Grid& grid) {
  const double steps = grid.steps.item<double>();
  return grid.scale * (torch::clamp(floor_index + h - grid.offset, 0.0, steps) + grid.offset);
}

torch::Tensor Regularizer(const torch::Tensor& h, double reg_param, double beta) {
  return reg_param * (1.0 - (2.0 * h - 1.0).abs().pow(beta)).sum();
}

torch::Tensor LayerForward(const model::Layer& layer, const torch::Tensor& input, const torch::Tensor& weight,
                           const torch::Tensor& bias) {
  switch (layer.kind) {
    case model::LayerKind::kLinear:
      return at::linear(input, weight, bias);
    case model::LayerKind::kConv1d:
      return at::conv1d(input, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups);
    case model::LayerKind::kConv2d:
      return at::conv2d(input, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups);
    case model::LayerKind::kConvTranspose1d:
      return at::conv_transpose1d(input, weight, bias, layer.stride, layer.padding, layer.output_padding,
                                  layer.groups, layer.dilation);
    case model::LayerKind::kConvTranspose2d:
      return at::conv_transpose2d(input, weight, bias, layer.stride, layer.padding, layer.output_padding,
                                  layer.groups, layer.dilation);
  }
  throw std::logic_error("unknown layer kind");
}

torch::Tensor ApplyActivation(const model::Layer& layer, const torch::Tensor& output) {
  return layer.activation.Apply(output);
}

torch::Tensor RowMse(const torch::Tensor& output, const torch::Tensor& target) {
  return (output - target).pow(2).sum(kLossDim).mean();
}

double LossScale(const model::Layer& layer, const std::vector<std::int64_t>& input_shape) {
  if (!IsLinear(layer) || input_shape.size() < 3) return 1.0;
  return static_cast<double>(input_shape[1]) / static_cast<double>(layer.weight_shape[0]);
}

double LossDenominator(const std::vector<std::int64_t>& target_shape) {
  double elements = 1;
  for (std::size_t dim = 1; dim < target_shape.size(); ++dim) elements *= static_cast<double>(target_shape[dim]);
  return target_shape.size() > 1 ? elements / static_cast<double>(target_shape[1]) : 1.0;
}

bool SamplesPositions(const model::Layer& layer) {
  const auto coupled = layer.activation.kind == model::Activation::kSoftmax ||
                       layer.activation.kind == model::Activation::kLogSoftmax;
  return layer.kind == model::LayerKind::kConv2d && layer.groups == 1 && !coupled;
}

double SampledStepCost(const model::Layer& layer, const std::vector<std::int64_t>& target_shape, int batch_size,
                       int positions_per_sample) {
  double per_sample = 1;
  for (std::size_t dim = 1; dim < target_shape.size(); ++dim) per_sample *= static_cast<double>(target_shape[dim]);
  double positions = per_sample / static_cast<double>(layer.transposed() ? layer.weight_channels() * layer.groups
                                                                         : layer.weight_shape[0]);
  if (positions_per_sample > 0 && SamplesPositions(layer))
    positions = std::min(positions, static_cast<double>(positions_per_sample));
  double weight_size = 1;
  for (auto dim : layer.weight_shape) weight_size *= static_cast<double>(dim);
  // Forward plus the weight gradient: two products of the weight with every sampled position.
  return 2.0 * std::min<double>(batch_size, static_cast<double>(target_shape.at(0))) * positions * weight_size;
}

double GramStepCost(const model::Layer& layer) {
  double weight_size = 1;
  for (auto dim : layer.weight_shape) weight_size *= static_cast<double>(dim);
  const double d = weight_size / static_cast<double>(layer.weight_shape[0]);
  // One product E·Ĥ per step serves the loss and its gradient.
  return weight_size * d;
}

}  // namespace adaflow::adaround
