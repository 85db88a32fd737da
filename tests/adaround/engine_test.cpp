// The AdaRound engine (src/adaround/engine.h), the one path the adaround stage, these tests and the
// benchmarks run: one layer of a model built here, and the example ResNet-8 in quant mode, each on an
// activation cache written by io::ActivationCacheWriter, as the cache_activations stage writes it.

#include "src/adaround/engine.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "pipeline/executor.h"
#include "src/adaround/remote_block.h"
#include "src/adaround/remote_prepare.h"
#include "src/io/activation_cache_writer.h"
#include "src/model/batch_norm_fold.h"
#include "src/model/torch_runtime.h"
#include "src/quant/module_params.h"
#include "src/quant/quantsim_config.h"
#include "stages/adaround/layer_store.h"
#include "tests/support/test_support.h"

namespace adaflow::adaround {
namespace {

using adaflow::testing::SourcePath;
using adaflow::testing::TempDir;

/// A model with one 3×3 convolution `conv` ([out, in, 3, 3], padding 1), followed by ReLU when `relu`.
std::shared_ptr<model::Model> ConvModel(std::int64_t out, std::int64_t in, bool relu) {
  torch::manual_seed(42);
  torch::jit::Module conv("Conv");
  conv.register_parameter("weight", torch::randn({out, in, 3, 3}) * 0.3, false);
  conv.register_parameter("bias", torch::randn({out}) * 0.1, false);
  conv.define(R"(
def forward(self, x):
    return torch.conv2d(x, self.weight, self.bias, [1, 1], [1, 1], [1, 1], 1)
)");
  torch::jit::Module root("Net");
  root.register_module("conv", conv);
  root.define(relu ? "def forward(self, x):\n    return torch.relu(self.conv.forward(x))\n"
                   : "def forward(self, x):\n    return self.conv.forward(x)\n");
  root.eval();
  return std::make_shared<model::Model>(root, "ConvModel");
}

/// The model, its layers, data and activation cache, as the stages before adaround leave them.
struct Fixture {
  std::shared_ptr<model::Model> model;
  model::LayerGraph layers;
  std::shared_ptr<data::Dataset> data;
  std::shared_ptr<const io::ActivationCache> cache;

  Fixture(std::shared_ptr<model::Model> fp, std::vector<std::int64_t> sample_shape, std::int64_t samples,
          const TempDir& dir)
      : model(std::move(fp)), layers(model::DiscoverLayers(*model)) {
    // Channels correlated, as real feature maps are: on white inputs (Ĥ ∝ I) rounding to nearest is
    // already the best rounding, and AdaRound has nothing to win.
    torch::manual_seed(7);
    sample_shape.insert(sample_shape.begin(), samples);
    std::vector<std::int64_t> one_channel = sample_shape;
    one_channel[1] = 1;
    const torch::Tensor inputs = torch::randn(one_channel).expand(sample_shape) + 0.3 * torch::randn(sample_shape);
    data = std::make_shared<data::Dataset>("calibration", inputs.contiguous(), torch::Tensor(), 32);
    const std::string path = dir / "activations.h5";
    {
      io::ActivationCache store(path, true);
      io::ActivationCacheWriter(model, layers, *data).Write(store, 32, io::StoreDtype::kFloat32, "test");
      store.Close();
    }
    cache = std::make_shared<const io::ActivationCache>(path, false);
  }

  EngineCallbacks Callbacks() const {
    EngineCallbacks callbacks;
    callbacks.calibration = [this] { return std::shared_ptr<const data::Dataset>(data); };
    callbacks.layer_seed = [](const std::string& layer) { return std::hash<std::string>()(layer); };
    return callbacks;
  }

  /// Every task one by one on this thread, or (threads > 1, or remote lanes) on an executor of that many threads.
  EngineResults Run(const EngineOptions& options, LayerStore& store, const TempDir& dir, int threads = 1,
                    double memory_budget = 1024.0 * 1024 * 1024,
                    const std::shared_ptr<RemoteLanes>& remote = nullptr,
                    std::map<std::string, int>* remote_tasks = nullptr) const {
    Engine engine(options, model, layers, cache, store, Callbacks(), {memory_budget, dir / "xhat.h5", threads});
    if (remote_tasks)
      for (const auto& task : engine.tasks())
        if (task.remote) ++(*remote_tasks)[task.remote->kind];
    if (threads == 1 && !remote) {
      RunInOrder(engine.tasks());
    } else {
      LocalExecutor executor(threads, {SetIntraOpThreads, SetBlasThreads}, remote);
      TaskDag dag = EngineDag(engine);
      const TaskDag::Result result = executor.Run(dag, nullptr);
      if (!result.ok()) std::rethrow_exception(result.first_error);
    }
    return engine.Results();
  }
};

/// The weight rounded to nearest on `encoding`'s grid.
torch::Tensor Nearest(const model::Model& model, const EngineResults& results, const std::string& layer) {
  const torch::Tensor weight = model.Submodule(layer).attr("weight").toTensor();
  return quant::QuantizeDequantize(weight, results.encodings.at(layer));
}

void ExpectSameResults(const EngineResults& a, const EngineResults& b) {
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (std::size_t index = 0; index < a.layers.size(); ++index) {
    const std::string& name = a.layers[index].name;
    const torch::Tensor wa = a.rounded->Submodule(name).attr("weight").toTensor();
    const torch::Tensor wb = b.rounded->Submodule(name).attr("weight").toTensor();
    EXPECT_TRUE(torch::equal(wa, wb)) << name;
    EXPECT_EQ(a.layers[index].mse_adaround, b.layers[index].mse_adaround) << name;
    EXPECT_EQ(a.layers[index].mse_nearest, b.layers[index].mse_nearest) << name;
  }
}

TEST(EngineTest, OneLayerEndsOnItsGridNextToEachWeightAndBeatsNearest) {
  TempDir dir;
  const Fixture fixture(ConvModel(8, 4, false), {4, 6, 6}, 64, dir);
  for (Objective objective : {Objective::kSampled, Objective::kGram}) {
    EngineOptions options;
    options.num_iterations = 600;
    options.objective = objective;
    options.quant_scheme = quant::Scheme::kTf;
    MemoryLayerStore store;
    const EngineResults results = fixture.Run(options, store, dir);
    ASSERT_EQ(results.layers.size(), 1u);
    const LayerReport& report = results.layers[0];
    EXPECT_EQ(report.objective, objective);
    EXPECT_EQ(report.num_iterations, 600);
    const auto& encoding = results.encodings.at("conv");
    const torch::Tensor rounded = results.rounded->Submodule("conv").attr("weight").toTensor().contiguous();
    EXPECT_TRUE(torch::equal(quant::QuantizeDequantize(rounded, encoding), rounded));
    // Each weight moved to the grid point just below or just above it (or the grid's edge).
    const torch::Tensor weight = fixture.model->Submodule("conv").attr("weight").toTensor().contiguous();
    const torch::Tensor scaled = weight / encoding.channels[0].scale, chosen = rounded / encoding.channels[0].scale;
    EXPECT_TRUE(((chosen - torch::floor(scaled)).abs() < 1e-4)
                    .logical_or((chosen - torch::ceil(scaled)).abs() < 1e-4)
                    .logical_or(chosen.abs() >= 7.0 - 1e-4)
                    .all()
                    .item<bool>());
    EXPECT_LT(report.mse_adaround, 0.8 * report.mse_nearest) << NameOf(kObjectiveNames, objective);
    EXPECT_TRUE(store.IsDone(fixture.layers.layers[0]));
  }
}

TEST(EngineTest, ATransposedConvolutionWithMoreOutputsThanInputsIsRounded) {
  // ConvTranspose2d 4 -> 6 with a bias: its weight's rows are input channels, its outputs 6 channels.
  torch::manual_seed(42);
  torch::jit::Module up("Up");
  up.register_parameter("weight", torch::randn({4, 6, 2, 2}) * 0.3, false);
  up.register_parameter("bias", torch::randn({6}) * 0.1, false);
  up.define(R"(
def forward(self, x):
    return torch.conv_transpose2d(x, self.weight, self.bias, [2, 2], [0, 0], [0, 0], 1, [1, 1])
)");
  torch::jit::Module root("Net");
  root.register_module("up", up);
  root.define("def forward(self, x):\n    return torch.relu(self.up.forward(x))\n");
  root.eval();
  TempDir dir;
  const Fixture fixture(std::make_shared<model::Model>(root, "UpModel"), {4, 5, 5}, 64, dir);
  for (Objective objective : {Objective::kSampled, Objective::kGram}) {
    EngineOptions options;
    options.num_iterations = 300;
    options.objective = objective;
    MemoryLayerStore store;
    const EngineResults results = fixture.Run(options, store, dir);
    const LayerReport& report = results.layers.at(0);
    const torch::Tensor rounded = results.rounded->Submodule("up").attr("weight").toTensor().contiguous();
    EXPECT_TRUE(torch::equal(quant::QuantizeDequantize(rounded, results.encodings.at("up")), rounded));
    EXPECT_LT(report.mse_adaround, report.mse_nearest) << NameOf(kObjectiveNames, objective);
  }
}

TEST(EngineTest, ActivationIsInTheSampledLossAndRunsAreReproducible) {
  // The same convolution with and without a ReLU after it, the same samples: the sampled objective
  // learns different roundings (the activation is in its loss), each better than nearest, each the
  // same bytes when run again. An optimizer that left α alone would round to nearest in both.
  TempDir dir;
  const Fixture with_relu(ConvModel(6, 3, true), {3, 5, 5}, 48, dir);
  TempDir other;
  const Fixture without(ConvModel(6, 3, false), {3, 5, 5}, 48, other);
  EngineOptions options;
  options.num_iterations = 300;
  options.objective = Objective::kSampled;
  options.per_channel = true;
  MemoryLayerStore first_store, second_store, plain_store;
  const EngineResults first = with_relu.Run(options, first_store, dir);
  const EngineResults second = with_relu.Run(options, second_store, dir);
  const EngineResults plain = without.Run(options, plain_store, other);
  ExpectSameResults(first, second);
  const torch::Tensor relu_weight = first.rounded->Submodule("conv").attr("weight").toTensor();
  const torch::Tensor plain_weight = plain.rounded->Submodule("conv").attr("weight").toTensor();
  EXPECT_FALSE(torch::equal(relu_weight, plain_weight));
  EXPECT_FALSE(torch::equal(relu_weight, Nearest(*with_relu.model, first, "conv")));
  EXPECT_LT(first.layers[0].mse_adaround, first.layers[0].mse_nearest);
  EXPECT_LT(plain.layers[0].mse_adaround, plain.layers[0].mse_nearest);
}

TEST(EngineTest, SampledOutputPositionsCutTheStepAndStillBeatNearest) {
  // 16 of 64 output positions per sample: a quarter of the step's products, reproducible, a different
  // but still better-than-nearest rounding.
  TempDir dir;
  const Fixture fixture(ConvModel(8, 4, true), {4, 8, 8}, 64, dir);
  EngineOptions options;
  options.num_iterations = 400;
  options.objective = Objective::kSampled;
  MemoryLayerStore all_store, first_store, second_store;
  const EngineResults all = fixture.Run(options, all_store, dir);
  options.positions_per_sample = 16;
  const EngineResults first = fixture.Run(options, first_store, dir);
  const EngineResults second = fixture.Run(options, second_store, dir);
  ExpectSameResults(first, second);
  EXPECT_DOUBLE_EQ(first.layers[0].step_macs, all.layers[0].step_macs / 4);
  EXPECT_FALSE(torch::equal(first.rounded->Submodule("conv").attr("weight").toTensor(),
                            all.rounded->Submodule("conv").attr("weight").toTensor()));
  EXPECT_LT(first.layers[0].mse_adaround, first.layers[0].mse_nearest);
  EXPECT_LT(first.layers[0].mse_adaround, 1.5 * all.layers[0].mse_adaround);
}

TEST(EngineTest, XhatRunsThroughOtherModulesParametersQuantizedAsAimetsAdaRoundQuantSimHasThem) {
  // norm_ops: conv -> GroupNorm -> InstanceNorm -> PReLU -> ... -> conv2 -> ... -> LayerNorm (+ Embedding) -> fc.
  // x̂ of conv2 and fc passes through those modules' parameters, which AIMET's AdaRound quant-sim quantizes
  // (default_param_bw, the config's grids). The engine must give exactly what it gives on a model whose
  // parameters already hold those quantized values and a config that leaves them alone.
  TempDir dir;
  auto fp = model::FoldBatchNorm(*model::Model::Load(SourcePath("tests/models/norm_ops_traced.pt"), {2, 3, 8, 8}));
  const Fixture fixture(fp, {3, 8, 8}, 64, dir);
  EngineOptions options;
  options.num_iterations = 40;
  options.objective = Objective::kSampled;
  MemoryLayerStore store;
  const EngineResults quantized = fixture.Run(options, store, dir);

  // The same parameters quantized by hand, and a config whose op types leave them float.
  auto prequantized = fp->Clone();
  const auto params = quant::QuantizeModuleParams(*prequantized, quant::FindModuleParams(*fp, fixture.layers),
                                                  options.Rules(), options.quant_scheme, options.default_param_bw);
  ASSERT_EQ(params.size(), 5u);
  EngineOptions unquantized = options;
  unquantized.rules = quant::DefaultQuantsimConfig(options);
  for (const char* type : {"GroupNorm", "InstanceNormalization", "PRelu", "LayerNorm", "Gather"})
    unquantized.rules->op_type[type].params["weight"].is_quantized = false;
  auto run = [&](std::shared_ptr<const model::Model> model, const EngineOptions& run_options) {
    MemoryLayerStore run_store;
    Engine engine(run_options, std::move(model), fixture.layers, fixture.cache, run_store, fixture.Callbacks(),
                  {1024.0 * 1024 * 1024, dir / "xhat.h5", 1});
    RunInOrder(engine.tasks());
    return engine.Results();
  };
  ExpectSameResults(quantized, run(prequantized, unquantized));
  // Left float, the x̂ of conv2 and fc differ, and so do their results (conv's input is the model input's).
  const EngineResults floating = run(fp, unquantized);
  EXPECT_EQ(floating.layers[0].mse_adaround, quantized.layers[0].mse_adaround);
  EXPECT_NE(floating.layers[1].mse_nearest, quantized.layers[1].mse_nearest);
  EXPECT_NE(floating.layers[2].mse_nearest, quantized.layers[2].mse_nearest);
  // The rounded model keeps those parameters float, as AIMET's apply_adaround returns them.
  EXPECT_TRUE(torch::equal(quantized.rounded->Submodule("ln").attr("weight").toTensor(),
                           fp->Submodule("ln").attr("weight").toTensor()));
}

TEST(RemotePrepareTest, AWorkerThatCannotReadTheCacheNamesTheFileAndTheSharedRunDirectory) {
  TempDir dir;
  const Fixture fixture(ConvModel(8, 4, false), {4, 6, 6}, 16, dir);
  PrepareProblem problem;
  problem.layer = fixture.layers.layers.at(0);
  problem.weight = fixture.model->Submodule(problem.layer.name).attr("weight").toTensor();
  problem.gram = true;
  const RemoteHandler handler = PrepareHandler();
  const std::string request = SavePrepareRequest(0, 8, torch::Tensor());
  // The cache as rank 0 names it: the chunk's sums equal those computed here from the same rows.
  const auto parsed = handler.parse_context(SavePrepareProblem(problem, fixture.cache->path()));
  const ChunkStats remote = LoadChunkStats(handler.run(parsed.get(), request, nullptr, nullptr), problem);
  const torch::Tensor rows = fixture.cache->Read(problem.layer.name, "input", 0, 8);
  const ChunkStats here = PrepareChunk(problem, rows, rows, nullptr);
  ASSERT_TRUE(remote.gram && here.gram);
  EXPECT_TRUE(torch::equal(remote.gram->sums().hh, here.gram->sums().hh));
  EXPECT_EQ(remote.gram->sums().rows, here.gram->sums().rows);
  // A path this process cannot see (a run directory that is not shared): the task fails, saying so.
  const std::string missing = dir / "elsewhere/activations.h5";
  const auto lost = handler.parse_context(SavePrepareProblem(problem, missing));
  try {
    handler.run(lost.get(), request, nullptr, nullptr);
    FAIL() << "expected an error";
  } catch (const std::exception& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("'" + missing + "' does not exist on this rank"), std::string::npos) << message;
    EXPECT_NE(message.find("must be on a file system all ranks share"), std::string::npos) << message;
  }
}

/// Remote lanes in this process that go through the bytes a worker rank gets: the context and request
/// saved, the context parsed (again for every task: a worker that dropped it), the handler run on a
/// thread of its own, its reply loaded by the task's accept.
class LoopbackLanes final : public RemoteLanes {
 public:
  explicit LoopbackLanes(int lanes) : lanes_(lanes) {
    handlers_.Define(kRemoteBlockKind, BlockHandler(0.0));
    handlers_.Define(kRemotePrepareKind, PrepareHandler());
  }
  int lanes() const override { return lanes_; }
  void Run(int lane, const std::string& task_id, const RemoteWork& work, const std::atomic<bool>* stop) override {
    const RemoteHandler* handler = handlers_.Find(work.kind);
    if (!handler) throw std::logic_error("no handler for '" + work.kind + "'");
    const std::string context = work.context(), request = work.request();
    std::string reply;
    std::thread worker([&] {
      SetIntraOpThreads(1);
      const std::shared_ptr<const void> parsed = handler->parse_context(context);
      reply = handler->run(parsed.get(), request, nullptr, stop);
    });
    worker.join();
    work.accept(reply);
    std::lock_guard<std::mutex> lock(mutex_);
    ++tasks_[work.kind];
  }
  int tasks(const std::string& kind) {
    std::lock_guard<std::mutex> lock(mutex_);
    return tasks_[kind];
  }

 private:
  int lanes_;
  RemoteHandlers handlers_;
  std::mutex mutex_;
  std::map<std::string, int> tasks_;
};

class ResNetEngineTest : public ::testing::Test {
 protected:
  static EngineOptions Options() {
    EngineOptions options;
    options.num_iterations = 60;
    options.param_bw_override = {{"fc", 8}};
    return options;
  }
  TempDir dir_;
  Fixture fixture_{model::FoldBatchNorm(*model::Model::Load(SourcePath("examples/models/resnet8_fmnist.pt"), {})),
                   {1, 28, 28}, 64, dir_};
};

TEST_F(ResNetEngineTest, QuantModeGivesTheSameBytesInOrderAndOnTwoThreads) {
  MemoryLayerStore in_order_store, threaded_store;
  const EngineResults in_order = fixture_.Run(Options(), in_order_store, dir_, 1);
  const EngineResults threaded = fixture_.Run(Options(), threaded_store, dir_, 2);
  ASSERT_EQ(in_order.layers.size(), 10u);
  ExpectSameResults(in_order, threaded);
  for (const auto& report : in_order.layers) EXPECT_LE(report.mse_adaround, report.mse_nearest) << report.name;
}

TEST_F(ResNetEngineTest, ChunksAndBlocksRunThroughRemoteLanesGiveTheSameBytesInBothModesAndObjectives) {
  for (const InputSource source : {InputSource::kQuant, InputSource::kFp})
    for (const Objective objective : {Objective::kGram, Objective::kSampled}) {
      EngineOptions options = Options();
      options.input_source = source;
      options.objective = objective;
      MemoryLayerStore here_store, spread_store;
      const EngineResults here = fixture_.Run(options, here_store, dir_, 1);
      // Gram: more lanes than tasks, so every chunk and block goes through the bytes. Sampled: two lanes
      // beside one local slot, so the layers' tasks mix both ways (how many go where depends on timing).
      const bool every_task_remote = objective == Objective::kGram;
      auto lanes = std::make_shared<LoopbackLanes>(every_task_remote ? 256 : 2);
      std::map<std::string, int> remote_tasks;
      const EngineResults spread =
          fixture_.Run(options, spread_store, dir_, 1, 1024.0 * 1024 * 1024, lanes, &remote_tasks);
      SCOPED_TRACE(NameOf(kObjectiveNames, objective));
      ExpectSameResults(here, spread);
      // Chunks (one per layer here) read the cache file through a handle of their own, as a worker does.
      ASSERT_EQ(remote_tasks[kRemotePrepareKind], 10);
      ASSERT_GE(remote_tasks[kRemoteBlockKind], 10);  // a block or more per layer
      if (every_task_remote) {
        EXPECT_EQ(lanes->tasks(kRemotePrepareKind), remote_tasks[kRemotePrepareKind]);
        EXPECT_EQ(lanes->tasks(kRemoteBlockKind), remote_tasks[kRemoteBlockKind]);
      } else {
        EXPECT_GE(lanes->tasks(kRemotePrepareKind), 1);
        EXPECT_GE(lanes->tasks(kRemoteBlockKind), 1);
      }
    }
}

TEST_F(ResNetEngineTest, BlocksPerLayerSplitsEachLayerFinerAndTheLanesStillGiveTheBytesOfOneThread) {
  EngineOptions options = Options();
  options.blocks_per_layer = 16;
  // Blocks of >= 8 output channels: ResNet-8's 16-, 32- and 64-channel convolutions get 2, 4 and 8, fc's
  // 10 rows one.
  int expected_blocks = 0;
  for (const auto& layer : fixture_.layers.layers)
    expected_blocks += static_cast<int>(std::clamp<std::int64_t>(layer.weight_shape.at(0) / 8, 1, 16));
  MemoryLayerStore here_store, spread_store, default_store;
  const EngineResults here = fixture_.Run(options, here_store, dir_, 1);
  auto lanes = std::make_shared<LoopbackLanes>(256);
  std::map<std::string, int> remote_tasks;
  const EngineResults spread = fixture_.Run(options, spread_store, dir_, 1, 1024.0 * 1024 * 1024, lanes, &remote_tasks);
  EXPECT_EQ(remote_tasks[kRemoteBlockKind], expected_blocks);
  EXPECT_EQ(lanes->tasks(kRemoteBlockKind), expected_blocks);
  ExpectSameResults(here, spread);
  // Each channel's optimization is the same whatever the split (the loss is scaled by the whole layer);
  // only products of other row counts may round differently in BLAS (here they give the same bytes,
  // which is not promised): each layer beats nearest and ends within 1 % of the default split's loss.
  const EngineResults by_size = fixture_.Run(Options(), default_store, dir_, 1);
  for (std::size_t index = 0; index < here.layers.size(); ++index) {
    const LayerReport& fine = here.layers[index];
    EXPECT_LE(fine.mse_adaround, fine.mse_nearest) << fine.name;
    EXPECT_NEAR(fine.mse_adaround, by_size.layers[index].mse_adaround, 0.01 * by_size.layers[index].mse_adaround)
        << fine.name;
  }
}

TEST_F(ResNetEngineTest, LayersTheStoreHoldsAreReadBackAndTheRestRunsToTheSameResult) {
  MemoryLayerStore full_store;
  const EngineResults full = fixture_.Run(Options(), full_store, dir_);
  // A run that finished every layer but two: one in the middle of the chain, and the last.
  MemoryLayerStore partial;
  for (const auto& layer : fixture_.layers.layers)
    if (layer.name != "layers.1.conv1" && layer.name != "fc") partial.Write(layer, full_store.Read(layer));
  Engine engine(Options(), fixture_.model, fixture_.layers, fixture_.cache, partial, fixture_.Callbacks(),
                {1024.0 * 1024 * 1024, dir_ / "xhat.h5", 1});
  EXPECT_EQ(engine.layers_done_before(), 8);
  std::vector<std::string> optimized;
  for (const auto& task : engine.tasks())
    if (task.id.rfind("stats/", 0) == 0) optimized.push_back(task.id.substr(6));
  EXPECT_EQ(optimized, (std::vector<std::string>{"layers.1.conv1", "fc"}));
  RunInOrder(engine.tasks());
  ExpectSameResults(full, engine.Results());
}

TEST_F(ResNetEngineTest, TheDefaultConfigFileDecidesEachLayersGridAndWhichLayersAreRounded) {
  // AIMET's per-channel config: convolutions per output channel, the Linear (Gemm) per tensor.
  EngineOptions options = Options();
  options.num_iterations = 20;
  options.rules = quant::ReadQuantsimConfig(SourcePath("configs/quantsim/default_config_per_channel.json"));
  MemoryLayerStore store;
  const EngineResults results = fixture_.Run(options, store, dir_);
  ASSERT_EQ(results.encodings.size(), 10u);
  for (const auto& [name, encoding] : results.encodings) {
    const bool linear = name == "fc";
    EXPECT_EQ(encoding.axis_is_channel, !linear) << name;
    EXPECT_EQ(encoding.channels.size(), linear ? 1u : static_cast<std::size_t>(
                                                           fixture_.layers.Find(name)->weight_channels()))
        << name;
  }
  // A config that leaves Gemm weights float: fc is not rounded, as if ignored.
  options.rules->op_type["Gemm"].params["weight"].is_quantized = false;
  MemoryLayerStore other;
  Engine engine(options, fixture_.model, fixture_.layers, fixture_.cache, other, fixture_.Callbacks(),
                {1024.0 * 1024 * 1024, dir_ / "xhat.h5", 1});
  EXPECT_EQ(engine.jobs().size(), 9u);
  RunInOrder(engine.tasks());
  EXPECT_EQ(engine.Results().encodings.count("fc"), 0u);
}

TEST_F(ResNetEngineTest, XhatBeyondTheMemoryBudgetGoesToTheScratchFileWithTheSameResult) {
  // A budget below the working tensors' share: every x̂ is written to and read from the scratch file,
  // and the scratch file is gone afterwards.
  EngineOptions options = Options();
  options.objective = Objective::kGram;
  MemoryLayerStore ram_store, disk_store;
  std::vector<std::string> notes;
  std::mutex notes_mutex;
  const EngineResults in_ram = fixture_.Run(options, ram_store, dir_);
  EngineCallbacks callbacks = fixture_.Callbacks();
  callbacks.note = [&](bool, const std::string& message) {
    std::lock_guard<std::mutex> lock(notes_mutex);
    notes.push_back(message);
  };
  EngineResults on_disk;
  {
    Engine engine(options, fixture_.model, fixture_.layers, fixture_.cache, disk_store, callbacks,
                  {1024.0 * 1024, dir_ / "xhat.h5", 1});
    RunInOrder(engine.tasks());
    on_disk = engine.Results();
  }
  ExpectSameResults(in_ram, on_disk);
  EXPECT_EQ(notes.size(), 9u);  // every layer but the first has an x̂
  EXPECT_FALSE(std::filesystem::exists(dir_ / "xhat.h5"));
}

}  // namespace
}  // namespace adaflow::adaround
