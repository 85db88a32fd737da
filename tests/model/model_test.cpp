#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/error.h"
#include "src/model/graph_capture.h"
#include "src/model/layers.h"
#include "src/model/model.h"
#include "tests/support/test_support.h"

namespace adaflow::model {
namespace {

using adaflow::testing::SourcePath;

std::string LoadError(const std::string& path, const std::vector<std::int64_t>& shape) {
  try {
    Model::Load(path, shape);
  } catch (const InputError& error) {
    return error.what();
  }
  return "";
}

double MaxRelativeDifference(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max()).item<double>();
}

TEST(ModelTest, LoadRejectsMissingBrokenAndMismatchedModels) {
  EXPECT_NE(LoadError("/nonexistent/model.pt", {}).find("'/nonexistent/model.pt' does not exist"), std::string::npos);
  const std::string broken = LoadError(SourcePath("tests/models/not_a_model.pt"), {});
  EXPECT_NE(broken.find("is not a TorchScript model"), std::string::npos) << broken;
  const std::string shape = LoadError(SourcePath("tests/models/mixed_scripted.pt"), {1, 5, 8, 8});
  EXPECT_NE(shape.find("does not accept an input of shape [1, 5, 8, 8]"), std::string::npos) << shape;
  EXPECT_NO_THROW(Model::Load(SourcePath("tests/models/mixed_scripted.pt"), {1, 3, 8, 8}));
}

class FoldTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FoldTest, FoldingBatchNormKeepsOutputs) {
  torch::manual_seed(0);
  auto model = Model::Load(SourcePath(GetParam()), {});
  const int before = CountBatchNorms(*model);
  int folded = 0;
  auto prepared = FoldBatchNorm(*model, &folded);
  EXPECT_GT(before, 0);
  EXPECT_EQ(folded, before);
  EXPECT_EQ(CountBatchNorms(*prepared), 0);
  const auto shape = GetParam().find("resnet8") != std::string::npos ? std::vector<std::int64_t>{16, 1, 28, 28}
                                                                     : std::vector<std::int64_t>{4, 3, 8, 8};
  const torch::Tensor input = torch::rand(shape);
  EXPECT_LT(MaxRelativeDifference(prepared->Forward(input), model->Forward(input)), 1e-5);
  // The original model is untouched.
  EXPECT_EQ(CountBatchNorms(*model), before);
}

INSTANTIATE_TEST_SUITE_P(Models, FoldTest,
                         ::testing::Values("tests/models/mixed_scripted.pt", "tests/models/mixed_traced.pt",
                                           "examples/models/resnet8_fmnist.pt",
                                           "examples/models/resnet8_fmnist_traced.pt"));

class MixedDiscoveryTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MixedDiscoveryTest, FindsLayersActivationsAndTheirDag) {
  auto model = FoldBatchNorm(*Model::Load(SourcePath(GetParam()), {}));
  const LayerGraph graph = DiscoverLayers(*model);
  ASSERT_EQ(graph.Names(), (std::vector<std::string>{"stem", "dw", "pw", "up", "fc1", "fc2"})) << graph.Describe();
  auto layer = [&](const std::string& name) { return *graph.Find(name); };
  EXPECT_EQ(layer("stem").kind, LayerKind::kConv2d);
  EXPECT_EQ(layer("stem").activation, Activation::kRelu6);
  EXPECT_EQ(layer("dw").groups, 8);
  EXPECT_EQ(layer("dw").weight_shape, (std::vector<std::int64_t>{8, 1, 3, 3}));
  EXPECT_EQ(layer("dw").activation, Activation::kRelu);
  EXPECT_EQ(layer("pw").activation, Activation::kNone);  // feeds the residual add
  EXPECT_EQ(layer("up").kind, LayerKind::kConvTranspose2d);
  EXPECT_EQ(layer("up").channel_axis(), 1);
  EXPECT_EQ(layer("up").stride, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(layer("fc1").kind, LayerKind::kLinear);
  EXPECT_EQ(layer("fc1").activation, Activation::kGelu);
  EXPECT_EQ(layer("fc2").activation, Activation::kNone);
  EXPECT_TRUE(layer("stem").has_bias);  // given by the BatchNorm fold
  auto upstream = [&](const std::string& name) {
    std::vector<std::string> names;
    for (std::size_t idx : layer(name).upstream) names.push_back(graph.layers[idx].name);
    return names;
  };
  EXPECT_TRUE(upstream("stem").empty());
  EXPECT_EQ(upstream("dw"), std::vector<std::string>{"stem"});
  EXPECT_EQ(upstream("pw"), std::vector<std::string>{"dw"});
  EXPECT_EQ(upstream("up"), (std::vector<std::string>{"stem", "pw"}));
  EXPECT_EQ(upstream("fc2"), std::vector<std::string>{"fc1"});
}

INSTANTIATE_TEST_SUITE_P(ScriptedAndTraced, MixedDiscoveryTest,
                         ::testing::Values("tests/models/mixed_scripted.pt", "tests/models/mixed_traced.pt"));

TEST(DiscoveryTest, ExampleResNetAndConv1d) {
  for (const char* path : {"examples/models/resnet8_fmnist.pt", "examples/models/resnet8_fmnist_traced.pt"}) {
    const LayerGraph graph = DiscoverLayers(*FoldBatchNorm(*Model::Load(SourcePath(path), {})));
    EXPECT_EQ(graph.layers.size(), 10u) << graph.Describe();
    ASSERT_NE(graph.Find("layers.1.shortcut.0"), nullptr) << graph.Describe();
    EXPECT_EQ(graph.Find("layers.0.conv1")->weight_shape, (std::vector<std::int64_t>{16, 16, 3, 3}));
    EXPECT_EQ(graph.Find("layers.0.conv1")->activation, Activation::kRelu);
    EXPECT_EQ(graph.Find("fc")->kind, LayerKind::kLinear);
  }
  const LayerGraph conv1d = DiscoverLayers(*Model::Load(SourcePath("tests/models/conv1d_scripted.pt"), {}));
  ASSERT_EQ(conv1d.Names(), (std::vector<std::string>{"conv", "head"}));
  EXPECT_EQ(conv1d.layers[0].kind, LayerKind::kConv1d);
  EXPECT_EQ(conv1d.layers[0].activation, Activation::kSigmoid);
}

TEST(CaptureTest, LayerInputsAndOutputsMatchAHandComputedConvolution) {
  torch::manual_seed(1);
  auto model = std::shared_ptr<const Model>(FoldBatchNorm(*Model::Load(SourcePath("tests/models/mixed_traced.pt"), {})));
  const LayerGraph graph = DiscoverLayers(*model);
  const Layer& dw = *graph.Find("dw");
  const Layer& fc2 = *graph.Find("fc2");
  GraphCapture capture(model, {dw.input, dw.output, dw.activation_output, fc2.output});
  const torch::Tensor input = torch::randn({2, 3, 8, 8});
  const auto values = capture.Run(input);
  ASSERT_EQ(values.size(), 4u);
  const auto owner = model->Submodule("dw");
  const torch::Tensor expected = torch::conv2d(values[0], owner.attr("weight").toTensor(), owner.attr("bias").toTensor(),
                                               dw.stride, dw.padding, dw.dilation, dw.groups);
  EXPECT_LT(MaxRelativeDifference(values[1], expected), 1e-6);
  EXPECT_TRUE(torch::allclose(values[2], torch::relu(values[1])));
  EXPECT_LT(MaxRelativeDifference(values[3], model->Forward(input)), 1e-6);

  // Weights are read at run time: a change to the module is seen by the next capture.
  auto writable = model->Submodule("dw");
  writable.setattr("weight", torch::zeros_like(owner.attr("weight").toTensor()));
  const auto after = capture.Run(input);
  EXPECT_TRUE(torch::allclose(after[1], owner.attr("bias").toTensor().view({1, -1, 1, 1}).expand_as(after[1])));
}

}  // namespace
}  // namespace adaflow::model
