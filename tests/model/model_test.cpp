#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "common/error.h"
#include "src/data/dataset.h"
#include "src/model/batch_norm_fold.h"
#include "src/model/evaluation.h"
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
  BatchNormFolds folds;
  auto prepared = FoldBatchNorm(*model, {}, {}, &folds);
  EXPECT_GT(before, 0);
  EXPECT_EQ(static_cast<int>(folds.folded.size()), before);
  EXPECT_TRUE(folds.left.empty());
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

// AIMET's fold_all_batch_norms rules, case by case (tests/models/make_test_models.py describes the models):
// which BatchNorm goes into which layer and in which direction, which stay and why, and the folded
// model's outputs against the original's (≤ 1e-5 relative), scripted and traced alike.
struct FoldCase {
  const char* path;
  std::vector<std::int64_t> shape;
  std::vector<std::string> folded;  ///< "<layer> <- <bn>" (forward) or "<layer> -> <bn>" (backward), in fold order
  std::vector<std::string> left;    ///< BatchNorms that stay
};

class AimetFoldTest : public ::testing::TestWithParam<FoldCase> {};

TEST_P(AimetFoldTest, FoldsWhatAimetFoldsAndKeepsTheOutputs) {
  const FoldCase& item = GetParam();
  torch::manual_seed(0);
  const auto model = Model::Load(SourcePath(item.path), item.shape);
  const torch::Tensor input = torch::randn(item.shape);
  const torch::Tensor expected = model->Forward(input);
  BatchNormFolds folds;
  const auto prepared = FoldBatchNorm(*model, item.shape, {}, &folds);
  std::vector<std::string> folded, left;
  for (const auto& fold : folds.folded) folded.push_back(fold.layer + (fold.forward ? " <- " : " -> ") + fold.batch_norm);
  for (const auto& [batch_norm, reason] : folds.left) {
    left.push_back(batch_norm);
    std::cout << item.path << ": " << batch_norm << " stays: " << reason << "\n";
  }
  EXPECT_EQ(folded, item.folded);
  EXPECT_EQ(left, item.left);
  EXPECT_EQ(CountBatchNorms(*prepared), static_cast<int>(item.left.size()));
  // Each one left is AIMET's standalone BatchNorm: weight γ/√(σ² + ε), bias β − μ·weight, mean 0.
  EXPECT_EQ(folds.converted.size(), item.left.size());
  for (const auto& path : folds.converted) {
    const auto before = model->Submodule(path), after = prepared->Submodule(path);
    const torch::Tensor weight = before.attr("weight").toTensor() *
                                 torch::rsqrt(before.attr("running_var").toTensor() + 1e-5);
    EXPECT_TRUE(torch::allclose(after.attr("weight").toTensor(), weight, 1e-6, 1e-7)) << path;
    EXPECT_TRUE(torch::allclose(after.attr("bias").toTensor(),
                                before.attr("bias").toTensor() - before.attr("running_mean").toTensor() * weight,
                                1e-6, 1e-7))
        << path;
    EXPECT_TRUE(torch::equal(after.attr("running_mean").toTensor(), torch::zeros_like(weight))) << path;
  }
  const double difference = MaxRelativeDifference(prepared->Forward(input), expected);
  std::cout << item.path << ": " << folded.size() << " folded, " << left.size() << " left; outputs differ by "
            << difference << " (relative)\n";
  EXPECT_LT(difference, 1e-5);
  // The original is untouched, and the folded model's layers have the folded weights.
  EXPECT_TRUE(torch::equal(model->Forward(input), expected));
  const LayerGraph layers = DiscoverLayers(*prepared);
  for (const auto& fold : folds.folded) EXPECT_TRUE(layers.Find(fold.layer)->has_bias) << fold.layer;
  // Saved and loaded, the folded model computes the same.
  std::ostringstream bytes;
  prepared->module().save(bytes);
  std::istringstream in(bytes.str());
  Model reloaded(torch::jit::load(in), "reloaded");
  EXPECT_TRUE(torch::allclose(reloaded.Forward(input), prepared->Forward(input)));
}

INSTANTIATE_TEST_SUITE_P(
    Models, AimetFoldTest,
    ::testing::Values(
        FoldCase{"tests/models/bn_fold_scripted.pt", {2, 3, 8, 8},
                 {"conv_b -> bn_b", "up -> up_bn", "up_dw -> up_dw_bn", "fc1 -> fc1_bn", "conv_a <- pre_bn", "fc2 <- fc2_bn"},
                 {"bn_c", "bn_d", "tok_bn", "up_g_bn"}},
        FoldCase{"tests/models/bn_fold_traced.pt", {2, 3, 8, 8},
                 {"conv_b -> bn_b", "up -> up_bn", "up_dw -> up_dw_bn", "fc1 -> fc1_bn", "conv_a <- pre_bn", "fc2 <- fc2_bn"},
                 {"bn_c", "bn_d", "tok_bn", "up_g_bn"}},
        FoldCase{"tests/models/bn_fold1d_scripted.pt", {2, 2, 16}, {"conv -> bn1", "conv2 <- bn2"}, {}},
        FoldCase{"tests/models/bn_fold1d_traced.pt", {2, 2, 16}, {"conv -> bn1", "conv2 <- bn2"}, {}}));

TEST(AimetFoldTest, ForwardFoldingCanBeTurnedOffAndALinearNeedsItsRank) {
  const auto model = Model::Load(SourcePath("tests/models/bn_fold_scripted.pt"), {2, 3, 8, 8});
  BatchNormFolds folds;
  FoldBatchNorm(*model, {2, 3, 8, 8}, FoldOptions{/*forward=*/false}, &folds);
  EXPECT_EQ(folds.folded.size(), 4u);  // the backward ones
  for (const auto& fold : folds.folded) EXPECT_FALSE(fold.forward) << fold.batch_norm;
  std::map<std::string, std::string> reasons(folds.left.begin(), folds.left.end());
  EXPECT_NE(reasons.at("tok_bn").find("3-D"), std::string::npos) << reasons.at("tok_bn");
  // Without the input shape (neither given nor the model's), a Linear's data rank is unknown: fc1 -> fc1_bn
  // and fc2_bn -> fc2 stay. With the model's own (Load's), they fold.
  FoldBatchNorm(*model, {}, {}, &folds);
  EXPECT_EQ(folds.folded.size(), 6u);
  FoldBatchNorm(*Model::Load(SourcePath("tests/models/bn_fold_scripted.pt"), {}), {}, {}, &folds);
  std::map<std::string, std::string> left(folds.left.begin(), folds.left.end());
  EXPECT_EQ(folds.folded.size(), 4u);
  EXPECT_NE(left.at("fc1_bn").find("input shape is not known"), std::string::npos) << left.at("fc1_bn");
}

class MixedDiscoveryTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MixedDiscoveryTest, FindsLayersActivationsAndTheirDag) {
  auto model = FoldBatchNorm(*Model::Load(SourcePath(GetParam()), {}));
  const LayerGraph graph = DiscoverLayers(*model);
  ASSERT_EQ(graph.Names(), (std::vector<std::string>{"stem", "dw", "pw", "up", "fc1", "fc2"})) << graph.Describe();
  auto layer = [&](const std::string& name) { return *graph.Find(name); };
  EXPECT_EQ(layer("stem").kind, LayerKind::kConv2d);
  EXPECT_EQ(layer("stem").activation.kind, Activation::kRelu6);
  EXPECT_EQ(layer("dw").groups, 8);
  EXPECT_EQ(layer("dw").weight_shape, (std::vector<std::int64_t>{8, 1, 3, 3}));
  EXPECT_EQ(layer("dw").activation.kind, Activation::kRelu);
  EXPECT_EQ(layer("pw").activation.kind, Activation::kNone);  // feeds the residual add
  EXPECT_EQ(layer("up").kind, LayerKind::kConvTranspose2d);
  EXPECT_EQ(layer("up").channel_axis(), 1);
  EXPECT_EQ(layer("up").stride, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(layer("fc1").kind, LayerKind::kLinear);
  EXPECT_EQ(layer("fc1").activation.kind, Activation::kGelu);
  EXPECT_EQ(layer("fc2").activation.kind, Activation::kNone);
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
    EXPECT_EQ(graph.Find("layers.0.conv1")->activation.kind, Activation::kRelu);
    EXPECT_EQ(graph.Find("fc")->kind, LayerKind::kLinear);
  }
  const LayerGraph conv1d = DiscoverLayers(*Model::Load(SourcePath("tests/models/conv1d_scripted.pt"), {}));
  ASSERT_EQ(conv1d.Names(), (std::vector<std::string>{"conv", "head"}));
  EXPECT_EQ(conv1d.layers[0].kind, LayerKind::kConv1d);
  EXPECT_EQ(conv1d.layers[0].activation.kind, Activation::kSigmoid);
}

TEST(TransformerTest, LoadedAndPreparedModelsGivePyTorchsOutputsAndTheirLayers) {
  // tests/models/make_transformer_models.py wrote each model's eager PyTorch output on a seeded input.
  std::ifstream file(SourcePath("tests/data/transformer_outputs.json"));
  const nlohmann::json references = nlohmann::json::parse(file);
  struct Case {
    const char* stem;
    std::size_t layers;
    const char* gelu_layer;
    const char* gelu;
  };
  for (const Case& item : {Case{"vit_tiny", 10, "blocks.1.mlp.fc1", "gelu"},
                           Case{"encoder_tiny", 14, "layers.1.intermediate", "gelu(tanh)"}}) {
    const nlohmann::json& reference = references.at(item.stem);
    const auto shape = reference.at("input_shape").get<std::vector<std::int64_t>>();
    const torch::Tensor input = torch::tensor(reference.at("input").get<std::vector<float>>()).reshape(shape);
    const torch::Tensor expected =
        torch::tensor(reference.at("output").get<std::vector<float>>()).reshape(reference.at("output_shape").get<std::vector<std::int64_t>>());
    for (const char* kind : {"_scripted.pt", "_traced.pt"}) {
      const std::string path = std::string("tests/models/") + item.stem + kind;
      SCOPED_TRACE(path);
      std::vector<std::int64_t> one = shape;
      one[0] = 1;
      const auto loaded = Model::Load(SourcePath(path), one);
      EXPECT_LT(MaxRelativeDifference(loaded->Forward(input), expected), 1e-5);
      const auto prepared = FoldBatchNorm(*loaded, one);
      EXPECT_LT(MaxRelativeDifference(prepared->Forward(input), expected), 1e-5);
      const LayerGraph graph = DiscoverLayers(*prepared);
      EXPECT_EQ(graph.layers.size(), item.layers) << graph.Describe();
      ASSERT_NE(graph.Find(item.gelu_layer), nullptr) << graph.Describe();
      EXPECT_EQ(graph.Find(item.gelu_layer)->activation.Describe(), item.gelu);
    }
  }
}

TEST(TokenModelTest, LoadedWithItsTwoInputsItGivesPyTorchsOutputsAndPerTokenMetrics) {
  // tests/models/make_transformer_models.py wrote the eager model's logits on the first 2 sequences of
  // tests/data/token_lm and its per-token accuracy and perplexity over all 96 (labels -100 ignored).
  std::ifstream file(SourcePath("tests/data/token_lm/reference.json"));
  const nlohmann::json reference = nlohmann::json::parse(file);
  const std::vector<TensorSpec> inputs = {{"input_ids", {1, 12}, "int64"}, {"attention_mask", {1, 12}, "int64"}};
  data::NpyDataOptions options;
  options.folder = SourcePath("tests/data/token_lm");
  options.batch_size = 32;
  const auto data = data::LoadNpy("evaluation", options, inputs);
  ASSERT_EQ(data->num_inputs(), 2u);
  ASSERT_EQ(data->size(), 96);
  const torch::Tensor expected = torch::tensor(reference.at("output").get<std::vector<float>>()).reshape({2, 12, 40});
  for (const char* path : {"tests/models/token_lm_scripted.pt", "tests/models/token_lm_traced.pt"}) {
    SCOPED_TRACE(path);
    const auto loaded = Model::LoadWithInputs(SourcePath(path), inputs);
    const auto prepared = FoldBatchNorm(*loaded);
    EXPECT_LT(MaxRelativeDifference(prepared->Forward(data->Slice(0, 2).inputs), expected), 1e-5);
    EXPECT_EQ(DiscoverLayers(*prepared).layers.size(), 13u);
    const ForwardFn forward = [&](const Inputs& x) { return prepared->Forward(x); };
    const EvalResult result = Evaluate(forward, *data, nullptr, 0, {Metric::kTokenAccuracy, Metric::kPerplexity});
    std::cout << path << ": token accuracy " << result.token_accuracy << " % (PyTorch "
              << reference.at("token_accuracy").get<double>() << "), perplexity " << result.perplexity << " (PyTorch "
              << reference.at("perplexity").get<double>() << ")\n";
    EXPECT_NEAR(result.token_accuracy, reference.at("token_accuracy").get<double>(), 1e-9);
    EXPECT_NEAR(result.perplexity / reference.at("perplexity").get<double>(), 1.0, 1e-5);
  }
  // The model's inputs are checked: their count and order against forward's arguments.
  try {
    Model::Load(SourcePath("tests/models/token_lm_traced.pt"), {1, 12});
    ADD_FAILURE() << "one input accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("forward takes 2 input(s) (input_ids, attention_mask)"), std::string::npos)
        << error.what();
  }
  try {
    Model::LoadWithInputs(SourcePath("tests/models/token_lm_scripted.pt"), {inputs[1], inputs[0]});
    ADD_FAILURE() << "inputs in the wrong order accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("in the order input_ids, attention_mask"), std::string::npos) << error.what();
  }
}

class ActivationDiscoveryTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ActivationDiscoveryTest, EveryActivationIsFoundWithItsArgumentsAndReproducedExactly) {
  auto model = std::shared_ptr<const Model>(Model::Load(SourcePath(GetParam()), {}));
  const LayerGraph graph = DiscoverLayers(*model);
  ASSERT_EQ(graph.layers.size(), 13u) << graph.Describe();
  const std::vector<std::string> expected = {"leaky_relu(0.2)", "prelu",       "elu(0.7, 1, 1)", "hardswish",
                                             "hardsigmoid",     "gelu(tanh)",  "softplus(2, 10)", "mish",
                                             "relu6",           "hardtanh(-1, 1)", "selu",        "softmax(dim 1)"};
  for (std::size_t idx = 0; idx < expected.size(); ++idx)
    EXPECT_EQ(graph.Find("c" + std::to_string(idx))->activation.Describe(), expected[idx]) << graph.Describe();
  EXPECT_TRUE(graph.Find("head")->activation.none());
  // The loss applies exactly the function the model computes, on its own output.
  std::vector<ValueRef> refs;
  for (const auto& layer : graph.layers) {
    refs.push_back(layer.output);
    refs.push_back(layer.activation_output);
  }
  torch::manual_seed(3);
  const auto values = GraphCapture(model, refs).Run(torch::randn({2, 4, 6, 6}) * 3);
  for (std::size_t idx = 0; idx < graph.layers.size(); ++idx) {
    const torch::Tensor applied = graph.layers[idx].activation.Apply(values[2 * idx]);
    EXPECT_TRUE(torch::equal(applied, values[2 * idx + 1])) << graph.layers[idx].name << " "
                                                           << graph.layers[idx].activation.Describe();
  }
}

INSTANTIATE_TEST_SUITE_P(ScriptedAndTraced, ActivationDiscoveryTest,
                         ::testing::Values("tests/models/activations_scripted.pt",
                                           "tests/models/activations_traced.pt"));

/// Name, activation and upstream names of every layer.
std::vector<std::string> DagOf(const LayerGraph& graph) {
  std::vector<std::string> rows;
  for (const auto& layer : graph.layers) {
    std::string row = layer.name + " " + layer.activation.Describe() + " <-";
    for (std::size_t up : layer.upstream) row += " " + graph.layers[up].name;
    rows.push_back(row);
  }
  return rows;
}

TEST(ControlFlowTest, ScriptedModelWithConditionalsHasTheTracedModelsDag) {
  // Blocks end in `return x + y if self.use_res else y`: a prim::If on a module attribute in the
  // scripted graph, nothing in the traced one.
  const auto scripted = DiscoverLayers(*FoldBatchNorm(*Model::Load(SourcePath("tests/models/branchy_scripted.pt"), {})));
  const auto traced = DiscoverLayers(*FoldBatchNorm(*Model::Load(SourcePath("tests/models/branchy_traced.pt"), {})));
  EXPECT_EQ(DagOf(scripted), DagOf(traced)) << scripted.Describe() << traced.Describe();
  ASSERT_EQ(scripted.layers.size(), 11u) << scripted.Describe();
  // The residual block's output feeds the next block: its projection and the block input.
  const auto& next = *scripted.Find("blocks.1.expand.0");
  std::vector<std::string> upstream;
  for (std::size_t up : next.upstream) upstream.push_back(scripted.layers[up].name);
  EXPECT_EQ(upstream, (std::vector<std::string>{"stem.0", "blocks.0.project.0"})) << scripted.Describe();
  EXPECT_EQ(scripted.Find("blocks.0.dw.0")->activation.kind, Activation::kRelu6);
}

TEST(ControlFlowTest, ALayerInsideADataDependentBranchIsAnInputErrorNamingIt) {
  const auto model = Model::Load(SourcePath("tests/models/data_dependent_scripted.pt"), {});
  try {
    DiscoverLayers(*model);
    FAIL() << "expected an InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("layer 'b' (aten::conv2d) is inside a prim::If"), std::string::npos)
        << error.what();
  }
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

TEST(ModuleOfTest, EachOpIsPlacedInTheModuleItRanInEvenWhenCalledThroughAGrandchild) {
  // root.forward calls its child `head` and its grandchild `backbone.act` directly; both are modules of
  // the same class, and the call stack names the grandchild's call "act" only.
  auto make_act = [] {
    torch::jit::Module act("Act");
    act.define("def forward(self, x):\n    return torch.relu(x)\n");
    return act;
  };
  torch::jit::Module backbone("Backbone");
  backbone.register_module("act", make_act());
  torch::jit::Module root("Root");
  root.register_module("backbone", backbone);
  root.register_module("head", make_act());
  root.define("def forward(self, x):\n    y = self.backbone.act.forward(x)\n    return self.head.forward(torch.sigmoid(y))\n");
  const Model model(root, "root");
  std::vector<std::string> placed;
  const auto graph = model.InlinedGraph();
  for (const auto* node : TopLevelNodes(*graph)) {
    const std::string kind = node->kind().toQualString();
    if (kind == "aten::relu" || kind == "aten::sigmoid") placed.push_back(kind + " in '" + ModuleOf(root, node).path + "'");
  }
  EXPECT_EQ(placed, (std::vector<std::string>{"aten::relu in 'backbone.act'", "aten::sigmoid in ''",
                                              "aten::relu in 'head'"}));
}

}  // namespace
}  // namespace adaflow::model
