// Running an adaflow pipeline from C++ instead of the CLI, with one stage type of our own.
//
//   ./build/examples/quantize_from_code [RUN_DIR] [NUM_ITERATIONS]
//
// Run it from the repository root (the config below names files relative to it). It quantizes the
// shipped ResNet-8 to W4A8 with AdaRound, exactly as the YAML configs do, plus a custom stage
// `accuracy_csv` that turns the evaluate stage's results into a CSV file in the run directory.

#include <iostream>
#include <memory>
#include <string>

#include "common/error.h"
#include "pipeline/flow_graph_runner.h"
#include "pipeline/pipeline_spec.h"
#include "pipeline/planner.h"
#include "pipeline/stage_context.h"
#include "pipeline/stage_registry.h"
#include "stages/artifacts.h"
#include "stages/register_builtin_stages.h"
#include "stages/report/run_report.h"

namespace {

using namespace adaflow;

// A stage type: its options (a struct and its schema), a factory, and Run.
struct AccuracyCsvOptions {
  std::string file = "accuracy.csv";
};

class AccuracyCsvStage : public Stage {
 public:
  using Options = AccuracyCsvOptions;
  static constexpr const char* kType = "accuracy_csv";

  static const Schema<Options>& GetSchema() {
    static const Schema<Options> schema = [] {
      Schema<Options> s(kType);
      s.String("file", &Options::file, "CSV file to write in the run directory");
      return s;
    }();
    return schema;
  }
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec&) {
    if (options.file.empty()) throw InputError("'file' must not be empty");
    return std::make_unique<AccuracyCsvStage>(options);
  }
  explicit AccuracyCsvStage(Options options) : options_(std::move(options)) {}

  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override {
    const auto& metrics = inputs.Get<MetricsArtifact>(port::kMetrics);
    std::string csv = "variant,top1,top5,samples\n";
    for (const auto& [variant, result] : metrics.variants)
      csv += variant + "," + std::to_string(result.top1) + "," + std::to_string(result.top5) + "," +
             std::to_string(result.samples) + "\n";
    ctx.WriteFile(options_.file, csv);  // atomic, and recorded in the manifest for resume
    ctx.log().info("wrote {}", ctx.PathFor(options_.file));
    return {};
  }

 private:
  Options options_;
};

/// The config, written in code; any YAML config file works the same way through LoadPipelineSpec.
std::string Config(int num_iterations) {
  return R"(
name: quantize_from_code
seed: 0
threads: 2
model: {path: examples/models/resnet8_fmnist.pt, input_shape: [1, 1, 28, 28]}
data:
  calibration: {type: idx, images: /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz,
                num_samples: 512, batch_size: 32, scale: 0.00392156862745098}
  evaluation:  {type: idx, images: /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz,
                labels: /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz,
                num_samples: 2000, batch_size: 250, scale: 0.00392156862745098}
stages:
  - {id: load,      type: load_model}
  - {id: prepare,   type: prepare}
  - {id: cache,     type: cache_activations}
  - {id: adaround,  type: adaround, default_param_bw: 4, param_bw_override: {fc: 8}, num_iterations: )" +
         std::to_string(num_iterations) + R"(}
  - {id: quantsim,  type: quant_sim, default_output_bw: 8, default_param_bw: 4}
  - {id: calibrate, type: calibrate}
  - {id: evaluate,  type: evaluate, compare: [fp, nearest, adaround]}
  - {id: csv,       type: accuracy_csv}
  - {id: export,    type: export, after: [evaluate]}
)";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string run_dir = argc > 1 ? argv[1] : "runs/quantize_from_code";
  const int num_iterations = argc > 2 ? std::stoi(argv[2]) : 1000;
  try {
    // 1. The stage types a config may use: the built-in ones and ours.
    StageRegistry registry;
    RegisterBuiltinStages(registry);
    registry.Add(DefineStage<AccuracyCsvStage>(AccuracyCsvStage::kType, "write the evaluated accuracies as CSV",
                                               {{port::kMetrics}}, {}, std::vector<DataSetUse>{}));

    // 2. Config → checked spec → plan (stages wired by their typed ports).
    auto plan = BuildPlan(ParsePipelineSpec(Config(num_iterations), "<quantize_from_code>", {}, registry), registry);
    std::cout << DescribePlan(*plan) << "\n";

    // 3. Run it on the flow graph, keeping the run report up to date as stages finish. Running the
    //    program again resumes: finished stages (and AdaRound layers) are not computed again.
    RunOptions options;
    options.run_dir = run_dir;
    RunReport report(*plan);
    report.Attach(options);
    const RunSummary summary = FlowGraphRunner(*plan).Run(options);

    // 4. Results: the report as JSON (the same report.json the CLI writes).
    for (const auto& record : summary.stages)
      std::cout << record.id << ": " << StageOutcomeName(record.outcome) << "\n";
    std::cout << "\n" << report.AccuracyTable() << "\nAdaRound top-1: "
              << report.json()["accuracy"]["adaround"]["top1"].get<double>() << " %, files in " << summary.run_dir
              << "\n";
    return static_cast<int>(ExitCode::kOk);
  } catch (const InputError& error) {  // bad config, model or data
    std::cerr << "error: " << error.what() << "\n";
    return static_cast<int>(ExitCode::kBadInput);
  } catch (const NodeError& error) {  // a stage failed; finished work is kept
    std::cerr << "error: " << error.what() << "\n";
    return static_cast<int>(error.exit_code());
  } catch (const Interrupted& error) {  // stopped; finished work is kept, running again resumes
    std::cerr << error.what() << "\n";
    return static_cast<int>(ExitCode::kInterrupted);
  } catch (const std::exception& error) {
    std::cerr << "internal error: " << error.what() << "\n";
    return static_cast<int>(ExitCode::kInternal);
  }
}
