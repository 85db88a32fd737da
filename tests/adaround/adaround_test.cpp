#include "src/adaround/adaround.h"
#include "src/adaround/block_optimizer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace adaflow::adaround {
namespace {

model::Layer Conv2d(std::vector<std::int64_t> shape, std::int64_t groups, std::int64_t stride, std::int64_t padding,
                    model::Activation activation = model::Activation::kNone) {
  model::Layer layer;
  layer.name = "conv";
  layer.kind = model::LayerKind::kConv2d;
  layer.weight_shape = std::move(shape);
  layer.groups = groups;
  layer.stride = {stride, stride};
  layer.padding = {padding, padding};
  layer.dilation = {1, 1};
  layer.activation.kind = activation;
  return layer;
}

/// A layer's tensors for the component tests: random weights, x̂ = x + noise (quant input) or x, and the
/// FP target f(Wx + b).
struct LayerData {
  model::Layer layer;
  torch::Tensor weight, bias, input, fp_input, target;
  const torch::Tensor& fp() const { return fp_input.defined() ? fp_input : input; }
};

LayerData MakeData(const model::Layer& layer, std::vector<std::int64_t> input_shape, bool quant_input) {
  torch::manual_seed(42);
  LayerData data;
  data.layer = layer;
  data.weight = torch::randn(layer.weight_shape) * 0.3;
  data.bias = torch::randn({layer.weight_shape[static_cast<std::size_t>(layer.channel_axis())]}) * 0.1;
  const torch::Tensor fp_input = torch::randn(input_shape);
  data.input = quant_input ? fp_input + 0.05 * torch::randn(input_shape) : fp_input;
  if (quant_input) data.fp_input = fp_input;
  data.target = ApplyActivation(layer, LayerForward(layer, fp_input, data.weight, data.bias));
  return data;
}

/// The Gram form over every sample, in chunks of `chunk` samples merged in order (as the engine does).
GramForm GramOf(const LayerData& data, std::int64_t chunk = 64) {
  torch::NoGradGuard no_grad;
  const bool cross = data.fp_input.defined();
  GramAccumulator total(data.layer, data.weight, cross);
  for (std::int64_t start = 0; start < data.input.size(0); start += chunk) {
    const std::int64_t count = std::min(chunk, data.input.size(0) - start);
    GramAccumulator part(data.layer, data.weight, cross);
    part.Add(data.input.narrow(0, start, count), cross ? data.fp_input.narrow(0, start, count) : torch::Tensor());
    total.Merge(part);
  }
  return total.Finish();
}

quant::TensorEncoding Encoding4Bit(const torch::Tensor& weight, bool per_channel = false, int axis = 0) {
  return quant::ComputeTensorEncoding(weight, quant::Scheme::kTf, quant::GridSpec{4, true}, per_channel,
                                      axis);
}

TEST(AdaroundMathTest, BetaScheduleMatchesAimet) {
  Hyper hyper;  // T = 10000, beta (20, 2), warm start 0.2
  EXPECT_NEAR(Beta(hyper, 8000), 4.636038969321072, 1e-12);
  EXPECT_NEAR(Beta(hyper, 2000), 20.0, 1e-12);
  EXPECT_NEAR(Beta(hyper, 10000), 2.0, 1e-12);
}

TEST(AdaroundMathTest, RegularizerIsOffDuringWarmStartAndZeroOnHardRoundings) {
  Hyper hyper;
  EXPECT_FALSE(RegularizerActive(hyper, 0));
  EXPECT_FALSE(RegularizerActive(hyper, 1999));
  EXPECT_TRUE(RegularizerActive(hyper, 2000));
  EXPECT_DOUBLE_EQ(Regularizer(torch::tensor({0.0, 1.0, 1.0}, torch::kFloat64), 0.01, 4.0).item<double>(), 0.0);
  EXPECT_NEAR(Regularizer(torch::tensor({0.5}, torch::kFloat64), 0.01, 4.0).item<double>(), 0.01, 1e-15);
}

TEST(AdaroundMathTest, InitialAlphaStartsTheSoftWeightAtTheFpWeight) {
  torch::manual_seed(0);
  const torch::Tensor weight = torch::randn({8, 4, 3, 3}, torch::kFloat64);
  const auto encoding = Encoding4Bit(weight.to(torch::kFloat32), true, 0);
  const Grid grid = MakeGrid(weight, encoding);
  const torch::Tensor scaled = weight / grid.scale;
  const torch::Tensor h = RectifiedSigmoid(InitialAlpha(weight, grid));
  EXPECT_TRUE(torch::allclose(h, scaled - torch::floor(scaled), 1e-5, 1e-9));
  // Inside the grid's range the soft weight is the FP weight itself.
  const torch::Tensor soft = RoundedWeight(FloorIndex(weight, grid), h, grid);
  const torch::Tensor inside = (scaled - grid.offset >= 0) & (scaled - grid.offset <= grid.steps);
  EXPECT_TRUE(torch::allclose(soft.masked_select(inside), weight.masked_select(inside), 1e-6, 1e-9));
}

struct GramCase {
  const char* name;
  model::Layer layer;
  std::vector<std::int64_t> input_shape;
};

class GramTest : public ::testing::TestWithParam<int> {
 protected:
  static std::vector<GramCase> Cases() {
    model::Layer linear;
    linear.name = "fc";
    linear.kind = model::LayerKind::kLinear;
    linear.weight_shape = {6, 10};
    model::Layer conv1d;
    conv1d.name = "conv1d";
    conv1d.kind = model::LayerKind::kConv1d;
    conv1d.weight_shape = {4, 3, 3};
    conv1d.stride = {2};
    conv1d.padding = {1};
    conv1d.dilation = {1};
    return {{"linear on tokens [n, 7, 10]", linear, {4, 7, 10}},
            {"conv2d stride 2 pad 1", Conv2d({8, 4, 3, 3}, 1, 2, 1), {6, 4, 9, 9}},
            {"grouped conv2d", Conv2d({8, 2, 3, 3}, 2, 1, 1), {5, 4, 7, 7}},
            {"depthwise conv2d", Conv2d({6, 1, 3, 3}, 6, 1, 0), {5, 6, 8, 8}},
            {"linear", linear, {12, 10}},
            {"conv1d", conv1d, {5, 3, 11}}};
  }
};

// AIMET's loss over every sample (its sum runs over dim 1: a Linear on tokens sums over the tokens),
// and the Gram form scaled by LossScale: equal, and so are their gradients.
TEST_P(GramTest, GramLossEqualsAimetsLossOverAllRowsAndSoDoesItsGradient) {
  const GramCase c = Cases()[static_cast<std::size_t>(GetParam())];
  SCOPED_TRACE(c.name);
  for (bool quant_input : {false, true}) {
    const LayerData data = MakeData(c.layer, c.input_shape, quant_input);
    const GramForm form = GramOf(data, 2);  // small chunks: the sums must still add up
    const torch::Tensor w = (data.weight + 0.02 * torch::randn_like(data.weight)).requires_grad_(true);
    const torch::Tensor gram = GramLoss(form, c.layer, w, data.weight) * LossScale(c.layer, c.input_shape);
    const torch::Tensor target = LayerForward(c.layer, data.fp(), data.weight, data.bias);
    const torch::Tensor direct = RowMse(LayerForward(c.layer, data.input, w, data.bias), target);
    EXPECT_NEAR(gram.item<double>(), direct.item<double>(), 1e-5 * direct.item<double>()) << quant_input;
    // The float64 form gives the same value.
    EXPECT_NEAR(GramError(form, c.layer, w, data.weight) * LossScale(c.layer, c.input_shape), direct.item<double>(),
                1e-5 * direct.item<double>());
    const torch::Tensor gram_grad = torch::autograd::grad({gram}, {w})[0];
    const torch::Tensor direct_grad = torch::autograd::grad({direct}, {w})[0];
    EXPECT_TRUE(torch::allclose(gram_grad, direct_grad, 1e-4, 1e-6)) << (gram_grad - direct_grad).abs().max();
  }
}

INSTANTIATE_TEST_SUITE_P(Layers, GramTest, ::testing::Range(0, 6));

TEST(AdaroundMathTest, AimetsLossSumsOverDimOneEvenForLinearOnTokens) {
  // [batch 2, tokens 3, features 4]: AIMET's torch.norm(·, dim=1)² sums over the 3 tokens.
  const torch::Tensor error = torch::arange(24, torch::kFloat64).reshape({2, 3, 4});
  const torch::Tensor zero = torch::zeros_like(error);
  EXPECT_DOUBLE_EQ(RowMse(error, zero).item<double>(), error.pow(2).sum(1).mean().item<double>());
  EXPECT_NE(RowMse(error, zero).item<double>(), error.pow(2).sum(-1).mean().item<double>());
  model::Layer linear;
  linear.kind = model::LayerKind::kLinear;
  linear.weight_shape = {4, 5};
  EXPECT_DOUBLE_EQ(LossScale(linear, {2, 3, 5}), 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(LossScale(linear, {2, 5}), 1.0);
  EXPECT_DOUBLE_EQ(LossScale(Conv2d({8, 4, 3, 3}, 1, 1, 1), {2, 4, 6, 6}), 1.0);
}

TEST(AdaroundMathTest, StrictSymmetricGridsStillClampToTheFullRangeAsAimetV1) {
  const torch::Tensor weight = torch::linspace(-1, 1, 64);
  const auto strict = quant::ComputeTensorEncoding(weight, quant::Scheme::kTf, quant::GridSpec{4, true, true}, false, 0);
  EXPECT_EQ(strict.channels[0].steps(), 14);
  EXPECT_EQ(MakeGrid(weight, strict).steps.item<double>(), 15.0);
}

TEST(AdaroundMathTest, AimetsDefaultIterationsAreOneCountForTheWholeModel) {
  EXPECT_EQ(DefaultIterations({8, 4, 8}), 15000);
  EXPECT_EQ(DefaultIterations({8, 16}), 10000);
}

TEST(BlockStateTest, HandWrittenGradientEqualsAutogradOfAimetsGraph) {
  // The fused step's chain (rectified sigmoid, both clamps, regulariser) against autograd through the
  // same formulas written with tensor ops, as AIMET's PyTorch code computes them.
  torch::manual_seed(5);
  const torch::Tensor weight = torch::randn({6, 3, 3, 3}) * 0.5;
  const auto encoding = Encoding4Bit(weight);
  const Grid grid = MakeGrid(weight, encoding);
  Hyper hyper;
  hyper.num_iterations = 100;
  BlockState state(weight, grid, hyper);
  const torch::Tensor grad_weight = torch::randn_like(weight);
  for (int iteration : {10, 60}) {  // warm start, then with the regulariser
    const torch::Tensor alpha = state.alpha().clone().requires_grad_(true);
    const torch::Tensor h = RectifiedSigmoid(alpha);
    torch::Tensor loss = (RoundedWeight(FloorIndex(weight, grid), h, grid) * grad_weight).sum();
    if (RegularizerActive(hyper, iteration)) loss = loss + Regularizer(h, hyper.reg_param, Beta(hyper, iteration));
    const torch::Tensor expected = torch::autograd::grad({loss}, {alpha})[0];
    state.Forward();
    EXPECT_TRUE(torch::allclose(state.soft_weight(), RoundedWeight(FloorIndex(weight, grid), h, grid).detach(), 1e-6,
                                1e-7));
    state.Backward(grad_weight, iteration);
    EXPECT_TRUE(torch::allclose(state.grad_alpha(), expected, 1e-4, 1e-6))
        << iteration << ": " << (state.grad_alpha() - expected).abs().max();
  }
}

TEST(BlockTest, ChannelBlocksGiveTheSameRoundingAsTheWholeLayer) {
  // Output channels are independent problems: 4 blocks of 8 channels or one block of 32, same result.
  for (Objective objective : {Objective::kGram, Objective::kSampled}) {
    const LayerData data = MakeData(Conv2d({32, 4, 3, 3}, 1, 1, 1, model::Activation::kRelu), {40, 4, 6, 6}, true);
    const auto encoding = Encoding4Bit(data.weight, true, 0);
    const Grid grid = MakeGrid(data.weight, encoding);
    Hyper hyper;
    hyper.num_iterations = 200;
    const GramForm form = GramOf(data);
    const SampledData sampled{data.input, data.target, LossDenominator(data.target.sizes().vec())};
    auto run = [&](const std::vector<ChannelBlock>& blocks) {
      std::vector<torch::Tensor> parts;
      for (const auto& block : blocks)
        parts.push_back(objective == Objective::kGram
                            ? OptimizeGramBlock(data.layer, block, data.weight, grid, form, 1.0, hyper, nullptr, nullptr)
                                  .weight
                            : OptimizeSampledBlock(data.layer, block, data.weight, data.bias, grid, sampled, hyper, 3,
                                                   nullptr, nullptr)
                                  .weight);
      return torch::cat(parts);
    };
    const auto blocks = SplitChannels(data.layer);
    ASSERT_EQ(blocks.size(), 4u);
    const torch::Tensor split = run(blocks), whole = run({{0, 32}});
    const double differing = (split != whole).sum().item<double>();
    EXPECT_LE(differing, 2.0) << NameOf(kObjectiveNames, objective) << ": " << differing << " of " << whole.numel() << " differ";
  }
}

TEST(BlockTest, ChannelsLastPatchesGiveTheConvolutionAndItsWeightGradient) {
  // The sampled step's GEMM form against ATen's convolution: padding, stride, dilation, non-square kernels.
  torch::manual_seed(11);
  struct Case {
    std::vector<std::int64_t> weight, stride, padding, dilation, input;
  };
  for (const Case& c : {Case{{6, 5, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {4, 5, 7, 7}},
                        Case{{6, 5, 3, 2}, {2, 1}, {2, 0}, {1, 1}, {3, 5, 9, 8}},
                        Case{{4, 3, 3, 3}, {1, 2}, {2, 2}, {2, 2}, {2, 3, 10, 11}},
                        Case{{8, 3, 7, 7}, {2, 2}, {3, 3}, {1, 1}, {2, 3, 16, 16}}}) {
    model::Layer layer = Conv2d(c.weight, 1, 1, 0);
    layer.stride = c.stride;
    layer.padding = c.padding;
    layer.dilation = c.dilation;
    const torch::Tensor input = torch::randn(c.input);
    const torch::Tensor weight = torch::randn(c.weight).requires_grad_(true);
    const torch::Tensor conv = at::conv2d(input, weight, {}, c.stride, c.padding, c.dilation);
    const torch::Tensor patches = ChannelsLastPatches(layer, input);
    const torch::Tensor flat = weight.detach().permute({0, 2, 3, 1}).reshape({c.weight[0], -1});
    const torch::Tensor product = at::mm(patches, flat.t());
    const torch::Tensor expected = conv.detach().permute({0, 2, 3, 1}).reshape({-1, c.weight[0]});
    ASSERT_EQ(product.sizes(), expected.sizes());
    EXPECT_TRUE(torch::allclose(product, expected, 1e-4, 1e-5)) << (product - expected).abs().max();
    const torch::Tensor grad_output = torch::randn_like(conv);
    const torch::Tensor grad = torch::autograd::grad({(conv * grad_output).sum()}, {weight})[0];
    const torch::Tensor from_patches = at::mm(grad_output.permute({0, 2, 3, 1}).reshape({-1, c.weight[0]}).t(), patches)
                                           .view({c.weight[0], c.weight[2], c.weight[3], c.weight[1]})
                                           .permute({0, 3, 1, 2});
    EXPECT_TRUE(torch::allclose(from_patches, grad, 1e-4, 1e-4)) << (from_patches - grad).abs().max();
  }
}

TEST(BlockTest, PatchesAtChosenPositionsAreThoseRowsOfAllPatches) {
  torch::manual_seed(12);
  model::Layer layer = Conv2d({5, 4, 3, 3}, 1, 2, 1);
  const torch::Tensor input = torch::randn({3, 4, 9, 9});  // 5×5 output positions
  const torch::Tensor all = ChannelsLastPatches(layer, input);
  const torch::Tensor positions = torch::tensor({0, 7, 24, 3, 4, 12, 1, 2, 23}, torch::kLong).view({3, 3});
  const torch::Tensor chosen = PatchesAt(layer, input, torch::arange(3, torch::kLong), positions);
  ASSERT_EQ(chosen.sizes(), (std::vector<std::int64_t>{9, 36}));
  const torch::Tensor rows = (positions + torch::arange(3, torch::kLong).unsqueeze(1) * 25).flatten();
  EXPECT_TRUE(torch::equal(chosen, all.index_select(0, rows)));
  // Read straight from a larger set of samples (the step's random ones), padding and dilation included.
  const torch::Tensor samples = torch::tensor({2, 0, 1}, torch::kLong);
  const torch::Tensor from_set = PatchesAt(layer, input, samples, positions);
  const torch::Tensor reordered = ChannelsLastPatches(layer, input.index_select(0, samples)).index_select(0, rows);
  EXPECT_TRUE(torch::equal(from_set, reordered));
  model::Layer dilated = Conv2d({5, 4, 3, 2}, 1, 1, 2);
  dilated.dilation = {2, 1};
  const torch::Tensor wide = torch::randn({4, 4, 6, 7});  // 6×10 output positions
  const torch::Tensor picks = torch::tensor({0, 9, 31, 59, 5, 6, 40, 58}, torch::kLong).view({2, 4});
  const torch::Tensor two = torch::tensor({3, 1}, torch::kLong);
  const torch::Tensor picked_rows = (picks + torch::arange(2, torch::kLong).unsqueeze(1) * 60).flatten();
  EXPECT_TRUE(torch::equal(PatchesAt(dilated, wide, two, picks),
                           ChannelsLastPatches(dilated, wide.index_select(0, two)).index_select(0, picked_rows)));
}

TEST(BlockTest, GroupedLayersSplitOnGroupBoundaries) {
  const auto blocks = SplitChannels(Conv2d({64, 1, 3, 3}, 64, 1, 1), 8);
  ASSERT_EQ(blocks.size(), 8u);
  for (const auto& block : blocks) EXPECT_EQ(block.size(), 8);
  const auto grouped = SplitChannels(Conv2d({24, 4, 3, 3}, 3, 1, 1), 8);  // 3 groups of 8 channels
  ASSERT_EQ(grouped.size(), 3u);
  EXPECT_EQ(grouped[1].begin, 8);
  model::Layer softmax = Conv2d({64, 4, 1, 1}, 1, 1, 0, model::Activation::kSoftmax);
  EXPECT_EQ(SplitChannels(softmax).size(), 1u);  // channels coupled by the activation
}

}  // namespace
}  // namespace adaflow::adaround
