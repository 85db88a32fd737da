#pragma once
// The AdaRound engine: every layer's work as a graph of tasks, handed to the caller as data (id,
// dependencies, thread share, body) for whatever runs them — the run's executor in the adaround stage
// (stages/adaround/), RunInOrder in tests and benchmarks. There is one engine: the stage, the tests and
// the benchmarks run the same code.
//
//   for every layer L that AdaRound rounds:
//
//     finish/U (every layer U upstream of L, quant mode)
//        │
//        ▼
//     prepare/L/c0 … prepare/L/cK ──► stats/L ──► optimize/L/b0 … optimize/L/bB ──► finish/L ──► close/L
//
//   prepare   one chunk of calibration samples: x̂ from the upstream layers' rounded outputs through the
//             ops between (input_capture.h; quant mode), then its Gram statistics (merged in chunk order)
//             or its round-to-nearest error
//   stats     the grid; the Gram form or the sampled rows; the nearest MSE
//   optimize  one block of output channels (block_optimizer.h)
//   finish    the rounded weight into the output model: all a consumer's prepare tasks wait for. A layer
//             the store holds is read back here instead
//   close     the AdaRound MSE, the layer's result into the store, progress with ETA; frees x̂ once every
//             consumer has read it
//
// Chunks and blocks are fixed by the data and the layer, never by the thread count or the schedule, and
// a layer's sampled seed comes from its name: the result is the same with any number of threads and
// in any order the dependencies allow. A finished layer's x̂ is computed only when a layer after it
// still has to run.
//
// Prepare and optimize tasks can also run in another process (EngineTask::remote; MPI ranks): a
// prepare chunk's statistics from its x̂ (computed here, where the upstream layers' rounded weights and
// x̂ are, and sent with the request) and the FP rows the worker reads from the activation cache
// (remote_prepare.h); a block from the layer's statistics, sent once per worker (remote_block.h). Both
// compute what the local body computes, from the same values: the bytes do not depend on where tasks ran.

#include <torch/script.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/remote.h"
#include "src/adaround/block_optimizer.h"
#include "src/adaround/layer_report.h"
#include "src/adaround/plan.h"
#include "src/adaround/remote_prepare.h"
#include "src/data/dataset.h"
#include "src/io/activation_cache.h"
#include "src/model/layers.h"
#include "src/quant/quant_sim.h"
#include "src/quant/quantsim_config.h"

namespace adaflow::adaround {

/// What the engine computes for one layer.
struct LayerResult {
  torch::Tensor weight;  ///< hard-rounded: exactly on the grid of `encoding`
  quant::TensorEncoding encoding;
  LayerReport report;
};

/// Where finished layers are kept, so that a rerun reads them back instead of computing them again.
class LayerStore {
 public:
  virtual ~LayerStore() = default;
  /// Called by the Engine's constructor, on its thread, once per layer it rounds.
  virtual bool IsDone(const model::Layer& layer) = 0;
  /// Called from the layer's finish task (any worker thread; other layers side by side) for a layer
  /// IsDone said was done. Throws InputError naming the file when it is damaged.
  virtual LayerResult Read(const model::Layer& layer) = 0;
  /// Called from the layer's close task (any worker thread; other layers side by side), once per layer
  /// that ran. When it returns, the layer is done for a later IsDone.
  virtual void Write(const model::Layer& layer, const LayerResult& result) = 0;
};

/// A LayerStore in memory (one engine run, no resume across processes: tests and benchmarks).
class MemoryLayerStore final : public LayerStore {
 public:
  bool IsDone(const model::Layer& layer) override;
  LayerResult Read(const model::Layer& layer) override;
  void Write(const model::Layer& layer, const LayerResult& result) override;

 private:
  std::mutex mutex_;
  std::map<std::string, LayerResult> results_;
};

/// The options of the `adaround` stage, as AIMET names them: the planning options (bitwidths, ignore,
/// iterations, objective, input source, batch size, positions per sample), the weight grid, and the
/// optimizer's hyper-parameters. Defaults: AIMET's (adaround_weight.py, AdaroundParameters).
struct EngineOptions : PlanOptions, quant::WeightGridOptions {
  double reg_param = 0.01;
  std::vector<double> beta_range = {20.0, 2.0};
  double warm_start = 0.2;
  double learning_rate = 0.001;
  /// Blocks of output channels per layer (each a task, for a thread or an MPI rank); 0: by the layer's
  /// size (BlocksFor). The split, not the thread or rank count, decides the bytes.
  int blocks_per_layer = 0;
  /// AIMET's quantsim config for the weight grids (AIMET's default_config_file); "" = the built-in default
  /// with the WeightGridOptions above as its defaults.
  std::string default_config_file;
  /// The config `default_config_file` holds, read by the caller (the stage, at plan time); nullopt = the
  /// built-in default. It decides each layer's grid (per channel, symmetric, strict, unsigned) by the
  /// layer's op type, and a layer whose weight it leaves unquantized is not rounded (as `ignore`).
  std::optional<quant::QuantsimConfigFile> rules;

  quant::QuantsimConfigFile Rules() const { return rules ? *rules : quant::DefaultQuantsimConfig(*this); }
};

/// How the engine reaches its caller. Every callback may be called from any worker thread, several at
/// a time (for different layers); each must be thread-safe.
struct EngineCallbacks {
  /// A layer's optimizer at `iteration` of `num_iterations` (at most every 30 s per layer), its loss and
  /// the seconds it still needs.
  std::function<void(const std::string& layer, int iteration, int num_iterations, double loss, double eta_seconds)>
      iteration;
  /// A layer finished: its report, `finished` of `total` layers to run, seconds since the engine
  /// started and the seconds it still needs.
  std::function<void(const LayerReport& report, int finished, int total, double elapsed, double eta_seconds)>
      layer_done;
  /// What a user should know (where x̂ and rows are kept); `warning` for what slows the run down.
  std::function<void(bool warning, const std::string& message)> note;
  /// The calibration data set, read only when an x̂ needs the model input (a residual from it). Required
  /// when one does (the constructor checks).
  std::function<std::shared_ptr<const data::Dataset>()> calibration;
  /// The seed of a layer's sampled objective (the same samples for every block of the layer). Required
  /// when a layer that runs has the sampled objective (the constructor checks).
  std::function<std::uint64_t(const std::string& layer)> layer_seed;
  /// Set to stop: optimizer loops and unstarted prepare tasks throw Interrupted.
  const std::atomic<bool>* stop = nullptr;
};

/// Where the engine may keep what does not fit in memory, and how much memory it has.
struct EngineResources {
  /// Bytes of activations (the cache's memory_budget): x̂ is held in RAM while all x̂ held fits it (less
  /// the working tensors of `threads` prepare tasks), and a sampled layer's rows while they fit it.
  double memory_budget_bytes = 1024.0 * 1024.0 * 1024.0;
  /// The scratch file for x̂ that does not fit (deleted when the engine is constructed and destroyed).
  std::string scratch_path;
  /// Threads that may run prepare tasks at once (for the memory they need beside x̂).
  int threads = 1;
};

/// One piece of the engine's work. `after` lists indices of earlier tasks: a task list is in an order
/// its dependencies allow, so running the tasks one by one in list order is valid.
struct EngineTask {
  std::string id;                  ///< "prepare/<layer>/<chunk>", "stats/<layer>", …
  std::vector<std::size_t> after;
  int threads = 1;                 ///< the body's intra-op threads
  std::function<void()> body;
  /// How another process can run it instead (optimize tasks: the block as bytes, remote_block.h); null:
  /// only here. Both give the same bytes.
  std::shared_ptr<const RemoteWork> remote;
};

struct EngineResults {
  std::shared_ptr<model::Model> rounded;  ///< the FP model with every rounded weight in place
  quant::ParamEncodings encodings;
  std::vector<LayerReport> layers;        ///< in graph order
};

class Engine {
 public:
  /// Plans the layers (InputError for a layer name in `ignore` or `param_bw_override` that the graph
  /// lacks), asks `store` which are done and builds the task graph. `cache` holds every layer's FP
  /// input and target (io::ActivationCache, as cache_activations writes it).
  Engine(const EngineOptions& options, std::shared_ptr<const model::Model> fp, const model::LayerGraph& layers,
         std::shared_ptr<const io::ActivationCache> cache, LayerStore& store, EngineCallbacks callbacks,
         EngineResources resources);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Every task, in an order the dependencies allow. Their bodies refer to the engine: it must outlive
  /// the run of its tasks.
  const std::vector<EngineTask>& tasks() const { return tasks_; }
  /// The planned layers (their bitwidth, objective and iterations), in graph order.
  const std::vector<LayerJob>& jobs() const { return jobs_; }
  /// How many of them the store held when the engine was made.
  int layers_done_before() const { return static_cast<int>(jobs_.size()) - to_finish_; }
  /// After every task ran.
  EngineResults Results() const;

 private:
  struct Layer;
  class Memory;
  /// std::logic_error when a callback the planned layers need is missing.
  void CheckCallbacks() const;
  /// capture_model_ and quantized_params_ (see there).
  void SetUpCaptureModel(const quant::QuantsimConfigFile& rules);
  /// Whether layer `layer`'s input, from the model input, passes through a parameter quantized in
  /// capture_model_ (then its x̂ is computed, not read from the cache).
  bool ReadsQuantizedParams(std::size_t layer) const;
  void AddTasks();
  std::size_t Add(std::string id, std::vector<std::size_t> after, std::function<void()> body);
  void Prepare(Layer& layer, std::int64_t chunk);
  torch::Tensor CaptureInput(Layer& layer, std::int64_t start, std::int64_t count);
  void Stats(Layer& layer);
  void SampledRows(Layer& layer);
  /// The layer's BlockProblem, after its statistics.
  void SetProblem(Layer& layer);
  /// Block 0 reports the layer's progress; null for the others.
  BlockProgress Progress(Layer& layer, std::size_t block);
  void Optimize(Layer& layer, std::size_t block);
  std::shared_ptr<const RemoteWork> RemoteOptimize(Layer& layer, std::size_t block);
  /// What the layer's prepare chunks read (its nearest weight made at the first call).
  const PrepareProblem& PrepareOf(Layer& layer);
  /// A chunk's statistics, computed here or by another process, into the layer's sums.
  void Keep(Layer& layer, std::int64_t chunk, ChunkStats stats);
  std::shared_ptr<const RemoteWork> RemotePrepare(Layer& layer, std::int64_t chunk);
  /// The key of a layer's context on workers: unique per engine in this process.
  std::string RemoteKey(const Layer& layer, const char* what);
  void Finish(Layer& layer);
  void Close(Layer& layer);
  void Release(Layer& layer);
  torch::Tensor InputRows(const Layer& layer, std::int64_t start, std::int64_t count) const;
  double ErrorPass(const Layer& layer, const torch::Tensor& weight) const;

  EngineOptions options_;
  std::shared_ptr<const model::Model> fp_;
  /// The model x̂ runs through: fp_ with the other modules' parameters quantized as AIMET's AdaRound
  /// quant-sim has them (module_params.h); fp_ itself when there are none (or in fp mode).
  std::shared_ptr<const model::Model> capture_model_;
  std::set<std::string> quantized_params_;  ///< their keys
  const model::LayerGraph& graph_;
  std::shared_ptr<const io::ActivationCache> cache_;
  LayerStore& store_;
  EngineCallbacks callbacks_;
  EngineResources resources_;
  std::int64_t samples_ = 0;
  std::vector<LayerJob> jobs_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::shared_ptr<model::Model> rounded_;
  std::mutex rounded_mutex_;  ///< module attribute writes
  std::unique_ptr<Memory> memory_;
  std::once_flag calibration_once_;
  std::shared_ptr<const data::Dataset> calibration_;
  std::atomic<int> finished_{0};
  int to_finish_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::vector<EngineTask> tasks_;
  std::once_flag remote_serial_once_;
  std::uint64_t remote_serial_ = 0;  ///< this engine's number in the process (keys of its remote contexts)
};

/// Runs `tasks` one after another in list order, on the calling thread, each with its thread share (tests,
/// one-thread benchmarks).
void RunInOrder(const std::vector<EngineTask>& tasks);

}  // namespace adaflow::adaround
