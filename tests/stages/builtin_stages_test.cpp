// Every built-in stage run through the framework (planner, FlowGraphRunner, run store), its outputs
// caught by the run's observer and checked against what the stage promises, computed here another way.
//
//   load ─► prepare ─► cache ─► adaround ─► quantsim ─► calibrate ─► evaluate ─► export
//
// One small run (the shipped ResNet-8, 64 calibration and 200 evaluation samples of Fashion-MNIST,
// 100 AdaRound iterations) is made once for the suite; each test reads one stage's outputs.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "pipeline/flow_graph_runner.h"
#include "pipeline/planner.h"
#include "pipeline/stage_registry.h"
#include "src/data/dataset.h"
#include "src/io/activation_cache.h"
#include "src/model/model.h"
#include "src/quant/tensor_quant.h"
#include "stages/artifacts.h"
#include "stages/register_builtin_stages.h"
#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

constexpr const char* kImages = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
constexpr const char* kTestImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
constexpr const char* kTestLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

std::string Config() {
  return std::string(R"(name: builtin_stages
seed: 0
threads: 2
model: {path: )") + SourcePath("examples/models/resnet8_fmnist.pt") + R"(, input_shape: [1, 1, 28, 28]}
data:
  calibration: {type: idx, images: )" + kImages + R"(, num_samples: 64, batch_size: 32, scale: 0.00392156862745098}
  evaluation: {type: idx, images: )" + kTestImages + ", labels: " + kTestLabels +
         R"(, num_samples: 200, batch_size: 100, scale: 0.00392156862745098}
stages:
  - {id: load, type: load_model}
  - {id: prepare, type: prepare}
  - {id: cache, type: cache_activations}
  - {id: adaround, type: adaround, default_param_bw: 4, num_iterations: 100, param_bw_override: {fc: 8}}
  - {id: quantsim, type: quant_sim, default_output_bw: 8, default_param_bw: 4}
  - {id: calibrate, type: calibrate}
  - {id: evaluate, type: evaluate, compare: [fp, nearest, adaround]}
  - {id: export, type: export, formats: [torchscript, aimet_0.6.1]}
)";
}

/// The run, made once: each stage's outputs by stage id.
class BuiltinStagesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    outputs_ = new std::map<std::string, StageOutputs>();
    static const StageRegistry registry = [] {
      StageRegistry r;
      RegisterBuiltinStages(r);
      return r;
    }();
    auto plan = BuildPlan(ParsePipelineSpec(Config(), "builtin_stages.yaml", {}, registry), registry);
    RunOptions options;
    options.run_dir = run_dir();
    options.observer = [](const StageRecord& record, const StageOutputs* outputs, const RunStore&) {
      if (outputs) (*outputs_)[record.id] = *outputs;
    };
    FlowGraphRunner(*plan).Run(options);
  }
  static void TearDownTestSuite() {
    delete outputs_;
    delete dir_;
  }

  static std::string run_dir() { return *dir_ / "run"; }
  template <class T>
  static const T& Output(const std::string& stage, const std::string& kind) {
    const ArtifactPtr value = outputs_->at(stage).Find(kind);
    const T* typed = dynamic_cast<const T*>(value.get());
    if (!typed) throw std::logic_error("stage '" + stage + "' has no " + kind + " output of the class asked for");
    return *typed;
  }
  static std::shared_ptr<data::Dataset> Calibration() {
    data::IdxDataOptions options;
    options.images = kImages;
    options.num_samples = 64;
    options.scale = 1.0 / 255.0;
    return data::LoadIdx("calibration", options);
  }

  static TempDir* dir_;
  static std::map<std::string, StageOutputs>* outputs_;
};

TempDir* BuiltinStagesTest::dir_ = nullptr;
std::map<std::string, StageOutputs>* BuiltinStagesTest::outputs_ = nullptr;

TEST_F(BuiltinStagesTest, LoadModelLoadsTheConfigsModel) {
  const auto& model = Output<ModelArtifact>("load", port::kModel);
  ASSERT_TRUE(model.fp);
  // The FP model, nothing done to it yet.
  EXPECT_EQ(dynamic_cast<const RoundedModelArtifact*>(&model), nullptr);
  EXPECT_EQ(dynamic_cast<const QuantSimArtifact*>(&model), nullptr);
  auto reference = torch::jit::load(SourcePath("examples/models/resnet8_fmnist.pt"));
  reference.eval();
  const auto input = Calibration()->Slice(0, 8).inputs[0];
  torch::NoGradGuard no_grad;
  const auto expected = reference.forward({input}).toTensor();
  EXPECT_LT((model.fp->Forward(input) - expected).abs().max().item<float>(), 1e-5 * expected.abs().max().item<float>());
}

TEST_F(BuiltinStagesTest, PrepareFoldsBatchNormWithoutChangingTheFunctionAndFindsTheLayers) {
  const auto& loaded = Output<ModelArtifact>("load", port::kModel);
  const auto& prepared = Output<ModelArtifact>("prepare", port::kModel);
  const auto& layers = *Output<LayerGraphArtifact>("prepare", port::kLayerGraph).graph;
  ASSERT_EQ(layers.layers.size(), 10u);
  EXPECT_EQ(layers.layers.front().name, "conv1");
  EXPECT_EQ(layers.layers.back().name, "fc");
  const auto input = Calibration()->Slice(0, 32).inputs[0];
  const auto before = loaded.fp->Forward(input), after = prepared.fp->Forward(input);
  EXPECT_LT((after - before).abs().max().item<float>(), 1e-4 * before.abs().max().item<float>());
  // No BatchNorm module is called any more.
  bool batch_norm = false;
  const auto graph = prepared.fp->InlinedGraph();
  for (const auto* node : graph->nodes()) batch_norm |= node->kind() == c10::Symbol::fromQualString("aten::batch_norm");
  EXPECT_FALSE(batch_norm);
}

TEST_F(BuiltinStagesTest, CacheActivationsHoldsEveryLayersInputAndOutputForEachSample) {
  const auto& cache = Output<ActivationCacheArtifact>("cache", port::kActivationCache);
  EXPECT_EQ(cache.samples, 64);
  const io::ActivationCache store(cache.path, /*create=*/false);
  // conv1's input is the model's input: the calibration samples themselves.
  EXPECT_TRUE(torch::equal(store.Read("conv1", "input"), Calibration()->input()));
  // Its target is the layer's output after its activation (conv1 → ReLU in ResNet-8), FP, batch norm folded.
  const auto& prepared = Output<ModelArtifact>("prepare", port::kModel);
  auto conv1 = prepared.fp->Submodule("conv1");
  torch::NoGradGuard no_grad;
  const auto expected = torch::relu(conv1.forward({Calibration()->input()}).toTensor());
  EXPECT_LT((store.Read("conv1", "target") - expected).abs().max().item<float>(), 1e-5);
  for (const auto& layer : Output<LayerGraphArtifact>("prepare", port::kLayerGraph).graph->layers)
    EXPECT_EQ(store.Shape(layer.name, "input").at(0), 64) << layer.name;
}

TEST_F(BuiltinStagesTest, AdaroundPutsEveryWeightOnItsGridAndLowersEachLayersError) {
  const auto& encodings = Output<EncodingsArtifact>("adaround", port::kEncodings);
  const auto& rounded = *Output<RoundedModelArtifact>("adaround", port::kModel).rounded;
  const auto& metrics = Output<MetricsArtifact>("adaround", port::kMetrics);
  ASSERT_EQ(encodings.params.size(), 10u);
  for (const auto& [name, encoding] : encodings.params) {
    ASSERT_EQ(encoding.channels.size(), 1u) << name;  // per tensor
    const quant::Encoding& grid = encoding.channels[0];
    EXPECT_EQ(grid.bitwidth, name == "fc" ? 8 : 4) << name;
    const auto q = rounded.Submodule(name).attr("weight").toTensor() / grid.scale - static_cast<double>(grid.offset);
    EXPECT_LT((q - q.round()).abs().max().item<double>(), 1e-3) << name;
    EXPECT_GE(q.min().item<double>(), -1e-3) << name;
    EXPECT_LE(q.max().item<double>(), static_cast<double>(grid.num_steps) + 1e-3) << name;
  }
  // On the data it learned from, no layer ends worse than round-to-nearest, and the model is better.
  ASSERT_EQ(metrics.layers.size(), 10u);
  double nearest = 0, learned = 0;
  for (const auto& layer : metrics.layers) {
    EXPECT_LE(layer.mse_adaround, layer.mse_nearest) << layer.name;
    nearest += layer.mse_nearest;
    learned += layer.mse_adaround;
  }
  EXPECT_LT(learned, 0.95 * nearest);
}

TEST_F(BuiltinStagesTest, QuantSimHoldsAdaroundsFrozenEncodingsAndIsNotYetCalibrated) {
  const auto& model = Output<QuantSimArtifact>("quantsim", port::kModel);
  ASSERT_TRUE(model.sim);
  EXPECT_EQ(model.weights, SimWeights::kAdaround);
  EXPECT_FALSE(model.sim->calibrated());
  EXPECT_EQ(model.sim->quantizers().size(), 15u);
  const auto& adaround = Output<EncodingsArtifact>("adaround", port::kEncodings).params;
  for (const auto& [name, encoding] : model.sim->param_encodings())
    EXPECT_EQ(encoding.channels, adaround.at(name).channels) << name;
}

TEST_F(BuiltinStagesTest, CalibrateGivesEveryActivationARangeThatHoldsItsValues) {
  const auto& model = Output<QuantSimArtifact>("calibrate", port::kModel);
  const auto& encodings = Output<EncodingsArtifact>("calibrate", port::kEncodings);
  ASSERT_TRUE(model.sim && model.sim->calibrated());
  // The quant-sim's weights, not quantized a second time: the same model object.
  EXPECT_EQ(model.sim->weights_model(), Output<QuantSimArtifact>("quantsim", port::kModel).sim->weights_model());
  ASSERT_EQ(encodings.activations.size(), 15u);
  for (const auto& quantizer : encodings.activations) {
    EXPECT_EQ(quantizer.encoding.bitwidth, 8) << quantizer.name;
    EXPECT_GT(quantizer.encoding.scale, 0) << quantizer.name;
  }
  // The model input is a pixel in [0, 1]: TF-enhanced keeps 0 on the grid and ends near 1.
  const quant::Encoding& input = encodings.activations.front().encoding;
  EXPECT_EQ(encodings.activations.front().name, "input");
  EXPECT_LE(input.min, 0.0);
  EXPECT_GT(input.max, 0.5);
  EXPECT_LT(input.max, 1.01);
}

TEST_F(BuiltinStagesTest, EvaluateReportsTheAccuracyThatTheModelsGiveOnTheEvaluationSet) {
  const auto& metrics = Output<MetricsArtifact>("evaluate", port::kMetrics);
  ASSERT_EQ(metrics.variants.size(), 3u);
  EXPECT_EQ(metrics.variants[0].first, "fp");
  EXPECT_EQ(metrics.variants[1].first, "nearest");
  EXPECT_EQ(metrics.variants[2].first, "adaround");
  // FP top-1 recomputed here from the prepared model.
  data::IdxDataOptions options;
  options.images = kTestImages;
  options.labels = kTestLabels;
  options.num_samples = 200;
  options.scale = 1.0 / 255.0;
  const auto evaluation = data::LoadIdx("evaluation", options);
  const auto& prepared = Output<ModelArtifact>("prepare", port::kModel);
  const auto predicted = prepared.fp->Forward(evaluation->inputs()).argmax(1);
  const double top1 = 100.0 * predicted.eq(evaluation->labels()).sum().item<double>() / 200.0;
  EXPECT_EQ(metrics.variants[0].second.samples, 200);
  // Within one sample: evaluate runs batches of 100, here all 200 at once (a near tie may flip).
  EXPECT_NEAR(metrics.variants[0].second.top1, top1, 0.5 + 1e-9);
  // The AdaRound variant is the calibrated quant-sim's accuracy.
  const auto& sim = *Output<QuantSimArtifact>("calibrate", port::kModel).sim;
  const auto sim_top1 = 100.0 * sim.Forward(evaluation->inputs()).argmax(1).eq(evaluation->labels()).sum().item<double>() / 200.0;
  EXPECT_NEAR(metrics.variants[2].second.top1, sim_top1, 0.5 + 1e-9);
  // The nearest variant is the quant-sim of the two stages the planner derived for evaluate: the same
  // settings with every weight rounded to nearest, calibrated like the AdaRound one.
  const auto& nearest = Output<QuantSimArtifact>("evaluate.nearest_calibrate", port::kModel);
  EXPECT_EQ(nearest.weights, SimWeights::kNearest);
  ASSERT_TRUE(nearest.sim->calibrated());
  EXPECT_EQ(nearest.sim->quantizers().size(), sim.quantizers().size());
  for (const auto& [name, encoding] : nearest.sim->param_encodings()) {
    const auto weight = prepared.fp->Submodule(name).attr("weight").toTensor();
    EXPECT_TRUE(torch::equal(nearest.sim->weights_model()->Submodule(name).attr("weight").toTensor(),
                             quant::QuantizeDequantize(weight, encoding).to(weight.dtype())))
        << name;
  }
  const auto nearest_top1 =
      100.0 * nearest.sim->Forward(evaluation->inputs()).argmax(1).eq(evaluation->labels()).sum().item<double>() / 200.0;
  EXPECT_NEAR(metrics.variants[1].second.top1, nearest_top1, 0.5 + 1e-9);
}

TEST_F(BuiltinStagesTest, ExportWritesTheQuantSimsWeightsAndItsEncodings) {
  const std::string model_file = run_dir() + "/model_adaround.pt";
  ASSERT_TRUE(std::filesystem::exists(model_file));
  ASSERT_TRUE(std::filesystem::exists(run_dir() + "/builtin_stages.encodings"));
  const auto exported = model::Model::Load(model_file, {1, 1, 28, 28});
  const auto& sim = *Output<QuantSimArtifact>("calibrate", port::kModel).sim;
  for (const auto& layer : Output<LayerGraphArtifact>("prepare", port::kLayerGraph).graph->layers)
    EXPECT_TRUE(torch::equal(exported->Submodule(layer.name).attr("weight").toTensor(),
                             sim.weights_model()->Submodule(layer.name).attr("weight").toTensor()))
        << layer.name;
  const auto& metrics = Output<MetricsArtifact>("export", port::kMetrics);
  ASSERT_FALSE(metrics.variants.empty());
  EXPECT_EQ(metrics.variants.back().first, "exported");
  // Without an ONNX format the activations are keyed by adaflow's quantizer names: the log says so.
  const std::string log = ReadTextFile(run_dir() + "/log.txt");
  EXPECT_NE(log.find("[export] [warning] the encodings files key activations by adaflow's quantizer names ('input', ...), "
                     "which only adaflow reads"),
            std::string::npos)
      << log;
}

}  // namespace
}  // namespace adaflow::testing
