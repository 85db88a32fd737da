#include "stages/adaround/adaround_stage.h"

#include "pipeline/pipeline_spec.h"
#include "src/io/activation_cache.h"
#include "src/io/aimet_encodings.h"
#include "stages/adaround/adaround_tasks.h"
#include "stages/artifacts.h"
#include "stages/data/data_types.h"
#include "stages/estimate.h"
#include "stages/stage_common.h"

namespace adaflow {

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
    s.Int("positions_per_sample", &O::positions_per_sample,
          "output positions per sample in a sampled step of an ungrouped 2-D convolution, at random; 0 = all (AIMET)")
        .Min(0);
    s.Enum("quant_scheme", &O::quant_scheme,
           {{"tf_enhanced", quant::Scheme::kTfEnhanced}, {"tf", quant::Scheme::kTf}},
           "how the weight grid is chosen");
    s.Bool("per_channel", &O::per_channel, "one grid per output channel");
    s.Bool("symmetric", &O::symmetric, "symmetric weight grid");
    s.Bool("strict_symmetric", &O::strict_symmetric, "symmetric grids with 2^b - 2 steps (AIMET's strict_symmetric)");
    s.Bool("unsigned_symmetric", &O::unsigned_symmetric,
           "symmetric grid [0, max] for an all-non-negative tensor or channel (AIMET's unsigned_symmetric)");
    s.Enum<adaround::InputSource>("input_source", &O::input_source,
           {{"quant", adaround::InputSource::kQuant}, {"fp", adaround::InputSource::kFp}},
           "layer inputs from the partly rounded model (quant, AIMET) or the FP model (fp)");
    s.Enum<adaround::Objective>("objective", &O::objective,
           {{"auto", adaround::Objective::kAuto},
            {"sampled", adaround::Objective::kSampled},
            {"gram", adaround::Objective::kGram}},
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
  const auto& upstream = inputs.Get<ModelArtifact>(port::kModel);
  const auto& layers = *inputs.Get<LayerGraphArtifact>(port::kLayerGraph).graph;
  const auto& cache = inputs.Get<ActivationCacheArtifact>(port::kActivationCache);
  // Every layer as tasks (adaround_tasks.h): x̂ in chunks, statistics, channel blocks, result files.
  // The calibration data is read only when an x̂ needs the model input.
  AdaroundTasks tasks(options_, upstream.fp, layers, std::make_shared<const io::ActivationCache>(cache.path, false),
                      cache.memory_budget_bytes, [&ctx] { return RunDataSet(ctx, "calibration"); }, ctx);
  TaskDag dag;
  tasks.AddTo(dag);
  ctx.RunTasks(dag);
  AdaroundResults results = tasks.Results();

  const std::string encodings_file = ctx.spec().name + "_adaround.encodings";
  ctx.WriteFile(encodings_file, io::ParamEncodingsJson(results.encodings));
  auto model_out = std::make_shared<RoundedModelArtifact>();
  model_out->fp = upstream.fp;
  model_out->rounded = results.rounded;
  auto encodings_out = std::make_shared<EncodingsArtifact>();
  encodings_out->params = std::move(results.encodings);
  auto metrics_out = std::make_shared<MetricsArtifact>();
  metrics_out->files.emplace_back(encodings_file,
                                  "AdaRound's weight encodings (AIMET 0.6.1 param_encodings, as apply_adaround "
                                  "writes them; quant_sim's param_encodings option reads them)");
  metrics_out->layers = std::move(results.layers);
  StageOutputs outputs;
  outputs.Set(port::kModel, model_out);
  outputs.Set(port::kEncodings, encodings_out);
  outputs.Set(port::kMetrics, metrics_out);
  return outputs;
}

std::string AdaroundStage::Estimate(const PipelineSpec& spec) const {
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

StageOutputs AdaroundStage::Restore(const StageInputs& inputs, StageContext& ctx) {
  // Every layer is recorded as finished, so this only reads their results back.
  return Run(inputs, ctx);
}

void AdaroundStage::CheckInput(const std::string& input, const Artifact& value) const {
  if (input != port::kLayerGraph) return;
  const auto& layers = *dynamic_cast<const LayerGraphArtifact&>(value).graph;
  layers.CheckNames(options_.ignore, "ignore");
  layers.CheckNames(options_.param_bw_override, "param_bw_override");
}

void RegisterAdaroundStage(StageRegistry& registry) {
  registry.Add(DefineStage<AdaroundStage>(
      "adaround", "learn the rounding of every weight, layer by layer (AdaRound)",
      {{port::kModel}, {port::kLayerGraph}, {port::kActivationCache}},
      {port::kModel, port::kEncodings, port::kMetrics}));
}

}  // namespace adaflow
