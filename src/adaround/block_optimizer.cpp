#include "src/adaround/block_optimizer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>
#include <utility>

#include "common/error.h"

namespace adaflow::adaround {
namespace {

bool IsLinear(const model::Layer& layer) { return layer.kind == model::LayerKind::kLinear; }

/// Channels coupled by the activation: a block cannot be optimized apart from the others.
bool ChannelsCoupled(const model::Layer& layer) {
  return layer.activation.kind == model::Activation::kSoftmax ||
         layer.activation.kind == model::Activation::kLogSoftmax || layer.transposed();
}

/// The block's rows of a grid (scale and offset expanded to the weight's shape).
Grid BlockGrid(const Grid& grid, const torch::Tensor& weight, const ChannelBlock& block) {
  return Grid{BlockRows(grid.scale.expand_as(weight), block).contiguous(),
              BlockRows(grid.offset.expand_as(weight), block).contiguous(), grid.steps};
}

/// Rows of `block` from [N, …] rows along the output-channel dim (1, or the last for Linear). A
/// transposed convolution's one block is its whole weight (rows are input channels): every output.
torch::Tensor TargetRows(const model::Layer& layer, const Rows& target, const torch::Tensor& indices,
                         const ChannelBlock& block) {
  if (layer.transposed()) return target.Gather(indices);
  const int dim = IsLinear(layer) ? -1 : 1;
  if (!target.streamed()) return target.All().narrow(dim, block.begin, block.size()).index_select(0, indices);
  return target.Gather(indices).narrow(dim, block.begin, block.size());
}

/// The sampled step's patch matrix for one step is built when it has at most this many floats (64 MiB):
/// ResNet-18's layer4 at 32 samples and all positions is 7.2 M; larger ones stay with the library's
/// convolution.
constexpr std::int64_t kStepPatchFloats = std::int64_t{16} << 20;

/// A 2-D convolution's output height and width for an input [n, C, H, W].
std::pair<std::int64_t, std::int64_t> OutputSize(const model::Layer& layer,
                                                 const std::vector<std::int64_t>& input_shape) {
  const std::int64_t kh = layer.weight_shape[2], kw = layer.weight_shape[3];
  return {(input_shape[2] + 2 * layer.padding[0] - layer.dilation[0] * (kh - 1) - 1) / layer.stride[0] + 1,
          (input_shape[3] + 2 * layer.padding[1] - layer.dilation[1] * (kw - 1) - 1) / layer.stride[1] + 1};
}

}  // namespace

std::vector<ChannelBlock> SplitChannels(const model::Layer& layer, int max_blocks, int min_rows) {
  const std::int64_t rows = layer.weight_shape.at(0);
  if (ChannelsCoupled(layer) || max_blocks <= 1) return {{0, rows}};
  const std::int64_t groups = IsLinear(layer) ? 1 : layer.groups;
  std::int64_t count = std::clamp<std::int64_t>(rows / std::max(1, min_rows), 1, max_blocks);
  if (groups > 1) count = std::min(count, groups);
  std::vector<ChannelBlock> blocks;
  for (std::int64_t index = 0; index < count; ++index) {
    if (groups > 1) {
      const std::int64_t per_group = rows / groups;
      blocks.push_back({groups * index / count * per_group, groups * (index + 1) / count * per_group});
    } else {
      blocks.push_back({rows * index / count, rows * (index + 1) / count});
    }
  }
  return blocks;
}

std::vector<ChannelBlock> BlocksFor(const model::Layer& layer, Objective objective, int blocks_per_layer) {
  if (blocks_per_layer > 0) return SplitChannels(layer, blocks_per_layer, 8);
  if (objective != Objective::kGram) {
    // An ungrouped 2-D convolution's sampled step builds its patch matrix once per block and step:
    // blocks of up to 256 rows amortize it over large products; two blocks at least (16 rows or more)
    // keep two cores busy on a chain.
    if (!SamplesPositions(layer)) return SplitChannels(layer, 8, 8);
    const std::int64_t rows = layer.weight_shape.at(0);
    return SplitChannels(layer, 8, static_cast<int>(std::clamp<std::int64_t>(rows / 2, 8, 256)));
  }
  // Gram blocks of ≥ 32 rows keep each block's product large, but a layer of 16 to 63 rows still gets
  // two blocks (≥ 8 rows each), so that a chain of narrow layers keeps two cores busy. Deep layers take
  // more rows per block: sgemm packs Ĥ (D×D) once per product, so E·Ĥ at D = 2304 runs at 71 % of the
  // one-thread sgemm rate with 64 rows and 80 % with 256 (`block_bench rows`).
  const std::int64_t rows = layer.weight_shape.at(0);
  std::int64_t depth = 1;
  for (std::size_t axis = 1; axis < layer.weight_shape.size(); ++axis) depth *= layer.weight_shape[axis];
  const std::int64_t wide = depth >= 2048 ? 256 : depth >= 1024 ? 128 : 32;
  return SplitChannels(layer, 8, static_cast<int>(std::clamp<std::int64_t>(rows / 2, 8, wide)));
}

torch::Tensor ChannelsLastPatches(const model::Layer& layer, const torch::Tensor& input) {
  const std::int64_t kh = layer.weight_shape[2], kw = layer.weight_shape[3];
  const std::int64_t ph = layer.padding[0], pw = layer.padding[1];
  const std::int64_t sh = layer.stride[0], sw = layer.stride[1], dh = layer.dilation[0], dw = layer.dilation[1];
  const torch::Tensor padded =
      at::constant_pad_nd(input.to(torch::kFloat32), {pw, pw, ph, ph}).permute({0, 2, 3, 1}).contiguous();
  const std::int64_t n = padded.size(0), height = padded.size(1), width = padded.size(2), channels = padded.size(3);
  const std::int64_t oh = (height - dh * (kh - 1) - 1) / sh + 1;
  const std::int64_t ow = (width - dw * (kw - 1) - 1) / sw + 1;
  torch::Tensor patches = torch::empty({n * oh * ow, kh * kw * channels});
  const float* source = padded.data_ptr<float>();
  float* row = patches.data_ptr<float>();
  // One copy per kernel row when its taps are adjacent (dilation 1), else one per tap.
  const std::int64_t run = dw == 1 ? kw * channels : channels;
  const std::int64_t runs = dw == 1 ? 1 : kw;
  for (std::int64_t sample = 0; sample < n; ++sample)
    for (std::int64_t position = 0; position < oh * ow; ++position) {
      const std::int64_t y = position / ow, x = position % ow;
      for (std::int64_t i = 0; i < kh; ++i)
        for (std::int64_t j = 0; j < runs; ++j) {
          const float* from = source + ((sample * height + y * sh + i * dh) * width + x * sw + j * dw) * channels;
          std::memcpy(row + (i * kw + j) * channels, from, static_cast<std::size_t>(run) * sizeof(float));
        }
      row += kh * kw * channels;
    }
  return patches;
}

torch::Tensor PatchesAt(const model::Layer& layer, const torch::Tensor& input, const torch::Tensor& samples,
                        const torch::Tensor& positions) {
  const torch::Tensor x = input.to(torch::kFloat32).contiguous();
  const torch::Tensor owners = samples.to(torch::kLong).contiguous();
  const torch::Tensor chosen = positions.to(torch::kLong).contiguous();
  const std::int64_t kh = layer.weight_shape[2], kw = layer.weight_shape[3];
  const std::int64_t ph = layer.padding[0], pw = layer.padding[1];
  const std::int64_t sh = layer.stride[0], sw = layer.stride[1], dh = layer.dilation[0], dw = layer.dilation[1];
  const std::int64_t channels = x.size(1), height = x.size(2), width = x.size(3);
  const std::int64_t ow = OutputSize(layer, x.sizes().vec()).second;
  const std::int64_t rows = chosen.size(0), per_row = chosen.size(1), plane = height * width;
  torch::Tensor patches = torch::zeros({rows * per_row, kh * kw * channels});
  const float* base = x.data_ptr<float>();
  const std::int64_t* owner = owners.data_ptr<std::int64_t>();
  const std::int64_t* picked = chosen.data_ptr<std::int64_t>();
  float* row = patches.data_ptr<float>();
  for (std::int64_t sample = 0; sample < rows; ++sample) {
    const float* image = base + owner[sample] * channels * plane;
    for (std::int64_t index = 0; index < per_row; ++index, row += kh * kw * channels) {
      const std::int64_t position = picked[sample * per_row + index];
      const std::int64_t y = position / ow, x0 = position % ow;
      for (std::int64_t i = 0; i < kh; ++i) {
        const std::int64_t yy = y * sh + i * dh - ph;
        if (yy < 0 || yy >= height) continue;  // zero padding
        for (std::int64_t j = 0; j < kw; ++j) {
          const std::int64_t xx = x0 * sw + j * dw - pw;
          if (xx < 0 || xx >= width) continue;
          const float* from = image + yy * width + xx;
          float* to = row + (i * kw + j) * channels;
          for (std::int64_t c = 0; c < channels; ++c) to[c] = from[c * plane];
        }
      }
    }
  }
  return patches;
}

torch::Tensor BlockRows(const torch::Tensor& tensor, const ChannelBlock& block) {
  return tensor.narrow(0, block.begin, block.size());
}

model::Layer BlockLayer(const model::Layer& layer, const ChannelBlock& block) {
  model::Layer result = layer;
  if (layer.transposed()) return result;
  result.weight_shape[0] = block.size();
  if (!IsLinear(layer) && layer.groups > 1) result.groups = block.size() / (layer.weight_shape[0] / layer.groups);
  if (layer.activation.kind == model::Activation::kPrelu && layer.activation.weight.numel() > 1)
    result.activation.weight = layer.activation.weight.narrow(0, block.begin, block.size());
  return result;
}

torch::Tensor BlockInput(const model::Layer& layer, const ChannelBlock& block, const torch::Tensor& input) {
  if (IsLinear(layer) || layer.transposed() || layer.groups == 1) return input;
  const std::int64_t per_group = layer.weight_shape[0] / layer.groups;
  const std::int64_t in_per_group = layer.weight_shape[1];
  return input.narrow(1, block.begin / per_group * in_per_group, block.size() / per_group * in_per_group);
}

BlockState::BlockState(const torch::Tensor& weight, const Grid& grid, const Hyper& hyper)
    : hyper_(hyper), steps_(grid.steps.item<double>()) {
  torch::NoGradGuard no_grad;
  weight_ = weight.detach().to(torch::kFloat32).contiguous();
  scale_ = grid.scale.expand_as(weight_).to(torch::kFloat32).contiguous();
  offset_ = grid.offset.expand_as(weight_).to(torch::kFloat32).contiguous();
  floor_ = torch::floor(weight_ / scale_);
  const Grid full{scale_, offset_, grid.steps};
  alpha_ = InitialAlpha(weight_, full).to(torch::kFloat32).contiguous();
  moment_ = torch::zeros_like(alpha_);
  second_ = torch::zeros_like(alpha_);
  sigmoid_ = torch::empty_like(alpha_);
  rectified_ = torch::empty_like(alpha_);
  soft_ = torch::empty_like(alpha_);
  error_ = torch::empty_like(alpha_);
  power_ = torch::zeros_like(alpha_);
  grad_alpha_ = torch::empty_like(alpha_);
}

namespace {

// The element-wise parts of a step, as branch-free loops over restrict pointers so that the compiler
// vectorizes them; an AVX2 clone is picked at load time where the CPU has it (SSE2 elsewhere).
#if defined(__x86_64__) && defined(__GNUC__)
#define ADAFLOW_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ADAFLOW_VECTOR_CLONES
#endif

/// h = clamp(σ(α)(ζ − γ) + γ, 0, 1); W̃ = Δ·(clamp(floor + h − o, 0, N) + o); E = W̃ − W.
ADAFLOW_VECTOR_CLONES
void ForwardLoop(std::int64_t count, const float* __restrict sig, const float* __restrict floor,
                 const float* __restrict scale, const float* __restrict offset, const float* __restrict weight,
                 float* __restrict rectified, float* __restrict soft, float* __restrict error, float steps) {
  const float spread = static_cast<float>(kZeta - kGamma), low = static_cast<float>(kGamma);
  for (std::int64_t idx = 0; idx < count; ++idx) {
    const float raw = sig[idx] * spread + low;
    const float h = std::min(std::max(raw, 0.0f), 1.0f);
    const float index = std::min(std::max(floor[idx] + h - offset[idx], 0.0f), steps);
    const float value = scale[idx] * (index + offset[idx]);
    rectified[idx] = raw;
    soft[idx] = value;
    error[idx] = value - weight[idx];
  }
}

/// |2h − 1| (raised to β − 1 afterwards by ATen).
ADAFLOW_VECTOR_CLONES
void CenteredLoop(std::int64_t count, const float* __restrict rectified, float* __restrict power) {
  for (std::int64_t idx = 0; idx < count; ++idx) {
    const float h = std::min(std::max(rectified[idx], 0.0f), 1.0f);
    power[idx] = std::fabs(2.0f * h - 1.0f);
  }
}

struct AdamStep {
  float steps, spread, reg, step_size, correction2_sqrt;
  bool regularize;
};

/// ∂loss/∂α through the clamps, the rectified sigmoid and the regulariser, then Adam as torch.optim.Adam
/// computes it (no weight decay, no amsgrad). Clamps pass the gradient on their closed interval, as
/// torch.clamp does.
ADAFLOW_VECTOR_CLONES
void BackwardLoop(std::int64_t count, const AdamStep& step, const float* __restrict grad,
                  const float* __restrict rectified, const float* __restrict sig, const float* __restrict floor,
                  const float* __restrict scale, const float* __restrict offset, const float* __restrict power,
                  float* __restrict alpha, float* __restrict grad_alpha, float* __restrict moment,
                  float* __restrict second) {
  constexpr float kBeta1 = 0.9f, kBeta2 = 0.999f, kEps = 1e-8f;
  const float reg = step.regularize ? step.reg : 0.0f;
  const float steps = step.steps, spread = step.spread, step_size = step.step_size;
  const float correction2_sqrt = step.correction2_sqrt;
  for (std::int64_t idx = 0; idx < count; ++idx) {
    const float raw = rectified[idx];
    const float h = std::min(std::max(raw, 0.0f), 1.0f);
    const float index = floor[idx] + h - offset[idx];
    const float centered = 2.0f * h - 1.0f;
    const float sign = (centered > 0.0f ? 1.0f : 0.0f) - (centered < 0.0f ? 1.0f : 0.0f);
    // Without the regulariser `reg` is 0 and `power` holds finite values (zeros before the first use).
    const float penalty = reg * power[idx] * sign;
    const float through = grad[idx] * scale[idx];
    // Nested selects of floats (not bool arithmetic) keep the loop vectorizable.
    const float grad_h = (index >= 0.0f ? (index <= steps ? through : 0.0f) : 0.0f) - penalty;
    const float g = (raw >= 0.0f ? (raw <= 1.0f ? grad_h : 0.0f) : 0.0f) * spread * (1.0f - sig[idx]) * sig[idx];
    grad_alpha[idx] = g;
    const float m = moment[idx] * kBeta1 + g * (1.0f - kBeta1);
    const float v = second[idx] * kBeta2 + g * g * (1.0f - kBeta2);
    moment[idx] = m;
    second[idx] = v;
    alpha[idx] -= step_size * m / (std::sqrt(v) / correction2_sqrt + kEps);
  }
}

}  // namespace

void BlockState::Forward() {
  torch::NoGradGuard no_grad;
  at::sigmoid_out(sigmoid_, alpha_);
  ForwardLoop(alpha_.numel(), sigmoid_.data_ptr<float>(), floor_.data_ptr<float>(), scale_.data_ptr<float>(),
              offset_.data_ptr<float>(), weight_.data_ptr<float>(), rectified_.data_ptr<float>(),
              soft_.data_ptr<float>(), error_.data_ptr<float>(), static_cast<float>(steps_));
}

void BlockState::Backward(const torch::Tensor& grad_weight, int iteration) {
  torch::NoGradGuard no_grad;
  const torch::Tensor grad_tensor = grad_weight.to(torch::kFloat32).contiguous();
  const bool regularize = RegularizerActive(hyper_, iteration);
  const float beta = static_cast<float>(regularize ? Beta(hyper_, iteration) : 0.0);
  if (regularize) {
    // |2h − 1|^(β − 1), vectorized by ATen (a pow per weight dominates a scalar loop on large layers).
    CenteredLoop(alpha_.numel(), rectified_.data_ptr<float>(), power_.data_ptr<float>());
    at::pow_out(power_, power_, static_cast<double>(beta) - 1.0);
  }
  ++step_;
  AdamStep step;
  step.steps = static_cast<float>(steps_);
  step.spread = static_cast<float>(kZeta - kGamma);
  step.reg = static_cast<float>(hyper_.reg_param) * beta * 2.0f;
  step.step_size = static_cast<float>(hyper_.learning_rate) / static_cast<float>(1.0 - std::pow(0.9, step_));
  step.correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(0.999, step_)));
  step.regularize = regularize;
  BackwardLoop(alpha_.numel(), step, grad_tensor.data_ptr<float>(), rectified_.data_ptr<float>(),
               sigmoid_.data_ptr<float>(), floor_.data_ptr<float>(), scale_.data_ptr<float>(),
               offset_.data_ptr<float>(), power_.data_ptr<float>(), alpha_.data_ptr<float>(),
               grad_alpha_.data_ptr<float>(), moment_.data_ptr<float>(), second_.data_ptr<float>());
}

double BlockState::RegularizerValue(int iteration) const {
  if (!RegularizerActive(hyper_, iteration)) return 0.0;
  torch::NoGradGuard no_grad;
  const torch::Tensor h = torch::clamp(rectified_, 0.0, 1.0);
  return Regularizer(h, hyper_.reg_param, Beta(hyper_, iteration)).item<double>();
}

torch::Tensor BlockState::HardWeight() const {
  torch::NoGradGuard no_grad;
  const Grid grid{scale_, offset_, torch::tensor(steps_, torch::kFloat32)};
  return RoundedWeight(floor_, (alpha_ >= 0).to(torch::kFloat32), grid);
}

BlockResult OptimizeGramBlock(const model::Layer& layer, const ChannelBlock& block, const torch::Tensor& weight,
                              const Grid& grid, const GramForm& form, double loss_scale, const Hyper& hyper,
                              const BlockProgress& progress, const std::atomic<bool>* stop) {
  const torch::Tensor rows = BlockRows(weight.detach().to(torch::kFloat32), block);
  BlockState state(rows, BlockGrid(grid, weight, block), hyper);
  const std::int64_t groups = IsLinear(layer) ? 1 : layer.groups;
  const std::int64_t per_group = layer.weight_shape[0] / groups;
  torch::Tensor hh, cross;
  if (groups > 1) {
    hh = form.hh.narrow(0, block.begin / per_group, block.size() / per_group);
    cross = form.cross.narrow(0, block.begin / per_group, block.size() / per_group);
  } else {
    hh = form.hh;
    cross = form.cross.narrow(1, block.begin, block.size());
  }
  cross = cross.contiguous();
  const std::int64_t block_groups = hh.size(0);
  const std::int64_t depth = hh.size(1);
  torch::Tensor product = torch::empty({block_groups, block.size() / block_groups, depth});
  torch::Tensor grad = torch::empty_like(product);
  torch::NoGradGuard no_grad;
  for (int iteration = 0; iteration < hyper.num_iterations; ++iteration) {
    if (stop && stop->load()) throw Interrupted("AdaRound of '" + layer.name + "' stopped");
    state.Forward();
    const torch::Tensor error = state.error().view({block_groups, -1, depth});
    // ∂/∂E of tr(E Ĥ Eᵀ) + 2·Σ E ⊙ K is 2(EĤ + K): Ĥ is symmetric, so one product serves both.
    at::bmm_out(product, error, hh);
    at::add_out(grad, product, cross);
    grad.mul_(2.0 * loss_scale);
    state.Backward(grad, iteration);
    if (progress && (iteration + 1) % kProgressEvery == 0) {
      const double loss = loss_scale * ((error * product).sum().item<double>() +
                                        2.0 * (error * cross).sum().item<double>());
      progress(iteration + 1, loss + state.RegularizerValue(iteration));
    }
  }
  return {state.HardWeight().view(rows.sizes()), state.alpha().view(rows.sizes())};
}

namespace {

/// One sampled step's loss and ∂loss/∂W̃ for a block, on the samples a step draws. Set up once per block.
class SampledStep {
 public:
  SampledStep(const model::Layer& layer, const ChannelBlock& block, const torch::Tensor& rows,
              const torch::Tensor& bias, const SampledData& data, const Hyper& hyper)
      : layer_(layer), block_(block), block_layer_(BlockLayer(layer, block)), rows_(rows), data_(data) {
    bias_ = !bias.defined() || layer.transposed() ? bias : bias.detach().narrow(0, block.begin, block.size());
    samples_ = data.input.size();
    batch_ = std::min<std::int64_t>(hyper.batch_size, samples_);
    // An ungrouped 2-D convolution's step is two GEMMs on channels-last patches of `positions` output
    // positions per sample (all, or a random subset: positions_per_sample) when they fit kStepPatchFloats;
    // otherwise, and for other layers, the layer's op with autograd on all positions.
    const auto input_shape = data.input.shape();
    gemm_ = SamplesPositions(layer) && input_shape.size() == 4;
    if (gemm_) {
      const auto [oh, ow] = OutputSize(layer, input_shape);
      map_ = oh * ow;
      positions_ = hyper.positions_per_sample > 0 ? std::min<std::int64_t>(hyper.positions_per_sample, map_) : map_;
      gemm_ = batch_ * positions_ * input_shape[1] * layer.weight_shape[2] * layer.weight_shape[3] <= kStepPatchFloats;
    }
    subset_ = gemm_ && positions_ < map_;
    // AIMET's mean over samples and positions, over the positions taken.
    denominator_ = (subset_ ? static_cast<double>(positions_) : data.denominator) * static_cast<double>(batch_);
    // A subset of positions reads its windows straight from the rows in RAM, not whole samples.
    if (subset_ && !data.input.streamed()) source_ = data.input.All().to(torch::kFloat32).contiguous();
    if (subset_ && !data.target.streamed())
      target_source_ = data.target.All().to(torch::kFloat32).reshape({samples_, data.target.shape()[1], map_});
  }

  /// Draws the step's samples from `generator` (and, for a subset of positions, the positions) and
  /// returns the loss and ∂loss/∂W̃ at the state's soft weight.
  std::pair<torch::Tensor, torch::Tensor> operator()(BlockState& state, at::Generator& generator) const {
    torch::Tensor indices;
    {
      torch::NoGradGuard no_grad;
      indices = torch::randperm(samples_, generator, torch::kLong).narrow(0, 0, batch_);
      state.Forward();
    }
    return gemm_ ? Gemm(state, indices, generator) : WithOp(state, indices);
  }

 private:
  /// The convolution as [rows, D]·[D, out] on channels-last patches; its weight gradient is
  /// gradᵀ·patches. Autograd only through the activation and the loss (element-wise).
  std::pair<torch::Tensor, torch::Tensor> Gemm(BlockState& state, const torch::Tensor& indices,
                                               at::Generator& generator) const {
    const std::int64_t out = block_.size();
    torch::Tensor output, patches, target;
    {
      torch::NoGradGuard no_grad;
      if (subset_) {
        std::tie(patches, target) = PositionsAt(indices, generator);
      } else {
        patches = ChannelsLastPatches(layer_, data_.input.Gather(indices));
        target = TargetRows(layer_, data_.target, indices, block_).permute({0, 2, 3, 1}).reshape({-1, out});
      }
      const torch::Tensor soft = state.soft_weight().view(rows_.sizes()).permute({0, 2, 3, 1}).reshape({out, -1});
      output = bias_.defined() ? at::addmm(bias_, patches, soft.t()) : at::mm(patches, soft.t());
    }
    output.requires_grad_(true);
    const torch::Tensor loss = (block_layer_.activation.Apply(output) - target).pow(2).sum() / denominator_;
    const torch::Tensor grad_output = torch::autograd::grad({loss}, {output})[0];
    torch::NoGradGuard no_grad;
    const torch::Tensor grad = at::mm(grad_output.t(), patches)
                                   .view({out, rows_.size(2), rows_.size(3), rows_.size(1)})
                                   .permute({0, 3, 1, 2});
    return {loss, grad};
  }

  /// Patches and targets of `positions_` distinct output positions of each sample, in ascending order.
  std::pair<torch::Tensor, torch::Tensor> PositionsAt(const torch::Tensor& indices, at::Generator& generator) const {
    const torch::Tensor order = at::rand({batch_, map_}, generator).argsort(/*dim=*/std::int64_t{1});
    const torch::Tensor chosen = std::get<0>(order.narrow(1, 0, positions_).sort(1));
    const torch::Tensor local = torch::arange(batch_, torch::kLong);
    const torch::Tensor gathered = source_.defined() ? torch::Tensor() : data_.input.Gather(indices);
    const torch::Tensor patches =
        PatchesAt(layer_, source_.defined() ? source_ : gathered, source_.defined() ? indices : local, chosen);
    const torch::Tensor from = target_source_.defined()
                                   ? target_source_
                                   : data_.target.Gather(indices).reshape({batch_, data_.target.shape()[1], map_});
    const torch::Tensor owner = (target_source_.defined() ? indices : local).repeat_interleave(positions_);
    using torch::indexing::Slice;
    return {patches, from.index({owner, Slice(block_.begin, block_.end), chosen.flatten()})};
  }

  /// The layer's own op with autograd, on all positions of the samples.
  std::pair<torch::Tensor, torch::Tensor> WithOp(BlockState& state, const torch::Tensor& indices) const {
    torch::Tensor input, target;
    {
      torch::NoGradGuard no_grad;
      input = BlockInput(layer_, block_, data_.input.Gather(indices));
      target = TargetRows(layer_, data_.target, indices, block_);
    }
    const torch::Tensor soft = state.soft_weight().view(rows_.sizes()).detach().requires_grad_(true);
    const torch::Tensor output = block_layer_.activation.Apply(LayerForward(block_layer_, input, soft, bias_));
    const torch::Tensor loss = (output - target).pow(2).sum() / denominator_;
    return {loss, torch::autograd::grad({loss}, {soft})[0]};
  }

  const model::Layer& layer_;
  const ChannelBlock& block_;
  const model::Layer block_layer_;
  const torch::Tensor& rows_;
  const SampledData& data_;
  torch::Tensor bias_;
  std::int64_t samples_ = 0, batch_ = 0, map_ = 0, positions_ = 0;
  bool gemm_ = false, subset_ = false;
  double denominator_ = 1;
  torch::Tensor source_, target_source_;
};

}  // namespace

BlockResult OptimizeSampledBlock(const model::Layer& layer, const ChannelBlock& block, const torch::Tensor& weight,
                                 const torch::Tensor& bias, const Grid& grid, const SampledData& data,
                                 const Hyper& hyper, std::uint64_t seed, const BlockProgress& progress,
                                 const std::atomic<bool>* stop) {
  const torch::Tensor rows = BlockRows(weight.detach().to(torch::kFloat32), block);
  BlockState state(rows, BlockGrid(grid, weight, block), hyper);
  const SampledStep step(layer, block, rows, bias, data, hyper);
  auto generator = at::detail::createCPUGenerator(seed);
  for (int iteration = 0; iteration < hyper.num_iterations; ++iteration) {
    if (stop && stop->load()) throw Interrupted("AdaRound of '" + layer.name + "' stopped");
    const auto [loss, grad] = step(state, generator);
    state.Backward(grad, iteration);
    if (progress && (iteration + 1) % kProgressEvery == 0)
      progress(iteration + 1, loss.item<double>() + state.RegularizerValue(iteration));
  }
  return {state.HardWeight().view(rows.sizes()), state.alpha().view(rows.sizes())};
}

}  // namespace adaflow::adaround
