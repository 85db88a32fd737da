// adaflow command line: run, validate, compare, stages, describe, inspect. The one boundary that turns errors
// into exit codes (common/error.h, ExitCode): 0 ok, 1 internal, 2 bad input, 130 interrupted.

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <yaml-cpp/yaml.h>

#include "common/error.h"
#include "mpi/session.h"
#include "pipeline/flow_graph_runner.h"
#include "pipeline/logging.h"
#include "pipeline/planner.h"
#include "pipeline/stage_registry.h"
#include "src/model/attention.h"
#include "src/model/batch_norm_fold.h"
#include "src/model/layers.h"
#include "src/model/model.h"
#include "src/quant/module_params.h"
#include "stages/register_builtin_stages.h"
#include "stages/report/comparison.h"
#include "stages/report/run_report.h"

namespace {

std::atomic<bool> g_stop{false};
/// Rank 0 of an MPI job: the launcher signals the whole process group and the rank's keeper passes its
/// signal on too, so one stop arrives as two signals, and the launcher kills what is still running soon
/// after. A second signal is then the same stop, not a request to quit at once.
std::atomic<bool> g_one_stop{false};

extern "C" void OnInterrupt(int) {
  if (g_stop.exchange(true)) {
    if (g_one_stop.load()) return;
    std::_Exit(static_cast<int>(adaflow::ExitCode::kInterrupted));
  }
  if (g_one_stop.load()) {
    const char message[] = "\nadaflow: stopping after the stages in flight\n";
    [[maybe_unused]] auto written = ::write(2, message, sizeof(message) - 1);
    return;
  }
  const char message[] = "\nadaflow: stopping after the stages in flight (Ctrl-C again to quit at once)\n";
  [[maybe_unused]] auto written = ::write(2, message, sizeof(message) - 1);
}

struct RunArgs {
  std::string config;
  std::vector<std::string> sets;
  bool fresh = false;
  bool dry_run = false;
  int threads = 0;
  std::string run_dir;
  std::string point;
  double rank_timeout = 60;
};

std::string Pad(const std::string& text, std::size_t width) {
  return text + std::string(width > text.size() ? width - text.size() : 0, ' ');
}

int CommandStages(const adaflow::StageRegistry& registry) {
  std::size_t width = 0;
  for (const auto& def : registry.stages()) width = std::max(width, def.type.size());
  for (const auto& def : registry.data_types()) width = std::max(width, def.type.size());
  std::cout << "stage types (adaflow describe TYPE for options):\n";
  for (const auto& def : registry.stages()) std::cout << "  " << Pad(def.type, width) << "  " << def.help << "\n";
  std::cout << "data types (data: {calibration: {type: ...}}):\n";
  for (const auto& def : registry.data_types()) std::cout << "  " << Pad(def.type, width) << "  " << def.help << "\n";
  std::cout << "data set names (keys of data:):\n";
  for (const auto& def : registry.data_set_names()) std::cout << "  " << Pad(def.name, width) << "  " << def.help << "\n";
  std::cout << "sections (top-level keys; adaflow describe NAME for options):\n";
  for (const auto& def : registry.sections()) std::cout << "  " << Pad(def.name, width) << "  " << def.help << "\n";
  std::cout << "port kinds (what flows along after: edges):\n";
  for (const auto& def : registry.port_kinds()) std::cout << "  " << Pad(def.name, width) << "  " << def.help << "\n";
  return 0;
}

int CommandDescribe(const adaflow::StageRegistry& registry, const std::string& type) {
  if (const auto* def = registry.Find(type)) {
    std::cout << adaflow::DescribeStage(*def);
    return 0;
  }
  if (const auto* def = registry.FindDataType(type)) {
    std::cout << def->type << " (data type) - " << def->help << "\n\n" << adaflow::DescribeSchema(*def->schema);
    return 0;
  }
  for (const auto& def : registry.sections()) {
    if (def.name != type) continue;
    std::cout << def.name << " (top-level section) - " << def.help << "\n\n" << adaflow::DescribeSchema(*def.schema);
    return 0;
  }
  auto names = registry.StageTypes();
  for (const auto& name : registry.DataTypes()) names.push_back(name);
  for (const auto& def : registry.sections()) names.push_back(def.name);
  throw adaflow::InputError("unknown stage type, data type or section '" + type + "'" + adaflow::DidYouMean(type, names) +
                            " (adaflow stages lists them)");
}

/// `--input input_ids:int64:1,12` → {input_ids, [1, 12], int64}. InputError naming the argument.
adaflow::TensorSpec ParseInputArgument(const std::string& text) {
  const auto first = text.find(':'), second = text.find(':', first == std::string::npos ? first : first + 1);
  const std::string usage = "--input '" + text + "': expected NAME:DTYPE:SHAPE, e.g. input_ids:int64:1,12";
  if (first == std::string::npos || second == std::string::npos) throw adaflow::InputError(usage);
  adaflow::TensorSpec spec{text.substr(0, first), {}, text.substr(first + 1, second - first - 1)};
  const auto& dtypes = adaflow::TensorDtypes();
  if (spec.name.empty() || std::find(dtypes.begin(), dtypes.end(), spec.dtype) == dtypes.end())
    throw adaflow::InputError(usage + " (DTYPE float32 or int64)");
  std::stringstream sizes(text.substr(second + 1));
  for (std::string size; std::getline(sizes, size, ',');) {
    try {
      spec.shape.push_back(std::stoll(size));
    } catch (const std::exception&) {
      throw adaflow::InputError(usage);
    }
    if (spec.shape.back() < 1) throw adaflow::InputError(usage);
  }
  if (spec.shape.empty()) throw adaflow::InputError(usage);
  return spec;
}

int CommandInspect(const std::string& path, const std::vector<std::int64_t>& input_shape,
                   const std::vector<std::string>& named_inputs, bool fold) {
  std::vector<adaflow::TensorSpec> inputs = adaflow::model::SingleInput(input_shape);
  if (!named_inputs.empty() && !input_shape.empty())
    throw adaflow::InputError("give --input-shape (one float input) or --input (named inputs), not both");
  for (const auto& text : named_inputs) inputs.push_back(ParseInputArgument(text));
  std::vector<adaflow::model::AttentionRewrite> attention;
  std::shared_ptr<const adaflow::model::Model> model =
      adaflow::model::MakeAttentionQuantizable(adaflow::model::Model::LoadWithInputs(path, inputs), &attention);
  const int batch_norms = adaflow::model::CountBatchNorms(*model);
  adaflow::model::BatchNormFolds folds;
  if (fold) model = adaflow::model::FoldBatchNorm(*model, {}, {}, &folds);
  const auto layers = adaflow::model::DiscoverLayers(*model);
  std::cout << path << ": " << layers.layers.size() << " quantizable layers, " << batch_norms << " BatchNorm(s)";
  if (fold) std::cout << ", " << folds.folded.size() << " folded";
  std::cout << "\n" << layers.Describe();
  for (const auto& rewrite : attention) std::cout << adaflow::model::Describe(rewrite) << " (prepare's quantizable_attention)\n";
  for (const auto& [batch_norm, reason] : folds.left) std::cout << "BatchNorm " << batch_norm << " stays: " << reason << "\n";
  for (const auto& batch_norm : folds.converted)
    std::cout << "BatchNorm " << batch_norm << ": weight γ/σ, bias β − μγ/σ (AIMET's standalone BatchNorm)\n";
  // The other parameters the quant-sim and AdaRound's x̂ quantize under AIMET's default config.
  const auto& rules = adaflow::quant::DefaultQuantsimConfig();
  for (const auto& param : adaflow::quant::FindModuleParams(*model, layers))
    std::cout << "parameter " << param.key() << " " << adaflow::model::ShapeString(param.shape) << " ("
              << param.op << "): " << (rules.ParamQuantized(param.types, param.name) ? "quantized" : "float")
              << " by the default config\n";
  // Activation quantizers under the default config, and outputs no quantizer can cover.
  const auto quantizers = adaflow::quant::FindActivationQuantizers(*model, layers, rules, 8);
  std::cout << quantizers.size() << " activation quantizers under the default config:";
  for (const auto& quantizer : quantizers)
    std::cout << " " << (quantizer.module.empty() ? quantizer.name : quantizer.module)
              << (quantizer.module_input ? " (input)" : "");
  std::cout << "\n";
  for (const auto& op : adaflow::quant::OpsLeftFloat(*model))
    std::cout << "left float: " << op.op << (op.module.empty() ? "" : " in " + op.module) << ": " << op.reason << "\n";
  return 0;
}

std::unique_ptr<adaflow::Plan> LoadPlan(const adaflow::StageRegistry& registry, const RunArgs& args) {
  adaflow::PipelineSpec spec = adaflow::LoadPipelineSpec(args.config, args.sets, registry);
  if (!args.point.empty()) adaflow::SelectSweepPoint(spec, args.point);
  return adaflow::BuildPlan(std::move(spec), registry);
}

/// The sweep of a plan for people: its points and their values, and which stages they share.
std::string DescribeSweep(const adaflow::Plan& plan) {
  const adaflow::SweepSpec& sweep = plan.spec.sweep;
  if (sweep.empty()) return "";
  std::ostringstream out;
  std::size_t per_point = 0;
  for (const auto& stage : plan.stages) per_point += stage.point == sweep.points.front().name ? 1 : 0;
  out << "sweep: " << sweep.points.size() << " point" << (sweep.points.size() == 1 ? "" : "s") << " over "
      << sweep.entries.size() << " entr" << (sweep.entries.size() == 1 ? "y" : "ies") << "\n  shared (run once):";
  for (const auto& id : sweep.shared) out << " " << id;
  out << "\n  each point's own:";
  for (const auto& id : sweep.swept) out << " " << id;
  out << " (" << per_point << " stages per point with those they derive, " << per_point * sweep.points.size()
      << " in all)";
  out << "\n";
  std::size_t width = 5;
  for (const auto& point : sweep.points) width = std::max(width, point.name.size());
  out << "  " << Pad("point", width);
  for (const auto& entry : sweep.entries) out << "  " << entry;
  out << "\n";
  for (const auto& point : sweep.points) {
    out << "  " << Pad(point.name, width);
    for (const auto& entry : sweep.entries) {
      std::string text = "(config)";
      for (const auto& value : point.values) {
        if (value.entry != entry) continue;
        YAML::Emitter emitter;
        emitter << YAML::Flow << value.value;
        text = emitter.c_str();
      }
      out << "  " << Pad(text, entry.size());
    }
    out << "\n";
  }
  return out.str();
}

int CommandCompare(const std::vector<std::string>& run_dirs, const std::string& markdown_file) {
  const adaflow::Comparison comparison = adaflow::CompareRuns(run_dirs);
  std::cout << adaflow::ComparisonText(comparison);
  if (!markdown_file.empty()) {
    std::string title;
    for (const auto& dir : run_dirs) title += (title.empty() ? "" : ", ") + dir;
    std::ofstream out(markdown_file);
    out << "# Comparison: " << title << "\n\n" << adaflow::ComparisonMarkdown(comparison);
    if (!out) throw adaflow::InputError("cannot write " + markdown_file);
    const std::string plot = adaflow::ComparisonPlotSvg(comparison, "Comparison: " + title);
    if (!plot.empty()) {
      const auto svg = std::filesystem::path(markdown_file).replace_extension(".svg");
      std::ofstream(svg) << plot;
      out << "\n![The main metric against weight bits and against AdaRound time](" << svg.filename().string() << ")\n";
    }
    std::cout << "written: " << markdown_file << "\n";
  }
  return 0;
}

int CommandValidate(const adaflow::StageRegistry& registry, const RunArgs& args) {
  auto plan = LoadPlan(registry, args);
  std::cout << args.config << ": valid\n" << adaflow::DescribePlan(*plan) << DescribeSweep(*plan);
  return 0;
}

int CommandRun(const adaflow::StageRegistry& registry, const RunArgs& args, adaflow::mpi::Session& session) {
  auto plan = LoadPlan(registry, args);
  adaflow::RunOptions options;
  options.run_dir = args.run_dir;
  options.fresh = args.fresh;
  options.threads = args.threads;
  options.stop = &g_stop;
  if (args.dry_run) {
    std::cout << adaflow::DescribePlan(*plan);
    if (plan->spec.sweep.empty()) {
      YAML::Emitter resolved;
      resolved << adaflow::ResolvedConfig(*plan);
      std::cout << "\nresolved config:\n" << resolved.c_str() << "\n";
    } else {
      std::cout << "\n" << DescribeSweep(*plan);
    }
    // What each stage will need; the points' stages that need the same are said once, with their count.
    std::vector<std::pair<std::string, std::size_t>> estimates;
    for (const auto& stage : plan->stages) {
      const std::string estimate = stage.stage->Estimate(plan->spec);
      if (estimate.empty()) continue;
      auto it = std::find_if(estimates.begin(), estimates.end(), [&](const auto& seen) { return seen.first == estimate; });
      if (it == estimates.end()) estimates.emplace_back(estimate, 1);
      else ++it->second;
    }
    for (std::size_t idx = 0; idx < estimates.size(); ++idx) {
      std::string text = estimates[idx].first;
      const std::size_t indent = std::min(text.find_first_not_of(' '), text.size());
      if (estimates[idx].second > 1) text.insert(indent, "each of " + std::to_string(estimates[idx].second) + " stages: ");
      std::cout << (idx == 0 ? "\nwhat the run will need:\n" : "") << text;
    }
    std::cout << "\ndry run: would run in "
              << adaflow::ResolveRunDir(*plan, options) << " with " << adaflow::ResolveThreads(*plan, options)
              << " threads; nothing was computed\n";
    return 0;
  }
  g_one_stop = session.size() > 1;
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  // Under mpirun: the other ranks run AdaRound's statistics chunks and blocks beside this process's threads.
  try {
    options.remote = session.Lanes(plan->spec.threads, args.rank_timeout, &g_stop);
  } catch (const std::runtime_error& e) {  // a worker rank that never answered or whose compute process died
    std::cerr << "adaflow: error: " << e.what() << "\n";
    return static_cast<int>(adaflow::ExitCode::kInternal);
  }
  // One point of a sweep: the report and config.resolved.yaml still cover the whole sweep.
  std::unique_ptr<adaflow::Plan> whole;
  if (!args.point.empty()) {
    RunArgs all = args;
    all.point.clear();
    whole = LoadPlan(registry, all);
    YAML::Emitter resolved;
    resolved << adaflow::ResolvedConfig(*whole);
    options.resolved_config = std::string(resolved.c_str()) + "\n";
  }
  adaflow::RunReport report(whole ? *whole : *plan, whole ? plan.get() : nullptr);
  report.Attach(options);
  adaflow::FlowGraphRunner runner(*plan);
  adaflow::RunSummary summary;
  try {
    runner.Run(options, &summary);
  } catch (...) {
    // What finished is in the report; say where it is before the error (and, for a sweep, show it:
    // a failed point does not stop the others).
    if (!report.SweepTable().empty()) std::cout << "\n" << report.SweepTable();
    const auto partial = std::filesystem::path(summary.run_dir) / adaflow::RunReport::kMarkdownFile;
    if (!summary.run_dir.empty() && std::filesystem::exists(partial))
      std::cerr << "report of what finished: " << partial.string() << "\n";
    throw;
  }
  // "cpu": CPU time over wall time × threads; "peak RSS": the process's VmHWM when the stage finished
  // (both for the stages computed in this run).
  int width = 18;  // the id column: as wide as the longest id (derived stages have long ones)
  for (const auto& record : summary.stages) width = std::max(width, static_cast<int>(record.id.size()));
  std::cout << "\n" << Pad("stage", static_cast<std::size_t>(width)) << " outcome    seconds    cpu   peak RSS\n";
  for (const auto& record : summary.stages) {
    std::printf("%-*s %-10s %7.2f", width, record.id.c_str(), adaflow::StageOutcomeName(record.outcome), record.seconds);
    if (record.outcome == adaflow::StageOutcome::kRan) {
      if (record.seconds > 0.5)
        std::printf("  %4.0f%%", 100.0 * record.cpu_seconds / (record.seconds * summary.threads));
      else
        std::printf("       ");
      std::printf("  %6.0f MiB", record.peak_rss_bytes / (1 << 20));
    }
    std::printf("\n");
  }
  const std::string accuracy = report.AccuracyTable();
  if (!accuracy.empty()) std::cout << "\n" << accuracy;
  const std::string sweep = report.SweepTable();
  if (!sweep.empty()) std::cout << "\n" << sweep;
  std::cout << "\nreport: " << (std::filesystem::path(summary.run_dir) / adaflow::RunReport::kMarkdownFile).string()
            << "\nrun directory: " << summary.run_dir << "\n";
  return 0;
}

/// A worker rank's thread count: its own --threads (mpirun gives every rank the same command line), else 0.
int WorkerThreads(int argc, char** argv) {
  for (int arg = 1; arg < argc; ++arg) {
    const std::string text = argv[arg];
    if (text == "--threads" && arg + 1 < argc) return std::max(0, std::atoi(argv[arg + 1]));
    if (text.rfind("--threads=", 0) == 0) return std::max(0, std::atoi(text.c_str() + 10));
  }
  return 0;
}

int Main(int argc, char** argv, adaflow::mpi::Session& session) {
  CLI::App app{"adaflow - AdaRound post-training quantization as a YAML-declared dataflow pipeline"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "adaflow 0.1.0");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log debug messages to the console");

  RunArgs args;
  std::string describe_type;
  auto add_config_args = [&](CLI::App* command) {
    command->add_option("config", args.config, "pipeline config (YAML)")->required();
    command->add_option("--set", args.sets, "override a config key, e.g. stages.adaround.num_iterations=500")
        ->take_all()
        ->allow_extra_args(false);
  };
  CLI::App* run = app.add_subcommand("run", "run a pipeline (resumes an interrupted run of the same config)");
  add_config_args(run);
  run->add_flag("--fresh", args.fresh, "forget finished stages and start over");
  run->add_flag("--dry-run", args.dry_run, "check and print the plan, compute nothing");
  run->add_option("--threads", args.threads, "thread budget (default: the config's threads:, else every core)")
      ->check(CLI::Range(1, 1024));
  run->add_option("--run-dir", args.run_dir, "run directory (default: runs/<name>)");
  run->add_option("--rank-timeout", args.rank_timeout,
                  "under mpirun: seconds a rank may send nothing before the run fails, naming it (default 60)")
      ->check(CLI::Range(1.0, 86400.0));
  run->add_option("--point", args.point, "run one point of the config's sweep: (and the stages it shares)");
  CLI::App* validate = app.add_subcommand("validate", "check a config and print its plan");
  add_config_args(validate);
  validate->add_option("--point", args.point, "check one point of the config's sweep:");
  CLI::App* stages = app.add_subcommand("stages", "list every registered stage type and data type");
  CLI::App* describe = app.add_subcommand("describe", "show a stage or data type's ports and options");
  describe->add_option("type", describe_type, "stage or data type")->required();
  std::vector<std::string> compare_dirs;
  std::string compare_markdown;
  CLI::App* compare = app.add_subcommand("compare", "compare finished runs (a sweep gives a row per point)");
  compare->add_option("run_dirs", compare_dirs, "run directories, e.g. runs/a runs/b")->required();
  compare->add_option("--markdown", compare_markdown, "also write the table as Markdown (and a plot .svg beside it)");
  std::string inspect_path;
  std::vector<std::int64_t> inspect_shape;
  std::vector<std::string> inspect_inputs;
  bool inspect_no_fold = false;
  CLI::App* inspect = app.add_subcommand("inspect", "list a TorchScript model's quantizable layers and their DAG");
  inspect->add_option("model", inspect_path, "TorchScript model file")->required();
  inspect->add_option("--input-shape", inspect_shape, "check that forward accepts this shape, e.g. 1 1 28 28");
  inspect->add_option("--input", inspect_inputs,
                      "one named input of several, NAME:DTYPE:SHAPE (e.g. input_ids:int64:1,12), in forward's order");
  inspect->add_flag("--no-fold", inspect_no_fold, "list the layers without folding BatchNorm first");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return static_cast<int>(adaflow::ExitCode::kBadInput);
  }
  adaflow::SetConsoleLogLevel(verbose ? spdlog::level::debug : spdlog::level::info);

  try {
    adaflow::StageRegistry registry;
    adaflow::RegisterBuiltinStages(registry);
    if (stages->parsed()) return CommandStages(registry);
    if (describe->parsed()) return CommandDescribe(registry, describe_type);
    if (validate->parsed()) return CommandValidate(registry, args);
    if (compare->parsed()) return CommandCompare(compare_dirs, compare_markdown);
    if (inspect->parsed()) return CommandInspect(inspect_path, inspect_shape, inspect_inputs, !inspect_no_fold);
    if (run->parsed()) return CommandRun(registry, args, session);
  } catch (const adaflow::InputError& e) {
    std::cerr << "adaflow: error: " << e.what() << "\n";
    return static_cast<int>(adaflow::ExitCode::kBadInput);
  } catch (const adaflow::NodeError& e) {
    std::cerr << "adaflow: error: " << e.what() << "\n";
    return static_cast<int>(e.exit_code());
  } catch (const adaflow::Interrupted& e) {
    std::cerr << "adaflow: " << e.what() << "\n";
    return static_cast<int>(adaflow::ExitCode::kInterrupted);
  } catch (const std::exception& e) {
    std::cerr << "adaflow: internal error: " << e.what() << "\n";
    return static_cast<int>(adaflow::ExitCode::kInternal);
  }
  return static_cast<int>(adaflow::ExitCode::kInternal);
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<adaflow::mpi::Session> session;
  try {
    session = std::make_unique<adaflow::mpi::Session>(&argc, &argv);
  } catch (const adaflow::InputError& e) {
    std::cerr << "adaflow: error: " << e.what() << "\n";
    return static_cast<int>(adaflow::ExitCode::kBadInput);
  } catch (const std::exception& e) {  // a worker rank that cannot start its compute process
    std::cerr << "adaflow: internal error: " << e.what() << "\n";
    return static_cast<int>(adaflow::ExitCode::kInternal);
  }
  if (session->worker()) {
    // A worker rank: no config, no run directory; only the tasks rank 0 sends.
    adaflow::StageRegistry registry;
    adaflow::RegisterBuiltinStages(registry);
    std::signal(SIGINT, SIG_DFL);
    return session->Serve(registry.remote_handlers(), WorkerThreads(argc, argv), registry.thread_setters());
  }
  return session->Finish(Main(argc, argv, *session));
}
