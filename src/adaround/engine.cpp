#include "src/adaround/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include <malloc.h>

#include "common/error.h"
#include "common/kill_point.h"
#include "src/adaround/block_optimizer.h"
#include "src/adaround/input_capture.h"
#include "src/adaround/remote_block.h"
#include "src/adaround/remote_prepare.h"
#include "src/model/torch_runtime.h"
#include "src/quant/module_params.h"

namespace adaflow::adaround {
namespace {

using Clock = std::chrono::steady_clock;

/// Samples per prepare task: at most 64, fewer where a sample's tensors are large (ImageNet-shape maps),
/// so that a task's tensors stay near kChunkBytes each. A function of the layer's shapes, so the chunks
/// (and the order their sums merge in) never depend on the thread count.
constexpr std::int64_t kMaxChunk = 64;
constexpr double kChunkBytes = 16.0 * 1024 * 1024;
/// Seconds between two progress reports of one layer's optimizer.
constexpr double kReportEvery = 30.0;

double SecondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

/// Adds the time from construction to destruction to a counter (a task's thread-seconds in a phase).
class PhaseTimer {
 public:
  explicit PhaseTimer(std::atomic<std::int64_t>& total) : total_(total), start_(Clock::now()) {}
  ~PhaseTimer() {
    total_ += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_).count();
  }

 private:
  std::atomic<std::int64_t>& total_;
  Clock::time_point start_;
};

/// On leaving a task, hands the pages of freed tensors back to the system. Prepare tasks' tensors are
/// up to tens of MiB: glibc serves them from its heaps, whose freed middle pages it keeps unless asked,
/// and as the sizes change from layer to layer the resident set grows far past what is in use
/// (MobileNetV2 at 224×224: +1.5 GiB). Once per layer (stats, close), not per chunk: trimming costs
/// page faults on the next allocations.
class ReturnFreedMemory {
 public:
  ReturnFreedMemory() = default;
  ReturnFreedMemory(const ReturnFreedMemory&) = delete;
  ReturnFreedMemory& operator=(const ReturnFreedMemory&) = delete;
  ~ReturnFreedMemory() { malloc_trim(0); }
};

double Bytes(const std::vector<std::int64_t>& shape) {
  double count = 4.0;
  for (auto dim : shape) count *= static_cast<double>(dim);
  return count;
}

/// "49 MiB"
std::string MiB(double bytes) { return std::to_string(std::llround(bytes / 1048576.0)) + " MiB"; }

/// Gram statistics of a layer's chunks, added side by side and merged in chunk order as soon as every
/// earlier chunk is in: the sums do not depend on the schedule, and at most the chunks in flight wait
/// (a layer's Ĥ can be hundreds of MiB).
class OrderedGram {
 public:
  void Reset(std::size_t chunks) { parts_.resize(chunks); }
  void Add(std::size_t chunk, std::unique_ptr<GramAccumulator> part, const std::function<GramAccumulator()>& make) {
    std::lock_guard<std::mutex> lock(mutex_);
    parts_[chunk] = std::move(part);
    while (next_ < parts_.size() && parts_[next_]) {
      if (!total_) total_ = std::make_unique<GramAccumulator>(make());
      total_->Merge(*parts_[next_]);
      parts_[next_++].reset();
    }
  }
  /// After every chunk was added; releases the sums.
  GramForm Finish() {
    GramForm form = total_->Finish();
    total_.reset();
    parts_.clear();
    return form;
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<GramAccumulator>> parts_;  ///< finished chunks not yet merged
  std::unique_ptr<GramAccumulator> total_;               ///< chunks [0, next_) merged, in order
  std::size_t next_ = 0;
};

}  // namespace

bool MemoryLayerStore::IsDone(const model::Layer& layer) {
  std::lock_guard<std::mutex> lock(mutex_);
  return results_.count(layer.name) > 0;
}

LayerResult MemoryLayerStore::Read(const model::Layer& layer) {
  std::lock_guard<std::mutex> lock(mutex_);
  return results_.at(layer.name);
}

void MemoryLayerStore::Write(const model::Layer& layer, const LayerResult& result) {
  std::lock_guard<std::mutex> lock(mutex_);
  results_[layer.name] = result;
}

/// x̂ held in memory, within the budget, and the scratch file for what does not fit.
class Engine::Memory {
 public:
  explicit Memory(const EngineResources& resources) : resources_(resources) {
    std::error_code ignored;
    std::filesystem::remove(resources_.scratch_path, ignored);  // left by a killed run
    const auto folder = std::filesystem::path(resources_.scratch_path).parent_path();
    if (!folder.empty()) std::filesystem::create_directories(folder, ignored);
  }
  ~Memory() {
    // The scratch file holds nothing a rerun could use.
    scratch_.reset();
    std::error_code ignored;
    std::filesystem::remove(resources_.scratch_path, ignored);
  }

  /// Reserves `bytes` of RAM for an x̂ when they fit beside what is held.
  bool Reserve(double bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (held_ + bytes > Limit()) return false;
    held_ += bytes;
    return true;
  }
  void Free(double bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    held_ -= bytes;
  }
  /// The scratch file, created on first need.
  io::ActivationCache& Scratch() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!scratch_) scratch_ = std::make_shared<io::ActivationCache>(resources_.scratch_path, true);
    return *scratch_;
  }
  /// The scratch file once Scratch() made it (tasks reading x̂ from it run after the task that wrote it).
  std::shared_ptr<const io::ActivationCache> scratch() {
    std::lock_guard<std::mutex> lock(mutex_);
    return scratch_;
  }
  const std::string& scratch_path() const { return resources_.scratch_path; }

 private:
  /// x̂ shares memory_budget with the prepare tasks' working tensors: about eight of ≤ kChunkBytes each
  /// per thread (inputs, upstream outputs, patches, the error pass).
  double Limit() const { return resources_.memory_budget_bytes - 8.0 * kChunkBytes * std::max(1, resources_.threads); }

  EngineResources resources_;
  std::mutex mutex_;
  double held_ = 0;  ///< bytes of x̂ in RAM now
  std::shared_ptr<io::ActivationCache> scratch_;
};

/// One layer's state while its tasks run.
struct Engine::Layer {
  const LayerJob* job = nullptr;
  const model::Layer* layer = nullptr;
  bool done = false;        ///< the store holds it: read back, not computed
  bool capture = false;     ///< x̂ comes from upstream layers (quant mode, not a first layer)
  bool keep_rows = false;   ///< x̂ is computed: the layer runs, or a consumer that runs reads it
  bool error_pass = false;  ///< the errors need forward passes (an activation, or the sampled objective)
  bool streamed = false;    ///< the sampled objective reads its random rows from the cache file
  std::int64_t chunk = kMaxChunk;  ///< samples per prepare task
  torch::Tensor weight, bias;
  quant::TensorEncoding encoding;
  std::unique_ptr<InputCapture> input_capture;
  // x̂ ([N, …]) while someone needs it: in RAM, or in the scratch file when RAM would exceed the budget.
  std::once_flag allocate;
  torch::Tensor xhat;
  bool xhat_on_disk = false;
  double xhat_bytes = 0;
  std::atomic<int> readers{0};  ///< the layer itself and its consumers that still have to read x̂
  // Statistics.
  PrepareProblem prepare;  ///< what its prepare chunks read of the layer (a layer that runs; until stats)
  std::once_flag prepare_ready;  ///< its nearest weight made (PrepareOf)
  OrderedGram gram;
  std::vector<std::pair<double, double>> chunk_errors;  ///< nearest rounding: (squared error, rows) per chunk
  Grid grid;
  GramForm form;
  SampledData sampled;
  double mse_nearest = 0;
  // Optimization.
  BlockProblem problem;  ///< what every block reads (made by stats)
  std::once_flag problem_saved;
  std::string problem_bytes;  ///< its bytes, made for the first block another process runs
  std::vector<ChannelBlock> blocks;
  std::vector<BlockResult> block_results;
  LayerResult result;
  // Timing.
  std::once_flag started;
  std::atomic<std::int64_t> prepare_ns{0}, optimize_ns{0};
  Clock::time_point start, last_report;
  std::vector<Clock::time_point> remote_start;  ///< per block, when it went to another process
  std::vector<Clock::time_point> remote_prepare_start;  ///< per chunk
};

Engine::Engine(const EngineOptions& options, std::shared_ptr<const model::Model> fp, const model::LayerGraph& layers,
               std::shared_ptr<const io::ActivationCache> cache, LayerStore& store, EngineCallbacks callbacks,
               EngineResources resources)
    : options_(options),
      fp_(std::move(fp)),
      graph_(layers),
      cache_(std::move(cache)),
      store_(store),
      callbacks_(std::move(callbacks)),
      resources_(std::move(resources)),
      memory_(std::make_unique<Memory>(resources_)) {
  // Layers whose weight the config does not quantize are left as they are, as `ignore`d ones.
  const quant::QuantsimConfigFile rules = options.Rules();
  for (const auto& layer : layers.layers)
    if (!rules.ParamQuantized(quant::OpTypesOf(layer), "weight") &&
        std::find(options_.ignore.begin(), options_.ignore.end(), layer.name) == options_.ignore.end())
      options_.ignore.push_back(layer.name);
  jobs_ = PlanJobs(layers, options_, [&](const model::Layer& layer) { return cache_->Shape(layer.name, "target"); });
  rounded_ = fp_->Clone();
  SetUpCaptureModel(rules);
  for (const auto& job : jobs_) {
    auto state = std::make_unique<Layer>();
    state->job = &job;
    state->layer = &layers.layers[job.layer];
    const std::string& name = state->layer->name;
    state->done = store_.IsDone(*state->layer);
    state->capture = !job.upstream.empty() || ReadsQuantizedParams(job.layer);
    state->error_pass = job.objective == Objective::kSampled || !state->layer->activation.none();
    // The sampled objective draws random samples: rows in RAM, or read from the cache file when they
    // exceed memory_budget.
    state->streamed = job.objective == Objective::kSampled &&
                      Bytes(cache_->Shape(name, "input")) + Bytes(cache_->Shape(name, "target")) >
                          resources_.memory_budget_bytes;
    const auto owner = fp_->Submodule(name);
    state->weight = owner.attr("weight").toTensor().detach();
    if (owner.hasattr("bias") && owner.attr("bias").isTensor()) state->bias = owner.attr("bias").toTensor().detach();
    if (!state->done) {
      state->encoding = quant::ComputeWeightEncoding(
          state->weight, rules.WeightGrid(quant::OpTypesOf(*state->layer), options.quant_scheme), job.bitwidth,
          state->layer->channel_axis());
      PrepareProblem& prepare = state->prepare;
      prepare.layer = *state->layer;
      prepare.weight = state->weight;
      prepare.gram = job.objective == Objective::kGram;
      prepare.cross = state->capture;
    }
    layers_.push_back(std::move(state));
  }
  samples_ = layers_.empty() ? 0 : cache_->Shape(layers_.front()->layer->name, "input").at(0);
  for (auto& state : layers_) {
    // The largest per-sample tensor a prepare task holds: the layer's input or output, or an upstream
    // layer's output on the way to x̂.
    auto per_sample = [&](const std::string& name, const char* which) {
      const auto shape = cache_->Shape(name, which);
      return Bytes(shape) / static_cast<double>(std::max<std::int64_t>(1, shape.at(0)));
    };
    double bytes = std::max(per_sample(state->layer->name, "input"), per_sample(state->layer->name, "target"));
    for (std::size_t up : state->job->upstream) bytes = std::max(bytes, per_sample(layers_[up]->layer->name, "target"));
    state->chunk = std::clamp<std::int64_t>(static_cast<std::int64_t>(kChunkBytes / bytes), 1, kMaxChunk);
  }
  // Who computes x̂ and who reads it, from the last layer back: a layer that runs reads its upstream
  // layers' x̂, and so does a finished one that must compute its own x̂ for a layer that runs.
  const auto ignored = IgnoredLayers(layers, options_);
  std::vector<bool> prepares(layers_.size(), false);
  for (std::size_t index = layers_.size(); index-- > 0;) {
    Layer& state = *layers_[index];
    int readers = state.done ? 0 : 1;
    for (std::size_t consumer : state.job->consumers) readers += prepares[consumer] ? 1 : 0;
    state.readers = readers;
    state.keep_rows = state.capture && readers > 0;
    prepares[index] = !state.done || state.keep_rows;
    to_finish_ += state.done ? 0 : 1;
    if (!state.keep_rows) continue;
    std::vector<std::size_t> boundary;
    for (std::size_t up : state.job->upstream) boundary.push_back(layers_[up]->job->layer);
    state.input_capture = std::make_unique<InputCapture>(capture_model_, layers, state.job->layer, boundary, ignored);
  }
  CheckCallbacks();
  AddTasks();
}

Engine::~Engine() = default;

void Engine::SetUpCaptureModel(const quant::QuantsimConfigFile& rules) {
  capture_model_ = fp_;
  if (options_.input_source != InputSource::kQuant) return;
  // AIMET's AdaRound quant-sim quantizes the other modules' parameters too (LayerNorm, Embedding,
  // PReLU, ...), at default_param_bw on the config's grids: x̂ runs through them quantized.
  auto quantized = fp_->Clone();
  for (const auto& [key, encoding] : quant::QuantizeModuleParams(*quantized, quant::FindModuleParams(*fp_, graph_), rules,
                                                                 options_.quant_scheme, options_.default_param_bw))
    quantized_params_.insert(key);
  if (!quantized_params_.empty()) capture_model_ = quantized;
}

bool Engine::ReadsQuantizedParams(std::size_t layer) const {
  if (quantized_params_.empty()) return false;
  // A first layer's x̂ is its cached input unless the ops from the model input read a quantized parameter.
  const InputCapture capture(capture_model_, graph_, layer, {}, IgnoredLayers(graph_, options_));
  for (const std::string& attribute : capture.attributes())
    if (quantized_params_.count(attribute)) return true;
  return false;
}

void Engine::CheckCallbacks() const {
  for (const auto& state : layers_) {
    const std::string& name = state->layer->name;
    if (!state->done && state->job->objective == Objective::kSampled && !callbacks_.layer_seed)
      throw std::logic_error("AdaRound engine: layer '" + name + "' has the sampled objective and no layer_seed was given");
    if (state->input_capture && state->input_capture->uses_model_input() && !callbacks_.calibration)
      throw std::logic_error("AdaRound engine: the x̂ of layer '" + name +
                             "' needs the model input and no calibration data set was given");
  }
}

std::size_t Engine::Add(std::string id, std::vector<std::size_t> after, std::function<void()> body) {
  tasks_.push_back(EngineTask{std::move(id), std::move(after), 1, std::move(body), nullptr});
  return tasks_.size() - 1;
}

void Engine::AddTasks() {
  std::vector<std::size_t> finish_task(layers_.size());
  for (std::size_t index = 0; index < layers_.size(); ++index) {
    Layer& state = *layers_[index];
    const std::string& name = state.layer->name;
    std::vector<std::size_t> upstream_finished;
    for (std::size_t up : state.job->upstream) upstream_finished.push_back(finish_task[up]);
    std::vector<std::size_t> prepared;
    if (!state.done || state.keep_rows) {
      const std::int64_t chunks = (samples_ + state.chunk - 1) / state.chunk;
      state.gram.Reset(static_cast<std::size_t>(chunks));
      state.chunk_errors.assign(static_cast<std::size_t>(chunks), {0.0, 0.0});
      state.remote_prepare_start.resize(static_cast<std::size_t>(chunks));
      for (std::int64_t chunk = 0; chunk < chunks; ++chunk) {
        prepared.push_back(Add("prepare/" + name + "/" + std::to_string(chunk), upstream_finished,
                               [this, &state, chunk] { Prepare(state, chunk); }));
        // A layer read back computes only x̂, which stays here.
        if (!state.done) tasks_.back().remote = RemotePrepare(state, chunk);
      }
    }
    // A layer read back whose x̂ nobody needs still waits for its upstream layers' rounded weights.
    std::vector<std::size_t> before_finish = prepared.empty() ? upstream_finished : prepared;
    if (!state.done) {
      const std::size_t stats = Add("stats/" + name, prepared, [this, &state] { Stats(state); });
      // Streamed rows are read once per step for the whole layer, not once per block.
      state.blocks = state.streamed ? SplitChannels(*state.layer, 1)
                                    : BlocksFor(*state.layer, state.job->objective, options_.blocks_per_layer);
      state.block_results.resize(state.blocks.size());
      state.remote_start.resize(state.blocks.size());
      before_finish.clear();
      for (std::size_t block = 0; block < state.blocks.size(); ++block) {
        before_finish.push_back(Add("optimize/" + name + "/" + std::to_string(block), {stats},
                                    [this, &state, block] { Optimize(state, block); }));
        // Rows streamed from a file stay with this process (one block reads them all).
        if (!state.streamed) tasks_.back().remote = RemoteOptimize(state, block);
      }
    }
    finish_task[index] = Add("finish/" + name, before_finish, [this, &state] { Finish(state); });
    if (!state.done) Add("close/" + name, {finish_task[index]}, [this, &state] { Close(state); });
  }
}

torch::Tensor Engine::InputRows(const Layer& layer, std::int64_t start, std::int64_t count) const {
  if (!layer.capture) return cache_->Read(layer.layer->name, "input", start, count);
  if (layer.xhat_on_disk) return memory_->scratch()->Read(layer.layer->name, "xhat", start, count);
  return layer.xhat.narrow(0, start, count);
}

void Engine::Prepare(Layer& state, std::int64_t chunk) {
  if (callbacks_.stop && callbacks_.stop->load()) throw Interrupted("AdaRound stopped");
  std::call_once(state.started, [&] { state.start = state.last_report = Clock::now(); });
  PhaseTimer timer(state.prepare_ns);
  torch::NoGradGuard no_grad;
  const model::Layer& layer = *state.layer;
  const std::int64_t start = chunk * state.chunk, count = std::min(state.chunk, samples_ - start);
  const torch::Tensor fp_input = cache_->Read(layer.name, "input", start, count);
  const torch::Tensor input = state.capture ? CaptureInput(state, start, count) : fp_input;
  if (state.done) return;
  Keep(state, chunk, PrepareChunk(PrepareOf(state), input, fp_input,
                                  [&] { return cache_->Read(layer.name, "target", start, count); }));
}

const PrepareProblem& Engine::PrepareOf(Layer& state) {
  // The nearest weight is made at the layer's first chunk, not with the engine: only the layers in
  // flight hold one.
  std::call_once(state.prepare_ready, [&] {
    if (!state.error_pass) return;
    state.prepare.nearest = quant::QuantizeDequantize(state.weight, state.encoding).to(state.weight.dtype());
    state.prepare.bias = state.bias;
  });
  return state.prepare;
}

void Engine::Keep(Layer& state, std::int64_t chunk, ChunkStats stats) {
  const auto index = static_cast<std::size_t>(chunk);
  if (stats.gram)
    state.gram.Add(index, std::move(stats.gram),
                   [&] { return GramAccumulator(*state.layer, state.weight, state.capture); });
  state.chunk_errors[index] = stats.error;
}

std::string Engine::RemoteKey(const Layer& state, const char* what) {
  static std::atomic<std::uint64_t> engines{0};
  std::call_once(remote_serial_once_, [&] { remote_serial_ = ++engines; });
  return "adaround#" + std::to_string(remote_serial_) + "/" + state.layer->name + what;
}

std::shared_ptr<const RemoteWork> Engine::RemotePrepare(Layer& state, std::int64_t chunk) {
  auto work = std::make_shared<RemoteWork>();
  work->kind = kRemotePrepareKind;
  work->context_key = RemoteKey(state, "#prepare");
  // Workers open the cache by this path: the run directory is shared, the working directory may not be.
  work->context = [this, &state, path = std::filesystem::absolute(cache_->path()).string()] {
    return SavePrepareProblem(PrepareOf(state), path);
  };
  work->request = [this, &state, chunk] {
    if (callbacks_.stop && callbacks_.stop->load()) throw Interrupted("AdaRound stopped");
    std::call_once(state.started, [&] { state.start = state.last_report = Clock::now(); });
    state.remote_prepare_start[static_cast<std::size_t>(chunk)] = Clock::now();
    const std::int64_t start = chunk * state.chunk, count = std::min(state.chunk, samples_ - start);
    // x̂ runs through the upstream layers' rounded weights, which only this process holds.
    torch::NoGradGuard no_grad;
    return SavePrepareRequest(start, count, state.capture ? CaptureInput(state, start, count) : torch::Tensor());
  };
  work->accept = [this, &state, chunk](const std::string& reply) {
    Keep(state, chunk, LoadChunkStats(reply, state.prepare));
    state.prepare_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(
                            Clock::now() - state.remote_prepare_start[static_cast<std::size_t>(chunk)])
                            .count();
  };
  return work;
}

torch::Tensor Engine::CaptureInput(Layer& state, std::int64_t start, std::int64_t count) {
  const model::Layer& layer = *state.layer;
  // x̂: the upstream layers' outputs with their rounded weights, through the ops between.
  std::vector<torch::Tensor> outputs;
  for (std::size_t up : state.job->upstream) {
    const Layer& upstream = *layers_[up];
    outputs.push_back(
        LayerForward(*upstream.layer, InputRows(upstream, start, count), upstream.result.weight, upstream.bias));
  }
  model::Inputs model_inputs;
  if (state.input_capture->uses_model_input()) {
    std::call_once(calibration_once_, [&] { calibration_ = callbacks_.calibration(); });
    model_inputs = calibration_->Slice(start, count).inputs;
  }
  const torch::Tensor input = state.input_capture->Run(outputs, model_inputs);
  std::call_once(state.allocate, [&] {
    std::vector<std::int64_t> shape = input.sizes().vec();
    shape[0] = samples_;
    state.xhat_bytes = Bytes(shape);
    if (memory_->Reserve(state.xhat_bytes)) {
      state.xhat = torch::empty(shape, torch::kFloat32);
      return;
    }
    // Over the budget: x̂ goes to the scratch file, written and read in chunks.
    memory_->Scratch().Create(layer.name, "xhat", shape, io::StoreDtype::kFloat32, "quant", layer.name);
    state.xhat_on_disk = true;
    if (callbacks_.note)
      callbacks_.note(false, layer.name + ": x̂ (" + MiB(state.xhat_bytes) +
                                 ") does not fit memory_budget beside what is held; kept in " + memory_->scratch_path());
  });
  if (state.xhat_on_disk) memory_->Scratch().WriteRows(layer.name, "xhat", start, input);
  else state.xhat.narrow(0, start, count).copy_(input);
  return input;
}

void Engine::Stats(Layer& state) {
  ReturnFreedMemory trim;  // after the layer's prepare tasks
  PhaseTimer timer(state.prepare_ns);
  torch::NoGradGuard no_grad;
  const model::Layer& layer = *state.layer;
  for (std::size_t up : state.job->upstream) Release(*layers_[up]);
  state.prepare = PrepareProblem();  // every chunk is in
  state.grid = MakeGrid(state.weight, state.encoding);
  if (state.job->objective == Objective::kGram) state.form = state.gram.Finish();
  else SampledRows(state);
  SetProblem(state);
  if (state.error_pass) {
    double error = 0, rows = 0;
    for (const auto& [chunk_error, chunk_rows] : state.chunk_errors) {
      error += chunk_error;
      rows += chunk_rows;
    }
    state.mse_nearest = error / rows;
  } else {
    const torch::Tensor nearest = quant::QuantizeDequantize(state.weight, state.encoding).to(state.weight.dtype());
    state.mse_nearest = GramError(state.form, layer, nearest, state.weight);
  }
}

void Engine::SampledRows(Layer& state) {
  const std::string& name = state.layer->name;
  if (state.streamed && callbacks_.note)
    callbacks_.note(false, name + ": " +
                               MiB(Bytes(cache_->Shape(name, "input")) + Bytes(cache_->Shape(name, "target"))) +
                               " of rows exceed memory_budget; streaming them from " + cache_->path());
  if (state.capture && state.xhat_on_disk) {
    // Every step reads random samples: x̂ comes back into RAM if the budget allows it now.
    if (memory_->Reserve(state.xhat_bytes)) {
      state.xhat = memory_->scratch()->Read(name, "xhat", 0, samples_);
      state.xhat_on_disk = false;
    } else if (callbacks_.note) {
      callbacks_.note(true, name + ": x̂ (" + MiB(state.xhat_bytes) + ") stays in " + memory_->scratch_path() +
                                ": each step reads its samples from disk (slow); a larger memory_budget keeps it in RAM");
    }
  }
  if (state.capture && state.xhat_on_disk) state.sampled.input = Rows(memory_->scratch(), name, "xhat");
  else if (state.capture) state.sampled.input = state.xhat;
  else if (state.streamed) state.sampled.input = Rows(cache_, name, "input");
  else state.sampled.input = cache_->Read(name, "input");
  state.sampled.target = state.streamed ? Rows(cache_, name, "target") : Rows(cache_->Read(name, "target"));
  state.sampled.denominator = LossDenominator(cache_->Shape(name, "target"));
}

void Engine::SetProblem(Layer& state) {
  const model::Layer& layer = *state.layer;
  BlockProblem& problem = state.problem;
  problem.layer = layer;
  problem.objective = state.job->objective;
  problem.weight = state.weight;
  problem.bias = state.bias;
  problem.grid = state.grid;
  Hyper& hyper = problem.hyper;
  hyper.num_iterations = state.job->iterations;
  hyper.reg_param = options_.reg_param;
  hyper.beta_start = options_.beta_range.at(0);
  hyper.beta_end = options_.beta_range.at(1);
  hyper.warm_start = options_.warm_start;
  hyper.learning_rate = options_.learning_rate;
  hyper.batch_size = options_.batch_size;
  hyper.positions_per_sample = options_.positions_per_sample;
  if (problem.objective == Objective::kGram) {
    problem.form = state.form;
    problem.loss_scale = LossScale(layer, cache_->Shape(layer.name, "input"));
  } else {
    problem.sampled = state.sampled;
    problem.seed = callbacks_.layer_seed(layer.name);
  }
}

BlockProgress Engine::Progress(Layer& state, std::size_t block) {
  if (block != 0 || !callbacks_.iteration) return nullptr;
  return [this, &state](int iteration, double loss) {
    if (SecondsSince(state.last_report) < kReportEvery) return;
    state.last_report = Clock::now();
    const int total = state.job->iterations;
    callbacks_.iteration(state.layer->name, iteration, total, loss,
                         SecondsSince(state.start) / iteration * (total - iteration));
  };
}

void Engine::Optimize(Layer& state, std::size_t block) {
  PhaseTimer timer(state.optimize_ns);
  state.block_results[block] = SolveBlock(state.problem, state.blocks[block], Progress(state, block), callbacks_.stop);
}

std::shared_ptr<const RemoteWork> Engine::RemoteOptimize(Layer& state, std::size_t block) {
  auto work = std::make_shared<RemoteWork>();
  work->kind = kRemoteBlockKind;
  work->context_key = RemoteKey(state, "");
  work->context = [&state] {
    std::call_once(state.problem_saved, [&] { state.problem_bytes = SaveBlockProblem(state.problem); });
    return state.problem_bytes;
  };
  work->request = [this, &state, block] {
    // The thread-seconds of a remote block are the wait for it: the time the layer's result depends on.
    state.remote_start[block] = Clock::now();
    return SaveBlockRequest(state.blocks[block], static_cast<bool>(Progress(state, block)));
  };
  work->accept = [&state, block](const std::string& reply) {
    state.block_results[block] = LoadBlockResult(reply);
    state.optimize_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - state.remote_start[block]).count();
  };
  work->progress = [this, &state, block](const std::string& message) {
    if (const BlockProgress progress = Progress(state, block)) {
      const auto [iteration, loss] = LoadBlockProgress(message);
      progress(iteration, loss);
    }
  };
  return work;
}

double Engine::ErrorPass(const Layer& state, const torch::Tensor& weight) const {
  torch::NoGradGuard no_grad;
  const model::Layer& layer = *state.layer;
  double error = 0, rows = 0;
  for (std::int64_t start = 0; start < samples_; start += state.chunk) {
    const std::int64_t count = std::min(state.chunk, samples_ - start);
    const auto [chunk_error, chunk_rows] = SquaredError(layer, InputRows(state, start, count), weight, state.bias,
                                                        cache_->Read(layer.name, "target", start, count));
    error += chunk_error;
    rows += chunk_rows;
  }
  return error / rows;
}

void Engine::Finish(Layer& state) {
  const model::Layer& layer = *state.layer;
  if (state.done) {
    state.result = store_.Read(layer);
    if (state.keep_rows)
      for (std::size_t up : state.job->upstream) Release(*layers_[up]);
  } else {
    state.problem_bytes = std::string();
    std::vector<torch::Tensor> parts;
    for (const auto& block : state.block_results) parts.push_back(block.weight);
    state.result.weight = torch::cat(parts).view(state.weight.sizes()).to(state.weight.dtype());
  }
  std::lock_guard<std::mutex> lock(rounded_mutex_);
  rounded_->Submodule(layer.name).setattr("weight", model::ForCompute(state.result.weight.to(state.weight.dtype())));
}

void Engine::Close(Layer& state) {
  ReturnFreedMemory trim;
  // Beside the consumers' prepare tasks: they need the rounded weight (Finish), not its error or files.
  const model::Layer& layer = *state.layer;
  const Clock::time_point close_start = Clock::now();
  const torch::Tensor& rounded = state.result.weight;
  const double mse_adaround =
      state.error_pass ? ErrorPass(state, rounded) : GramError(state.form, layer, rounded, state.weight);
  state.result.encoding = state.encoding;
  state.result.report = {layer.name,
                         layer.weight_shape,
                         state.job->bitwidth,
                         state.job->objective,
                         state.job->iterations,
                         state.mse_nearest,
                         mse_adaround,
                         SecondsSince(state.start),
                         static_cast<double>(state.prepare_ns.load()) * 1e-9,
                         static_cast<double>(state.optimize_ns.load()) * 1e-9,
                         SecondsSince(close_start),
                         state.job->step_macs};
  store_.Write(layer, state.result);
  // What only the optimization needed.
  state.block_results.clear();
  state.form = GramForm();
  state.sampled = SampledData();
  state.problem = BlockProblem();
  const int finished = ++finished_;
  const double elapsed = SecondsSince(start_);
  if (callbacks_.layer_done)
    callbacks_.layer_done(state.result.report, finished, to_finish_, elapsed,
                          elapsed / finished * (to_finish_ - finished));
  Release(state);
}

void Engine::Release(Layer& state) {
  if (--state.readers > 0) return;
  if (state.xhat.defined()) memory_->Free(state.xhat_bytes);
  state.xhat = torch::Tensor();
}

EngineResults Engine::Results() const {
  EngineResults results;
  results.rounded = rounded_;
  for (const auto& state : layers_) {
    results.encodings[state->layer->name] = state->result.encoding;
    results.layers.push_back(state->result.report);
  }
  return results;
}

void RunInOrder(const std::vector<EngineTask>& tasks) {
  for (std::size_t index = 0; index < tasks.size(); ++index) {
    for (std::size_t before : tasks[index].after)
      if (before >= index) throw std::logic_error("task '" + tasks[index].id + "' runs before one it depends on");
    // One task at a time: it has the process's BLAS pool to itself, and its share, as on an executor.
    SetIntraOpThreads(tasks[index].threads);
    SetBlasThreads(tasks[index].threads);
    tasks[index].body();
  }
}

}  // namespace adaflow::adaround
