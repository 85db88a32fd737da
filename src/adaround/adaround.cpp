#include "src/adaround/adaround.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>

#include "common/error.h"

namespace adaflow::adaround {
namespace {

bool IsLinear(const model::Layer& layer) { return layer.kind == model::LayerKind::kLinear; }
/// AIMET's reconstruction loss sums the squared error over dim 1 (adaround_loss.py, compute_recon_loss:
/// torch.norm(·, dim=1)² then mean): the channels of a convolution, the features of a 2-D Linear
/// output, but the second dim of a Linear on ≥ 3-D inputs (e.g. the tokens of [batch, tokens, features]).
constexpr int kLossDim = 1;

/// [rows, D] patches of group `group`, for linear layers and (via im2col) convolutions.
torch::Tensor GroupPatches(const model::Layer& layer, const torch::Tensor& input, std::int64_t group) {
  if (IsLinear(layer)) return input.reshape({-1, input.size(-1)});
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
  const std::int64_t in_per_group = layer.weight_shape[1];
  x = x.narrow(1, group * in_per_group, in_per_group);
  const torch::Tensor columns = at::im2col(x, kernel, dilation, padding, stride);  // [n, D, L]
  return columns.transpose(1, 2).reshape({-1, columns.size(1)});
}

std::int64_t Groups(const model::Layer& layer) { return IsLinear(layer) ? 1 : layer.groups; }

/// The weight as [groups, out/groups, D].
torch::Tensor GroupedWeight(const model::Layer& layer, const torch::Tensor& weight) {
  const std::int64_t groups = Groups(layer);
  return weight.reshape({groups, weight.size(0) / groups, -1});
}

}  // namespace

int DefaultIterations(const std::vector<int>& layer_bits) {
  int lowest = 32;
  for (int bits : layer_bits) lowest = std::min(lowest, bits);
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

const char* ObjectiveName(Objective objective) { return objective == Objective::kGram ? "gram" : "sampled"; }

bool GramSupported(const model::Layer& layer) {
  return layer.kind == model::LayerKind::kLinear || layer.kind == model::LayerKind::kConv1d ||
         layer.kind == model::LayerKind::kConv2d;
}

GramStats ComputeGram(const LayerData& data, std::int64_t chunk) {
  torch::NoGradGuard no_grad;
  const model::Layer& layer = data.layer;
  const std::int64_t groups = Groups(layer);
  const bool same_input = !data.fp_input.defined();
  GramStats stats;
  const std::int64_t samples = data.input.size();
  for (std::int64_t start = 0; start < samples; start += chunk) {
    const std::int64_t count = std::min(chunk, samples - start);
    const torch::Tensor quant_in = data.input.Slice(start, count);
    const torch::Tensor fp_in = same_input ? quant_in : data.fp_input.Slice(start, count);
    std::vector<torch::Tensor> hh, hf, ff;
    for (std::int64_t group = 0; group < groups; ++group) {
      const torch::Tensor p_hat = GroupPatches(layer, quant_in, group);
      const torch::Tensor p = same_input ? p_hat : GroupPatches(layer, fp_in, group);
      if (group == 0) stats.rows += static_cast<double>(p_hat.size(0));
      // Products in float32 (BLAS), sums across chunks in float64.
      hh.push_back(p_hat.t().mm(p_hat).to(torch::kFloat64));
      if (!same_input) {
        hf.push_back(p_hat.t().mm(p).to(torch::kFloat64));
        ff.push_back(p.t().mm(p).to(torch::kFloat64));
      }
    }
    auto add = [](torch::Tensor& total, const std::vector<torch::Tensor>& parts) {
      const torch::Tensor stacked = torch::stack(parts);
      total = total.defined() ? total + stacked : stacked;
    };
    add(stats.hh, hh);
    if (!same_input) {
      add(stats.hf, hf);
      add(stats.ff, ff);
    }
  }
  stats.hh /= stats.rows;
  if (same_input) {
    stats.hf = stats.hh;
    stats.ff = stats.hh;
  } else {
    stats.hf /= stats.rows;
    stats.ff /= stats.rows;
  }
  return stats;
}

GramForm PrepareGram(const GramStats& stats, const model::Layer& layer, const torch::Tensor& fp_weight) {
  torch::NoGradGuard no_grad;
  const torch::Tensor w = GroupedWeight(layer, fp_weight.detach()).to(torch::kFloat64);
  const torch::Tensor m = stats.hh - stats.hf;                             // (1/R)Σ p̂ δᵀ
  const torch::Tensor d = stats.hh - stats.hf - stats.hf.transpose(1, 2) + stats.ff;  // (1/R)Σ δδᵀ
  GramForm form;
  form.hh = stats.hh.to(torch::kFloat32);
  form.cross = torch::bmm(w, m.transpose(1, 2)).to(torch::kFloat32);
  form.constant = (torch::bmm(w, d) * w).sum().item<double>();
  return form;
}

torch::Tensor GramLoss(const GramForm& form, const model::Layer& layer, const torch::Tensor& weight,
                       const torch::Tensor& fp_weight) {
  const torch::Tensor error = GroupedWeight(layer, weight - fp_weight.detach());
  return (torch::bmm(error, form.hh) * error).sum() + 2.0 * (error * form.cross).sum() + form.constant;
}

double ReconstructionMse(const LayerData& data, const torch::Tensor& weight, bool with_activation,
                         std::int64_t chunk) {
  torch::NoGradGuard no_grad;
  const model::Layer& layer = data.layer;
  double total = 0.0, rows = 0.0;
  for (std::int64_t start = 0; start < data.input.size(); start += chunk) {
    const std::int64_t count = std::min(chunk, data.input.size() - start);
    torch::Tensor output = LayerForward(layer, data.input.Slice(start, count), weight, data.bias);
    torch::Tensor target;
    if (with_activation) {
      output = ApplyActivation(layer, output);
      target = data.target.Slice(start, count);
    } else {
      target = LayerForward(layer, data.fp().Slice(start, count), data.weight, data.bias);
    }
    const torch::Tensor squared = (output - target).pow(2).sum(IsLinear(layer) ? -1 : 1);
    total += squared.sum().item<double>();
    rows += static_cast<double>(squared.numel());
  }
  return total / rows;
}

double SampledStepCost(const LayerData& data, int batch_size) {
  const double positions = static_cast<double>(data.target.numel()) / static_cast<double>(data.target.size()) /
                           static_cast<double>(data.layer.weight_channels() * (data.layer.transposed() ? data.layer.groups : 1));
  double weight_size = 1;
  for (auto dim : data.layer.weight_shape) weight_size *= static_cast<double>(dim);
  // Forward plus the weight gradient: two products of the weight with every sampled position.
  return 2.0 * std::min<double>(batch_size, static_cast<double>(data.input.size())) * positions * weight_size;
}

double GramStepCost(const model::Layer& layer) {
  double weight_size = 1;
  for (auto dim : layer.weight_shape) weight_size *= static_cast<double>(dim);
  const double d = weight_size / static_cast<double>(layer.weight_shape[0]);
  // E·Ĥ forward and its gradient; the cross term is element-wise.
  return 2.0 * weight_size * d;
}

Result Optimize(const LayerData& data, const quant::TensorEncoding& encoding, const Hyper& hyper, Objective objective,
                std::uint64_t seed, const Progress& progress, const std::atomic<bool>* stop) {
  const auto start_time = std::chrono::steady_clock::now();
  const model::Layer& layer = data.layer;
  if (objective == Objective::kGram && !GramSupported(layer)) objective = Objective::kSampled;
  const torch::Tensor weight = data.weight.detach();
  const Grid grid = MakeGrid(weight, encoding);
  const torch::Tensor floor_index = FloorIndex(weight, grid);
  torch::Tensor alpha = InitialAlpha(weight, grid).detach().requires_grad_(true);
  torch::Tensor moment = torch::zeros_like(alpha), second = torch::zeros_like(alpha);
  const bool with_activation = objective == Objective::kSampled && !layer.activation.none();
  GramForm gram;
  if (objective == Objective::kGram) gram = PrepareGram(ComputeGram(data), layer, weight);
  // The Gram form is the error per row; AIMET's loss sums over dim 1 instead (same for convolutions
  // and 2-D Linear inputs).
  const double gram_scale = LossScale(layer, data.input.shape());
  auto generator = at::detail::createCPUGenerator(seed);
  const std::int64_t samples = data.input.size();
  const std::int64_t batch = std::min<std::int64_t>(hyper.batch_size, samples);
  constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;

  double last_loss = 0.0;
  for (int iteration = 0; iteration < hyper.num_iterations; ++iteration) {
    if (stop && stop->load()) throw Interrupted("AdaRound of '" + layer.name + "' stopped");
    const torch::Tensor h = RectifiedSigmoid(alpha);
    const torch::Tensor soft = RoundedWeight(floor_index, h, grid);
    torch::Tensor loss;
    if (objective == Objective::kGram) {
      loss = GramLoss(gram, layer, soft, weight) * gram_scale;
    } else {
      const torch::Tensor indices = torch::randperm(samples, generator, torch::kLong).narrow(0, 0, batch);
      torch::Tensor output = LayerForward(layer, data.input.Gather(indices), soft, data.bias);
      if (with_activation) output = ApplyActivation(layer, output);
      const torch::Tensor target = data.target.Gather(indices);
      loss = RowMse(output, target);
    }
    if (RegularizerActive(hyper, iteration))
      loss = loss + Regularizer(h, hyper.reg_param, Beta(hyper, iteration)).to(loss.scalar_type());
    loss.backward();
    {
      // Adam, as torch.optim.Adam computes it (no weight decay, no amsgrad).
      torch::NoGradGuard no_grad;
      const torch::Tensor grad = alpha.grad();
      const double step = iteration + 1;
      moment.mul_(kBeta1).add_(grad, 1.0 - kBeta1);
      second.mul_(kBeta2).addcmul_(grad, grad, 1.0 - kBeta2);
      const double correction1 = 1.0 - std::pow(kBeta1, step);
      const double correction2 = 1.0 - std::pow(kBeta2, step);
      const torch::Tensor denominator = (second.sqrt() / std::sqrt(correction2)).add_(kEps);
      alpha.addcdiv_(moment, denominator, -hyper.learning_rate / correction1);
      alpha.mutable_grad().zero_();
    }
    if (progress && (iteration + 1) % kProgressEvery == 0) {
      last_loss = loss.item<double>();
      progress(iteration + 1, last_loss);
    }
  }

  Result result;
  result.objective = objective;
  result.iterations = hyper.num_iterations;
  result.alpha = alpha.detach();
  {
    torch::NoGradGuard no_grad;
    result.weight = RoundedWeight(floor_index, (result.alpha >= 0).to(weight.scalar_type()), grid);
    const bool activation_in_mse = !layer.activation.none();
    result.mse_nearest = ReconstructionMse(data, quant::QuantizeDequantize(weight, encoding), activation_in_mse);
    result.mse_adaround = ReconstructionMse(data, result.weight, activation_in_mse);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  return result;
}

}  // namespace adaflow::adaround
