#include "stages/adaround/adaround_tasks.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>

#include <malloc.h>

#include "common/kill_point.h"
#include "common/process.h"
#include "pipeline/content_hash.h"
#include "pipeline/pipeline_spec.h"
#include "src/adaround/block_optimizer.h"
#include "src/adaround/input_capture.h"
#include "src/adaround/plan.h"
#include "stages/adaround/layer_result.h"

namespace adaflow {
namespace {

using Clock = std::chrono::steady_clock;

/// Samples per prepare task: at most 64, fewer where a sample's tensors are large (ImageNet-shape maps),
/// so that a task's tensors stay near kChunkBytes each. A function of the layer's shapes, so the chunks
/// (and the order their sums merge in) never depend on the thread count.
constexpr std::int64_t kMaxChunk = 64;
constexpr double kChunkBytes = 16.0 * 1024 * 1024;

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

std::string Duration(double seconds) {
  const int total = static_cast<int>(seconds + 0.5);
  if (total >= 3600) return std::to_string(total / 3600) + "h" + std::to_string(total % 3600 / 60) + "m";
  return total >= 60 ? std::to_string(total / 60) + "m" + std::to_string(total % 60) + "s" : std::to_string(total) + "s";
}

double Bytes(const std::vector<std::int64_t>& shape) {
  double count = 4.0;
  for (auto dim : shape) count *= static_cast<double>(dim);
  return count;
}

}  // namespace

struct AdaroundTasks::Work {
  const adaround::LayerJob* job = nullptr;
  const model::Layer* layer = nullptr;
  std::unique_ptr<SubTask> sub;
  bool done = false;
  bool capture = false;    ///< x̂ comes from upstream layers (quant mode, not a first layer)
  bool keep_rows = false;  ///< x̂ is computed: the layer runs, or a consumer that runs reads it
  bool error_pass = false;  ///< the errors need forward passes (an activation, or the sampled objective)
  bool streamed = false;    ///< the sampled objective reads its random rows from the cache file
  torch::Tensor weight, bias;
  quant::TensorEncoding encoding;
  std::unique_ptr<adaround::InputCapture> input_capture;
  std::once_flag allocate;
  torch::Tensor xhat;  ///< [N, …] x̂ while someone needs it, in RAM …
  bool xhat_on_disk = false;  ///< … or in the stage's scratch file, when RAM would exceed memory_budget
  double xhat_bytes = 0;
  std::vector<std::unique_ptr<adaround::GramAccumulator>> gram_parts;  ///< finished chunks not yet merged
  std::unique_ptr<adaround::GramAccumulator> gram_total;  ///< chunks [0, next_merge) merged, in order
  std::size_t next_merge = 0;
  std::mutex merge_mutex;
  std::vector<double> error_parts, row_parts;
  std::int64_t chunk = kMaxChunk;  ///< samples per prepare task
  adaround::Grid grid;
  adaround::GramForm form;
  adaround::SampledData sampled;
  std::vector<adaround::ChannelBlock> blocks;
  std::vector<adaround::BlockResult> block_results;
  double mse_nearest = 0;
  LayerResult result;
  std::atomic<int> readers{0};
  std::once_flag started;
  std::atomic<std::int64_t> prepare_ns{0}, optimize_ns{0};
  Clock::time_point start;
  Clock::time_point last_report;
};

struct AdaroundTasks::Shared {
  std::mutex mutex;
  double ram_bytes = 0;  ///< x̂ held in RAM now
  std::shared_ptr<io::ActivationCache> scratch;  ///< x̂ that did not fit, created on first need
  std::string scratch_path;
  std::once_flag calibration_once;
  std::shared_ptr<const data::Dataset> calibration;
  std::atomic<int> finished{0};
  int to_finish = 0;
  Clock::time_point start = Clock::now();
};

AdaroundTasks::AdaroundTasks(const AdaroundOptions& options, std::shared_ptr<const model::Model> fp,
                             const model::LayerGraph& layers, std::shared_ptr<const io::ActivationCache> cache,
                             double memory_budget_bytes, DatasetLoader calibration, StageContext& ctx)
    : options_(options),
      fp_(std::move(fp)),
      cache_(std::move(cache)),
      memory_budget_bytes_(memory_budget_bytes),
      load_calibration_(std::move(calibration)),
      ctx_(ctx),
      shared_(std::make_unique<Shared>()) {
  shared_->scratch_path = ctx.PathFor("adaround/xhat.h5.partial");
  std::error_code fs_error;
  std::filesystem::remove(shared_->scratch_path, fs_error);  // left by a killed run
  std::filesystem::create_directories(std::filesystem::path(shared_->scratch_path).parent_path(), fs_error);
  jobs_ = adaround::PlanJobs(layers, options, [&](const model::Layer& layer) {
    return cache_->Shape(layer.name, "target");
  });
  const auto ignored = adaround::IgnoredLayers(layers, options);
  rounded_ = fp_->Clone();
  for (const auto& job : jobs_) {
    auto work = std::make_unique<Work>();
    work->job = &job;
    work->layer = &layers.layers[job.layer];
    work->sub = std::make_unique<SubTask>(ctx.MakeSubTask(work->layer->name));
    work->done = work->sub->IsDone();
    work->capture = !job.upstream.empty();
    work->error_pass = job.objective == adaround::Objective::kSampled || !work->layer->activation.none();
    // The sampled objective draws random samples: rows in RAM, or read from the cache file when they
    // exceed memory_budget.
    work->streamed = job.objective == adaround::Objective::kSampled &&
                     Bytes(cache_->Shape(work->layer->name, "input")) +
                             Bytes(cache_->Shape(work->layer->name, "target")) >
                         memory_budget_bytes;
    const auto owner = fp_->Submodule(work->layer->name);
    work->weight = owner.attr("weight").toTensor().detach();
    if (owner.hasattr("bias") && owner.attr("bias").isTensor()) work->bias = owner.attr("bias").toTensor().detach();
    if (!work->done)
      work->encoding = quant::ComputeTensorEncoding(
          work->weight, options.quant_scheme,
          quant::GridSpec{job.bitwidth, options.symmetric, options.strict_symmetric, options.unsigned_symmetric},
          options.per_channel, work->layer->channel_axis());
    works_.push_back(std::move(work));
  }
  samples_ = works_.empty() ? 0 : cache_->Shape(works_.front()->layer->name, "input").at(0);
  for (auto& work : works_) {
    // The largest per-sample tensor a prepare task holds: the layer's input or output, or an upstream
    // layer's output on the way to x̂.
    auto per_sample = [&](const std::string& name, const char* which) {
      const auto shape = cache_->Shape(name, which);
      return Bytes(shape) / static_cast<double>(std::max<std::int64_t>(1, shape.at(0)));
    };
    double bytes = std::max(per_sample(work->layer->name, "input"), per_sample(work->layer->name, "target"));
    for (std::size_t up : work->job->upstream) bytes = std::max(bytes, per_sample(works_[up]->layer->name, "target"));
    work->chunk = std::clamp<std::int64_t>(static_cast<std::int64_t>(kChunkBytes / bytes), 1, kMaxChunk);
  }
  // Who computes x̂ and who reads it, from the last layer back: a layer that runs reads its upstream
  // layers' x̂, and so does a finished one that must compute its own x̂ for a layer that runs.
  std::vector<bool> prepares(works_.size(), false);
  for (std::size_t index = works_.size(); index-- > 0;) {
    Work& work = *works_[index];
    int readers = work.done ? 0 : 1;
    for (std::size_t consumer : work.job->consumers) readers += prepares[consumer] ? 1 : 0;
    work.readers = readers;
    work.keep_rows = work.capture && readers > 0;
    prepares[index] = !work.done || work.keep_rows;
    shared_->to_finish += work.done ? 0 : 1;
    if (!work.keep_rows) continue;
    std::vector<std::size_t> boundary;
    for (std::size_t up : work.job->upstream) boundary.push_back(works_[up]->job->layer);
    work.input_capture = std::make_unique<adaround::InputCapture>(fp_, layers, work.job->layer, boundary, ignored);
  }
  std::size_t done = 0;
  for (const auto& work : works_) done += work->done ? 1 : 0;
  ctx.log().info("{} layers ({} ignored, {} finished before), input_source {}, {} calibration samples", works_.size(),
                 options.ignore.size(), done,
                 options.input_source == adaround::InputSource::kQuant ? "quant" : "fp", samples_);
}

AdaroundTasks::~AdaroundTasks() {
  // The scratch file holds nothing a rerun could use.
  shared_->scratch.reset();
  std::error_code ignored;
  std::filesystem::remove(shared_->scratch_path, ignored);
}

void AdaroundTasks::AddTo(TaskDag& dag) {
  std::vector<std::size_t> finish_task(works_.size());
  for (std::size_t index = 0; index < works_.size(); ++index) {
    Work& work = *works_[index];
    const std::string& name = work.layer->name;
    const std::int64_t chunks = (samples_ + work.chunk - 1) / work.chunk;
    std::vector<std::size_t> prepared;
    if (!work.done || work.keep_rows) {
      work.gram_parts.resize(static_cast<std::size_t>(chunks));
      work.error_parts.assign(static_cast<std::size_t>(chunks), 0.0);
      work.row_parts.assign(static_cast<std::size_t>(chunks), 0.0);
      for (std::int64_t chunk = 0; chunk < chunks; ++chunk) {
        const std::size_t task = dag.Add("prepare/" + name + "/" + std::to_string(chunk),
                                         [this, &work, chunk] { Prepare(work, chunk); });
        for (std::size_t up : work.job->upstream) dag.Precede(finish_task[up], task);
        prepared.push_back(task);
      }
    }
    std::vector<std::size_t> before_finish = prepared;
    if (!work.done) {
      const std::size_t stats = dag.Add("stats/" + name, [this, &work] { Stats(work); });
      for (std::size_t task : prepared) dag.Precede(task, stats);
      // Streamed rows are read once per step for the whole layer, not once per block.
      work.blocks = work.streamed ? adaround::SplitChannels(*work.layer, 1)
                                  : adaround::BlocksFor(*work.layer, work.job->objective);
      work.block_results.resize(work.blocks.size());
      before_finish.clear();
      for (std::size_t block = 0; block < work.blocks.size(); ++block) {
        const std::size_t task = dag.Add("optimize/" + name + "/" + std::to_string(block),
                                         [this, &work, block] { Optimize(work, block); });
        dag.Precede(stats, task);
        before_finish.push_back(task);
      }
    }
    finish_task[index] = dag.Add("finish/" + name, [this, &work] { Finish(work); });
    for (std::size_t task : before_finish) dag.Precede(task, finish_task[index]);
    if (!work.done) dag.Precede(finish_task[index], dag.Add("close/" + name, [this, &work] { Close(work); }));
    for (std::size_t up : work.job->upstream)
      if (prepared.empty()) dag.Precede(finish_task[up], finish_task[index]);
  }
}

torch::Tensor AdaroundTasks::InputRows(const Work& work, std::int64_t start, std::int64_t count) const {
  if (!work.capture) return cache_->Read(work.layer->name, "input", start, count);
  if (work.xhat_on_disk) return shared_->scratch->Read(work.layer->name, "xhat", start, count);
  return work.xhat.narrow(0, start, count);
}

void AdaroundTasks::Prepare(Work& work, std::int64_t chunk) {
  if (ctx_.stop_requested()) throw Interrupted("AdaRound stopped");
  std::call_once(work.started, [&] { work.start = work.last_report = Clock::now(); });
  PhaseTimer timer(work.prepare_ns);
  torch::NoGradGuard no_grad;
  const model::Layer& layer = *work.layer;
  const std::int64_t start = chunk * work.chunk, count = std::min(work.chunk, samples_ - start);
  const torch::Tensor fp_input = cache_->Read(layer.name, "input", start, count);
  torch::Tensor input = fp_input;
  if (work.capture) {
    // x̂: the upstream layers' outputs with their rounded weights, through the ops between.
    std::vector<torch::Tensor> outputs;
    for (std::size_t up : work.job->upstream) {
      const Work& upstream = *works_[up];
      outputs.push_back(adaround::LayerForward(*upstream.layer, InputRows(upstream, start, count),
                                               upstream.result.weight, upstream.bias));
    }
    torch::Tensor model_input;
    if (work.input_capture->uses_model_input()) {
      std::call_once(shared_->calibration_once, [&] { shared_->calibration = load_calibration_(); });
      model_input = shared_->calibration->Slice(start, count).inputs;
    }
    input = work.input_capture->Run(outputs, model_input);
    std::call_once(work.allocate, [&] {
      std::vector<std::int64_t> shape = input.sizes().vec();
      shape[0] = samples_;
      work.xhat_bytes = Bytes(shape);
      std::lock_guard<std::mutex> lock(shared_->mutex);
      if (shared_->ram_bytes + work.xhat_bytes <= XhatLimit()) {
        shared_->ram_bytes += work.xhat_bytes;
        work.xhat = torch::empty(shape, torch::kFloat32);
        return;
      }
      // Over the budget: x̂ goes to a scratch file in the run directory, written and read in chunks.
      if (!shared_->scratch) shared_->scratch = std::make_shared<io::ActivationCache>(shared_->scratch_path, true);
      shared_->scratch->Create(layer.name, "xhat", shape, io::StoreDtype::kFloat32, "quant", work.sub->key());
      work.xhat_on_disk = true;
      ctx_.log().info("{}: x̂ ({:.0f} MiB) does not fit memory_budget beside what is held; kept in {}", layer.name,
                      work.xhat_bytes / 1048576.0, shared_->scratch_path);
    });
    if (work.xhat_on_disk) shared_->scratch->WriteRows(layer.name, "xhat", start, input);
    else work.xhat.narrow(0, start, count).copy_(input);
  }
  if (work.done) return;
  if (work.job->objective == adaround::Objective::kGram) {
    auto part = std::make_unique<adaround::GramAccumulator>(layer, work.weight, work.capture);
    part->Add(input, work.capture ? fp_input : torch::Tensor());
    // Merged as soon as every earlier chunk is: the order is fixed, and at most the chunks in flight
    // wait (a layer's Ĥ can be hundreds of MiB).
    std::lock_guard<std::mutex> lock(work.merge_mutex);
    work.gram_parts[static_cast<std::size_t>(chunk)] = std::move(part);
    while (work.next_merge < work.gram_parts.size() && work.gram_parts[work.next_merge]) {
      if (!work.gram_total)
        work.gram_total = std::make_unique<adaround::GramAccumulator>(layer, work.weight, work.capture);
      work.gram_total->Merge(*work.gram_parts[work.next_merge]);
      work.gram_parts[work.next_merge++].reset();
    }
  }
  if (work.error_pass) {
    const torch::Tensor nearest = quant::QuantizeDequantize(work.weight, work.encoding).to(work.weight.dtype());
    const torch::Tensor output = layer.activation.Apply(adaround::LayerForward(layer, input, nearest, work.bias));
    const torch::Tensor target = cache_->Read(layer.name, "target", start, count);
    const torch::Tensor squared = (output - target).pow(2).sum(layer.kind == model::LayerKind::kLinear ? -1 : 1);
    work.error_parts[static_cast<std::size_t>(chunk)] = squared.sum().item<double>();
    work.row_parts[static_cast<std::size_t>(chunk)] = static_cast<double>(squared.numel());
  }
}

void AdaroundTasks::Stats(Work& work) {
  ReturnFreedMemory trim;  // after the layer's prepare tasks
  PhaseTimer timer(work.prepare_ns);
  torch::NoGradGuard no_grad;
  const model::Layer& layer = *work.layer;
  for (std::size_t up : work.job->upstream) Release(*works_[up]);
  work.grid = adaround::MakeGrid(work.weight, work.encoding);
  const torch::Tensor nearest = quant::QuantizeDequantize(work.weight, work.encoding).to(work.weight.dtype());
  if (work.job->objective == adaround::Objective::kGram) {
    work.form = work.gram_total->Finish();
    work.gram_total.reset();
    work.gram_parts.clear();
  } else {
    const bool streamed = work.streamed;
    if (streamed)
      ctx_.log().info("{}: {:.0f} MiB of rows exceed memory_budget; streaming them from {}", layer.name,
                      (Bytes(cache_->Shape(layer.name, "input")) + Bytes(cache_->Shape(layer.name, "target"))) /
                          1048576.0,
                      cache_->path());
    if (work.capture && work.xhat_on_disk) {
      // Every step reads random samples: x̂ comes back into RAM if the budget allows it now.
      bool fits = false;
      {
        std::lock_guard<std::mutex> lock(shared_->mutex);
        fits = shared_->ram_bytes + work.xhat_bytes <= XhatLimit();
        if (fits) shared_->ram_bytes += work.xhat_bytes;
      }
      if (fits) {
        work.xhat = shared_->scratch->Read(layer.name, "xhat", 0, samples_);
        work.xhat_on_disk = false;
      } else {
        ctx_.log().warn("{}: x̂ ({:.0f} MiB) stays in {}: each step reads its samples from disk (slow); a larger "
                        "memory_budget keeps it in RAM",
                        layer.name, work.xhat_bytes / 1048576.0, shared_->scratch_path);
      }
    }
    if (work.capture && work.xhat_on_disk) work.sampled.input = adaround::Rows(shared_->scratch, layer.name, "xhat");
    else if (work.capture) work.sampled.input = work.xhat;
    else if (streamed) work.sampled.input = adaround::Rows(cache_, layer.name, "input");
    else work.sampled.input = cache_->Read(layer.name, "input");
    work.sampled.target =
        streamed ? adaround::Rows(cache_, layer.name, "target") : adaround::Rows(cache_->Read(layer.name, "target"));
    work.sampled.denominator = adaround::LossDenominator(cache_->Shape(layer.name, "target"));
  }
  if (work.error_pass) {
    double error = 0, rows = 0;
    for (std::size_t chunk = 0; chunk < work.error_parts.size(); ++chunk) {
      error += work.error_parts[chunk];
      rows += work.row_parts[chunk];
    }
    work.mse_nearest = error / rows;
  } else {
    work.mse_nearest = adaround::GramError(work.form, layer, nearest, work.weight);
  }
}

void AdaroundTasks::Optimize(Work& work, std::size_t block) {
  PhaseTimer timer(work.optimize_ns);
  const model::Layer& layer = *work.layer;
  KillPoint("optimize:" + layer.name);
  adaround::Hyper hyper;
  hyper.num_iterations = work.job->iterations;
  hyper.reg_param = options_.reg_param;
  hyper.beta_start = options_.beta_range[0];
  hyper.beta_end = options_.beta_range[1];
  hyper.warm_start = options_.warm_start;
  hyper.learning_rate = options_.learning_rate;
  hyper.batch_size = options_.batch_size;
  hyper.positions_per_sample = options_.positions_per_sample;
  adaround::BlockProgress progress;
  if (block == 0) {
    progress = [this, &work](int iteration, double loss) {
      if (SecondsSince(work.last_report) < 30.0) return;
      work.last_report = Clock::now();
      const double elapsed = SecondsSince(work.start);
      ctx_.log().info("{}: iteration {}/{}, loss {:.6g}, ETA {}", work.layer->name, iteration, work.job->iterations,
                      loss, Duration(elapsed / iteration * (work.job->iterations - iteration)));
    };
  }
  const adaround::ChannelBlock& channels = work.blocks[block];
  if (work.job->objective == adaround::Objective::kGram) {
    work.block_results[block] = adaround::OptimizeGramBlock(
        layer, channels, work.weight, work.grid, work.form,
        adaround::LossScale(layer, cache_->Shape(layer.name, "input")), hyper, progress, ctx_.stop_flag());
  } else {
    const std::uint64_t seed =
        ContentHasher().Field("seed", std::to_string(ctx_.spec().seed)).Field("layer", layer.name).Digest();
    work.block_results[block] = adaround::OptimizeSampledBlock(layer, channels, work.weight, work.bias, work.grid,
                                                               work.sampled, hyper, seed, progress, ctx_.stop_flag());
  }
}

double AdaroundTasks::ErrorPass(const Work& work, const torch::Tensor& weight) const {
  torch::NoGradGuard no_grad;
  const model::Layer& layer = *work.layer;
  double error = 0, rows = 0;
  for (std::int64_t start = 0; start < samples_; start += work.chunk) {
    const std::int64_t count = std::min(work.chunk, samples_ - start);
    const torch::Tensor output =
        layer.activation.Apply(adaround::LayerForward(layer, InputRows(work, start, count), weight, work.bias));
    const torch::Tensor squared = (output - cache_->Read(layer.name, "target", start, count))
                                      .pow(2)
                                      .sum(layer.kind == model::LayerKind::kLinear ? -1 : 1);
    error += squared.sum().item<double>();
    rows += static_cast<double>(squared.numel());
  }
  return error / rows;
}

void AdaroundTasks::Finish(Work& work) {
  const model::Layer& layer = *work.layer;
  if (work.done) {
    work.result = ReadLayerResult(*work.sub, layer);
    if (work.keep_rows)
      for (std::size_t up : work.job->upstream) Release(*works_[up]);
    ctx_.log().debug("{}: finished before, read back", layer.name);
  } else {
    std::vector<torch::Tensor> parts;
    for (const auto& block : work.block_results) parts.push_back(block.weight);
    work.result.weight = torch::cat(parts).view(work.weight.sizes()).to(work.weight.dtype());
  }
  std::lock_guard<std::mutex> lock(shared_->mutex);
  rounded_->Submodule(layer.name).setattr("weight", model::ForCompute(work.result.weight.to(work.weight.dtype())));
}

void AdaroundTasks::Close(Work& work) {
  ReturnFreedMemory trim;
  // Beside the consumers' prepare tasks: they need the rounded weight (Finish), not its error or files.
  const model::Layer& layer = *work.layer;
  const Clock::time_point close_start = Clock::now();
  const torch::Tensor& rounded = work.result.weight;
  const double mse_adaround =
      work.error_pass ? ErrorPass(work, rounded) : adaround::GramError(work.form, layer, rounded, work.weight);
  work.result.encoding = work.encoding;
  work.result.report = {layer.name,
                        layer.weight_shape,
                        work.job->bitwidth,
                        adaround::ObjectiveName(work.job->objective),
                        work.job->iterations,
                        work.mse_nearest,
                        mse_adaround,
                        SecondsSince(work.start),
                        static_cast<double>(work.prepare_ns.load()) * 1e-9,
                        static_cast<double>(work.optimize_ns.load()) * 1e-9,
                        SecondsSince(close_start),
                        work.job->step_macs};
  WriteLayerResult(*work.sub, layer, work.result);
  work.sub->Commit(work.result.report.seconds);
  // What only the optimization needed.
  work.block_results.clear();
  work.form = adaround::GramForm();
  work.sampled = adaround::SampledData();
  const LayerReport& report = work.result.report;
  ctx_.log().info("{}: W{}, {} iterations, {}, MSE {:.6g} -> {:.6g} (nearest -> AdaRound), {:.1f} s", layer.name,
                  report.bitwidth, report.iterations, report.objective, report.mse_nearest, report.mse_adaround,
                  report.seconds);
  ctx_.log().debug("{}: thread-seconds: {:.2f} x̂ and statistics, {:.2f} optimizer, {:.2f} finish", layer.name,
                   report.seconds_prepare, report.seconds_optimize, report.seconds_finish);
  const int finished = ++shared_->finished;
  const double elapsed = SecondsSince(shared_->start);
  ctx_.log().info("{}/{} layers done, {} elapsed, ETA {} (resident {:.0f} MiB, peak {:.0f} MiB)", finished,
                  shared_->to_finish, Duration(elapsed), Duration(elapsed / finished * (shared_->to_finish - finished)),
                  ResidentBytes() / 1048576.0, PeakResidentBytes() / 1048576.0);
  Release(work);
}

double AdaroundTasks::XhatLimit() const {
  // x̂ shares memory_budget with the prepare tasks' working tensors: about eight of ≤ kChunkBytes each
  // per thread (inputs, upstream outputs, patches, the error pass).
  return memory_budget_bytes_ - 8.0 * kChunkBytes * std::max(1, ctx_.threads());
}

void AdaroundTasks::Release(Work& work) {
  if (--work.readers > 0) return;
  std::lock_guard<std::mutex> lock(shared_->mutex);
  if (work.xhat.defined()) shared_->ram_bytes -= work.xhat_bytes;
  work.xhat = torch::Tensor();
}

AdaroundResults AdaroundTasks::Results() const {
  AdaroundResults results;
  results.rounded = rounded_;
  for (const auto& work : works_) {
    results.encodings[work->layer->name] = work->result.encoding;
    results.layers.push_back(work->result.report);
  }
  return results;
}

}  // namespace adaflow
