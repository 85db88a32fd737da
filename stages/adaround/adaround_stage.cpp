#include "stages/adaround/adaround_stage.h"

#include "pipeline/content_hash.h"
#include "pipeline/pipeline_spec.h"
#include "pipeline/stage_context.h"
#include "common/process.h"
#include "src/io/activation_cache.h"
#include "src/adaround/remote_block.h"
#include "src/adaround/remote_prepare.h"
#include "src/io/aimet_encodings.h"
#include "stages/adaround/layer_store.h"
#include "stages/artifacts.h"
#include "stages/data/data_types.h"
#include "stages/estimate.h"
#include "stages/stage_common.h"

namespace adaflow {
namespace {

constexpr const char* kType = "adaround";

std::string Duration(double seconds) {
  const int total = static_cast<int>(seconds + 0.5);
  if (total >= 3600) return std::to_string(total / 3600) + "h" + std::to_string(total % 3600 / 60) + "m";
  return total >= 60 ? std::to_string(total / 60) + "m" + std::to_string(total % 60) + "s" : std::to_string(total) + "s";
}

/// The engine's progress and notes as the stage's log lines; its data set and seeds from the run.
adaround::EngineCallbacks Callbacks(StageContext& ctx) {
  adaround::EngineCallbacks callbacks;
  callbacks.iteration = [&ctx](const std::string& layer, int iteration, int total, double loss, double eta) {
    ctx.log().info("{}: iteration {}/{}, loss {:.6g}, ETA {}", layer, iteration, total, loss, Duration(eta));
  };
  callbacks.layer_done = [&ctx](const adaround::LayerReport& report, int finished, int total, double elapsed,
                                double eta) {
    ctx.log().info("{}: W{}, {} iterations, {}, MSE {:.6g} -> {:.6g} (nearest -> AdaRound), {:.1f} s", report.name,
                   report.bitwidth, report.num_iterations, NameOf(adaround::kObjectiveNames, report.objective),
                   report.mse_nearest, report.mse_adaround, report.seconds);
    ctx.log().debug("{}: thread-seconds: {:.2f} x̂ and statistics, {:.2f} optimizer, {:.2f} finish", report.name,
                    report.seconds_prepare, report.seconds_optimize, report.seconds_finish);
    ctx.log().info("{}/{} layers done, {} elapsed, ETA {} (resident {:.0f} MiB, peak {:.0f} MiB)", finished, total,
                   Duration(elapsed), Duration(eta), ResidentBytes() / 1048576.0, PeakResidentBytes() / 1048576.0);
  };
  callbacks.note = [&ctx](bool warning, const std::string& message) {
    if (warning) ctx.log().warn("{}", message);
    else ctx.log().info("{}", message);
  };
  callbacks.calibration = [&ctx] { return RunDataSet(ctx, "calibration"); };
  const std::string seed = std::to_string(ctx.spec().seed);
  callbacks.layer_seed = [seed](const std::string& layer) {
    return ContentHasher().Field("seed", seed).Field("layer", layer).Digest();
  };
  callbacks.stop = ctx.stop_flag();
  return callbacks;
}

class AdaroundStage : public Stage {
 public:
  using Options = AdaroundOptions;

  static const Schema<Options>& GetSchema() {
    static const Schema<Options> schema = [] {
      using O = Options;
      Schema<O> s(kType);
      s.Int("default_param_bw", &O::default_param_bw, "weight bitwidth").Range(2, 16);
      s.Int("num_iterations", &O::num_iterations,
            "optimizer steps per layer; 0 = AIMET's default for the model: 15000 if any layer is below 8 bits, else 10000")
          .Min(0);
      s.Float("reg_param", &O::reg_param, "rounding regulariser weight (lambda)").Min(0);
      s.FloatList("beta_range", &O::beta_range, "regulariser exponent [start, end], cosine-annealed").Size(2).Min(0);
      s.Float("warm_start", &O::warm_start, "fraction of iterations without the regulariser").Range(0, 1);
      s.Float("learning_rate", &O::learning_rate, "Adam learning rate").Min(0);
      s.Int("batch_size", &O::batch_size, "calibration samples per optimizer step").Min(1);
      s.Int("positions_per_sample", &O::positions_per_sample,
            "output positions per sample in a sampled step of an ungrouped 2-D convolution, at random; 0 = all (AIMET)")
          .Min(0);
      AddWeightGridOptions(s, {quant::Scheme::kTfEnhanced, quant::Scheme::kTf});
      s.Path("default_config_file", &O::default_config_file,
             "AIMET quantsim config deciding each layer's weight grid and which weights are quantized (AIMET's "
             "default_config_file); empty = AIMET's default_config.json with the weight-grid options above");
      s.Enum<adaround::InputSource>("input_source", &O::input_source, adaround::kInputSourceNames,
                                    "layer inputs from the partly rounded model (quant, AIMET) or the FP model (fp)");
      s.Enum<adaround::Objective>("objective", &O::objective, adaround::kObjectiveNames,
                                  "reconstruction loss: sampled rows, exact Gram form, or the cheaper per layer");
      s.Int("blocks_per_layer", &O::blocks_per_layer,
            "blocks of output channels each layer's optimizer is split into, each a task for a thread or an MPI "
            "rank (>= 8 channels each); 0 = by the layer's size, 2-8 (best on one machine); more keeps more ranks "
            "busy on an input_source: quant chain (a sampled layer whose rows are read from disk stays one block). "
            "Thread and rank counts never change the result")
          .Range(0, 4096);
      s.StringIntMap("param_bw_override", &O::param_bw_override, "weight bitwidth per layer name").Range(2, 16);
      s.StringList("ignore", &O::ignore, "layers left at FP");
      return s;
    }();
    return schema;
  }

  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec&) {
    if (options.beta_range[0] < options.beta_range[1])
      throw InputError("'beta_range' must anneal downwards ([start, end] with start >= end), got [" +
                       FormatOptionValue(options.beta_range[0]) + ", " + FormatOptionValue(options.beta_range[1]) + "]");
    if (options.warm_start >= 1.0) throw InputError("'warm_start' must be below 1 (the regulariser would never start)");
    Options with_rules = options;
    with_rules.rules = ReadConfigOption(options.default_config_file, "default_config_file", options);
    return std::make_unique<AdaroundStage>(std::move(with_rules));
  }

  explicit AdaroundStage(Options options) : options_(std::move(options)) {}

  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override {
    const auto& upstream = inputs.Get<ModelArtifact>(port::kModel);
    const auto& layers = *inputs.Get<LayerGraphArtifact>(port::kLayerGraph).graph;
    const auto& cache = inputs.Get<ActivationCacheArtifact>(port::kActivationCache);
    SubTaskLayerStore store(ctx);
    adaround::Engine engine(options_, upstream.fp, layers, std::make_shared<const io::ActivationCache>(cache.path, false),
                            store, Callbacks(ctx),
                            {cache.memory_budget_bytes, ctx.PathFor("adaround/xhat.h5.partial"), ctx.threads()});
    ctx.log().info("{} layers ({} ignored, {} finished before), input_source {}, {} calibration samples",
                   engine.jobs().size(), options_.ignore.size(), engine.layers_done_before(),
                   NameOf(adaround::kInputSourceNames, options_.input_source), cache.samples);
    TaskDag dag = EngineDag(engine);
    ctx.RunTasks(dag);
    adaround::EngineResults results = engine.Results();

    const std::string encodings_file = ctx.spec().name + "_adaround.encodings";
    ctx.WriteFile(encodings_file, io::ParamEncodingsJson(results.encodings));
    auto model_out = std::make_shared<RoundedModelArtifact>();
    model_out->fp = upstream.fp;
    model_out->rounded = results.rounded;
    auto encodings_out = std::make_shared<EncodingsArtifact>();
    encodings_out->params = std::move(results.encodings);
    auto metrics_out = std::make_shared<MetricsArtifact>();
    metrics_out->files.emplace_back(ctx.folder() + encodings_file,
                                    "AdaRound's weight encodings (AIMET 0.6.1 param_encodings, as apply_adaround "
                                    "writes them; quant_sim's param_encodings option reads them)");
    metrics_out->layers = std::move(results.layers);
    StageOutputs outputs;
    outputs.Set(port::kModel, model_out);
    outputs.Set(port::kEncodings, encodings_out);
    outputs.Set(port::kMetrics, metrics_out);
    return outputs;
  }

  /// Every layer is recorded as finished, so this only reads their results back.
  StageOutputs Restore(const StageInputs& inputs, StageContext& ctx) override { return Run(inputs, ctx); }

  std::string Estimate(const PipelineSpec& spec) const override {
    const ModelShapes shapes = ProbeShapes(spec);
    double largest_input = 0, largest_gram = 0;
    std::string input_layer, gram_layer;
    for (const auto& layer : shapes.layers) {
      const double input = 4.0 * static_cast<double>(c10::multiply_integers(layer.input) * shapes.samples);
      const double depth = static_cast<double>(c10::multiply_integers(layer.weight) / layer.weight[0]);
      const double gram = 12.0 * depth * depth;  // float64 sums and the float32 copy
      if (input > largest_input) largest_input = input, input_layer = layer.name;
      if (gram > largest_gram && options_.objective != adaround::Objective::kSampled)
        largest_gram = gram, gram_layer = layer.name;
    }
    std::string text = "  adaround: x̂ up to " + FormatBytes(largest_input) + " per layer (" + input_layer +
                       "), in RAM while it fits the cache's memory_budget (less 128 MiB per thread for the working "
                       "tensors), else in adaround/xhat.h5.partial";
    if (!gram_layer.empty()) text += "; Gram statistics up to " + FormatBytes(largest_gram) + " (" + gram_layer + ")";
    return text + "; peak RAM about memory_budget + the model + up to 1 GiB (libraries, statistics, sampled rows)\n";
  }

  /// `ignore` and `param_bw_override` name layers of the prepared model: checked when prepare is done.
  void CheckInput(const std::string& input, const Artifact& value) const override {
    if (input != port::kLayerGraph) return;
    const auto& layers = *dynamic_cast<const LayerGraphArtifact&>(value).graph;
    layers.CheckNames(options_.ignore, "ignore");
    layers.CheckNames(options_.param_bw_override, "param_bw_override");
  }

 private:
  Options options_;
};

}  // namespace

void RegisterAdaroundStage(StageRegistry& registry) {
  registry.Add(DefineStage<AdaroundStage>(kType, "learn the rounding of every weight, layer by layer (AdaRound)",
                                          {{port::kModel}, {port::kLayerGraph}, {port::kActivationCache}},
                                          {port::kModel, port::kEncodings, port::kMetrics},
                                          std::vector<DataSetUse>{{"calibration"}}));
  // What worker processes (mpirun) run: a chunk of a layer's statistics, a block of its output channels.
  registry.remote_handlers().Define(adaround::kRemotePrepareKind, adaround::PrepareHandler());
  registry.remote_handlers().Define(adaround::kRemoteBlockKind, adaround::BlockHandler());
}

}  // namespace adaflow
