#include "stages/adaround/adaround_stage.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>

#include "pipeline/content_hash.h"
#include "pipeline/pipeline_spec.h"
#include "pipeline/run_store.h"
#include "pipeline/task_dag.h"
#include "src/adaround/adaround.h"
#include "src/io/activation_store.h"
#include "src/io/aimet_encodings.h"
#include "src/model/graph_capture.h"
#include "src/model/torch_runtime.h"
#include "stages/artifacts.h"
#include "stages/data/data_types.h"
#include "stages/encoding_json.h"
#include "stages/stage_common.h"

namespace adaflow {
namespace {

/// One layer to optimize.
struct Job {
  const model::Layer* layer = nullptr;
  int bits = 4;
  int iterations = 10000;
  std::vector<std::size_t> after;  ///< jobs whose rounding changes this layer's input (quant mode)
};

std::string WeightFile(const std::string& layer) { return "adaround/" + layer + ".weight"; }
std::string ResultFile(const std::string& layer) { return "adaround/" + layer + ".json"; }

std::string TensorBytes(const torch::Tensor& tensor) {
  const torch::Tensor data = tensor.detach().to(torch::kFloat32).contiguous();
  return std::string(reinterpret_cast<const char*>(data.data_ptr<float>()), static_cast<std::size_t>(data.numel()) * 4);
}

torch::Tensor ReadTensor(const std::string& path, const std::vector<std::int64_t>& shape) {
  std::ifstream in(path, std::ios::binary);
  torch::Tensor tensor = torch::empty(shape, torch::kFloat32);
  const std::streamsize bytes = static_cast<std::streamsize>(tensor.numel() * 4);
  in.read(reinterpret_cast<char*>(tensor.data_ptr<float>()), bytes);
  if (in.gcount() != bytes) throw InputError("'" + path + "' is damaged (short); rerun with --fresh");
  return tensor;
}

nlohmann::json TensorEncodingToJson(const quant::TensorEncoding& encoding) {
  nlohmann::json channels = nlohmann::json::array();
  for (const auto& enc : encoding.channels) channels.push_back(EncodingToJson(enc));
  return {{"axis", encoding.axis}, {"per_channel", encoding.axis_is_channel}, {"channels", channels}};
}

quant::TensorEncoding TensorEncodingFromJson(const nlohmann::json& json) {
  quant::TensorEncoding encoding;
  encoding.axis = json.at("axis").get<int>();
  encoding.axis_is_channel = json.at("per_channel").get<bool>();
  for (const auto& item : json.at("channels")) encoding.channels.push_back(EncodingFromJson(item));
  return encoding;
}

std::string Duration(double seconds) {
  const int total = static_cast<int>(seconds + 0.5);
  return total >= 60 ? std::to_string(total / 60) + "m" + std::to_string(total % 60) + "s" : std::to_string(total) + "s";
}

}  // namespace

const Schema<AdaroundOptions>& AdaroundStage::GetSchema() {
  static const Schema<AdaroundOptions> schema = [] {
    using O = AdaroundOptions;
    Schema<O> s("adaround");
    s.Int("default_param_bw", &O::default_param_bw, "weight bitwidth").Range(2, 16);
    s.Int("num_iterations", &O::num_iterations,
          "optimizer steps per layer; 0 = AIMET's default for the model: 15000 if any layer is below 8 bits, else 10000").Min(0);
    s.Float("reg_param", &O::reg_param, "rounding regulariser weight (lambda)").Min(0);
    s.FloatList("beta_range", &O::beta_range, "regulariser exponent [start, end], cosine-annealed").Size(2).Min(0);
    s.Float("warm_start", &O::warm_start, "fraction of iterations without the regulariser").Range(0, 1);
    s.Float("learning_rate", &O::learning_rate, "Adam learning rate").Min(0);
    s.Int("batch_size", &O::batch_size, "calibration samples per optimizer step").Min(1);
    s.Enum("quant_scheme", &O::quant_scheme,
           {{"tf_enhanced", quant::Scheme::kTfEnhanced}, {"tf", quant::Scheme::kTf}},
           "how the weight grid is chosen");
    s.Bool("per_channel", &O::per_channel, "one grid per output channel");
    s.Bool("symmetric", &O::symmetric, "symmetric weight grid");
    s.Bool("strict_symmetric", &O::strict_symmetric, "symmetric grids with 2^b - 2 steps (AIMET's strict_symmetric)");
    s.Bool("unsigned_symmetric", &O::unsigned_symmetric,
           "symmetric grid [0, max] for an all-non-negative tensor or channel (AIMET's unsigned_symmetric)");
    s.Enum("input_source", &O::input_source, {{"quant", InputSource::kQuant}, {"fp", InputSource::kFp}},
           "layer inputs from the partly rounded model (quant, AIMET) or the FP model (fp)");
    s.Enum("objective", &O::objective,
           {{"auto", Objective::kAuto}, {"sampled", Objective::kSampled}, {"gram", Objective::kGram}},
           "reconstruction loss: sampled rows, exact Gram form, or the cheaper per layer");
    s.StringIntMap("param_bw_override", &O::param_bw_override, "weight bitwidth per layer name").Range(2, 16);
    s.StringList("ignore", &O::ignore, "layers left at FP");
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> AdaroundStage::Make(const Options& options, const PipelineSpec& spec) {
  if (options.beta_range[0] < options.beta_range[1])
    throw InputError("'beta_range' must anneal downwards ([start, end] with start >= end), got [" +
                     FormatOptionValue(options.beta_range[0]) + ", " + FormatOptionValue(options.beta_range[1]) + "]");
  if (options.warm_start >= 1.0) throw InputError("'warm_start' must be below 1 (the regulariser would never start)");
  RequireData(spec, "calibration", "adaround");
  return std::make_unique<AdaroundStage>(options);
}

StageOutputs AdaroundStage::Run(const StageInputs& inputs, StageContext& ctx) {
  const auto& upstream = inputs.Get<ModelArtifact>(PortType::kModel);
  const auto& layers = *inputs.Get<LayerSetArtifact>(PortType::kLayerSet).layers;
  const auto& cache = inputs.Get<ActivationCacheArtifact>(PortType::kActivationCache);
  const bool quant_mode = options_.input_source == InputSource::kQuant;
  for (const auto& name : options_.ignore)
    if (!layers.Find(name))
      throw InputError("'ignore' names '" + name + "', which is not a quantizable layer" +
                       DidYouMean(name, layers.Names()) + " (adaflow inspect lists them)");
  for (const auto& [name, bits] : options_.param_bw_override)
    if (!layers.Find(name))
      throw InputError("'param_bw_override' names '" + name + "', which is not a quantizable layer" +
                       DidYouMean(name, layers.Names()) + " (adaflow inspect lists them)");

  // Jobs, and in quant mode the nearest non-ignored upstream layers of each (through ignored ones).
  const std::set<std::string> ignored(options_.ignore.begin(), options_.ignore.end());
  std::vector<Job> jobs;
  std::map<std::size_t, std::size_t> job_of_layer;
  for (std::size_t idx = 0; idx < layers.layers.size(); ++idx) {
    const model::Layer& layer = layers.layers[idx];
    if (ignored.count(layer.name)) continue;
    Job job;
    job.layer = &layer;
    auto override_it = options_.param_bw_override.find(layer.name);
    job.bits = override_it == options_.param_bw_override.end() ? options_.default_param_bw : override_it->second;
    job_of_layer[idx] = jobs.size();
    jobs.push_back(job);
  }
  // AIMET picks one count for the whole model, not one per layer.
  std::vector<int> bits;
  for (const auto& job : jobs) bits.push_back(job.bits);
  const int iterations = options_.num_iterations > 0 ? options_.num_iterations : adaround::DefaultIterations(bits);
  for (auto& job : jobs) job.iterations = iterations;
  if (quant_mode) {
    std::function<void(std::size_t, std::set<std::size_t>&)> collect = [&](std::size_t idx, std::set<std::size_t>& out) {
      for (std::size_t up : layers.layers[idx].upstream) {
        if (job_of_layer.count(up)) out.insert(job_of_layer[up]);
        else collect(up, out);
      }
    };
    for (auto& [idx, job_idx] : job_of_layer) {
      std::set<std::size_t> after;
      collect(idx, after);
      jobs[job_idx].after.assign(after.begin(), after.end());
    }
  }

  // Threads: at most `parallel` layers at once, each with budget/parallel intra-op threads.
  std::vector<int> depth(jobs.size(), 0);
  std::map<int, int> per_depth;
  for (std::size_t idx = 0; idx < jobs.size(); ++idx) {
    for (std::size_t up : jobs[idx].after) depth[idx] = std::max(depth[idx], depth[up] + 1);
    ++per_depth[depth[idx]];
  }
  int width = 1;
  for (const auto& [level, count] : per_depth) width = std::max(width, count);
  const int parallel = std::max(1, std::min(ctx.threads(), width));
  const int intra = std::max(1, ctx.threads() / parallel);
  ctx.log().info("{} layers ({} ignored), input_source {}, up to {} at once with {} thread(s) each", jobs.size(),
                 ignored.size(), quant_mode ? "quant" : "fp", parallel, intra);

  const auto store = std::make_shared<const io::ActivationStore>(cache.path, /*create=*/false);
  auto partial = upstream.fp->Clone();  // the model with every finished layer's rounded weight
  std::shared_mutex partial_mutex;
  std::mutex results_mutex;
  quant::ParamEncodings encodings;
  std::map<std::string, LayerReport> reports;
  // Loaded by the first layer that needs x̂: a resumed or restored stage whose layers are all done
  // reads no data at all.
  std::once_flag calibration_once;
  std::shared_ptr<const data::Dataset> calibration;
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> finished{0};

  auto run_layer = [&](const Job& job) {
    const model::Layer& layer = *job.layer;
    SubTask sub = ctx.MakeSubTask(layer.name);
    const std::string& key = sub.key();
    const auto owner = upstream.fp->Submodule(layer.name);
    const torch::Tensor weight = owner.attr("weight").toTensor().detach();
    const quant::TensorEncoding encoding = quant::ComputeTensorEncoding(
        weight, options_.quant_scheme, quant::GridSpec{job.bits, options_.symmetric, options_.strict_symmetric, options_.unsigned_symmetric}, options_.per_channel, layer.channel_axis());
    LayerReport report;
    torch::Tensor rounded;
    quant::TensorEncoding final_encoding = encoding;
    if (sub.IsDone()) {
      std::ifstream in(ctx.PathFor(ResultFile(layer.name)));
      const nlohmann::json json = nlohmann::json::parse(in);
      rounded = ReadTensor(ctx.PathFor(WeightFile(layer.name)), layer.weight_shape);
      final_encoding = TensorEncodingFromJson(json.at("encoding"));
      report = {layer.name, layer.weight_shape, job.bits, json.at("objective").get<std::string>(),
                json.at("iterations").get<int>(), json.at("mse_nearest").get<double>(),
                json.at("mse_adaround").get<double>(), json.at("seconds").get<double>()};
      ctx.log().debug("{}: finished before, resumed from {}", layer.name, WeightFile(layer.name));
    } else {
      adaround::LayerData data;
      data.layer = layer;
      data.weight = weight;
      if (owner.hasattr("bias") && owner.attr("bias").isTensor()) data.bias = owner.attr("bias").toTensor().detach();
      const bool needs_quant_input = quant_mode && !job.after.empty();
      auto row_bytes = [&](const char* name) {
        double count = 4.0;
        for (auto dim : store->Shape(layer.name, name)) count *= static_cast<double>(dim);
        return count;
      };
      const double bytes = row_bytes("input") * (needs_quant_input ? 2 : 1) + row_bytes("target");
      const bool streamed = bytes > cache.memory_budget_bytes;
      if (streamed) {
        ctx.log().info("{}: {:.0f} MiB of rows exceed memory_budget; streaming them from {}", layer.name,
                       bytes / 1048576.0, cache.path);
        data.target = adaround::Rows(store, layer.name, "target");
        data.input = adaround::Rows(store, layer.name, "input");
      } else {
        data.target = store->Read(layer.name, "target");
        data.input = store->Read(layer.name, "input");
      }
      if (needs_quant_input) {
        // x̂: this layer's input in the model whose upstream layers are already rounded (activations FP).
        std::call_once(calibration_once, [&] { calibration = LoadDataSet(ctx.spec(), "calibration"); });
        std::vector<torch::Tensor> parts;
        {
          std::shared_lock<std::shared_mutex> lock(partial_mutex);
          model::GraphCapture capture(partial, {layer.input});
          for (std::int64_t batch = 0; batch < calibration->num_batches(); ++batch)
            parts.push_back(capture.Run(calibration->GetBatch(batch).inputs)[0]);
        }
        data.fp_input = data.input;
        if (streamed) {
          // Cached too, next to the layer's results, and read back row by row like the FP rows.
          const std::string path = ctx.PathFor("adaround/" + layer.name + ".input.h5");
          std::filesystem::create_directories(std::filesystem::path(path).parent_path());
          {
            io::ActivationStore quant_store(path, /*create=*/true);
            quant_store.Write(layer.name, "input", torch::cat(parts), io::StoreDtype::kFloat32, "quant", key);
          }
          data.input = adaround::Rows(std::make_shared<const io::ActivationStore>(path, false), layer.name, "input");
        } else {
          data.input = torch::cat(parts);
        }
      }
      adaround::Objective objective = adaround::Objective::kSampled;
      if (options_.objective == Objective::kGram) {
        objective = adaround::Objective::kGram;
      } else if (options_.objective == Objective::kAuto && layer.activation.none() &&
                 adaround::GramSupported(layer) &&
                 adaround::GramStepCost(layer) < adaround::SampledStepCost(data, options_.batch_size)) {
        objective = adaround::Objective::kGram;
      }
      adaround::Hyper hyper;
      hyper.num_iterations = job.iterations;
      hyper.reg_param = options_.reg_param;
      hyper.beta_start = options_.beta_range[0];
      hyper.beta_end = options_.beta_range[1];
      hyper.warm_start = options_.warm_start;
      hyper.learning_rate = options_.learning_rate;
      hyper.batch_size = options_.batch_size;
      const std::uint64_t seed =
          ContentHasher().Field("seed", std::to_string(ctx.spec().seed)).Field("layer", layer.name).Digest();
      auto progress = [&](int iteration, double loss) {
        if (iteration % (adaround::kProgressEvery * 8) == 0)
          ctx.log().debug("{}: iteration {}/{}, loss {:.6g}", layer.name, iteration, job.iterations, loss);
      };
      const adaround::Result result =
          adaround::Optimize(data, encoding, hyper, objective, seed, progress, ctx.stop_flag());
      rounded = result.weight;
      report = {layer.name, layer.weight_shape, job.bits, adaround::ObjectiveName(result.objective), result.iterations,
                result.mse_nearest, result.mse_adaround, result.seconds};
      const nlohmann::json json = {{"layer", layer.name},         {"bits", job.bits},
                                   {"objective", report.objective}, {"iterations", report.iterations},
                                   {"mse_nearest", report.mse_nearest}, {"mse_adaround", report.mse_adaround},
                                   {"seconds", report.seconds},    {"encoding", TensorEncodingToJson(encoding)}};
      sub.WriteFile(WeightFile(layer.name), TensorBytes(rounded));
      sub.WriteFile(ResultFile(layer.name), json.dump(1) + "\n");
      sub.Commit(report.seconds);
      ctx.log().info("{}: W{}, {} iterations, {}, MSE {:.6g} -> {:.6g} (nearest -> AdaRound), {:.1f} s", layer.name,
                     job.bits, report.iterations, report.objective, report.mse_nearest, report.mse_adaround,
                     report.seconds);
    }
    {
      std::unique_lock<std::shared_mutex> lock(partial_mutex);
      partial->Submodule(layer.name).setattr("weight", rounded.to(weight.dtype()));
    }
    {
      std::lock_guard<std::mutex> lock(results_mutex);
      encodings[layer.name] = final_encoding;
      reports[layer.name] = report;
    }
    const int done = ++finished;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ctx.log().info("{}/{} layers done, {} elapsed, ETA {}", done, jobs.size(), Duration(elapsed),
                   Duration(elapsed / done * static_cast<double>(static_cast<int>(jobs.size()) - done)));
  };

  TaskDag dag;
  for (const auto& job : jobs) dag.Add(job.layer->name, [&run_layer, &job] { run_layer(job); }, intra);
  for (std::size_t idx = 0; idx < jobs.size(); ++idx)
    for (std::size_t up : jobs[idx].after) dag.Precede(up, idx);
  ctx.RunTasks(dag);

  ctx.WriteFile(ctx.spec().name + "_adaround.encodings", io::ParamEncodingsJson(encodings));
  auto model_out = std::make_shared<ModelArtifact>(upstream);
  model_out->rounded = partial;
  auto encodings_out = std::make_shared<EncodingsArtifact>();
  encodings_out->params = encodings;
  auto metrics_out = std::make_shared<MetricsArtifact>();
  metrics_out->files.emplace_back(ctx.spec().name + "_adaround.encodings",
                                  "AdaRound's weight encodings (AIMET 0.6.1 param_encodings, as apply_adaround "
                                  "writes them; quant_sim's param_encodings option reads them)");
  for (const auto& layer : layers.layers)
    if (reports.count(layer.name)) metrics_out->layers.push_back(reports[layer.name]);
  StageOutputs outputs;
  outputs.Set(PortType::kModel, model_out);
  outputs.Set(PortType::kEncodings, encodings_out);
  outputs.Set(PortType::kMetrics, metrics_out);
  return outputs;
}

StageOutputs AdaroundStage::Restore(const StageInputs& inputs, StageContext& ctx) {
  // Every layer is recorded as finished, so this only reads their results back.
  return Run(inputs, ctx);
}

void RegisterAdaroundStage(StageRegistry& registry) {
  registry.Add(DefineStage<AdaroundStage>(
      "adaround", "learn the rounding of every weight, layer by layer (AdaRound)",
      {{PortType::kModel}, {PortType::kLayerSet}, {PortType::kActivationCache}},
      {PortType::kModel, PortType::kEncodings, PortType::kMetrics}));
}

}  // namespace adaflow
