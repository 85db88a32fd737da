#include "stages/export/export_stage.h"

#include <algorithm>
#include <functional>
#include <sstream>

#include "pipeline/stage_context.h"
#include "pipeline/pipeline_spec.h"
#include "src/io/aimet_encodings.h"
#include "src/io/onnx/onnx_export.h"
#include "stages/artifacts.h"
#include "stages/data/data_types.h"
#include "stages/evaluation_tasks.h"
#include "stages/metrics_json.h"
#include "stages/stage_common.h"

namespace adaflow {
namespace {

constexpr const char* kMetricsFile = "export_metrics.json";

/// AIMET's name of a scheme in `quantizer_args` (QuantScheme.post_training_tf_enhanced, …).
std::string QuantSchemeName(quant::Scheme scheme) {
  return std::string("post_training_") + NameOf(quant::kSchemeNames, scheme);
}

/// What gets exported: the model with every quantized weight on its grid, and its encodings.
struct Exported {
  std::shared_ptr<const model::Model> model;
  std::string variant;
  io::ModelEncodings encodings;
  std::shared_ptr<const quant::QuantSim> sim;  ///< when the model is a quant-sim's
};

Exported Collect(const StageInputs& inputs, spdlog::logger& log) {
  const auto quant_sim = inputs.As<QuantSimArtifact>(port::kModel);
  const auto rounded = inputs.As<RoundedModelArtifact>(port::kModel);
  Exported out;
  if (quant_sim) {
    const quant::QuantSim& sim = *quant_sim->sim;
    out.sim = quant_sim->sim;
    out.model = sim.weights_model();
    out.variant = NameOf(kSimWeightsNames, quant_sim->weights);
    out.encodings.params = sim.param_encodings();
    out.encodings.module_params = sim.module_param_encodings();
    if (sim.calibrated()) {
      for (const auto& quantizer : sim.quantizers()) {
        out.encodings.activations.emplace_back(quantizer.name, quantizer.encoding);
        out.encodings.activation_modules.emplace_back(quantizer.module, quantizer.module_input);
      }
    } else if (sim.config().output_bw < 32) {
      log.warn("the quant-sim is not calibrated (no calibrate stage upstream): activation encodings are not exported");
    }
    out.encodings.args.activation_bitwidth = sim.config().output_bw;
    out.encodings.args.param_bitwidth = sim.config().param_bw;
    // The defaults of the quantsim config in force (a config file's, or the built-in one's).
    const quant::QuantsimConfigFile rules = sim.config().Rules();
    out.encodings.args.param_symmetric = rules.default_params.is_symmetric.value_or(false);
    out.encodings.args.per_channel = rules.per_channel_quantization.value_or(false);
    out.encodings.args.quant_scheme = QuantSchemeName(quant_sim->calibration_scheme);
  } else if (rounded && inputs.Has(port::kEncodings)) {
    out.model = rounded->rounded;
    out.variant = "adaround";
    out.encodings.params = inputs.Get<EncodingsArtifact>(port::kEncodings).params;
    out.encodings.args.activation_bitwidth = 32;
    if (!out.encodings.params.empty()) {
      const quant::TensorEncoding& first = out.encodings.params.begin()->second;
      out.encodings.args.param_bitwidth = first.channels.at(0).bitwidth;
      out.encodings.args.param_symmetric = first.channels.at(0).symmetric;
      out.encodings.args.per_channel = first.axis_is_channel;
    }
  } else {
    throw InputError("export needs a quantized model upstream: an adaround stage, or a quant_sim stage "
                     "(then calibrate, for activation encodings)");
  }
  if (const auto graph = inputs.As<LayerGraphArtifact>(port::kLayerGraph))
    for (const auto& layer : graph->graph->layers)
      if (!out.encodings.params.count(layer.name)) out.encodings.excluded_layers.push_back(layer.name);
  return out;
}

std::string ModelFileName(const std::string& variant) { return "model_" + variant + ".pt"; }

/// What each exported file holds, for the run report.
std::string Describe(const std::string& file, const std::string& name) {
  if (file == name + ".encodings") return "AIMET encodings, version 0.6.1: activations and weights";
  if (file == name + "_v1.0.0.encodings") return "AIMET encodings, version 1.0.0: activations and weights";
  if (file == name + "_torch.encodings")
    return "AIMET encodings keyed by module (the torch layout): the activations as module inputs and outputs";
  if (file == name + ".onnx")
    return "ONNX model (opset 13), every quantized weight on its grid, float activations; the encodings name its tensors";
  if (file == name + "_qdq.onnx")
    return "ONNX model with QuantizeLinear/DequantizeLinear on the quantized weights and activations (opset 13; "
           "opset 21 with 4-bit weights stored as INT4)";
  return "TorchScript model, every quantized weight on its grid (float activations); load with torch.jit.load "
         "or torch::jit::load";
}

constexpr const char* kType = "export";

class ExportStage : public Stage {
 public:
  using Options = ExportOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit ExportStage(Options options) : options_(std::move(options)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  StageOutputs Restore(const StageInputs& inputs, StageContext& ctx) override;

 private:
  /// Writes a file of the stage and lists it in the report.
  using FileWriter = std::function<void(const std::string& file, const std::string& bytes)>;
  bool Has(ExportFormat format) const;
  /// The float and QDQ ONNX files, then the encodings keyed by their tensors and `_torch.encodings`.
  void WriteOnnx(const StageInputs& inputs, StageContext& ctx, Exported& exported, const FileWriter& write) const;
  /// The TorchScript file, re-loaded and evaluated as a user gets it (the `exported` variant).
  void WriteTorchScript(const StageInputs& inputs, StageContext& ctx, const Exported& exported,
                        const FileWriter& write, MetricsArtifact& metrics) const;

  Options options_;
};

}  // namespace

const Schema<ExportOptions>& ExportStage::GetSchema() {
  static const Schema<ExportOptions> schema = [] {
    Schema<ExportOptions> s(kType);
    s.EnumList("formats", &ExportOptions::formats,
               kExportFormatNames,
               "output formats");
    s.Bool("evaluate", &ExportOptions::evaluate,
           "re-load the saved TorchScript model and evaluate it on data: evaluation (when configured)");
    s.Bool("int4_weights", &ExportOptions::int4_weights,
           "onnx_qdq: store weights of 4 bits or fewer as INT4 / UINT4 (opset 21, IR version 10; ONNX Runtime "
           "1.18 and later run it) instead of int8 / uint8 (opset 13)");
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> ExportStage::Make(const Options& options, const PipelineSpec&) {
  if (options.formats.empty()) throw InputError("'formats' must name at least one format");
  if (options.int4_weights &&
      std::find(options.formats.begin(), options.formats.end(), ExportFormat::kOnnxQdq) == options.formats.end())
    throw InputError("'int4_weights' applies to the onnx_qdq format, which 'formats' does not list");
  return std::make_unique<ExportStage>(options);
}

StageOutputs ExportStage::Run(const StageInputs& inputs, StageContext& ctx) {
  Exported exported = Collect(inputs, ctx.log());
  const std::string& name = ctx.spec().name;
  auto metrics = std::make_shared<MetricsArtifact>();
  const FileWriter write = [&](const std::string& file, const std::string& bytes) {
    ctx.WriteFile(file, bytes);
    metrics->files.emplace_back(ctx.folder() + file, Describe(file, name));
  };
  // ONNX first: with an ONNX file the encodings name its tensors (as AIMET's export does).
  if (Has(ExportFormat::kOnnx) || Has(ExportFormat::kOnnxQdq)) {
    WriteOnnx(inputs, ctx, exported, write);
  } else if ((Has(ExportFormat::kAimet061) || Has(ExportFormat::kAimet100)) && !exported.encodings.activations.empty()) {
    ctx.log().warn("the encodings files key activations by adaflow's quantizer names ('{}', ...), which only adaflow "
                   "reads (quant_sim.activation_encodings); add onnx or onnx_qdq to 'formats' to key them by the ONNX "
                   "file's tensors, as AIMET's export does, and to write <name>_torch.encodings (keyed by module)",
                   exported.encodings.activations.front().first);
  }
  if (Has(ExportFormat::kAimet061))
    write(name + ".encodings", io::EncodingsJson(exported.encodings, io::EncodingsVersion::k061));
  if (Has(ExportFormat::kAimet100))
    write(name + "_v1.0.0.encodings", io::EncodingsJson(exported.encodings, io::EncodingsVersion::k100));
  ctx.log().info("{} weight encodings, {} activation encodings, {} layers left float", exported.encodings.params.size(),
                 exported.encodings.activations.size(), exported.encodings.excluded_layers.size());
  if (Has(ExportFormat::kTorchScript)) WriteTorchScript(inputs, ctx, exported, write, *metrics);
  return WriteMetricsOutput(ctx, kMetricsFile, metrics);
}

bool ExportStage::Has(ExportFormat format) const {
  return std::find(options_.formats.begin(), options_.formats.end(), format) != options_.formats.end();
}

void ExportStage::WriteOnnx(const StageInputs& inputs, StageContext& ctx, Exported& exported,
                            const FileWriter& write) const {
  const std::string& name = ctx.spec().name;
  const auto graph = inputs.As<LayerGraphArtifact>(port::kLayerGraph);
  if (!graph) throw InputError("ONNX export needs the layer graph: a prepare stage upstream of export");
  const std::vector<TensorSpec> model_inputs = ModelInputsOf(ctx.spec());
  io::OnnxQuantization quantization;
  if (exported.sim) {
    quantization.params = exported.sim->param_encodings();
    if (exported.sim->calibrated()) quantization.activations = exported.sim->quantizers();
  }
  std::map<std::string, std::string> tensors;
  if (Has(ExportFormat::kOnnx)) {
    const io::OnnxExport onnx = io::ExportOnnx(*exported.model, *graph->graph, model_inputs, &quantization, name);
    write(name + ".onnx", onnx.bytes);
    tensors = onnx.activation_tensors;
  }
  if (Has(ExportFormat::kOnnxQdq)) {
    if (!exported.sim || !exported.sim->calibrated())
      throw InputError("onnx_qdq needs a calibrated quant-sim upstream (quant_sim, then calibrate, before export)");
    quantization.qdq = true;
    quantization.int4_weights = options_.int4_weights;
    const io::OnnxExport onnx = io::ExportOnnx(*exported.model, *graph->graph, model_inputs, &quantization, name);
    write(name + "_qdq.onnx", onnx.bytes);
    if (!tensors.empty() && tensors != onnx.activation_tensors)
      throw std::logic_error("the float and QDQ ONNX files name the quantized tensors differently");
    tensors = onnx.activation_tensors;
  }
  for (auto& [quantizer, encoding] : exported.encodings.activations) {
    const auto it = tensors.find(quantizer);
    if (it == tensors.end())
      throw InputError("ONNX export: the quantized value '" + quantizer +
                       "' is not computed by the exported graph, so the encodings cannot name it");
    quantizer = it->second;
  }
  ctx.log().info("ONNX: {} activation encodings keyed by the ONNX tensor names", tensors.size());
  // As AIMET's export: beside the tensor-keyed file, one keyed by module.
  write(name + "_torch.encodings", io::TorchEncodingsJson(exported.encodings));
}

void ExportStage::WriteTorchScript(const StageInputs& inputs, StageContext& ctx, const Exported& exported,
                                   const FileWriter& write, MetricsArtifact& metrics) const {
  // Serialized in memory, then written like every file of the run (temporary name, flushed, renamed):
  // a killed run leaves no half file, and a full disk is a clear error (LibTorch's own file writer
  // aborts the process when a write fails).
  const std::string file = ModelFileName(exported.variant);
  std::ostringstream bytes;
  exported.model->module().save(bytes);
  write(file, bytes.str());
  const std::string path = ctx.PathFor(file);
  ctx.log().info("saved {}", path);
  if (!options_.evaluate || !ctx.spec().FindData("evaluation")) return;
  // The file as a user gets it: loaded back and run as is, no fake-quant.
  const auto reloaded = model::Model::LoadWithInputs(path, ModelInputsOf(ctx.spec()));
  const auto data = RunDataSet(ctx, "evaluation");
  const auto& fp_model = *inputs.Get<ModelArtifact>(port::kModel).fp;
  const model::ForwardFn fp = [&](const model::Inputs& x) { return fp_model.Forward(x); };
  // The metrics the evaluate stage upstream reported (its Metrics input), for one table.
  std::vector<model::Metric> chosen;
  if (const auto upstream = inputs.As<MetricsArtifact>(port::kMetrics); upstream && !upstream->variants.empty())
    chosen = upstream->variants.front().second.metrics;
  const model::EvalResult result =
      EvaluateInTasks(ctx, {[&](const model::Inputs& x) { return reloaded->Forward(x); }}, *data, &fp, 0, chosen)[0];
  ctx.log().info("{} re-loaded: {}", file, model::FormatResult(result));
  metrics.variants.emplace_back("exported", result);
  metrics.param_bw = exported.encodings.args.param_bitwidth;
  metrics.output_bw = 32;
}

StageOutputs ExportStage::Restore(const StageInputs&, StageContext& ctx) {
  auto metrics = ReadMetricsFile(ctx, kMetricsFile);
  for (const auto& file : ctx.FinishedFiles())
    if (file != kMetricsFile) metrics->files.emplace_back(ctx.folder() + file, Describe(file, ctx.spec().name));
  StageOutputs outputs;
  outputs.Set(port::kMetrics, metrics);
  return outputs;
}

void RegisterExportStage(StageRegistry& registry) {
  registry.Add(DefineStage<ExportStage>(kType, "write the quantized model (TorchScript) and its AIMET encodings",
                                        {{port::kModel}, {port::kEncodings, /*optional=*/true},
                                         {port::kLayerGraph, /*optional=*/true}, {port::kMetrics, /*optional=*/true}},
                                        {port::kMetrics},
                                        std::vector<DataSetUse>{{"evaluation", /*optional=*/true}}));
}

}  // namespace adaflow
